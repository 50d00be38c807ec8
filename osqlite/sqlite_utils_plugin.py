"""sqlite-utils plugin: osqlite's tables on every connection sqlite-utils opens.

    pip install osqlite sqlite-utils
    sqlite-utils query :memory: "SELECT pid, name FROM processes LIMIT 3"
    python -m osqlite.schema host.db && sqlite-utils tables host.db --counts

Registered under sqlite-utils' ``sqlite_utils`` entry point.  Its
``prepare_connection`` hook runs for each ``Database``; where the sqlite3
module has no ``enable_load_extension`` (pyenv builds) the extension is
registered as an auto-extension when sqlite-utils imports this plugin,
which its command line does before opening a database (osqlite/extension.py).
A ``sqlite_utils.Database`` made in a program before sqlite-utils loaded its
plugins cannot get the tables that way: the plugin says so, and
``osqlite.extension.prepare()`` called first avoids it.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlite_utils import hookimpl

from . import extension

log = logging.getLogger("osqlite.sqlite_utils")

_load_error = extension.prepare_early()


@hookimpl
def prepare_connection(conn: Any) -> None:
    why = extension.ensure(conn, _load_error)
    if why is not None:
        log.error("osqlite: %s", why)
