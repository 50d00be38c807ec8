"""The event store: buffered events in the daemon's state database.

Every evented table the daemon fills has a table ``osqlite_data_<table>``
in the state database (SQLite at ``database_path``) with an ``eid``
INTEGER PRIMARY KEY (a per-table counter that continues after a restart),
the insertion ``time`` (unix seconds) and osquery's columns, taken from the
extension's own table descriptors (``osqlite_columns``), so the C readers
that append to it (csrc/tables/events_pipe.c) and the C table generators
that read it (csrc/tables/events.c) agree with it by construction.  A store
made by an older osqlite gains the columns it lacks.

Two kinds of writers append to it:

* the C readers (audit, inotify, syslog), each on its own connection from
  its publisher's thread, one transaction per batch; they report what they
  stored through :meth:`EventStore.note_stored`;
* the Python publishers (udev, the proc connector), through
  :meth:`EventStore.add`: rows go into a bounded queue and one writer thread
  inserts them in batches, so a publisher never waits for the disk.  When
  the queue is full the publisher blocks, which leaves events in the kernel
  where their loss, if any, is counted and logged.  Text that is not UTF-8
  (it arrives as surrogate escapes) is stored as its bytes, so one odd
  file name or argument never costs the rest of its batch.

Retention follows osquery (osquery/events/eventsubscriberplugin.cpp):
``events_expiry`` seconds (per table overrides: ``syslog_events_expiry``),
raised per table to 3 x the largest interval of the scheduled queries
reading it (rounded up to the next multiple of 60); ``events_max``
distinct-second batches per table (``syslog_events_max``); the newest batch
is always kept.  Expiry runs every 256 stored events and once a minute, in
the writer thread.

Per-query optimisation state (the last eid each scheduled query has seen of
each table) is kept in ``osqlite_events_optimize`` so it survives restarts.
"""
from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from typing import Iterable, Mapping

from .._sqlite import sqlite3

log = logging.getLogger("osqlite.events")

#: The evented tables whose events the daemon stores.
TABLES: tuple[str, ...] = (
    "file_events", "process_events", "socket_events", "hardware_events",
    "user_events", "selinux_events", "apparmor_events", "seccomp_events",
    "process_file_events", "syslog_events", "yara_events")

EXPIRE_EVERY = 256          # osquery checks expiry every 256 inserts
BATCH_MAX = 2000            # rows per transaction (Python publishers)
BATCH_WAIT = 0.2            # seconds the writer waits to fill a batch
QUEUE_MAX = 100000          # rows buffered in memory at most
STORE_CACHE_KIB = 512       # page cache of each connection to the store


@functools.lru_cache(maxsize=None)
def _descriptors() -> dict[str, tuple[str, ...]]:
    import osqlite
    conn = osqlite.connect()
    try:
        out: dict[str, list[str]] = {t: [] for t in TABLES}
        for table, name in conn.execute(
                "SELECT table_name, name FROM osqlite_columns WHERE alias_of IS NULL "
                "AND name NOT IN ('time', 'eid') ORDER BY table_name, cid"):
            if table in out:
                out[table].append(name)
    finally:
        conn.close()
    return {t: tuple(cols) for t, cols in out.items()}


def columns(table: str) -> tuple[str, ...]:
    """osquery's columns of an evented table as the store keeps them: all
    but time and eid (the store's own) and the hidden aliases."""
    return _descriptors()[table]


def create_statements(tables: Iterable[str] = TABLES) -> list[str]:
    """The CREATE statements of the data tables and the optimisation state."""
    out = []
    for t in tables:
        names = ", ".join(f'"{c}"' for c in columns(t))
        out.append(f'CREATE TABLE IF NOT EXISTS "osqlite_data_{t}" '
                   f'(eid INTEGER PRIMARY KEY, time INTEGER NOT NULL, {names})')
        out.append(f'CREATE INDEX IF NOT EXISTS "osqlite_data_{t}_time" '
                   f'ON "osqlite_data_{t}"(time)')
    out.append("CREATE TABLE IF NOT EXISTS osqlite_events_optimize ("
               "query TEXT NOT NULL, tbl TEXT NOT NULL, eid INTEGER NOT NULL,"
               " time INTEGER NOT NULL, PRIMARY KEY(query, tbl))")
    return out


def create_tables(db, tables: Iterable[str] = TABLES) -> None:
    """Create (or complete) the data tables and the optimisation state on
    an open connection, in one transaction.  A table made by an older
    osqlite gains the columns it lacks."""
    tables = tuple(tables)
    db.execute("BEGIN IMMEDIATE")
    try:
        for sql in create_statements(tables):
            db.execute(sql)
        for t in tables:
            have = {r[1] for r in db.execute(f'PRAGMA table_info("osqlite_data_{t}")')}
            for c in columns(t):
                if c not in have:
                    db.execute(f'ALTER TABLE "osqlite_data_{t}" ADD COLUMN "{c}"')
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def storable(value):
    """A value sqlite3 can bind: text that is not UTF-8 (surrogate escapes,
    from os.fsdecode or a surrogateescape decode) becomes its bytes, which
    the event tables read back as text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:
                return value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:      # a lone surrogate of another origin
                return value.encode("utf-8", "surrogatepass")
    return value


def min_expiry(interval: int) -> int:
    """osquery's minimum expiry for a table read by a query every `interval`
    seconds: 3 x interval rounded up to the next multiple of 60 (always
    adding 1..60)."""
    x = 3 * int(interval)
    return x + (60 - x % 60)


class EventStore:
    """Batched, bounded event storage in the state database."""

    def __init__(self, path: str, events_expiry: int = 3600,
                 events_max: int = 50000, tables: Iterable[str] | None = None,
                 limits: Mapping[str, tuple[int, int]] | None = None):
        self.path = path
        self.events_expiry = int(events_expiry)
        self.events_max = int(events_max)
        self.tables = tuple(tables) if tables is not None else TABLES
        # table -> (expiry, max): osquery's per-subscriber overrides
        self.limits = dict(limits or {})
        self._expiry: dict[str, int] = {t: self._base_expiry(t) for t in self.tables}
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_MAX)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._since_expire = 0
        self._last_expire = 0.0
        self.counts: dict[str, int] = {t: 0 for t in self.tables}   # added
        self.inserted = 0
        self.lost = 0                 # rows that could not be stored at all
        self._flushed = threading.Condition()
        self._enqueued = 0
        self._committed = 0
        self._db = self._open()
        create_tables(self._db, self.tables)

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
        db.execute(f"PRAGMA cache_size=-{STORE_CACHE_KIB}")
        # The readers store text as the kernel's bytes; read them back as
        # the daemon does (surrogate escapes for bytes that are not UTF-8).
        db.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
        return db

    # -- retention ------------------------------------------------------

    def _base_expiry(self, table: str) -> int:
        return int(self.limits.get(table, (self.events_expiry, 0))[0])

    def _max(self, table: str) -> int:
        return int(self.limits.get(table, (0, self.events_max))[1])

    def set_min_intervals(self, intervals: dict[str, int]) -> None:
        """Largest scheduled interval per table: raises that table's expiry
        to osquery's minimum, with osquery's INFO line."""
        for t in self.tables:
            expiry = self._base_expiry(t)
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
                most = self._max(t)
                if most > 0:
                    row = db.execute(
                        f"SELECT time FROM (SELECT DISTINCT time FROM {tab} "
                        f"ORDER BY time DESC LIMIT 1 OFFSET ?)",
                        (most - 1,)).fetchone()
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

    def note_stored(self, rows: Mapping[str, int]) -> None:
        """A C reader stored these rows (table -> count)."""
        n = 0
        for table, k in rows.items():
            self.counts[table] = self.counts.get(table, 0) + int(k)
            n += int(k)
        self.inserted += n
        self._since_expire += n

    def add(self, table: str, row: dict, when: int | None = None) -> None:
        """Queue one event row (column -> value) for `table`.  Blocks when
        the in-memory queue is full (bounded memory)."""
        with self._flushed:
            self._enqueued += 1
        self._queue.put((table, int(time.time()) if when is None else int(when), row))

    def _insert(self, db, by_table: dict) -> None:
        for table, values in by_table.items():
            cols = columns(table)
            names = ", ".join(f'"{c}"' for c in cols)
            marks = ", ".join("?" * (len(cols) + 1))
            db.executemany(f'INSERT INTO "osqlite_data_{table}" (time, {names}) '
                           f'VALUES ({marks})', values)

    def write_batch(self, batch: list) -> None:
        """Insert (table, time, row) items in one transaction.  A row that
        cannot be stored on its own is dropped, counted and logged; the
        others are stored."""
        if not batch:
            return
        db = self._db
        by_table: dict[str, list] = {}
        for table, when, row in batch:
            by_table.setdefault(table, []).append(
                (when,) + tuple(storable(row.get(c)) for c in columns(table)))
        with self._lock:
            self._begin(db)
            try:
                try:
                    self._insert(db, by_table)
                except (sqlite3.InterfaceError, sqlite3.ProgrammingError,
                        sqlite3.IntegrityError, OverflowError, ValueError):
                    # One row's value: store the others one by one.
                    db.execute("ROLLBACK")
                    self._begin(db)
                    self._insert_each(db, by_table)
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

    def _insert_each(self, db, by_table: dict) -> None:
        for table in list(by_table):
            kept = []
            for values in by_table[table]:
                try:
                    self._insert(db, {table: [values]})
                    kept.append(values)
                except (sqlite3.InterfaceError, sqlite3.ProgrammingError,
                        sqlite3.IntegrityError, OverflowError, ValueError) as exc:
                    self.lost += 1
                    log.warning("Could not store one %s event (%s); the rest of its "
                                "batch is stored", table, exc)
            by_table[table] = kept

    @staticmethod
    def _begin(db) -> None:
        for _attempt in range(100):
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.05)
        db.execute("BEGIN IMMEDIATE")

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
                self._store_with_retry(batch)
                with self._flushed:
                    self._committed += len(batch)
                    self._flushed.notify_all()
            if (self._since_expire >= EXPIRE_EVERY
                    or time.monotonic() - self._last_expire > 60):
                try:
                    self.expire()
                except Exception as exc:
                    log.warning("Event expiry failed: %s", exc)

    def _store_with_retry(self, batch: list) -> None:
        """A batch is kept and retried while the database as a whole fails
        (disk full, locked); never dropped for that."""
        delay, warned = 0.5, None
        while True:
            try:
                self.write_batch(batch)
                if warned:
                    log.warning("Events are stored again (%d were waiting)", len(batch))
                return
            except Exception as exc:
                if str(exc) != warned:
                    log.warning("Could not store %d events, keeping them and retrying: %s",
                                len(batch), exc)
                    warned = str(exc)
                if self._stop.is_set() and delay > 4:
                    self.lost += len(batch)
                    log.warning("%d events could not be stored before the daemon "
                                "stopped and are lost: %s", len(batch), exc)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

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
            self._thread.join(timeout=30)
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
            self._begin(self._db)
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO osqlite_events_optimize(query, tbl, eid, time)"
                    " VALUES (?, ?, ?, ?)", [(query, t, e, now) for t, e in eids.items()])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- reading helpers --------------------------------------------------

    def rows_after(self, table: str, eid: int, cols: Iterable[str],
                   actions: Iterable[str] | None = None, limit: int = 100000):
        """Rows of `table` stored after `eid` (oldest first, at most limit),
        as dicts of cols, and the last eid read."""
        names = ", ".join(f'"{c}"' for c in cols)
        where, params = "eid > ?", [int(eid)]
        if actions is not None:
            acts = list(actions)
            where += " AND action IN (" + ", ".join("?" * len(acts)) + ")"
            params += acts
        with self._lock:
            last = self.max_eid(table)
            cur = self._db.execute(f'SELECT eid, {names} FROM "osqlite_data_{table}" WHERE '
                                   f"{where} AND eid <= ? ORDER BY eid LIMIT ?",
                                   params + [last, limit])
            keys = [d[0] for d in cur.description][1:]
            got = cur.fetchall()
        if len(got) == limit:
            last = got[-1][0]
        return [dict(zip(keys, r[1:])) for r in got], max(last, int(eid))

    def max_eid(self, table: str, db=None) -> int:
        db = db or self._db
        return db.execute(f'SELECT coalesce(max(eid), 0) FROM "osqlite_data_{table}"'
                          ).fetchone()[0]

    def counts_in_db(self) -> dict[str, int]:
        with self._lock:
            return {t: self._db.execute(f'SELECT count(*) FROM "osqlite_data_{t}"'
                                        ).fetchone()[0] for t in self.tables}
