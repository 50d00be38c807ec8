"""osquery's SQL authorizer, for SQL that comes from a config or a server.

osquery installs an authorizer on every SQLite connection that runs queries
(osquery: osquery/sql/sqlite_util.cpp sqliteAuthorizer, the lists in
osquery/sql/sqlite_util.h): only the actions below are allowed; anything
else, ATTACH first ("Never allow SQLITE_ATTACH as it can be used to write
arbitrary files"), DETACH, CREATE INDEX/TRIGGER, ALTER, ANALYZE, VACUUM,
SAVEPOINT and every pragma not in the short list, is denied at prepare time:
the statement fails with "not authorized" and the error is logged as
``Authorizer denied action <code> <arg> <arg> <db> <source>``.

osqlite runs its own SQL on the same connections (the daemon's
``osqlite_data_*`` backing tables, the event store it attaches), so the
policy is enforced only around the statements of scheduled, distributed,
decorator and discovery queries::

    guard = Guard(conn)            # once per connection
    with guard.enforced():
        conn.execute(untrusted_sql)

Two additions to osquery's rules, because osquery keeps its state outside
SQL and osqlite does not: writes and DDL are refused on databases other
than main and temp (the daemon attaches its event store) and on osqlite's
own ``osqlite_*`` tables; and in an attached database only the
``osqlite_*`` tables (the event store's) may be read.  The event store
shares its file with the daemon's state (node key, enroll state, results,
the outbox), which a server's or an extension's SQL must never see.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from ._sqlite import sqlite3

log = logging.getLogger("osqlite.authorizer")

OK = sqlite3.SQLITE_OK
DENY = sqlite3.SQLITE_DENY

#: osquery's kAllowedSQLiteActionCodes.
ALLOWED_ACTIONS = frozenset({
    sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT,
    # Some extensions implement writeable tables.
    sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE,
    sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE,
    # Users may create tables and views (in the in-memory database).
    sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_DROP_VIEW,
    sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_DROP_TEMP_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_VIEW, sqlite3.SQLITE_DROP_TEMP_VIEW,
    sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_TRANSACTION,
})

#: osquery's kAllowedSQLitePragmas (compared lower-cased).
ALLOWED_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "function_list", "journal_mode",
    "case_sensitive_like", "collation_list",
})

#: Actions that change a database: refused outside main/temp and on osqlite_* tables.
_WRITES = ALLOWED_ACTIONS - {sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION,
                             sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_TRANSACTION}


def policy(action: int, arg1: str | None, arg2: str | None, dbname: str | None,
           source: str | None) -> int:
    """osquery's decision for one authorizer callback (plus osqlite's own tables)."""
    attached = dbname is not None and dbname not in ("main", "temp")
    if action in ALLOWED_ACTIONS:
        if action == sqlite3.SQLITE_READ and attached:
            if (arg1 or "").lower().startswith("osqlite_"):
                return OK
        elif action not in _WRITES:
            return OK
        elif not attached and not (arg1 or "").lower().startswith("osqlite_"):
            return OK
    elif action == sqlite3.SQLITE_PRAGMA and arg1 is not None \
            and arg1.lower() in ALLOWED_PRAGMAS:
        return OK
    log.error("Authorizer denied action %d %s %s %s %s", action, arg1 or "null",
              arg2 or "null", dbname or "null", source or "null")
    return DENY


class Guard:
    """The authorizer of one connection: permissive until enforced()."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.depth = 0
        conn.set_authorizer(self)

    def __call__(self, action: int, arg1: str | None, arg2: str | None,
                 dbname: str | None, source: str | None) -> int:
        if not self.depth:
            return OK
        return policy(action, arg1, arg2, dbname, source)

    @contextlib.contextmanager
    def enforced(self) -> Iterator[sqlite3.Connection]:
        """Apply osquery's policy to statements run inside the block.

        Setting the authorizer again makes SQLite re-prepare every statement
        (sqlite3_set_authorizer expires them), so a statement the connection
        cached while permissive is checked again before it runs here, and one
        prepared here is checked again when reused outside."""
        self.depth += 1
        self.conn.set_authorizer(self)
        try:
            yield self.conn
        finally:
            self.depth -= 1
            self.conn.set_authorizer(self)
