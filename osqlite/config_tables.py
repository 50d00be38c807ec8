"""Tables a config or a flag adds to a connection: auto_table_construction
tables, views, and osquery's foreign tables.

* ``auto_table_construction`` (osquery: plugins/config/parsers/
  auto_constructed_tables.cpp): each entry ``{"query", "path", "columns",
  "platform"}`` becomes a table over the SQLite files ``path`` matches
  (``%`` and ``%%`` globs), built by the extension's osqlite_atc module
  (csrc/tables/atc.c).  Every column is TEXT and a ``path`` column naming
  the file is added, unless ``columns`` has one.  Entries without a query,
  a path or columns, with a platform that is not this one, or named like
  an existing table are skipped with osquery's warnings.
* ``views`` (osquery: plugins/config/parsers/views.cpp): name -> SELECT,
  created as views.  A view that cannot be created (bad SQL, a table of that
  name) is skipped with a warning naming it.
* ``--enable_foreign``: osquery's tables of the other platforms, empty, with
  their schemas (SELECT osqlite_enable_foreign(), csrc/meta.c).

Both kinds of config tables are created in the connection's TEMP schema
(each connection has its own), are listed by osqlite_tables (origin 'atc'
or 'view') and therefore by the shell's .tables, and osquery_registry
shows the atc tables.  Installing is idempotent and incremental: a
connection keeps what is unchanged, drops what the config no longer has,
and creates what is new or changed.

The daemon uses ConfigTables as a hook (osqlite/daemon.py's seam):
``declare`` while a config is validated (so scheduled queries may read
these tables), ``configure`` when it is applied, ``prepare_connection`` and
``refresh_connection`` for every worker connection.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from ._sqlite import sqlite3
from .packs import platform_matches

log = logging.getLogger("osqlite.config_tables")

Warn = Callable[[str], None]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Plan:
    """What a connection should have: (name, CREATE statement) in order,
    atc tables before the views that may read them."""
    atc: tuple[tuple[str, str], ...] = ()
    views: tuple[tuple[str, str], ...] = ()


def atc_statements(atc: dict[str, Any], warn: Warn) -> list[tuple[str, str]]:
    """CREATE VIRTUAL TABLE statements for an auto_table_construction object,
    with osquery's checks and warnings."""
    out = []
    for name, params in atc.items():
        if not isinstance(params, dict):
            continue          # osquery: "not formatted correctly", skipped silently
        query = params.get("query") if isinstance(params.get("query"), str) else ""
        path = params.get("path") if isinstance(params.get("path"), str) else ""
        platform = params.get("platform") if isinstance(params.get("platform"), str) else ""
        if not query or not path:
            warn(f"ATC Table: Skipping {name} because it is misconfigured (missing query or path)")
            continue
        if not platform_matches(platform):
            log.debug("ATC table: Skipping %s because platform doesn't match", name)
            continue
        columns = params.get("columns")
        if not isinstance(columns, list):
            warn(f"ATC Table: Skipping {name} because it is misconfigured (no columns)")
            continue
        cols: list[str] = []
        for col in columns:
            if not isinstance(col, str):
                warn(f"ATC Table: {name} is misconfigured. (non-string column)")
                continue
            if not col or "`" in col or "\0" in col:
                warn(f"ATC Table: {name} is misconfigured. (invalid column name {col!r})")
                continue
            if col in cols:
                warn(f"ATC Table: {name} is misconfigured. (column {col} is listed twice)")
                continue
            cols.append(col)
        own_path = next((c for c in cols if c.lower() == "path"), None)
        if own_path is not None:
            warn(f"ATC Table: {name} is misconfigured. The configuration includes "
                 f"`{own_path}`. This is a reserved column name")
        else:
            cols.append("path")
        args = ", ".join([_literal(query), _literal(path)] + [_literal(c) for c in cols])
        out.append((name, f"CREATE VIRTUAL TABLE temp.{_ident(name)} USING osqlite_atc({args})"))
    return out


def view_statements(views: dict[str, Any], warn: Warn) -> list[tuple[str, str]]:
    out = []
    for name, query in views.items():
        if not isinstance(query, str) or not query.strip():
            warn(f"Error creating view ({name}): the view's query must be a SELECT string")
            continue
        out.append((name, f"CREATE TEMP VIEW {_ident(name)} AS {query}"))
    return out


def plan(views: dict[str, Any], atc: dict[str, Any], warn: Warn | None = None) -> Plan:
    warn = warn or log.warning
    return Plan(tuple(atc_statements(atc, warn)), tuple(view_statements(views, warn)))


def enable_foreign(conn: sqlite3.Connection) -> int:
    """Register osquery's foreign tables on this connection; their number."""
    return int(conn.execute("SELECT osqlite_enable_foreign()").fetchone()[0])


class Installer:
    """Brings connections to a Plan, remembering what it made on each."""

    def __init__(self, warn: Warn | None = None) -> None:
        self.warn = warn or log.warning
        self._made: dict[int, dict[str, tuple[str, str]]] = {}   # conn -> name -> (kind, sql)

    def install(self, conn: sqlite3.Connection, p: Plan) -> None:
        made = self._made.setdefault(id(conn), {})
        wanted = {name: ("table", sql) for name, sql in p.atc}
        for name, sql in p.views:
            wanted.setdefault(name, ("view", sql))
        # Drop what changed or went away: views first (they may read tables).
        for kind in ("view", "table"):
            for name, (k, sql) in list(made.items()):
                if k == kind and wanted.get(name) != (k, sql):
                    self._drop(conn, name, kind)
                    del made[name]
        if not wanted.keys() - made.keys():
            return
        taken = self._taken(conn)
        for name, sql in list(p.atc) + list(p.views):
            kind = "table" if sql.startswith("CREATE VIRTUAL") else "view"
            if name in made or wanted.get(name) != (kind, sql):
                continue
            if name.lower() in taken:
                self.warn(f"ATC Table: {name} overrides core table; Refusing registration"
                          if kind == "table" else
                          f"Error creating view ({name}): a table or view of that name exists")
                continue
            try:
                conn.execute(sql)
            except sqlite3.Error as exc:
                self.warn(f"ATC Table: {name}: {exc}" if kind == "table"
                          else f"Error creating view ({name}): {exc}")
                continue
            made[name] = (kind, sql)
            taken.add(name.lower())

    def forget(self, conn: sqlite3.Connection) -> None:
        self._made.pop(id(conn), None)

    @staticmethod
    def _drop(conn: sqlite3.Connection, name: str, kind: str) -> None:
        try:
            conn.execute(f"DROP {'VIEW' if kind == 'view' else 'TABLE'} IF EXISTS temp.{_ident(name)}")
        except sqlite3.Error as exc:
            log.warning("Cannot drop %s %s: %s", kind, name, exc)

    @staticmethod
    def _taken(conn: sqlite3.Connection) -> set[str]:
        """Names a new table or view must not shadow (SQLite's names are
        case-insensitive)."""
        names = set()
        for (name,) in conn.execute("SELECT name FROM osqlite_tables"):
            names.add((name.decode() if isinstance(name, bytes) else name).lower())
        for (name,) in conn.execute(
                "SELECT name FROM temp.sqlite_schema UNION SELECT name FROM main.sqlite_schema"):
            names.add((name.decode() if isinstance(name, bytes) else name).lower())
        return names


class ConfigTables:
    """The daemon hook: the current config's plan on every connection, and
    the foreign tables with --enable_foreign."""

    def __init__(self) -> None:
        self.plan = Plan()
        self.installer = Installer()

    def declare(self, daemon: Any, conn: sqlite3.Connection | None, cfg: Any) -> None:
        if conn is not None:
            self.installer.install(conn, plan(cfg.views, cfg.atc))

    def configure(self, daemon: Any, cfg: Any) -> None:
        self.plan = plan(cfg.views, cfg.atc, warn=lambda m: None)   # warned at declare

    def prepare_connection(self, daemon: Any, conn: sqlite3.Connection) -> None:
        if daemon.flags["enable_foreign"]:
            enable_foreign(conn)
        self.installer.install(conn, self.plan)

    def refresh_connection(self, daemon: Any, conn: sqlite3.Connection) -> None:
        self.installer.install(conn, self.plan)
