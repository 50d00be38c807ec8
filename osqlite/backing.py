"""The osqlite_data_<table> tables behind the extension's daemon-state tables.

osquery_schedule, osquery_packs, osquery_flags, osquery_info (and the event
tables) read a table named ``osqlite_data_<table>`` when the connection has
one (csrc/tables/daemon_state.c).  ``fill`` (re)writes such TEMP tables --
private to one connection -- from (columns, rows); the daemon and the shell
both use it.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from ._sqlite import sqlite3

Table = tuple[Sequence[str], Sequence[Sequence[Any]]]

FLAGS_COLUMNS = ("name", "type", "description", "default_value", "value", "shell_only")


def flags_table(flags: Any) -> Table:
    """osquery_flags' rows from an osqlite.flags.Flags."""
    return FLAGS_COLUMNS, [tuple(r[c] for c in FLAGS_COLUMNS) for r in flags.rows()]


def fill(conn: sqlite3.Connection, tables: Mapping[str, Table]) -> None:
    for name, (cols, rows) in tables.items():
        table = f"osqlite_data_{name}"
        collist = ", ".join(f'"{c}"' for c in cols)
        conn.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{table}"({collist})')
        conn.execute(f'DELETE FROM temp."{table}"')
        if rows:
            marks = ", ".join("?" for _ in cols)
            conn.executemany(f'INSERT INTO temp."{table}"({collist}) VALUES ({marks})', rows)
