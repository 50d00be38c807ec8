"""osqlite: osquery's tables as a SQLite extension, and osqueryd in Python.

    >>> import osqlite
    >>> conn = osqlite.connect()
    >>> conn.execute("SELECT name FROM processes WHERE pid = 1").fetchone()

``connect`` returns a standard-library ``sqlite3.Connection`` with every
osqlite table and SQL function available.  Its text_factory never fails on
bytes that are not UTF-8 (command lines and file names may hold any bytes):
they arrive as surrogate escapes, and ``os.fsencode(value)`` restores them.
"""
from __future__ import annotations

from typing import Any

from ._sqlite import decode_text, sqlite3
from .errors import ExtensionLoadError, OsqliteError

__version__ = "0.1.0"
#: The osquery release whose behaviour osqlite follows (osquery_info.version).
OSQUERY_VERSION = "5.23.0"

__all__ = ["connect", "extension_path", "load", "load_route", "ExtensionLoadError",
           "OsqliteError", "OSQUERY_VERSION", "__version__"]

# osqlite.extension is imported lazily so that `python -m osqlite.extension`
# runs it as __main__ without a second, half-initialised copy.


def extension_path() -> str:
    """Absolute path of the compiled extension library."""
    from .extension import extension_path as path
    return path()


def load_route() -> str:
    """'load_extension' or 'auto_extension': how this interpreter loads osqlite."""
    from .extension import load_route as route
    return route()


def load(conn: sqlite3.Connection) -> None:
    """Add osqlite's tables to an open sqlite3 connection."""
    from .extension import load as load_into
    load_into(conn)


def connect(database: str = ":memory:", **kwargs: Any) -> sqlite3.Connection:
    """Open a sqlite3 connection with osqlite's tables loaded.

    Keyword arguments go to :func:`sqlite3.connect` unchanged.  TEXT values
    are decoded as UTF-8 with the "surrogateescape" error handler (see
    :func:`osqlite._sqlite.decode_text`), so a process whose command line is
    not UTF-8 never makes a query fail; set ``conn.text_factory = bytes`` for
    raw bytes.
    """
    from .extension import prepare

    prepare()
    conn = sqlite3.connect(database, **kwargs)
    try:
        load(conn)
    except BaseException:
        conn.close()
        raise
    conn.text_factory = decode_text
    return conn
