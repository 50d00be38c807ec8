"""The worker's side of the watchdog (osqlite.watchdog is the watcher's).

A worker is the daemon started by a watcher, with ``OSQUERY_WORKER=<watcher
pid>`` in its environment (osquery's convention).  It:

* binds its fate to the watcher: the kernel sends it SIGTERM when the watcher
  dies (PR_SET_PDEATHSIG), and the daemon's loop checks its parent every
  second (the signal is lost if the watcher died before it was asked for);
  a worker that lost its watcher stops within 5 s;
* leaves the pidfile to the watcher;
* tells the watcher, one JSON line per event on the pipe ``OSQLITE_WATCHER_FD``,
  when it is ready and each scheduled query it starts (with its thread, and
  how long it would be denylisted) and finishes (with the CPU it used), so the
  watcher knows which query to blame when it stops the worker for a limit.

In every daemon (worker or not) ``Tracker`` keeps osquery's record of the
running queries in the state database (``executing_query.<name>``, osquery:
osquery/config/config.cpp kExecutingQuery): set when a query starts, cleared
when it ends unless the watchdog said a limit was hit (SIGUSR1).  At start,
``settle_previous`` reads what the previous daemon left there and what the
watcher says about it (``OSQLITE_WATCHDOG_REPORT``): the query the watcher
blamed for a limit is denylisted for --schedule_denylist_duration seconds,
unless it has ``"denylist": false`` or reads only event tables (osquery's
rule, unless --events_enforce_denylist); every other query that was running
gets osquery's ``Scheduled query may have failed`` warning and is not
denylisted, whatever killed the daemon (osquery#8541).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import signal
import stat
import threading
import time
from typing import Any

from ._sqlite import sqlite3
from .flags import Flags
from .watchdog import ENV_FD, ENV_REPORT, ENV_WORKER, limit

log = logging.getLogger("osqlite.worker")

EXECUTING = "executing_query."
PR_SET_PDEATHSIG = 1
SQLITE_READ = 20


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class WatcherLink:
    """This worker's watcher: its pid, the status pipe, its report on the previous worker."""

    def __init__(self, watcher_pid: int, fd: int = -1, report: dict[str, Any] | None = None) -> None:
        self.watcher_pid = watcher_pid
        self.fd = fd
        self.report = report
        self._lock = threading.Lock()
        self._dropped = 0

    @classmethod
    def from_env(cls) -> "WatcherLink | None":
        value = os.environ.get(ENV_WORKER)
        if value is None:
            return None
        pid = int(value) if value.isdigit() else os.getppid()
        fd = -1
        text = os.environ.pop(ENV_FD, "")
        if text.isdigit():
            try:
                if stat.S_ISFIFO(os.fstat(int(text)).st_mode):
                    fd = int(text)
                    os.set_inheritable(fd, False)
                    os.set_blocking(fd, False)
            except OSError:
                fd = -1
        report = None
        try:
            report = json.loads(os.environ.pop(ENV_REPORT, "null"))
        except ValueError:
            pass
        return cls(pid, fd, report if isinstance(report, dict) else None)

    def bind(self) -> bool:
        """Ask for SIGTERM when the watcher dies; False when it already has."""
        try:
            _libc().prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        return self.alive()

    def alive(self) -> bool:
        return os.getppid() == self.watcher_pid

    def send(self, msg: dict[str, Any]) -> None:
        """One line to the watcher; never blocks (a full pipe drops the line)."""
        if self.fd < 0:
            return
        data = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            try:
                os.write(self.fd, data)
            except BlockingIOError:
                self._dropped += 1
            except OSError:
                os.close(self.fd)
                self.fd = -1


class Tracker:
    """The running scheduled queries: in the state database and for the watcher."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self.limit_hit = False          # SIGUSR1: the watcher stops this worker for a limit
        self._exempt: dict[str, bool] = {}
        self._probe: sqlite3.Connection | None = None
        self._probe_lock = threading.Lock()
        self._events: set[str] = set()

    @property
    def link(self) -> WatcherLink | None:
        return self.daemon.watcher_link

    def started(self, job: Any) -> None:
        self._record(self.daemon.state.put, EXECUTING + job.name, str(int(time.time())))
        if self.link is not None:
            self.link.send({"start": job.name, "tid": threading.get_native_id(),
                            "denylist": self.denylist_for(job)})

    def finished(self, job: Any, cpu_ms: int) -> None:
        if not self.limit_hit:
            # osquery keeps the record when a limit was hit, for the next worker.
            self._record(self.daemon.state.delete, EXECUTING + job.name)
        if self.link is not None:
            self.link.send({"end": job.name, "cpu": cpu_ms})

    @staticmethod
    def _record(op: Any, *args: str) -> None:
        # The record only feeds a warning after a crash: a state database that
        # cannot take it (a full disk) must not stop the query; the run's own
        # store step reports that failure.
        try:
            op(*args)
        except sqlite3.Error as exc:
            log.debug("Cannot record the running query in the state database: %s", exc)

    def denylist_for(self, job: Any) -> int:
        """Seconds this query is denylisted for when it gets the worker stopped;
        0 when it would not be (osquery: config.cpp denylistExpired)."""
        if not job.spec.denylist:
            return 0
        if not self.daemon.flags["events_enforce_denylist"] and self.events_only(job.spec.query):
            return 0
        return int(self.daemon.flags["schedule_denylist_duration"])

    def events_only(self, sql: str) -> bool:
        """Does the query read event tables and nothing else?  The tables it
        reads are those SQLite's authorizer sees while compiling it, on a
        connection of the daemon's own (views and atc tables included)."""
        if sql in self._exempt:
            return self._exempt[sql]
        tables: set[str] = set()

        def authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None,
                       source: str | None) -> int:
            if action == SQLITE_READ and arg1 and not arg1.startswith("sqlite_"):
                tables.add(arg1)
            return sqlite3.SQLITE_OK

        from .sql import split_statements
        with self._probe_lock:
            try:
                if self._probe is None:
                    self._probe = self.daemon.new_connection()
                    names = self._probe.execute(
                        "SELECT name FROM osqlite_tables WHERE name LIKE '%\\_events' ESCAPE '\\'"
                        " AND name <> 'osquery_events'").fetchall()
                    self._events = {n for (n,) in names}
                self._probe.set_authorizer(authorizer)
                for stmt in split_statements(sql):
                    self._probe.execute("EXPLAIN " + stmt).fetchall()
            except sqlite3.Error:
                tables = set()
            finally:
                if self._probe is not None:
                    self._probe.set_authorizer(None)
        only = bool(tables) and tables <= self._events
        self._exempt[sql] = only
        return only


def take_executing(state: Any) -> list[str]:
    """The queries the previous daemon was running when it stopped (cleared)."""
    names = sorted(state.prefixed(EXECUTING))
    for name in names:
        state.delete(EXECUTING + name)
    return names


def settle_previous(daemon: Any, executing: list[str], report: dict[str, Any] | None) -> None:
    """After the first schedule is installed: denylist the query the watcher
    blamed for a limit, warn about every other query the previous worker was
    running."""
    report = report or {}
    pid = report.get("pid", "?")
    culprit = report.get("culprit") if report.get("limit") else None
    if report.get("limit"):
        log.warning("The previous osqueryd worker (%s) was %s", pid, report.get("cause", "stopped"))
    elif report:
        level = logging.INFO if report.get("cause", "").endswith("status 0") else logging.WARNING
        log.log(level, "The previous osqueryd worker (%s) %s", pid, report.get("cause", "ended"))
    names = set(executing) | set(report.get("running") or [])
    if culprit:
        names.add(str(culprit))
    jobs = daemon.scheduler.by_name
    for name in sorted(names):
        job = jobs.get(name)
        if name != culprit:
            why = (f" (the previous worker {report['cause']}; only a watchdog limit denylists a query)"
                   if report.get("cause") and not report.get("limit") else "")
            log.warning("Scheduled query may have failed: %s%s", name, why)
            continue
        reason = report.get("cause", "stopped by the watchdog")
        if job is None:
            log.warning("Scheduled query may have failed: %s (the worker running it was %s); "
                        "it is no longer scheduled", name, reason)
            continue
        seconds = daemon.tracker.denylist_for(job)
        if seconds <= 0:
            log.warning("Scheduled query may have failed: %s (the worker running it was %s); it is "
                        "not denylisted (\"denylist\": false, or it reads only event tables)", name, reason)
            continue
        daemon.denylist(job, seconds)
        log.warning("Scheduled query may have failed: %s (the worker running it was %s); it is "
                    "denylisted for %d s", name, reason, seconds)


def trim_memory(flags: Flags, watchdog: bool) -> None:
    """osquery's releaseRetainedMemory after each scheduled query (osquery:
    osquery/worker/system/linux/memory.cpp): malloc_trim(0) once the resident
    size passes --malloc_trim_threshold MB (default: 80% of the watchdog's
    memory limit, or 200 without a watchdog; 0 never trims)."""
    if flags.is_default("malloc_trim_threshold"):
        threshold = limit(flags, "memory") * 80 // 100 if watchdog else 200
    else:
        threshold = int(flags["malloc_trim_threshold"])
        if threshold == 0:
            return
    try:
        with open("/proc/self/statm", "rb") as f:
            rss = int(f.read(256).split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return
    if rss // (1000 * 1000) > threshold:
        log.debug("The amount of retained memory is approaching the threshold, attempting to release memory")
        try:
            _libc().malloc_trim(0)
        except (OSError, AttributeError):
            pass
