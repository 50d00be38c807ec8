"""Extension tables as real tables in every connection.

An extension's table arrives as osquery's route info, the answer to
``call("table", name, {"action": "columns"})`` that it broadcasts when it
registers (osquery: osquery/core/tables.cpp routeInfo)::

    {"id": "column", "name": "foo", "type": "TEXT", "op": "0"}
    {"id": "alias", "alias": "foo_alias"}                      # a view
    {"id": "columnAlias", "name": "f", "target": "foo"}        # a hidden column
    {"id": "attributes", "attributes": "0"}

``spec_from_routes`` turns that into a :class:`TableSpec`; its
``statements`` create, in a connection's TEMP schema, one table of the
extension module's csrc/tables/extension.c (which sends the query context
to the extension and reads its rows back) plus a view per table alias, as
osquery does (osquery: osquery/sql/virtual_table.cpp xCreate).  As osquery's
--extensions_default_index (default on), a column without options counts
as indexed, so a WHERE on any column reaches the extension.

:class:`ExtensionTables` keeps connections current: it is a hook of the
daemon (osqlite/daemon.py's seam: ``prepare_connection`` registers the SQL
function the module calls and creates the tables, ``refresh_connection``
adds and drops them as extensions come and go) and the shell calls the
same two methods on its connection.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .._sqlite import sqlite3
from ..config_tables import _ident, _literal

log = logging.getLogger("osqlite.extensions")

TYPES = ("TEXT", "INTEGER", "BIGINT", "UNSIGNED BIGINT", "DOUBLE", "BLOB")
OPT_INDEX = 1
OPT_HIDDEN = 16
OPT_MASK = 0xFFF    # osquery's ColumnOptions bits (INDEX ... COLLATEVERSION_RHEL)


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str, int], ...]   # (name, TYPE or ALIAS, options or target)
    aliases: tuple[str, ...] = ()

    def statements(self) -> list[tuple[str, str, str]]:
        """(kind, name, SQL): the table, then the views of its aliases."""
        args = ", ".join(f"{_literal(n)}, {_literal(t)}, {_literal(str(o))}"
                         for n, t, o in self.columns)
        out = [("table", self.name, f"CREATE VIRTUAL TABLE temp.{_ident(self.name)} "
                                    f"USING osqlite_extension({args})")]
        for alias in self.aliases:
            out.append(("view", alias, f"CREATE TEMP VIEW {_ident(alias)} AS "
                                       f"SELECT * FROM temp.{_ident(self.name)}"))
        return out


def _int(text: Any, default: int = 0) -> int:
    try:
        return int(str(text).strip(), 10)
    except ValueError:
        return default


def check_name(name: str, what: str) -> None:
    if not name or "\0" in name or name.lower().startswith("sqlite_"):
        raise ValueError(f"invalid {what} name {name!r}")


def spec_from_routes(name: str, routes: Sequence[Mapping[str, str]],
                     default_index: bool) -> TableSpec:
    """The table an extension broadcast; ValueError with osquery's words
    when the route info is unusable."""
    check_name(name, "table")
    columns: list[tuple[str, str, int]] = []
    column_aliases: list[tuple[str, str]] = []
    aliases: list[str] = []
    for route in routes:
        rid = route.get("id")
        if rid == "column" and "name" in route and "type" in route:
            cname, ctype = route["name"], route["type"].upper()
            if not cname or "`" in cname or "\0" in cname:
                raise ValueError(f"table {name}: invalid column name {cname!r}")
            if any(c[0] == cname for c in columns):
                raise ValueError(f"table {name}: column {cname} is listed twice")
            if ctype not in TYPES:
                # osquery declares it UNKNOWN and its cells stay NULL; osqlite
                # keeps the values as text.
                log.warning("Extension table %s: column %s has the type %r, which osquery "
                            "does not know; it is read as TEXT", name, cname, route["type"])
                ctype = "TEXT"
            options = _int(route.get("op", "0")) & OPT_MASK
            if default_index and options == 0:
                options = OPT_INDEX       # osquery: --extensions_default_index
            columns.append((cname, ctype, options))
        elif rid == "alias" and route.get("alias"):
            check_name(route["alias"], "table alias")
            aliases.append(route["alias"])
        elif rid == "columnAlias" and route.get("name") and route.get("target"):
            column_aliases.append((route["name"], route["target"]))
    if not columns:
        raise ValueError("Invalid route info")
    for alias, target in column_aliases:
        index = next((i for i, c in enumerate(columns) if c[0] == target), None)
        if index is None or "`" in alias or any(c[0] == alias for c in columns):
            log.warning("Extension table %s: ignoring the column alias %s of %s", name, alias,
                        target)
            continue
        columns.append((alias, "ALIAS", index))
    return TableSpec(name, tuple(columns), tuple(aliases))


Generate = Callable[[str, bytes], Any]


class ExtensionTables:
    """Brings connections to the set of extension tables ``specs()`` gives
    (name -> TableSpec), remembering what it made in each."""

    def __init__(self, specs: Callable[[], Mapping[str, TableSpec]], generate: Generate) -> None:
        self.specs = specs
        self.generate = generate
        self._made: dict[int, dict[str, list[tuple[str, str, str]]]] = {}
        self._warned: set[str] = set()

    # The daemon's hook methods (daemon may be None: the shell).  Both run on
    # the thread that uses the connection.
    def prepare_connection(self, daemon: Any, conn: sqlite3.Connection) -> None:
        self.install(conn)

    def refresh_connection(self, daemon: Any, conn: sqlite3.Connection) -> None:
        self.install(conn)

    def install(self, conn: sqlite3.Connection) -> None:
        made = self._made.get(id(conn))
        if made is None:
            conn.create_function("osqlite_extension_generate", 2, self.generate)
            made = self._made[id(conn)] = {}
        wanted = {name: spec.statements() for name, spec in self.specs().items()}
        for name in list(made):
            if wanted.get(name) != made[name]:
                self._drop(conn, made.pop(name))
        for name, stmts in wanted.items():
            if name in made:
                continue
            done: list[tuple[str, str, str]] = []
            for kind, what, sql in stmts:
                try:
                    conn.execute(sql)
                except sqlite3.Error as exc:
                    # A name taken by a view or table of the config, say.
                    if kind == "table":
                        self._warn(what, f"Cannot add the extension table {what}: {exc}")
                        break
                    self._warn(what, f"Cannot add the view {what} (an alias of the extension "
                                     f"table {name}): {exc}")
                    continue
                done.append((kind, what, sql))
            if done and done[0][0] == "table":
                made[name] = stmts
                self._warned.discard(name)
            else:
                self._drop(conn, done)

    def forget(self, conn: sqlite3.Connection) -> None:
        self._made.pop(id(conn), None)

    def _warn(self, key: str, message: str) -> None:
        """Once per name, not once per connection."""
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)

    @staticmethod
    def _drop(conn: sqlite3.Connection, stmts: Sequence[tuple[str, str, str]]) -> None:
        for kind, name, _ in reversed(list(stmts)):
            try:
                conn.execute(f"DROP {'TABLE' if kind == 'table' else 'VIEW'} IF EXISTS "
                             f"temp.{_ident(name)}")
            except sqlite3.Error as exc:
                log.warning("Cannot drop the extension %s %s: %s", kind, name, exc)
