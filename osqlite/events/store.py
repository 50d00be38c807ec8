"""The event store: buffered events in the daemon's state database.

Every evented table has a table ``osqlite_data_<table>`` in the state
database (SQLite at ``database_path``) with an ``eid`` INTEGER PRIMARY KEY
(a per-table counter that continues after a restart), the insertion
``time`` (unix seconds) and osquery's columns.  The C generators in
csrc/tables/events.c read it.

Publishers call :meth:`EventStore.add` from their own threads; rows go into
a bounded queue and one writer thread inserts them in batches, one
transaction per batch, so a publisher never waits for the disk and the
scheduler never waits for a publisher.  When the queue is full the publisher
blocks, which leaves events in the kernel (audit backlog, inotify queue)
where their loss, if any, is counted and logged.

Retention follows osquery (osquery/events/eventsubscriberplugin.cpp):
``events_expiry`` seconds, raised per table to 3 x the largest interval of
the scheduled queries reading it (rounded up to the next multiple of 60);
``events_max`` distinct-second batches per table; the newest batch is always
kept.  Expiry runs every 256 inserted events and once a minute.

Per-query optimisation state (the last eid each scheduled query has seen of
each table) is kept in ``osqlite_events_optimize`` so it survives restarts.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Iterable

from .._sqlite import sqlite3

log = logging.getLogger("osqlite.events")

# osquery's columns for each evented table we publish, without time and eid
# (the store's own), in osquery's order.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "file_events": (
        "target_path", "category", "action", "transaction_id", "inode", "uid",
        "gid", "mode", "size", "atime", "mtime", "ctime", "md5", "sha1",
        "sha256", "hashed"),
    "process_events": (
        "pid", "path", "mode", "cmdline", "cmdline_size", "env", "env_count",
        "env_size", "cwd", "auid", "uid", "euid", "gid", "egid", "owner_uid",
        "owner_gid", "atime", "mtime", "ctime", "btime", "overflows", "parent",
        "uptime", "fsuid", "suid", "fsgid", "sgid", "syscall"),
    "socket_events": (
        "action", "pid", "path", "fd", "auid", "family", "protocol",
        "local_address", "remote_address", "local_port", "remote_port",
        "socket", "uptime", "success", "status"),
    "hardware_events": (
        "action", "path", "type", "driver", "vendor", "vendor_id", "model",
        "model_id", "serial", "revision"),
    "yara_events": (
        "target_path", "category", "action", "transaction_id", "matches", "count",
        "strings", "tags"),
}

EXPIRE_EVERY = 256          # osquery checks expiry every 256 inserts
BATCH_MAX = 2000            # rows per transaction
BATCH_WAIT = 0.2            # seconds the writer waits to fill a batch
QUEUE_MAX = 100000          # rows buffered in memory at most


def min_expiry(interval: int) -> int:
    """osquery's minimum expiry for a table read by a query every `interval`
    seconds: 3 x interval rounded up to the next multiple of 60 (always
    adding 1..60)."""
    x = 3 * int(interval)
    return x + (60 - x % 60)


class EventStore:
    """Batched, bounded event storage in the state database."""

    def __init__(self, path: str, events_expiry: int = 3600,
                 events_max: int = 50000, tables: Iterable[str] | None = None):
        self.path = path
        self.events_expiry = int(events_expiry)
        self.events_max = int(events_max)
        self.tables = tuple(tables) if tables is not None else tuple(TABLE_COLUMNS)
        self._expiry: dict[str, int] = {t: self.events_expiry for t in self.tables}
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_MAX)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._since_expire = 0
        self._last_expire = 0.0
        self.counts: dict[str, int] = {t: 0 for t in self.tables}   # added
        self.inserted = 0
        self._flushed = threading.Condition()
        self._enqueued = 0
        self._committed = 0
        self._db = self._open()
        self._create()

    # -- database -------------------------------------------------------

    def _open(self):
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                             isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            pass
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _create(self) -> None:
        db = self._db
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                for t in self.tables:
                    cols = ", ".join(f'"{c}"' for c in TABLE_COLUMNS[t])
                    db.execute(f'CREATE TABLE IF NOT EXISTS "osqlite_data_{t}" '
                               f'(eid INTEGER PRIMARY KEY, time INTEGER NOT NULL, {cols})')
                    db.execute(f'CREATE INDEX IF NOT EXISTS "osqlite_data_{t}_time" '
                               f'ON "osqlite_data_{t}"(time)')
                db.execute("CREATE TABLE IF NOT EXISTS osqlite_events_optimize ("
                           "query TEXT NOT NULL, tbl TEXT NOT NULL, eid INTEGER NOT NULL,"
                           " time INTEGER NOT NULL, PRIMARY KEY(query, tbl))")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # -- retention ------------------------------------------------------

    def set_min_intervals(self, intervals: dict[str, int]) -> None:
        """Largest scheduled interval per table: raises that table's expiry
        to osquery's minimum, with osquery's INFO line."""
        for t in self.tables:
            expiry = self.events_expiry
            iv = intervals.get(t)
            if iv:
                m = min_expiry(iv)
                if m > expiry:
                    log.info("The minimum events expiration timeout for %s has "
                             "been adjusted: %d", t, m)
                    expiry = m
            self._expiry[t] = expiry

    def expiry(self, table: str) -> int:
        return self._expiry.get(table, self.events_expiry)

    def expire(self, now: int | None = None) -> None:
        """Drop events older than the table's expiry and batches beyond
        events_max; the newest batch always stays."""
        now = int(time.time()) if now is None else int(now)
        db = self._db
        with self._lock:
            for t in self.tables:
                tab = f'"osqlite_data_{t}"'
                newest = db.execute(f"SELECT max(time) FROM {tab}").fetchone()[0]
                if newest is None:
                    continue
                expiry = self.expiry(t)
                if expiry > 0:
                    db.execute(f"DELETE FROM {tab} WHERE time < ? AND time < ?",
                               (now - expiry, newest))
                if self.events_max > 0:
                    row = db.execute(
                        f"SELECT time FROM (SELECT DISTINCT time FROM {tab} "
                        f"ORDER BY time DESC LIMIT 1 OFFSET ?)",
                        (self.events_max - 1,)).fetchone()
                    if row is not None:
                        n = db.execute(
                            f"SELECT count(DISTINCT time) FROM {tab} WHERE time < ?",
                            (row[0],)).fetchone()[0]
                        if n:
                            db.execute(f"DELETE FROM {tab} WHERE time < ?", (row[0],))
                            log.warning("Removed %d event batches for subscriber: %s",
                                        n, t)
        self._last_expire = time.monotonic()
        self._since_expire = 0

    # -- insertion ------------------------------------------------------

    def add(self, table: str, row: dict, when: int | None = None) -> None:
        """Queue one event row (column -> value) for `table`.  Blocks when
        the in-memory queue is full (bounded memory)."""
        with self._flushed:
            self._enqueued += 1
        self._queue.put((table, int(time.time()) if when is None else int(when), row))

    def write_batch(self, batch: list) -> None:
        """Insert (table, time, row) items in one transaction."""
        if not batch:
            return
        db = self._db
        by_table: dict[str, list] = {}
        for table, when, row in batch:
            cols = TABLE_COLUMNS[table]
            by_table.setdefault(table, []).append(
                (when,) + tuple(row.get(c) for c in cols))
        with self._lock:
            for _attempt in range(100):
                try:
                    db.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    time.sleep(0.05)
            try:
                for table, values in by_table.items():
                    cols = TABLE_COLUMNS[table]
                    names = ", ".join(f'"{c}"' for c in cols)
                    marks = ", ".join("?" * (len(cols) + 1))
                    db.executemany(
                        f'INSERT INTO "osqlite_data_{table}" (time, {names}) '
                        f'VALUES ({marks})', values)
                db.execute("COMMIT")
            except BaseException:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise
        for table, values in by_table.items():
            self.counts[table] = self.counts.get(table, 0) + len(values)
        self.inserted += len(batch)
        self._since_expire += len(batch)

    def _run(self) -> None:
        while True:
            batch = []
            try:
                batch.append(self._queue.get(timeout=0.5))
            except queue.Empty:
                if self._stop.is_set():
                    break
            deadline = time.monotonic() + BATCH_WAIT
            while batch and len(batch) < BATCH_MAX:
                left = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=max(left, 0))
                                 if left > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            if batch:
                try:
                    self.write_batch(batch)
                except Exception as exc:  # keep the daemon alive
                    log.warning("Could not store %d events: %s", len(batch), exc)
                with self._flushed:
                    self._committed += len(batch)
                    self._flushed.notify_all()
            if (self._since_expire >= EXPIRE_EVERY
                    or time.monotonic() - self._last_expire > 60):
                try:
                    self.expire()
                except Exception as exc:
                    log.warning("Event expiry failed: %s", exc)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="osqlite-events-store",
                                            daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed."""
        with self._flushed:
            target = self._enqueued
            return self._flushed.wait_for(lambda: self._committed >= target, timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        # Anything left (the thread drains the queue before it exits).
        rest = []
        while True:
            try:
                rest.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if rest:
            self.write_batch(rest)
        self._db.close()

    def set_optimize(self, query: str, eids: dict) -> None:
        """Record the newest eid a scheduled query has seen of each table."""
        if not eids:
            return
        now = int(time.time())
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO osqlite_events_optimize(query, tbl, eid, time)"
                    " VALUES (?, ?, ?, ?)", [(query, t, e, now) for t, e in eids.items()])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- reading helpers --------------------------------------------------

    def max_eid(self, table: str, db=None) -> int:
        db = db or self._db
        return db.execute(f'SELECT coalesce(max(eid), 0) FROM "osqlite_data_{table}"'
                          ).fetchone()[0]

    def counts_in_db(self) -> dict[str, int]:
        with self._lock:
            return {t: self._db.execute(f'SELECT count(*) FROM "osqlite_data_{t}"'
                                        ).fetchone()[0] for t in self.tables}
