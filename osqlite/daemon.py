"""osqueryd in Python: ``python -m osqlite.daemon [--flag=value ...]``.

Reads the JSON config (osqlite.config), runs its scheduled queries in a pool
of worker_threads threads, each with its own osqlite connection
(osqlite.scheduler decides when), diffs each result against the previous one
kept in the state database (osqlite.diff, osqlite.state) and writes osquery's
result, snapshot and status logs (osqlite.logger).  SIGHUP re-reads the
config (a bad one is refused and the last good one kept), SIGTERM and SIGINT
stop the daemon cleanly.  See docs/daemon.md.

Introspection.  The extension's osquery_schedule, osquery_packs,
osquery_flags and osquery_info tables read a table named
``osqlite_data_<table>`` when the connection has one.  The daemon keeps that
state in Python and, before each query on a worker connection, refreshes
TEMP tables of those names if the state changed since that connection last
saw it (a version counter; a few hundred rows at most, so this costs well
under a millisecond).  A TEMP table is private to its connection, so worker
threads never contend on it.

Extension seam (for event publishers, config tables): ``Daemon.hooks`` holds
objects with optional methods ``start(daemon)``, ``declare(daemon, conn,
config)`` (while a config is validated), ``configure(daemon, config)``,
``prepare_connection(daemon, conn)``, ``refresh_connection(daemon, conn)``
and ``stop(daemon)``; ``Daemon.backing`` maps a table name to a callable
returning (columns, rows) for an extra ``osqlite_data_<table>``.  The
daemon's state database is ``Daemon.state`` (``.conn`` under ``.lock``).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import resource
import signal
import socket
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import ujson

import osqlite

from ._sqlite import sqlite3
from .backing import fill, flags_table
from .config import Config, ConfigError, Loader, QuerySpec
from .decorators import Decorators
from .diff import ResultSet, decode_text, differential, event_based, render_rows
from .errors import DaemonError, ExtensionLoadError, FlagError
from .flags import FLAGS, Flags, render
from .logger import (
    BufferHandler,
    GlogFormatter,
    ResultLogger,
    StatusFileHandler,
    StdoutStatusHandler,
    batched_line,
    event_lines_columnar,
    make_meta,
    parse_mode,
    snapshot_lines,
)
from .packs import PackState, evaluate, machine_shard, runnable
from .scheduler import AlignedTimer, Job, Scheduler
from .sql import split_statements
from .state import StateDB

log = logging.getLogger("osqlite.daemon")

EXIT_OK, EXIT_FAILURE, EXIT_CATASTROPHIC = 0, 1, 78
PLACEHOLDER_UUIDS = {"00000000-0000-0000-0000-000000000000", "03000200-0400-0500-0006-000700080009",
                     "03020100-0504-0706-0809-0a0b0c0d0e0f", "10000000-0000-8000-0040-000000000000"}

SCHEDULE_COLUMNS = ("name", "query", "interval", "executions", "last_executed", "denylisted",
                    "output_size", "wall_time", "wall_time_ms", "last_wall_time_ms", "user_time",
                    "last_user_time", "system_time", "last_system_time", "average_memory",
                    "last_memory", "blacklisted")
PACKS_COLUMNS = ("name", "platform", "version", "shard", "discovery_cache_hits",
                 "discovery_executions", "active")
INFO_COLUMNS = ("pid", "instance_id", "config_hash", "config_valid", "extensions",
                "start_time", "watcher")


class QueryTimeout(Exception):
    pass


def run_sql(conn: sqlite3.Connection, sql: str) -> tuple[list[str], list[tuple]]:
    """All statements' rows, concatenated; the column names of the last one
    that returned columns (a query of several SELECTs should agree anyway)."""
    names: list[str] = []
    rows: list[tuple] = []
    for stmt in split_statements(sql):
        cur = conn.execute(stmt)
        if cur.description:
            names = [d[0] for d in cur.description]
            rows.extend(cur.fetchall())
    return names, rows


def validator(conn: sqlite3.Connection) -> Callable[[str], str | None]:
    """Prepare each statement (EXPLAIN compiles without running it): catches
    syntax errors, unknown tables and columns."""
    def check(sql: str) -> str | None:
        stmts = split_statements(sql)
        if not stmts:
            return "empty query"
        for stmt in stmts:
            try:
                conn.execute("EXPLAIN " + stmt).fetchall()
            except sqlite3.Error as exc:
                return str(exc)
        return None
    return check


# -- paths and pidfile -----------------------------------------------------------------

def _writable_dir(path: str, flag: str, create: bool) -> None:
    if create and not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o750, exist_ok=True)
        except OSError as exc:
            raise DaemonError(f"cannot create directory {path} ({exc.strerror}): "
                              f"pass --{flag}=<a writable path> or run as root") from None
    if not os.path.isdir(path):
        raise DaemonError(f"{path} is not a directory: pass --{flag}=<a writable path>")
    if not os.access(path, os.W_OK | os.X_OK):
        raise DaemonError(f"cannot write to {path} (permission denied): "
                          f"pass --{flag}=<a writable path> or run as root")


def check_paths(flags: Flags) -> None:
    """Fail early, naming the flag, when a path cannot be written."""
    if "filesystem" in plugins(flags) and not flags["disable_logging"]:
        _writable_dir(flags["logger_path"], "logger_path", create=True)
    if not flags["disable_database"]:
        db = flags["database_path"]
        if os.path.isdir(db):
            _writable_dir(db, "database_path", create=False)
        else:
            _writable_dir(os.path.dirname(os.path.abspath(db)) or ".", "database_path", create=True)
            if os.path.exists(db) and not os.access(db, os.W_OK):
                raise DaemonError(f"cannot write {db}: pass --database_path=<a writable path>")
    if not flags["ephemeral"]:
        _writable_dir(os.path.dirname(os.path.abspath(flags["pidfile"])) or ".", "pidfile", create=False)


class Pidfile:
    """osquery's locked pidfile (osquery: osquery/utils/pidfile/pidfile_posix.cpp):
    flock'ed for the daemon's life, decimal pid without newline."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DaemonError(f"cannot open pidfile {path} ({exc.strerror}): "
                              "pass --pidfile=<a writable path>") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip()
            except OSError:
                holder = "?"
            os.close(self.fd)
            raise DaemonError(f"Pidfile check failed: another daemon (pid {holder or '?'}) holds "
                              f"{path}; stop it first, or pass a different --pidfile") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)


def plugins(flags: Flags) -> list[str]:
    return [p.strip() for p in flags["logger_plugin"].split(",") if p.strip()]


# -- the daemon ------------------------------------------------------------------------

class Daemon:
    def __init__(self, flags: Flags, clock: Callable[[], float] = time.time) -> None:
        self.flags = flags
        self.clock = clock
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.reload_requested = False
        self.start_time = int(clock())
        self.config: Config | None = None
        self.config_valid = False
        self.state: StateDB | None = None
        self.results: ResultLogger | None = None
        self.pidfile: Pidfile | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.scheduler = Scheduler()
        self.decorators = Decorators()
        self.decorator_timers: dict[int, AlignedTimer] = {}
        self.pack_timer: AlignedTimer | None = None
        self.packs: list[PackState] = []
        self.shard = machine_shard()
        self.hooks: list[Any] = []
        self.backing: dict[str, Callable[[], tuple[Sequence[str], list[Sequence[Any]]]]] = {}
        self._local = threading.local()
        self._version = 0
        self._version_lock = threading.Lock()
        self._main_conn: sqlite3.Connection | None = None
        self._conns: dict[int, tuple[sqlite3.Connection, int]] = {}
        self._started = False
        self._event_pattern: re.Pattern[str] | None = None
        self._ephemeral_id = str(uuid.uuid4())
        self._host_uuid: str | None = None

    # -- connections --------------------------------------------------------------

    def new_connection(self) -> sqlite3.Connection:
        conn = osqlite.connect(check_same_thread=False)
        conn.text_factory = decode_text
        conn.isolation_level = None
        for hook in self.hooks:
            if hasattr(hook, "prepare_connection"):
                hook.prepare_connection(self, conn)
        with self._version_lock:
            self._conns[id(conn)] = (conn, -1)
        return conn

    def worker_connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.new_connection()
        return conn

    def bump(self) -> None:
        with self._version_lock:
            self._version += 1

    def refresh_backing(self, conn: sqlite3.Connection) -> None:
        """Bring this connection's osqlite_data_* TEMP tables up to date."""
        version = self._version
        if self._conns.get(id(conn), (None, -1))[1] == version:
            return
        tables = {"osquery_schedule": (SCHEDULE_COLUMNS, self.schedule_rows()),
                  "osquery_packs": (PACKS_COLUMNS, self.pack_rows()),
                  "osquery_flags": flags_table(self.flags),
                  "osquery_info": (INFO_COLUMNS, [self.info_row()])}
        self._refresh_config_keys(conn)
        for name, provider in self.backing.items():
            tables[name] = tuple(provider())  # type: ignore[assignment]
        fill(conn, tables)
        for hook in self.hooks:
            if hasattr(hook, "refresh_connection"):
                hook.refresh_connection(self, conn)
        with self._version_lock:
            self._conns[id(conn)] = (conn, version)

    def _refresh_config_keys(self, conn: sqlite3.Connection) -> None:
        """The config keys tables read (yara, prometheus_targets), as JSON in
        temp.osqlite_config(key, value) (csrc/lib/settings.c)."""
        keys = self.config.table_keys if self.config is not None else {}
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS osqlite_config(key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("DELETE FROM temp.osqlite_config")
        conn.executemany("INSERT INTO temp.osqlite_config VALUES (?, ?)",
                         [(k, json.dumps(v)) for k, v in keys.items()])

    def schedule_rows(self) -> list[tuple]:
        now = self.clock()
        out = []
        for job in list(self.scheduler.jobs):
            s = job.stats
            denied = 1 if job.denylisted_until > now and job.spec.denylist else 0
            out.append((job.name, job.spec.query, job.spec.interval, s["executions"],
                        s["last_executed"], denied, s["output_size"], s["wall_time"],
                        s["wall_time_ms"], s["last_wall_time_ms"], s["user_time"],
                        s["last_user_time"], s["system_time"], s["last_system_time"],
                        s["average_memory"], s["last_memory"], denied))
        return out

    def pack_rows(self) -> list[tuple]:
        rows = [("main", "", "", 0, 0, 0, 1)]
        for p in self.packs:
            rows.append((p.spec.name, p.spec.platform, p.spec.version, p.spec.shard,
                         p.discovery_cache_hits, p.discovery_executions, int(p.active)))
        return rows

    def info_row(self) -> tuple:
        return (os.getpid(), self.instance_id(), self.config.hash if self.config else "",
                int(self.config_valid), "inactive", self.start_time, -1)

    # -- identity -------------------------------------------------------------------

    def instance_id(self) -> str:
        if self.state is None:
            return self._ephemeral_id
        value = self.state.get("instance_uuid_v1")
        if not value:
            value = str(uuid.uuid4())
            self.state.put("instance_uuid_v1", value)
        return value

    def host_identifier(self) -> str:
        kind = self.flags["host_identifier"]
        if kind == "uuid":
            if self._host_uuid is None:     # normally set at start, on the main thread
                self._host_uuid = self._hardware_uuid()
            return self._host_uuid
        if kind == "instance":
            return self.instance_id()
        if kind == "ephemeral":
            return self._ephemeral_id
        if kind == "specified" and self.flags["specified_identifier"]:
            return self.flags["specified_identifier"]
        return socket.gethostname().strip()

    def _hardware_uuid(self) -> str:
        """The host UUID system_info.uuid reports (csrc/lib/hostid.c: DMI product_uuid,
        else the machine id), so hostIdentifier matches the tables; without
        that table, the same sources read here; last, a persisted random UUID."""
        try:
            conn = self._main()
            row = conn.execute("SELECT uuid FROM system_info").fetchone()
            if row and row[0]:
                return str(row[0])
        except sqlite3.Error:
            pass
        value = ""
        try:
            with open("/sys/class/dmi/id/product_uuid", encoding="ascii") as f:
                value = f.read().strip().lower()
        except OSError:
            pass
        if value and value not in PLACEHOLDER_UUIDS:
            return value
        try:
            with open("/etc/machine-id", encoding="ascii") as f:
                mid = f.read().strip().lower()
            if len(mid) == 32 and all(c in "0123456789abcdef" for c in mid):
                return f"{mid[:8]}-{mid[8:12]}-{mid[12:16]}-{mid[16:20]}-{mid[20:]}"
        except OSError:
            pass
        stored = self.state.get("host_uuid_v3") if self.state else None
        if not stored:
            stored = str(uuid.uuid4())
            if self.state:
                self.state.put("host_uuid_v3", stored)
        return stored

    # -- config ---------------------------------------------------------------------

    def read_config(self, strict_packs: bool = False, validate: bool = True) -> Config:
        if self._main_conn is None and validate:
            self._main_conn = self.new_connection()
        conn = self._main_conn if validate else None

        def declare(cfg: Config) -> None:
            # Views and atc tables exist before the queries that read them are checked.
            for hook in self.hooks:
                if hasattr(hook, "declare"):
                    hook.declare(self, conn, cfg)

        loader = Loader(default_interval=self.flags["schedule_default_interval"],
                        validate=validator(self._main_conn) if validate and self._main_conn else None,
                        strict_packs=strict_packs, declare=declare)
        return loader.load(self.flags["config_path"])

    def apply_config(self, cfg: Config, options_applied: bool = False) -> None:
        """Install a valid config: options, schedule, packs, decorators."""
        logger_path = self.flags["logger_path"]
        if not options_applied:
            self.flags.apply_options(cfg.options)
        if self.flags["logger_path"] != logger_path and self.results is not None:
            log.warning("logger_path changed in the config; it takes effect at the next start")
            self.flags.set("logger_path", logger_path)
        self._apply_verbosity()
        if self.flags["enable_monitor"] and not self._started:
            log.info("enable_monitor is set: the watchdog is not part of this osqlite release yet")
        self.config = cfg
        self.config_valid = True
        now = self.clock()
        # Packs: predicates, then discovery on the main-thread connection.
        self.packs = []
        for spec in cfg.packs:
            valid = runnable(spec.platform, spec.version, spec.shard, self.shard)
            self.packs.append(PackState(spec=spec, valid=valid))
        self.evaluate_discovery(now)
        refresh = self.flags["pack_refresh_interval"]
        self.pack_timer = AlignedTimer(refresh, now) if refresh > 0 else None
        # Decorators.
        self.decorators = Decorators(cfg.decorators)
        if not self.flags["disable_decorators"]:
            self.decorators.run_load(lambda sql: run_sql(self._main(), sql))
        self.decorator_timers = {rate: AlignedTimer(rate, now) for rate in self.decorators.interval}
        self.install_schedule(now)
        if self.state is not None:
            for name in self.state.purge(set(self.scheduler.by_name), now):
                log.info("Purged the stored results of %s, no longer scheduled", name)
        for hook in self.hooks:
            if hasattr(hook, "configure"):
                hook.configure(self, cfg)
        self.bump()

    def _main(self) -> sqlite3.Connection:
        if self._main_conn is None:
            self._main_conn = self.new_connection()
        self.refresh_backing(self._main_conn)
        return self._main_conn

    def evaluate_discovery(self, now: float) -> None:
        mode = self.flags["pack_discovery_mode"]
        if mode not in ("any", "all"):
            log.warning("Unknown pack_discovery_mode %s; using 'any'", mode)
            mode = "any"
        conn = self._main()
        for pack in self.packs:
            evaluate(pack, lambda sql: len(run_sql(conn, sql)[1]), mode, now)

    def install_schedule(self, now: float) -> None:
        assert self.config is not None
        delim = self.flags["pack_delimiter"]
        queries: list[tuple[str, QuerySpec]] = []
        candidates = list(self.config.schedule)
        for pack in self.packs:
            if pack.active:
                candidates.extend(pack.spec.queries)
        for spec in candidates:
            if not runnable(spec.platform, spec.version, spec.shard, self.shard):
                log.debug("Scheduled query %s does not apply to this host", spec.name)
                continue
            queries.append((spec.log_name(delim), spec))
        denylist = {}
        if self.state is not None:
            denylist = {k: float(v) for k, v in self.state.prefixed("denylist.").items()}
        splay_store = _KV(self.state) if self.state is not None else {}
        self.scheduler.splay_store = splay_store
        # schedule_run_at_startup: only the schedule installed at start runs at once.
        self.scheduler.update(queries, now, self.flags["schedule_splay_percent"],
                              self.flags["schedule_run_at_startup"] and not self._started, denylist)
        self.wake.set()

    def reload(self, force: bool = True) -> None:
        """SIGHUP (force) / config_refresh: adopt the new config only if it is
        valid.  SIGHUP re-applies even an unchanged config, so it also re-runs
        pack discovery and load decorators; config_refresh skips unchanged ones."""
        try:
            cfg = self.read_config()
        except ConfigError as exc:
            log.warning("Error reading config: %s (keeping the last good config)", exc)
            return
        except Exception:   # never let a reload take the daemon down
            log.exception("Error reading config (keeping the last good config)")
            return
        # config_hash covers the config sources only (as osquery); pack files
        # are compared through the parsed result so an edited pack reloads too.
        unchanged = (self.config is not None and cfg.hash == self.config.hash
                     and cfg.dump() == self.config.dump())
        if unchanged and not force:
            return
        log.info("Config reloaded: %s", self.flags["config_path"])
        self.apply_config(cfg)

    def _apply_verbosity(self) -> None:
        root = logging.getLogger("osqlite")
        root.setLevel(logging.DEBUG if self.flags["verbose"] else logging.INFO)

    # -- running queries ------------------------------------------------------------

    def execute(self, conn: sqlite3.Connection, sql: str, timeout: float) -> tuple[list[str], list[tuple]]:
        if timeout <= 0:
            return run_sql(conn, sql)
        deadline = time.monotonic() + timeout
        fired = [False]

        def progress() -> int:
            if time.monotonic() > deadline:
                fired[0] = True
                return 1
            return 0

        conn.set_progress_handler(progress, 1000)
        try:
            return run_sql(conn, sql)
        except sqlite3.OperationalError:
            if fired[0]:
                raise QueryTimeout() from None
            raise
        finally:
            conn.set_progress_handler(None, 0)

    def run_job(self, job: Job) -> None:
        try:
            self._run_job(job)
        except Exception:
            log.exception("Unexpected failure running scheduled query %s", job.name)
        finally:
            self.scheduler.finished(job)
            self.bump()
            self.wake.set()

    def is_event_query(self, spec: QuerySpec) -> bool:
        """Does the query read an event table (osquery: EVENT_BASED, even in a JOIN)?
        Such queries get osquery's addNewEvents semantics instead of a diff."""
        if self._event_pattern is None:
            names = [r[0] for r in self._main().execute(
                "SELECT DISTINCT name FROM osqlite_tables WHERE name LIKE '%\\_events' ESCAPE '\\'"
                " AND name <> 'osquery_events'")]
            self._event_pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b",
                                             re.IGNORECASE) if names else re.compile(r"(?!x)x")
        return self._event_pattern.search(spec.query) is not None

    def _run_job(self, job: Job) -> None:
        assert self.state is not None
        flags = self.flags
        spec = job.spec
        conn = self.worker_connection()
        self.refresh_backing(conn)
        if flags["schedule_lognames"]:
            log.info("Executing scheduled query %s", job.name)
        else:
            log.debug("Executing scheduled query %s: %s", job.name, spec.query)
        if not flags["disable_decorators"]:
            self.decorators.run_always(lambda sql: run_sql(conn, sql))
        timeout = flags["schedule_timeout"]
        r0 = resource.getrusage(resource.RUSAGE_THREAD)
        t0 = time.monotonic()
        # Event hooks: the query sees only events since its previous run.
        tokens = [(h, h.before_query(self, conn, job)) for h in self.hooks
                  if hasattr(h, "before_query")]
        ok = False
        try:
            names, tuples = self.execute(conn, spec.query, timeout)
            ok = True
        except QueryTimeout:
            until = self.clock() + flags["schedule_denylist_duration"]
            if spec.denylist:
                self.scheduler.denylist(job, until)
                self.state.put(f"denylist.{job.name}", str(until))
                log.warning("Scheduled query %s exceeded schedule_timeout (%ss) and was interrupted; "
                            "it is denylisted for %ss", job.name, timeout,
                            flags["schedule_denylist_duration"])
            else:
                log.warning("Scheduled query %s exceeded schedule_timeout (%ss) and was interrupted",
                            job.name, timeout)
            return
        except sqlite3.Error as exc:
            log.error("Error executing scheduled query %s: %s", job.name, exc)
            return
        finally:
            self._record(job, t0, r0)
            for h, token in tokens:
                h.after_query(self, conn, job, token, ok)
        unix = int(self.clock())
        nullvalue = flags["nullvalue"]
        numerics = flags["logger_numerics"]
        epoch = flags["schedule_epoch"]
        host = self.host_identifier()
        decorations = {} if flags["disable_decorators"] else self.decorators.current()
        top = flags["decorations_top_level"]
        if spec.snapshot:
            rs = ResultSet.from_cursor(names, tuples, nullvalue, escaped=False)
            meta = make_meta(job.name, host, unix, epoch, 0, numerics)
            lines = snapshot_lines(meta, render_rows(rs.columns, rs.rows, numerics), decorations, top,
                                   flags["logger_snapshot_event_type"])
            self._log(lines, snapshot=True)
            job.stats["output_size"] += sum(len(x) for x in lines)
            return
        rs = ResultSet.from_cursor(names, tuples, nullvalue, escaped=True)
        prev = self.state.previous(job.name)
        events = flags["events_optimize"] and self.is_event_query(spec)
        out = (event_based if events else differential)(prev, rs, epoch)
        if out.first:
            if prev is None:
                log.info("Storing initial results for new scheduled query: %s", job.name)
            else:
                log.info("New Epoch %s for scheduled query %s", epoch, job.name)
        # One transaction per run: the new result with its run time, or only the run time.
        if out.store is not None:
            self.state.store(job.name, epoch, out.counter, spec.query, out.store, unix)
        else:
            self.state.executed(job.name, unix)
        if not out.log:
            return
        added, removed, counter = out.added, out.removed, out.counter
        if not spec.removed:
            removed = []
        if not added and not removed and counter != 0:
            return
        meta = make_meta(job.name, host, unix, epoch, counter, numerics)
        if flags["logger_event_type"]:
            lines = event_lines_columnar(meta, rs.columns, added, removed, decorations, top,
                                         out.removed_columns)
        else:
            lines = [batched_line(meta, render_rows(rs.columns, added, numerics),
                                  render_rows(out.removed_columns or rs.columns, removed, numerics),
                                  decorations, top)]
        self._log(lines, snapshot=False)
        job.stats["output_size"] += sum(len(x) for x in lines)

    def _record(self, job: Job, t0: float, r0: Any) -> None:
        r1 = resource.getrusage(resource.RUSAGE_THREAD)
        wall = int((time.monotonic() - t0) * 1000)
        user = int((r1.ru_utime - r0.ru_utime) * 1000)
        system = int((r1.ru_stime - r0.ru_stime) * 1000)
        s = job.stats
        s["executions"] += 1
        s["last_executed"] = int(self.clock())
        s["wall_time_ms"] += wall
        s["wall_time"] = s["wall_time_ms"] // 1000
        s["last_wall_time_ms"] = wall
        s["user_time"] += user
        s["last_user_time"] = user
        s["system_time"] += system
        s["last_system_time"] = system
        rss = r1.ru_maxrss * 1024
        s["last_memory"] = rss
        s["average_memory"] = (s["average_memory"] * (s["executions"] - 1) + rss) // s["executions"]

    def _log(self, lines: list[str], snapshot: bool) -> None:
        if self.flags["disable_logging"] or self.results is None or not lines:
            return
        try:
            if snapshot:
                self.results.log_snapshot(lines)
            else:
                self.results.log_results(lines)
        except OSError as exc:
            # osquery shuts down (exit 78) when it cannot log results.
            log.critical("Error logging the results of query: %s", exc)
            self.exit_code = EXIT_CATASTROPHIC
            self.stop_event.set()
            self.wake.set()

    exit_code = EXIT_OK

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        flags = self.flags
        check_paths(flags)
        if not flags["ephemeral"]:
            self.pidfile = Pidfile(flags["pidfile"])
        self.state = StateDB(None if flags["disable_database"] else flags["database_path"])
        setup_status_logs(flags)
        if not flags["disable_logging"]:
            self.results = ResultLogger(plugins(flags), flags["logger_path"],
                                        parse_mode(flags["logger_mode"]), flags["logger_rotate"],
                                        flags["logger_rotate_size"], flags["logger_rotate_max_files"])
            self.results.setup()
        log.info("osqlite daemon started [version=%s] pid %d", osqlite.__version__, os.getpid())
        for hook in self.hooks:
            if hasattr(hook, "start"):
                hook.start(self)
        self.is_event_query(QuerySpec("", "", 1))   # list the event tables now, on this thread
        self._host_uuid = self._hardware_uuid()
        self.pool = ThreadPoolExecutor(max_workers=max(1, flags["worker_threads"]),
                                       thread_name_prefix="osqlite-worker")

    def load_initial_config(self, cfg: Config | None, error: ConfigError | None) -> None:
        if cfg is not None:
            self.apply_config(cfg, options_applied=True)
        else:
            # As osquery: the daemon keeps running (with an empty schedule)
            # and a later SIGHUP can bring a good config.
            log.warning("Error reading config: %s", error)
        self._started = True

    def run(self) -> int:
        assert self.pool is not None
        refresh = self.flags["config_refresh"]
        next_refresh = self.clock() + refresh if refresh > 0 else None
        while not self.stop_event.is_set():
            self.wake.clear()
            if self.reload_requested:
                self.reload_requested = False
                self.reload()
            now = self.clock()
            if next_refresh is not None and now >= next_refresh:
                next_refresh = now + refresh
                self.reload(force=False)
            if self.pack_timer is not None and self.pack_timer.due(now):
                self.evaluate_discovery(now)
                self.install_schedule(now)
                self.bump()
            if not self.flags["disable_decorators"]:
                for rate, timer in self.decorator_timers.items():
                    if timer.due(now):
                        self.decorators.run_interval(rate, lambda sql: run_sql(self._main(), sql))
            for job in self.scheduler.due(now):
                self.pool.submit(self.run_job, job)
            wakeups = [self.scheduler.next_wakeup()]
            wakeups.extend(t.next for t in self.decorator_timers.values())
            if self.pack_timer is not None:
                wakeups.append(self.pack_timer.next)
            if next_refresh is not None:
                wakeups.append(next_refresh)
            delay = min(wakeups) - self.clock()
            # Cap the sleep so a stepped wall clock is noticed within a second.
            self.wake.wait(max(0.01, min(delay, 1.0)))
        return self.exit_code

    def shutdown(self) -> None:
        log.info("osqlite daemon stopping")
        # As osquery's alarm_timeout: a shutdown that hangs is cut short (exit 78).
        alarm = threading.Timer(max(10, self.flags["alarm_timeout"]), self._force_exit)
        alarm.daemon = True
        alarm.start()
        try:
            self._stop_everything()
        finally:
            # A shutdown that completed must not leave the alarm armed: the
            # process (a test, an embedding program) may well go on.
            alarm.cancel()

    def _stop_everything(self) -> None:
        for hook in self.hooks:
            if hasattr(hook, "stop"):
                try:
                    hook.stop(self)
                except Exception:
                    log.exception("Error stopping %r", hook)
        if self.pool is not None:
            # Interrupt running queries so shutdown is prompt.
            with self._version_lock:
                conns = [c for c, _ in self._conns.values()]
            for conn in conns:
                conn.interrupt()
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.state is not None:
            self.state.close()
        if self.pidfile is not None:
            self.pidfile.release()


    def _force_exit(self) -> None:
        log.error("Shutdown did not complete within alarm_timeout; exiting")
        os._exit(EXIT_CATASTROPHIC)


class _KV:
    """The splay store: a mapping view of the state db's kv table."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.state.get(key)
        return default if value is None else value

    def __setitem__(self, key: str, value: str) -> None:
        self.state.put(key, value)

    def __getitem__(self, key: str) -> str:
        value = self.state.get(key)
        if value is None:
            raise KeyError(key)
        return value


# -- status logging ---------------------------------------------------------------------

_buffer = BufferHandler()


def setup_early_logging(flags: Flags) -> None:
    """Before the config is read: stderr, and a buffer replayed into the files."""
    root = logging.getLogger("osqlite")
    root.setLevel(logging.DEBUG if flags["verbose"] else logging.INFO)
    root.propagate = False
    if flags["logger_stderr"]:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(GlogFormatter())
        err.setLevel((logging.DEBUG, logging.WARNING, logging.ERROR)[max(0, min(flags["logger_min_stderr"], 2))])
        root.addHandler(err)
    root.addHandler(_buffer)


def setup_status_logs(flags: Flags) -> None:
    root = logging.getLogger("osqlite")
    root.removeHandler(_buffer)
    if flags["disable_logging"]:
        return
    handlers: list[logging.Handler] = []
    if "filesystem" in plugins(flags):
        h = StatusFileHandler(flags["logger_path"], parse_mode(flags["logger_mode"]),
                              flags["logger_min_status"])
        h.touch()
        handlers.append(h)
    if "stdout" in plugins(flags):
        handlers.append(StdoutStatusHandler())
    for h in handlers:
        root.addHandler(h)
        for record in _buffer.records:
            h.handle(record)
    _buffer.records.clear()


# -- entry point ------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    flags = Flags()
    args = list(sys.argv[1:] if argv is None else argv)
    if "--help" in args or "-h" in args:
        print("usage: python -m osqlite.daemon [--flag=value ...]  (docs/daemon.md)\n")
        for f in FLAGS:
            default = render(f.default)
            print(f"  --{f.name}{'' if f.type == 'bool' else '=' + f.type.upper()}"
                  f"  {f.description} (default: {default!r}){'  [CLI only]' if f.cli_only else ''}")
        return EXIT_OK
    try:
        flags.parse_argv(args)
        for p in plugins(flags):
            if p not in ("filesystem", "stdout"):
                raise FlagError(f"unknown logger plugin {p!r}: osqlite has filesystem and stdout")
        parse_mode(flags["logger_mode"])
    except (FlagError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    setup_early_logging(flags)
    daemon = Daemon(flags)
    from .config_tables import ConfigTables
    from .events import EventsHook
    daemon.hooks.append(ConfigTables())
    daemon.hooks.append(EventsHook())

    if flags["config_check"] or flags["config_dump"]:
        try:
            # --config_dump shows the content (no SQL validation); --config_check judges it.
            cfg = daemon.read_config(strict_packs=flags["config_check"], validate=flags["config_check"])
            daemon.flags.apply_options(cfg.options)
        except ConfigError as exc:
            print(f"Error reading config: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        if flags["config_dump"]:
            print(ujson.dumps(cfg.dump(), ensure_ascii=False, escape_forward_slashes=False, indent=2))
        return EXIT_OK

    # The config is read before the log files exist because its options may
    # move logger_path; its messages are buffered and replayed into them.
    cfg: Config | None = None
    error: ConfigError | None = None
    try:
        cfg = daemon.read_config()
        flags.apply_options(cfg.options)
    except ConfigError as exc:
        error = exc
    try:
        daemon.start()
    except DaemonError as exc:
        print(f"osqlite daemon: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        log.error("Cannot start: %s", exc)
        return EXIT_CATASTROPHIC

    def on_stop(signum: int, frame: Any) -> None:
        daemon.stop_event.set()
        daemon.wake.set()

    def on_hup(signum: int, frame: Any) -> None:
        daemon.reload_requested = True
        daemon.wake.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    code = EXIT_OK
    try:
        daemon.load_initial_config(cfg, error)
        code = daemon.run()
    finally:
        daemon.shutdown()
        logging.shutdown()
    return code


def _entry() -> int:
    try:
        return main()
    except ExtensionLoadError as exc:   # no compiled extension: say how to build it
        print(f"osqlite daemon: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(_entry())
