"""The daemon's state store: a SQLite database at database_path.

osquery keeps the same facts in RocksDB (osquery: osquery/core/query.cpp,
osquery/database/database.cpp); osqlite uses one SQLite file:

* ``results(name, epoch, counter, query, rows)`` — the last result set of
  each differential query (``executed``: its last run, for purging): ``rows`` is a JSON array of the column names, then
  one line per row, a JSON array of typed values (ints and doubles as JSON
  numbers, so 1, 1.0 and "1" survive a restart distinctly; diff.Stored).
* ``kv(key, value)`` — everything else: splayed intervals (``interval.<name>``),
  the denylist (``denylist.<name>`` = expiry), ``instance_uuid_v1``,
  ``host_uuid_v3`` and ``executing_query``.

If database_path is an existing directory (an osquery install's RocksDB
directory), the file is ``<database_path>/osqlite.db`` inside it.  One
connection is shared by all worker threads behind a lock; each query run is
one transaction.  Other subsystems (events) may use ``conn`` and ``lock``
for tables of their own.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Sequence

from ._sqlite import sqlite3
from .diff import Stored

log = logging.getLogger("osqlite.state")

STATE_FILE_IN_DIR = "osqlite.db"
PURGE_AGE = 592200   # ~6.85 days, osquery's


def resolve_path(database_path: str) -> str:
    if os.path.isdir(database_path):
        return os.path.join(database_path, STATE_FILE_IN_DIR)
    return database_path


class StateDB:
    def __init__(self, database_path: str | None) -> None:
        """database_path None keeps the state in memory (--disable_database)."""
        self.path = resolve_path(database_path) if database_path else ":memory:"
        if self.path != ":memory:":
            # Created 0600: stored results may hold sensitive rows.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            os.close(fd)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with self.lock:
            self.conn.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("CREATE TABLE IF NOT EXISTS results(name TEXT PRIMARY KEY, epoch INTEGER,"
                              " counter INTEGER, query TEXT, rows TEXT, executed INTEGER)")
            self.conn.execute("CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value TEXT)")
            columns = {r[1] for r in self.conn.execute("PRAGMA table_info(results)")}
            if "executed" not in columns:   # a state file from before purging existed
                self.conn.execute("ALTER TABLE results ADD COLUMN executed INTEGER")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # -- key/value ------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", (key, value))

    def delete(self, key: str) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM kv WHERE key=?", (key,))

    def prefixed(self, prefix: str) -> dict[str, str]:
        with self.lock:
            cur = self.conn.execute("SELECT key, value FROM kv WHERE substr(key, 1, ?) = ?",
                                    (len(prefix), prefix))
            return {k[len(prefix):]: v for k, v in cur}

    # -- differential results -------------------------------------------------------

    def previous(self, name: str) -> tuple[int, int, Stored] | None:
        """(epoch, counter, stored result) of the last stored run, or None."""
        with self.lock:
            row = self.conn.execute("SELECT epoch, counter, rows FROM results WHERE name=?",
                                    (name,)).fetchone()
        if row is None:
            return None
        return row[0], row[1], Stored.decode(row[2])

    def store(self, name: str, epoch: int, counter: int, query: str, result: Stored,
              executed: int = 0) -> None:
        """Replace a query's stored result (and its last-run time) in one transaction."""
        text = result.encode()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute("INSERT OR REPLACE INTO results(name, epoch, counter, query, rows, executed)"
                                  " VALUES (?, ?, ?, ?, ?, ?)", (name, epoch, counter, query, text, executed))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def executed(self, name: str, when: int) -> None:
        """Record a run (for purge) even when the result did not change."""
        with self.lock:
            self.conn.execute("UPDATE results SET executed = ? WHERE name = ?", (when, name))

    def purge(self, scheduled: set[str], now: float, age: int = PURGE_AGE) -> list[str]:
        """Forget results of queries no longer scheduled and not run for ``age``
        seconds (osquery: osquery/config/config.cpp purge, 592200 s)."""
        with self.lock:
            stale = [name for name, executed in self.conn.execute("SELECT name, executed FROM results")
                     if name not in scheduled and (executed or 0) < now - age]
            for name in stale:
                self.conn.execute("DELETE FROM results WHERE name = ?", (name,))
                self.conn.execute("DELETE FROM kv WHERE key = ?", (f"denylist.{name}",))
        return stale

    def stored_names(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT name FROM results ORDER BY name")]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()
