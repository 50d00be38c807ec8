"""Declare osqlite's tables in a SQLite database file, so tools list them.

osqlite's tables are eponymous virtual tables: every connection that has
the extension can query ``processes`` without declaring it, but nothing is
written in ``sqlite_master``, so the sqlite3 shell's ``.tables``,
``sqlite-utils tables`` and Datasette list nothing.  This module writes
one ``CREATE VIRTUAL TABLE processes USING processes(...)`` per table into
a database file::

    python -m osqlite.schema host.db            # every table
    python -m osqlite.schema host.db users processes

The file holds declarations only, never rows: every query still reads the
live system.  The module arguments repeat the table's column declarations
(the engine checks them, csrc/engine.c), so ``sqlite3 host.db .schema``
shows the columns even where osqlite is not loaded; querying needs the
extension (``.load osqlite`` in the shell, the sqlite-utils and Datasette
plugins elsewhere).  Running it again refreshes the declarations it wrote
(after an upgrade, say) and leaves every other table of the file alone.
"""
from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
from collections.abc import Iterable

from ._sqlite import sqlite3
from .errors import OsqliteError

log = logging.getLogger("osqlite.schema")

# Origins (osqlite_tables.origin) that are tables of this build, not a
# connection's views, auto_table_construction tables or foreign tables.
ORIGINS = ("osquery", "osqlite")


class SchemaError(OsqliteError):
    """The database file cannot take the declarations."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def declarations(conn: sqlite3.Connection,
                 tables: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(name, CREATE VIRTUAL TABLE statement) for the tables of this build.

    ``conn`` must have osqlite loaded.  The column list is the table's own
    declaration (osqlite_tables.sql), so it always matches what the engine
    accepts.  Unknown names in ``tables`` raise SchemaError.
    """
    rows = conn.execute(
        "SELECT name, sql FROM osqlite_tables WHERE origin IN (?, ?) ORDER BY name",
        ORIGINS).fetchall()
    known = {name: sql for name, sql in rows}
    if tables is not None:
        wanted = list(dict.fromkeys(tables))
        missing = [t for t in wanted if t not in known]
        if missing:
            raise SchemaError(
                "no such osqlite table: " + ", ".join(missing)
                + " (SELECT name FROM osqlite_tables lists them)")
    else:
        wanted = list(known)
    out = []
    for name in wanted:
        sql = known[name]
        columns = sql[sql.index("(") + 1:sql.rindex(")")]
        out.append((name, f"CREATE VIRTUAL TABLE {quote(name)} USING {quote(name)}({columns})"))
    return out


def _module_of(sql: str | None) -> str | None:
    """The module of a 'CREATE VIRTUAL TABLE x USING m(...)' statement."""
    if not sql or not sql.upper().startswith("CREATE VIRTUAL TABLE"):
        return None
    upper = sql.upper()
    at = upper.find(" USING ")
    if at < 0:
        return None
    rest = sql[at + 7:].strip()
    end = rest.find("(")
    module = (rest if end < 0 else rest[:end]).strip()
    if len(module) >= 2 and module[0] == module[-1] and module[0] in "\"'`":
        module = module[1:-1].replace(module[0] * 2, module[0])
    elif module.startswith("[") and module.endswith("]"):
        module = module[1:-1]
    return module


def _check_path(path: str) -> None:
    """Refuse what is not a (new or existing) regular database file.

    SQLite would happily open a FIFO or a device; and when root writes the
    file, a symlink another user planted there must not decide where."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SchemaError(f"{path}: {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        if st.st_uid not in (0, os.geteuid()):
            raise SchemaError(
                f"{path} is a symlink owned by uid {st.st_uid}: give the real path")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise SchemaError(f"{path} is a dangling symlink: give the real path") from None
    if not stat.S_ISREG(st.st_mode):
        raise SchemaError(f"{path} is not a regular file: give a database file path")


def write(path: str, tables: Iterable[str] | None = None) -> list[str]:
    """Declare the tables in the database file at ``path`` (created if
    missing); returns the names declared.  All or nothing: one transaction."""
    from . import connect

    _check_path(path)
    try:
        conn = connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise SchemaError(f"{path}: cannot open: {exc}") from exc
    try:
        decls = declarations(conn, tables)
        try:
            existing = dict(conn.execute(
                "SELECT name, sql FROM main.sqlite_master WHERE type IN ('table', 'view')"))
        except sqlite3.DatabaseError as exc:
            raise SchemaError(f"{path}: {exc} (not a SQLite database?)") from exc
        clash = [name for name, _ in decls
                 if name in existing and _module_of(existing[name]) != name]
        if clash:
            raise SchemaError(
                f"{path} already has " + ", ".join(clash)
                + " that osqlite did not declare; use another file or drop them")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name, sql in decls:
                if name in existing:
                    conn.execute(f"DROP TABLE main.{quote(name)}")
                conn.execute(sql)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise SchemaError(f"{path}: {exc}") from exc
    finally:
        conn.close()
    log.debug("declared %d tables in %s", len(decls), path)
    return [name for name, _ in decls]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m osqlite.schema",
        description="Declare osqlite's tables (CREATE VIRTUAL TABLE) in a SQLite "
                    "database file, so the sqlite3 shell's .tables, sqlite-utils and "
                    "other tools list them. The file holds no rows: queries read the "
                    "live system through the extension.")
    parser.add_argument("file", help="database file to create or update")
    parser.add_argument("tables", nargs="*", metavar="TABLE",
                        help="only these tables (default: every table of this build)")
    args = parser.parse_args(argv)
    try:
        names = write(args.file, args.tables or None)
    except OsqliteError as exc:
        print(f"osqlite.schema: {exc}", file=sys.stderr)
        return 1
    print(f"{args.file}: {len(names)} tables declared "
          f"(sqlite3 {args.file} .tables lists them; .load osqlite to query)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
