"""Find osqlite's SQLite extension and load it into the stdlib sqlite3.

Two routes, chosen per interpreter:

* ``load_extension``: where the sqlite3 module has ``enable_load_extension``
  (Debian's /usr/bin/python3, for example), each new connection loads the
  library with ``load_extension(path, 'sqlite3_osqlite_init')``.
* ``auto_extension``: many CPython builds (every pyenv interpreter, among
  others) compile sqlite3 without ``enable_load_extension``.  There we call
  ``sqlite3_auto_extension(sqlite3_osqlite_init)`` through ctypes on the very
  libsqlite3 the ``_sqlite3`` module is linked against, found in
  /proc/self/maps.  Every connection opened afterwards in this process gets
  the tables.

When neither can work (a sqlite3 module with SQLite linked in statically and
no ``enable_load_extension``) :class:`ExtensionLoadError` says what to do.

Run ``python -m osqlite.extension`` to print the library's path, e.g. for
``sqlite3 :memory: ".load PATH sqlite3_osqlite_init"``, and
``python -m osqlite.extension --install`` to make ``.load osqlite`` work
from any directory (osqlite/install.py).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from ._sqlite import sqlite3
from .errors import ExtensionLoadError

log = logging.getLogger("osqlite.extension")

ENTRY_POINT = "sqlite3_osqlite_init"
LIBRARY_NAME = "libosqlite.so"


def extension_path() -> str:
    """Absolute path of the compiled extension (osqlite/libosqlite.so)."""
    override = os.environ.get("OSQLITE_EXTENSION")
    path = Path(override) if override else Path(__file__).with_name(LIBRARY_NAME)
    if not path.is_file():
        raise ExtensionLoadError(
            f"osqlite's SQLite extension is missing at {path}: build it with "
            "`pip install .` (or `make` in a source checkout)")
    return str(path.resolve())


def _linked_libsqlite() -> str | None:
    """Path of the shared libsqlite3 mapped into this process by _sqlite3."""
    import _sqlite3  # noqa: F401  (ensures the library is mapped)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and "libsqlite3" in os.path.basename(parts[5]):
                    return parts[5].strip()
    except OSError:
        return None
    return None


class _AutoExtension:
    """sqlite3_auto_extension through ctypes, registered once per process.

    ctypes rather than cffi: it needs no C declarations parsed at run time,
    which cost cffi's parser tens of milliseconds at every start (the shell's
    start-up budget, bench/bench_shell.py)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._keep: list[object] = []   # library handles must outlive us

    def register(self) -> None:
        with self._lock:
            if self._done:
                return
            libsqlite = _linked_libsqlite()
            if libsqlite is None:
                raise ExtensionLoadError(
                    "this Python's sqlite3 module has no enable_load_extension and "
                    "is not linked against a shared libsqlite3, so osqlite cannot "
                    "add its tables to it. Use an interpreter built with "
                    "--enable-loadable-sqlite-extensions or a shared libsqlite3 "
                    "(Debian's /usr/bin/python3, pyenv builds), or load "
                    f"{extension_path()} from the sqlite3 shell")
            import ctypes

            lib = ctypes.CDLL(libsqlite)
            # RTLD_NODELETE: SQLite keeps pointers into the library (the
            # auto-extension entry, every connection's modules) until the
            # process ends; it must stay mapped even after ctypes lets go of
            # the handle during interpreter shutdown, or closing a
            # connection then jumps into unmapped code.
            try:
                ext = ctypes.CDLL(extension_path(), mode=os.RTLD_NOW | os.RTLD_NODELETE)
            except OSError as exc:
                raise ExtensionLoadError(f"cannot load {extension_path()}: {exc}") from exc
            entry = ctypes.cast(ext.sqlite3_osqlite_init, ctypes.c_void_p)
            register = lib.sqlite3_auto_extension
            register.argtypes = [ctypes.c_void_p]
            register.restype = ctypes.c_int
            rc = register(entry)
            if rc != 0:
                raise ExtensionLoadError(
                    f"sqlite3_auto_extension failed with code {rc} on {libsqlite}")
            self._keep.extend([lib, ext, entry])
            self._done = True
            log.debug("osqlite registered as an auto-extension on %s", libsqlite)


_auto = _AutoExtension()


def load_route() -> str:
    """'load_extension' or 'auto_extension': how this interpreter loads osqlite."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return "load_extension"
    return "auto_extension"


def prepare() -> None:
    """Make connections opened from now on able to have osqlite's tables.

    For the auto_extension route this registers the extension process-wide;
    for the load_extension route there is nothing to do up front.
    """
    if load_route() == "auto_extension":
        _auto.register()


def load(conn: sqlite3.Connection) -> None:
    """Add osqlite's tables to an open connection.

    The route is chosen for the connection's own class, so a connection of
    another binding (pysqlite3, which Datasette and sqlite-utils prefer when
    it is installed) that can load extensions gets them that way.  With the
    auto_extension route a connection opened before :func:`prepare` cannot
    be extended; open a new one after it (``osqlite.connect`` does).
    """
    if hasattr(conn, "enable_load_extension"):
        conn.enable_load_extension(True)
        try:
            # Connection.load_extension, not "SELECT load_extension()": inside
            # a running statement SQLite would not let osquery's versions of
            # ceil, floor, log... replace its built-ins.  The entry point is
            # derived from the file name libosqlite.so.
            conn.load_extension(extension_path())
        except Exception as exc:   # the OperationalError of conn's own binding
            raise ExtensionLoadError(f"cannot load {extension_path()}: {exc}") from exc
        finally:
            conn.enable_load_extension(False)
        return
    prepare()
    if not has_osqlite(conn):
        raise ExtensionLoadError(
            "this connection was opened before osqlite was registered as an "
            "auto-extension; open it with osqlite.connect() instead, or call "
            "osqlite.extension.prepare() before opening it")


def prepare_early() -> str | None:
    """:func:`prepare` for a plugin, imported by its host (Datasette,
    sqlite-utils) before the host opens connections: the reason osqlite
    cannot be registered, or None.  Never raises, so the host still starts."""
    try:
        prepare()
    except ExtensionLoadError as exc:
        return str(exc)
    return None


def ensure(conn: sqlite3.Connection, early_error: str | None = None) -> str | None:
    """Give ``conn`` osqlite's tables unless it has them: None on success,
    else the reason (``early_error``, from :func:`prepare_early`, first)."""
    if has_osqlite(conn):
        return None
    if early_error is not None:
        return early_error
    try:
        load(conn)
    except ExtensionLoadError as exc:
        return str(exc)
    return None


def has_osqlite(conn: sqlite3.Connection) -> bool:
    """True if osqlite's tables and functions are on this connection."""
    try:
        conn.execute("SELECT osqlite_version()").fetchone()
    except Exception:   # OperationalError of whichever binding conn is from
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m osqlite.extension",
        description="Print the path of osqlite's SQLite extension, or install it "
                    "where the dynamic loader finds it, so `.load osqlite` works "
                    "in the sqlite3 shell (and load_extension('osqlite') in any "
                    "SQLite host) from any directory.")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--install", action="store_true",
                        help="copy the library to PREFIX/lib as libosqlite.so with the "
                             "link osqlite.so, then run ldconfig when PREFIX/lib is one "
                             "of the loader's directories (safe to re-run after an upgrade)")
    action.add_argument("--uninstall", action="store_true",
                        help="remove what --install created under PREFIX, and only that")
    parser.add_argument("--prefix", default=None, metavar="PREFIX",
                        help="installation prefix (default /usr/local)")
    args = parser.parse_args(argv)
    if args.prefix is not None and not (args.install or args.uninstall):
        parser.error("--prefix goes with --install or --uninstall")
    from . import install

    prefix = args.prefix or install.DEFAULT_PREFIX
    try:
        if args.install:
            lines = install.install(prefix)
        elif args.uninstall:
            lines = install.uninstall(prefix)
        else:
            lines = [extension_path()]
    except (ExtensionLoadError, install.InstallError) as exc:
        print(f"osqlite: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
