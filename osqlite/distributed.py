"""Distributed (ad hoc) queries (osquery: osquery/distributed/distributed.cpp,
osquery/dispatcher/distributed_runner.cpp).

With ``--disable_distributed=false`` the daemon's distributed plugin (tls:
``--distributed_tls_read_endpoint`` / ``_write_endpoint``) is polled every
``--distributed_interval`` seconds, or every 5 s while an ``accelerate``
the server asked for lasts.  The read answer is osquery's::

    {"queries": {"id": "SQL", ...}, "discovery": {"id": "SQL", ...}, "accelerate": 60}

A query with a discovery entry runs only when that SQL returns a row; a
discovery query that fails, or an entry that is not a non-empty string,
rejects the whole answer (as osquery).  Every query's result is written
back in one request::

    {"queries": {"id": [{"col": "val", ...}]}, "statuses": {"id": 0},
     "messages": {"id": ""}, "stats": {"id": {"wall_time_ms": 3,
     "user_time": 0, "system_time": 1, "memory": 0}}}

Rows keep the SELECT's column order, every value a string (NULL as
``--nullvalue``); ``statuses`` is 0 on success and 1 on failure with the
error in ``messages``, as osquery sends them; ``stats`` are the query's
milliseconds of wall, user and system time and the growth of the
daemon's resident memory in bytes.  A write that fails is retried with the
next round's results (at most ``KEEP_RESULTS`` queries are kept).

The denylist: before a query runs, a marker keyed by the SHA-256 of its SQL
is written to the state database, and removed when it ends.  A marker still
there (the daemon was killed or crashed while the query ran, or osqlite's
``--schedule_timeout`` interrupted it) makes the same SQL be answered with
status 1 and ``distributed query is denylisted`` for
``--distributed_denylist_duration`` seconds, without running it.

The runner is a daemon hook with its own thread and its own connection:
a slow ad hoc query never delays the schedule.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import threading
import time
from typing import Any

from ._sqlite import sqlite3
from .diff import format_double

log = logging.getLogger("osqlite.distributed")

ACCELERATED_INTERVAL = 5        # osquery: kDistributedAccelerationInterval
KEEP_RESULTS = 1000             # unsent query results kept across failed writes
RUNNING = "distributed_running."
ACCELERATE = "distributed_accelerate_checkins_expire"
DENYLISTED = "distributed query is denylisted"


class WorkError(Exception):
    """The read answer is rejected as a whole."""


def cell(value: Any, nullvalue: str) -> str:
    """A value as osquery's QueryData holds it."""
    if value is None:
        return nullvalue
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def rows_of(names: list[str], tuples: list[tuple], nullvalue: str) -> list[dict[str, str]]:
    # A repeated column name keeps its last value (osquery's Row is a map),
    # in the place of its first appearance.
    return [dict(zip(names, (cell(v, nullvalue) for v in t))) for t in tuples]


def _entries(doc: dict, key: str, what: str) -> list[tuple[str, str]]:
    """doc[key]'s (name, SQL) pairs; WorkError when one is not a non-empty string."""
    value = doc.get(key)
    if not isinstance(value, dict):
        return []
    for name, sql in value.items():
        if not isinstance(sql, str) or not sql or not name:
            raise WorkError(f"{what} is not a string")
    return list(value.items())


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class DistributedRunner:
    """The daemon hook behind --disable_distributed=false."""

    def __init__(self) -> None:
        self.daemon: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self.pending: dict[str, dict[str, Any]] = {}   # id -> result, not yet written
        self.failing = False

    # -- hook -----------------------------------------------------------------------

    def start(self, daemon: Any) -> None:
        if daemon.distributed is None:
            return
        self.daemon = daemon
        try:
            daemon.distributed.setup()
        except Exception as exc:
            log.warning("The %s distributed plugin cannot start: %s", daemon.distributed.name, exc)
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.loop, name="osqlite-distributed", daemon=True)
        self._thread.start()

    def stop(self, daemon: Any) -> None:
        self._stop.set()
        if self._conn is not None:
            self._conn.interrupt()       # a long ad hoc query must not hold up the shutdown
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._conn is not None and self.daemon is not None:
            self.daemon.drop_connection(self._conn)
            self._conn = None

    # -- the loop ---------------------------------------------------------------------

    def loop(self) -> None:
        while not self._stop.is_set() and not self.daemon.stop_event.is_set():
            try:
                self.round()
            except Exception:
                log.exception("Distributed query round failed")
            self._stop.wait(self.interval())

    def interval(self) -> float:
        state = self.daemon.state
        expire = state.get(ACCELERATE) if state is not None else None
        try:
            if expire is not None and time.time() <= int(expire):
                return ACCELERATED_INTERVAL
        except ValueError:
            pass
        return max(1, self.daemon.flags["distributed_interval"])

    def round(self) -> None:
        """Read, run, write, clean up (osquery: DistributedRunner::start)."""
        plugin = self.daemon.distributed
        try:
            work = plugin.get_queries()
            if self.failing:
                log.info("Distributed reads work again")
            self.failing = False
        except Exception as exc:
            # Said once per outage (osquery only says it at verbose level).
            (log.debug if self.failing else log.warning)("Distributed read failed: %s", exc)
            self.failing = True
            work = None
        if work:
            try:
                queries = self.accept(work)
            except WorkError as exc:
                log.warning("Distributed queries rejected: %s", exc)
                queries = {}
            for qid, sql in queries.items():
                if self._stop.is_set():
                    return
                self.pending[qid] = self.run_query(qid, sql)
        self.flush()
        self.cleanup()

    def connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self.daemon.new_connection()
        self.daemon.refresh_backing(self._conn)
        return self._conn

    def accept(self, work: str) -> dict[str, str]:
        """The queries of a read answer that are to run (osquery: acceptWork)."""
        try:
            doc = json.loads(work)
        except ValueError:
            raise WorkError("Error Parsing JSON") from None
        if not isinstance(doc, dict):
            raise WorkError("Error Parsing JSON")
        discovered: dict[str, bool] = {}
        for name, sql in _entries(doc, "discovery", "Distributed discovery query"):
            try:
                discovered[name] = bool(self.daemon.execute(self.connection(), sql, 0)[1])
            except sqlite3.Error as exc:
                raise WorkError(f"Distributed discovery query has an SQL error: {name}: {exc}") from None
        out = {name: sql for name, sql in _entries(doc, "queries", "Distributed query")
               if discovered.get(name, True)}
        accelerate = doc.get("accelerate")
        if isinstance(accelerate, int) and not isinstance(accelerate, bool):
            log.info("Accelerating distributed query checkins for %d seconds", accelerate)
            self.daemon.open_state().put(ACCELERATE, str(int(time.time()) + accelerate))
        elif accelerate is not None:
            log.debug("Failed to Accelerate: Timeframe is not an integer")
        return out

    def run_query(self, qid: str, sql: str) -> dict[str, Any]:
        from .daemon import QueryTimeout
        daemon, flags = self.daemon, self.daemon.flags
        state = daemon.open_state()
        marker = RUNNING + hashlib.sha256(sql.encode("utf-8", "surrogateescape")).hexdigest()
        since = state.get(marker)
        if since is not None and not self._expired(since):
            log.debug('Not executing distributed denylisted query: "%s"', sql)
            return {"rows": [], "status": 1, "message": DENYLISTED, "stats": None}
        state.put(marker, str(int(time.time())))
        if flags["verbose"]:
            log.debug("Executing distributed query: %s: %s", qid, sql)
        elif flags["distributed_loginfo"]:
            log.info("Executing distributed query: %s: %s", qid, sql)
        conn = self.connection()
        r0, t0, m0 = resource.getrusage(resource.RUSAGE_THREAD), time.monotonic(), _rss()
        keep_marker = False
        carver = getattr(daemon, "carver", None)
        if carver is not None:
            carver.request_id.value = qid    # carves this query starts name it
        try:
            names, tuples = daemon.execute(conn, sql, flags["schedule_timeout"])
            result = {"rows": rows_of(names, tuples, flags["nullvalue"]), "status": 0, "message": ""}
        except sqlite3.Error as exc:
            result = {"rows": [], "status": 1, "message": str(exc)}
            log.error("Error executing distributed query: %s: %s", qid, exc)
        except QueryTimeout:         # the marker stays, so it is denylisted
            keep_marker = True
            result = {"rows": [], "status": 1,
                      "message": f"distributed query exceeded schedule_timeout "
                                 f"({flags['schedule_timeout']} s) and is denylisted"}
            log.error("Error executing distributed query: %s: %s", qid, result["message"])
        finally:
            if carver is not None:
                carver.request_id.value = None
        if self._stop.is_set() and result["status"]:
            keep_marker = False          # interrupted by shutdown: not the query's fault
        if not keep_marker:
            state.delete(marker)
        r1 = resource.getrusage(resource.RUSAGE_THREAD)
        result["stats"] = {"wall_time_ms": int((time.monotonic() - t0) * 1000),
                           "user_time": int((r1.ru_utime - r0.ru_utime) * 1000),
                           "system_time": int((r1.ru_stime - r0.ru_stime) * 1000),
                           "memory": max(0, _rss() - m0)}
        return result

    def _expired(self, since: str) -> bool:
        try:
            ts = int(since)
        except ValueError:
            ts = 0
        return time.time() > ts + self.daemon.flags["distributed_denylist_duration"]

    def serialize(self) -> str:
        queries, statuses, messages, stats = {}, {}, {}, {}
        for qid, r in self.pending.items():
            queries[qid] = r["rows"]
            statuses[qid] = r["status"]
            messages[qid] = r["message"]
            stats[qid] = r["stats"] or {}
        return json.dumps({"queries": queries, "statuses": statuses, "messages": messages,
                           "stats": stats}, ensure_ascii=False)

    def flush(self) -> None:
        if not self.pending:
            return
        try:
            self.daemon.distributed.write_results(self.serialize())
        except Exception as exc:
            log.warning("Distributed write failed (%d results kept for the next round): %s",
                        len(self.pending), exc)
            while len(self.pending) > KEEP_RESULTS:
                self.pending.pop(next(iter(self.pending)))
            return
        self.pending.clear()

    def cleanup(self) -> None:
        """Forget markers whose denylist time is over (osquery:
        cleanupExpiredRunningQueries)."""
        state = self.daemon.state
        if state is None:
            return
        for key, since in state.prefixed(RUNNING).items():
            if self._expired(since):
                state.delete(RUNNING + key)
