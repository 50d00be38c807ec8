"""osqueryd in Python: ``python -m osqlite.daemon [--flag=value ...]``.

Reads the JSON config (osqlite.config), runs its scheduled queries in a pool
of worker_threads threads, each with its own osqlite connection
(osqlite.scheduler decides when), diffs each result against the previous one
kept in the state database and commits the new result with its lines in one
transaction (osqlite.results, osqlite.diff, osqlite.state), then writes
osquery's result and snapshot logs from that outbox, exactly once across
kills and disk faults (osqlite.outbox, osqlite.logger), and its status logs.  SIGHUP re-reads the
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

import contextlib
import fcntl
import itertools
import json
import logging
import os
import re
import resource
import signal
import socket
import stat
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence

import osqlite

from . import registry, watchdog
from ._sqlite import sqlite3
from .authorizer import Guard
from .backing import fill, flags_table
from .config import Config, ConfigError, Loader, QuerySpec
from .decorators import Decorators
from .diff import decode_text, format_double
from .dump import config_dump, database_dump
from .errors import DaemonError, ExtensionLoadError, FlagError
from .files import check_output_path, writable_dir
from .flags import DEFAULT_FLAGFILE, OSQUERY_VERSION, Flags, personality, usage, version_line
from .logger import (
    BufferHandler,
    GlogFormatter,
)
from .outbox import Outbox, plugin_sinks
from .packs import PackState, evaluate, machine_shard, runnable
from .registry import PluginError
from .results import CHUNK, ResultStep, Run, render_in_sqlite
from .scheduler import AlignedTimer, Job, Scheduler
from .sql import split_statements
from .state import StateDB, resolve_path
from .worker import Tracker, WatcherLink, settle_previous, take_executing, trim_memory

log = logging.getLogger("osqlite.daemon")

EXIT_OK, EXIT_FAILURE, EXIT_CATASTROPHIC = 0, 1, 78
CONFIG_BACKUP = "config_backup"     # kv key: the last good config's sources (JSON)
WORKER_ORPHAN_TIMEOUT = 5.0     # s a worker whose watcher died has to stop
PLACEHOLDER_UUIDS = {"00000000-0000-0000-0000-000000000000", "03000200-0400-0500-0006-000700080009",
                     "03020100-0504-0706-0809-0a0b0c0d0e0f", "10000000-0000-8000-0040-000000000000"}

SCHEDULE_COLUMNS = ("name", "query", "interval", "executions", "last_executed", "denylisted",
                    "output_size", "wall_time", "wall_time_ms", "last_wall_time_ms", "user_time",
                    "last_user_time", "system_time", "last_system_time", "average_memory",
                    "last_memory", "blacklisted")
PACKS_COLUMNS = ("name", "platform", "version", "shard", "discovery_cache_hits",
                 "discovery_executions", "active")
INFO_COLUMNS = ("pid", "instance_id", "version", "config_hash", "config_valid", "extensions",
                "start_time", "watcher")
REGISTRY_COLUMNS = ("registry", "name", "owner_uuid", "internal", "active")


class QueryTimeout(Exception):
    pass


class QueryError(Exception):
    """A scheduled query's own SQL failed while its rows were read (the
    sqlite3.Error is the cause), as opposed to a state-database failure."""


def query_rows(chunks: Iterator[list[tuple]]) -> Iterator[list[tuple]]:
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except sqlite3.Error as exc:
            raise QueryError(str(exc)) from exc
        yield chunk


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


def stream_sql(conn: sqlite3.Connection, sql: str) -> tuple[list[str], Iterator[list[tuple]]]:
    """Column names and the rows in chunks, straight from the cursor: a
    large result is never all in memory.  Several statements (rare) are
    read whole first, as run_sql does, since their rows share the last
    statement's column names."""
    stmts = split_statements(sql)
    if len(stmts) != 1:
        names, rows = run_sql(conn, sql)
        return names, iter([rows[i:i + CHUNK] for i in range(0, len(rows), CHUNK)])
    cur = conn.execute(stmts[0])
    names = [d[0] for d in cur.description] if cur.description else []
    if not cur.description:
        return names, iter(())
    return names, iter(lambda: cur.fetchmany(CHUNK), [])


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

def check_paths(flags: Flags) -> None:
    """Fail early, naming the flag, when the state database or the pidfile
    cannot be used (the logger plugins check their own paths at setup).
    An existing path must be a regular file (or, for database_path, an
    osquery database directory): never a device, FIFO, socket or symlink.
    Nothing is created or deleted before every check has passed."""
    if not flags["disable_database"]:
        db = flags["database_path"]
        note = flags.origin_note("database_path")
        check_output_path(db, "database_path")
        if os.path.isdir(db):
            writable_dir(db, "database_path", False, note)
            db = resolve_path(db)
            check_output_path(db, "database_path")
        # SQLite creates these beside the file; a device or symlink there is refused too.
        for suffix in ("-journal", "-wal", "-shm"):
            check_output_path(db + suffix, "database_path")
        if os.path.exists(db) and not os.access(db, os.W_OK):
            raise DaemonError(f"cannot write {db}{note}: pass --database_path=<a writable path>")
    if not flags["ephemeral"]:
        check_output_path(flags["pidfile"], "pidfile")
    if not flags["disable_database"]:
        db = flags["database_path"]
        if not os.path.isdir(db):
            writable_dir(os.path.dirname(os.path.abspath(db)) or ".", "database_path", True,
                         flags.origin_note("database_path"))
    if not flags["ephemeral"]:
        writable_dir(os.path.dirname(os.path.abspath(flags["pidfile"])) or ".", "pidfile", False,
                     flags.origin_note("pidfile"))


def _is_daemon_process(pid: int) -> bool:
    """osquery's --force only stops an osqueryd (osquery: osquery/core/init.cpp
    terminateActiveOsqueryInstance); osqlite's daemon runs as osqlited,
    osqueryd or python -m osqlite.daemon."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read(65536).split(b"\0")
    except OSError:
        return False
    names = [os.path.basename(a) for a in argv[:3]]
    return (any(n.startswith((b"osqueryd", b"osqlited")) for n in names)
            or b"osqlite.daemon" in argv[:4])


class Pidfile:
    """osquery's locked pidfile (osquery: osquery/utils/pidfile/pidfile_posix.cpp):
    flock'ed for the daemon's life, decimal pid without newline.  With
    ``force``, a daemon holding it is stopped (SIGTERM) and the lock retried
    5 times 2 s apart, as osquery's --force."""

    def __init__(self, path: str, force: bool = False) -> None:
        self.path = path
        check_output_path(path, "pidfile")
        for attempt in range(6):
            self.fd = self._open()
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = self._holder()
                os.close(self.fd)
                if force and attempt == 0:
                    force = self._stop_holder(holder)
                if not force or attempt == 5:
                    raise DaemonError(f"Pidfile check failed: another daemon (pid {holder or '?'}) "
                                      f"holds {path}; stop it first, pass --force, or pass a "
                                      "different --pidfile") from None
                time.sleep(2)
                continue
            if self._still_at_path():
                break
            # The holder removed the file as it exited, after we opened it:
            # this lock is on a deleted file.  Open the path again.
            os.close(self.fd)
        else:
            raise DaemonError(f"Pidfile check failed: {path} keeps being replaced")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        self._lost_logged = False

    def check(self) -> None:
        """A pidfile deleted (or replaced) while the daemon runs no longer
        keeps a second daemon out: put a new one in place, locked, and say so.
        (The state database is locked too, so a second daemon never shares it.)"""
        if self._still_at_path():
            return
        fd = -1
        try:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (OSError, DaemonError) as exc:
            if fd >= 0:
                os.close(fd)
            if not self._lost_logged:
                holder = ""
                with contextlib.suppress(OSError):
                    with open(self.path, "rb") as f:
                        holder = f.read(32).decode(errors="replace")
                log.error("The pidfile %s was removed or replaced while the daemon was running and "
                          "cannot be locked again (%s%s)", self.path,
                          getattr(exc, "strerror", None) or exc, f"; held by pid {holder}" if holder else "")
                self._lost_logged = True
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        os.close(self.fd)
        self.fd = fd
        self._lost_logged = False
        log.warning("The pidfile %s was removed or replaced while the daemon was running; "
                    "it is recreated and locked again", self.path)

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
                         | os.O_NONBLOCK | os.O_NOCTTY, 0o600)
        except OSError as exc:
            raise DaemonError(f"cannot open pidfile {self.path} ({exc.strerror}): "
                              "pass --pidfile=<a writable path>") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DaemonError(f"--pidfile={self.path} is not a regular file: "
                              "pass --pidfile=<a file path>")
        return fd

    def _holder(self) -> str:
        try:
            return os.pread(self.fd, 32, 0).decode(errors="replace").strip()
        except OSError:
            return ""

    def _still_at_path(self) -> bool:
        try:
            a, b = os.fstat(self.fd), os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    @staticmethod
    def _stop_holder(holder: str) -> bool:
        """--force: stop the daemon holding the pidfile; False when it is not one."""
        if not holder.isdigit() or int(holder) == os.getpid():
            return False
        if not _is_daemon_process(int(holder)):
            log.error("Refusing to kill non-osqueryd process %s", holder)
            return False
        log.error("Killing osqueryd process: %s (--force)", holder)
        try:
            os.kill(int(holder), signal.SIGTERM)
        except OSError:
            pass
        return True

    def release(self) -> None:
        if self._still_at_path():
            try:
                os.unlink(self.path)
            except OSError:
                pass
        os.close(self.fd)


class Loggers:
    """The active logger plugins as one: the daemon writes results through
    this, whatever (and however many) plugins --logger_plugin named."""

    def __init__(self, plugins: list[Any]) -> None:
        self.plugins = plugins

    def setup(self) -> None:
        for p in self.plugins:
            try:
                p.setup()
            except DaemonError as exc:
                raise PluginError(f"Cannot activate {p.name} logger plugin: {exc}") from None
            except OSError as exc:
                raise PluginError(f"Cannot activate {p.name} logger plugin: "
                                  f"{exc.filename or ''}: {exc.strerror}") from None

    def sinks(self) -> list[Any]:
        """The outbox sinks of every plugin (osqlite.outbox): a plugin's own
        ``sinks()`` (exactly once), else its log_results/log_snapshot."""
        out: list[Any] = []
        for p in self.plugins:
            out.extend(p.sinks() if hasattr(p, "sinks") else plugin_sinks(p))
        return out

    def stop(self) -> None:
        for p in self.plugins:
            try:
                p.stop()
            except Exception:
                log.exception("Error stopping the %s logger plugin", p.name)

    def describe(self) -> str:
        return ", ".join(f"{p.describe()} ({p.name})" for p in self.plugins) or "nowhere"


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
        self.results: Loggers | None = None        # the active logger plugins
        self.config_plugin: Any = None
        self.distributed: Any = None
        self.outbox: Outbox | None = None
        self.step: ResultStep | None = None
        self._store_error: str | None = None
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
        self._guards: dict[int, Guard] = {}
        self._started = False
        self._event_pattern: re.Pattern[str] | None = None
        self._ephemeral_id = str(uuid.uuid4())
        self._host_uuid: str | None = None
        self.extensions: Any = None                # osqlite.extensions.Manager when serving
        self._missing_tables: set[str] = set()     # tables skipped queries named
        self._fetching: threading.Thread | None = None
        self._fetched: tuple[bool, dict[str, str] | ConfigError] | None = None
        # The watchdog: this daemon's watcher when it is a worker (osqlite.worker).
        self.watcher_link: WatcherLink | None = None
        self.tracker = Tracker(self)
        self._previous: list[str] = []      # executing_query left by the previous daemon

    # -- connections --------------------------------------------------------------

    def new_connection(self) -> sqlite3.Connection:
        conn = osqlite.connect(check_same_thread=False)
        conn.text_factory = decode_text
        conn.isolation_level = None
        # osquery's authorizer, for the SQL of the config (osqlite.authorizer).
        self._guards[id(conn)] = Guard(conn)
        for hook in self.hooks:
            if hasattr(hook, "prepare_connection"):
                hook.prepare_connection(self, conn)
        with self._version_lock:
            self._conns[id(conn)] = (conn, -1)
        return conn

    def drop_connection(self, conn: sqlite3.Connection) -> None:
        """Close a connection made by new_connection."""
        with self._version_lock:
            self._conns.pop(id(conn), None)
        conn.close()

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
                  "osquery_info": (INFO_COLUMNS, [self.info_row()]),
                  "osquery_registry": (REGISTRY_COLUMNS, registry.REGISTRY.rows())}
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
        active = "active" if self.extensions is not None and self.extensions.running else "inactive"
        return (os.getpid(), self.instance_id(), OSQUERY_VERSION, self.config.hash if self.config else "",
                int(self.config_valid), active, self.start_time,
                self.watcher_link.watcher_pid if self.watcher_link is not None else -1)

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

    # -- extensions -----------------------------------------------------------------

    def start_extensions(self, paths: list[str] | None = None, path: str = "",
                         unchecked: str = "") -> None:
        """The extension manager on --extensions_socket (osqlite/extensions),
        with the autoloaded extensions registered (or --extensions_timeout
        spent).  As osquery, a manager that cannot start is an error in the
        log, and the daemon runs on without extensions."""
        from . import extensions
        if paths is None:
            paths = extensions.managed(self.flags)
        try:
            manager = extensions.start(self, path or self.flags["extensions_socket"], paths,
                                       unchecked)
        except extensions.SocketError as exc:
            (log.info if exc.quiet else log.error)(
                "An error occurred during extension manager startup: %s", exc)
            return
        # Rebound, not changed in place: the shell starts this on a thread of
        # its own while its connection may be refreshed.  The connections pick
        # up the tables at their next refresh (bump), on their own threads.
        self.backing = {**self.backing, "osquery_extensions": lambda: (
            extensions.EXTENSIONS_COLUMNS, list(extensions.iter_rows(manager)))}
        self.hooks = self.hooks + [manager.tables]
        self.extensions = manager
        problem = extensions.require(manager)
        if problem:
            log.error("An error occurred during extension manager startup: %s", problem)
        self.bump()

    def extension_tables_added(self, names: Sequence[str]) -> None:
        """Queries skipped at load for naming a table nobody had: now that an
        extension provides one, load the config again."""
        if self._started and {n.lower() for n in names} & self._missing_tables:
            log.info("Reloading the config: an extension now provides %s",
                     ", ".join(sorted(n for n in names if n.lower() in self._missing_tables)))
            self.reload_requested = True
            self.wake.set()

    def _wait_plugin(self, kind: str, name: str) -> None:
        """osquery's initActivePlugin: with autoloaded extensions, a plugin
        not known yet may still come from one, for --extensions_timeout."""
        m = self.extensions
        if m is not None and m.autoloader is not None and name not in registry.names(kind):
            m.wait(lambda: name in registry.names(kind), m.timeout)

    # -- config ---------------------------------------------------------------------

    def activate_config_plugin(self) -> None:
        """osquery's initActivePlugin("config", --config_plugin); PluginError if unknown."""
        if self.config_plugin is None:
            registry.load_builtins()
            self._wait_plugin("config", self.flags["config_plugin"])
            self.config_plugin = registry.create("config", self.flags["config_plugin"], self)
            registry.REGISTRY.set_active("config", [self.config_plugin.name])

    def fetch_config(self) -> dict[str, str] | ConfigError:
        """The config plugin's sources, or why it could not give them.  May
        take long (a TLS server that does not answer): run() calls it on a
        thread of its own, so the schedule never waits for it."""
        self.activate_config_plugin()
        try:
            return self.config_plugin.gen_config()
        except ConfigError as exc:
            return exc
        except Exception as exc:    # a plugin's bug must not take the daemon down
            log.exception("The %s config plugin failed", self.config_plugin.name)
            return ConfigError(self.config_plugin.describe(), "", str(exc) or type(exc).__name__)

    def read_config(self, validate: bool = True, fetched: dict[str, str] | ConfigError | None = None,
                    initial: bool = False) -> Config:
        """Fetch the sources from the config plugin (or take ``fetched``) and
        load them.  Never raises for bad input: Config.error says why a
        source (or the fetch) failed, Config.problems lists the skipped
        entries.  At start (``initial``), when the fetch fails and the
        config backup is on, the last good config saved in the state
        database is loaded instead (osquery: --config_enable_backup)."""
        self.activate_config_plugin()
        if self._main_conn is None and validate:
            self._main_conn = self.new_connection()
        sources = self.fetch_config() if fetched is None else fetched
        if isinstance(sources, ConfigError):
            restored = self._restore_config() if initial else None
            if restored is None:
                return Config(error=sources)
            log.warning("Error reading config: %s; using the last good config, saved in the "
                        "state database", sources)
            sources = restored
        else:
            self.config_valid = True     # osquery: valid once the plugin fetch succeeds

        def gen_pack(name: str, value: str) -> list:
            return list(self.config_plugin.gen_pack(name, value))

        conn = self._main_conn if validate else None

        def declare(cfg: Config) -> None:
            # Views and atc tables exist before the queries that read them are checked.
            for hook in self.hooks:
                if hasattr(hook, "declare"):
                    hook.declare(self, conn, cfg)

        if validate and self._main_conn is not None:
            self.refresh_backing(self._main_conn)     # extension tables current
        check = validator(self._main_conn) if validate and self._main_conn else None
        self._missing_tables = set()

        def validate_sql(sql: str) -> str | None:
            assert check is not None
            problem = check(sql)
            if problem and problem.startswith("no such table: "):
                self._missing_tables.add(problem[len("no such table: "):].split(".")[-1].lower())
            return problem

        loader = Loader(default_interval=self.flags["schedule_default_interval"],
                        validate=validate_sql if check is not None else None,
                        gen_pack=gen_pack, declare=declare,
                        applies=lambda pl, ver, sh: runnable(pl, ver, sh, self.shard))
        return loader.load_sources(sources)

    def _backup_enabled(self) -> bool:
        return bool(self.flags["config_enable_backup"]
                    or getattr(self.config_plugin, "backup", False))

    def _restore_config(self) -> dict[str, str] | None:
        if not self._backup_enabled():
            return None
        try:
            text = self.open_state().get(CONFIG_BACKUP)
            sources = json.loads(text) if text else None
        except (DaemonError, ValueError, sqlite3.Error) as exc:
            log.warning("Cannot read the saved config: %s", exc)
            return None
        if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
            return None
        return sources

    def _backup_config(self, cfg: Config) -> None:
        """Keep a config that loaded without error, for a start when the
        config source cannot be read (osquery: Config::backupConfig)."""
        if cfg.error is not None or not cfg.sources or self.state is None or not self._backup_enabled():
            return
        try:
            self.state.put(CONFIG_BACKUP, json.dumps(dict(cfg.sources), ensure_ascii=False))
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            log.warning("Cannot save the config in the state database: %s", exc)

    def apply_config(self, cfg: Config, options_applied: bool = False) -> None:
        """Install a config: options, schedule, packs, decorators."""
        logger_path = self.flags["logger_path"]
        if not options_applied:
            self.flags.apply_options(cfg.options, cfg.options_source)
        if self.flags["logger_path"] != logger_path and self.results is not None:
            log.warning("logger_path changed in the config; it takes effect at the next start")
            self.flags.set("logger_path", logger_path)
        self._apply_verbosity()
        self.config = cfg
        now = self.clock()
        # Packs: predicates were applied at load; discovery on the main-thread connection.
        self.packs = [PackState(spec=spec, valid=spec.valid) for spec in cfg.packs]
        self.evaluate_discovery(now)
        refresh = self.flags["pack_refresh_interval"]
        self.pack_timer = AlignedTimer(refresh, now) if refresh > 0 else None
        # Decorators.
        self.decorators = Decorators(cfg.decorators)
        if not self.flags["disable_decorators"]:
            self.decorators.run_load(lambda sql: self.run_config_sql(self._main(), sql))
        self.decorator_timers = {rate: AlignedTimer(rate, now) for rate in self.decorators.interval}
        self.install_schedule(now)
        self._backup_config(cfg)
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
            evaluate(pack, lambda sql: len(self.run_config_sql(conn, sql)[1]), mode, now)

    def install_schedule(self, now: float) -> None:
        assert self.config is not None
        delim = self.flags["pack_delimiter"]
        candidates = list(self.config.schedule)
        for pack in self.packs:
            if pack.active:
                candidates.extend(pack.spec.queries)
        # platform, version and shard were applied when the config was loaded.
        queries = [(spec.log_name(delim), spec) for spec in candidates]
        denylist = {}
        if self.state is not None:
            denylist = {k: float(v) for k, v in self.state.prefixed("denylist.").items()}
        splay_store = _KV(self.state) if self.state is not None else {}
        self.scheduler.splay_store = splay_store
        # schedule_run_at_startup: only the schedule installed at start runs at once.
        self.scheduler.update(queries, now, self.flags["schedule_splay_percent"],
                              self.flags["schedule_run_at_startup"] and not self._started, denylist)
        self.wake.set()

    def reload(self, force: bool = True, fetched: dict[str, str] | ConfigError | None = None) -> bool:
        """SIGHUP (force) / config_refresh: adopt the new config only if every
        source parsed (osqlite keeps the last good config otherwise).  SIGHUP
        re-applies even an unchanged config, so it also re-runs pack
        discovery and load decorators; config_refresh skips unchanged ones.
        ``fetched`` is what fetch_config gave (run() fetches on a thread).
        Returns False when the config could not be read."""
        try:
            cfg = self.read_config(fetched=fetched)
        except Exception:   # never let a reload take the daemon down
            log.exception("Error reading config (keeping the last good config)")
            return False
        if cfg.error is not None:
            log.warning("Error reading config: %s (keeping the last good config)", cfg.error)
            return False
        # config_hash covers the config sources only (as osquery); pack files
        # are compared through the parsed result so an edited pack reloads too.
        unchanged = (self.config is not None and cfg.hash == self.config.hash
                     and cfg.fingerprint() == self.config.fingerprint())
        if unchanged and not force:
            return True
        log.info("Config reloaded: %s", self.config_plugin.describe())
        self.apply_config(cfg)
        return True

    def guard(self, conn: sqlite3.Connection) -> Guard:
        """The authorizer of a connection new_connection() made."""
        return self._guards[id(conn)]

    def run_config_sql(self, conn: sqlite3.Connection, sql: str) -> tuple[list[str], list[tuple]]:
        """Run SQL that came from the config (scheduled, discovery and
        decorator queries) under osquery's authorizer: no ATTACH, no DDL
        beyond tables and views, only osquery's pragmas."""
        with self._guards[id(conn)].enforced():
            return run_sql(conn, sql)

    def _apply_verbosity(self) -> None:
        root = logging.getLogger("osqlite")
        root.setLevel(logging.DEBUG if self.flags["verbose"] else logging.INFO)

    # -- running queries ------------------------------------------------------------

    @contextlib.contextmanager
    def time_limit(self, conn: sqlite3.Connection, timeout: float) -> Iterator[None]:
        """Interrupt the connection's statement after ``timeout`` seconds;
        QueryTimeout says it was that.

        At the deadline a timer thread calls conn.interrupt(): SQLite's
        interrupt flag, which osqlite's tables watch inside one long table
        call (hashing a huge file, walking a tree: osq_check_interrupt in
        csrc/engine.c), where a progress handler never runs.  The progress
        handler stays for the moments between statements, where SQLite
        clears a pending interrupt when the next statement starts."""
        if timeout <= 0:
            yield
            return
        deadline = time.monotonic() + timeout
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            conn.interrupt()

        def progress() -> int:
            if time.monotonic() > deadline:
                fired.set()
                return 1
            return 0

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        conn.set_progress_handler(progress, 1000)
        timer.start()
        try:
            yield
        except (sqlite3.OperationalError, QueryError):
            if fired.is_set():
                raise QueryTimeout() from None
            raise
        finally:
            timer.cancel()
            timer.join()   # an interrupt never lands on a later statement
            conn.set_progress_handler(None, 0)

    def execute(self, conn: sqlite3.Connection, sql: str, timeout: float) -> tuple[list[str], list[tuple]]:
        with self.time_limit(conn, timeout):
            return self.run_config_sql(conn, sql)

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
            self.decorators.run_always(lambda sql: self.run_config_sql(conn, sql))
        timeout = flags["schedule_timeout"]
        r0 = resource.getrusage(resource.RUSAGE_THREAD)
        t0 = time.monotonic()
        # Event hooks: the query sees only events since its previous run.
        tokens = [(h, h.before_query(self, conn, job)) for h in self.hooks
                  if hasattr(h, "before_query")]
        ok = False
        self.tracker.started(job)
        try:
            # osquery's authorizer covers everything the run executes on the
            # query's connection (osqlite.authorizer).
            with self._guards[id(conn)].enforced(), self.time_limit(conn, timeout):
                ok = self._store_and_log(job, conn)
        except QueryTimeout:
            if spec.denylist:
                self.denylist(job, flags["schedule_denylist_duration"])
                log.warning("Scheduled query %s exceeded schedule_timeout (%ss) and was interrupted; "
                            "it is denylisted for %ss", job.name, timeout,
                            flags["schedule_denylist_duration"])
            else:
                log.warning("Scheduled query %s exceeded schedule_timeout (%ss) and was interrupted",
                            job.name, timeout)
        except (sqlite3.Error, QueryError) as exc:
            err = exc.__cause__ if isinstance(exc, QueryError) else exc
            if self.stop_event.is_set() and "interrupted" in str(err):
                log.info("Scheduled query %s was interrupted: the daemon is stopping", job.name)
            else:
                log.error("Error executing scheduled query %s: %s", job.name, err)
        finally:
            cpu_ms = self._record(job, t0, r0)
            self.tracker.finished(job, cpu_ms)
            # After the store/log step: an event query's position advances only
            # once its rows are committed (or it had none).
            for h, token in tokens:
                h.after_query(self, conn, job, token, ok)
        if ok and self.outbox is not None:
            self.outbox.deliver(force=False)
        trim_memory(flags, self.watcher_link is not None)

    def denylist(self, job: Job, seconds: float) -> None:
        """Skip a query for ``seconds`` (persisted: a restart keeps it);
        osquery_schedule shows it denylisted."""
        until = self.clock() + seconds
        self.scheduler.denylist(job, until)
        if self.state is not None:
            self.state.put(f"denylist.{job.name}", str(until))
        self.bump()

    def _store_and_log(self, job: Job, conn: sqlite3.Connection) -> bool:
        """Run the query, diff, store and commit the run's lines
        (osqlite.results); False when nothing was committed (the next run
        catches up)."""
        assert self.state is not None and self.step is not None
        flags = self.flags
        spec = job.spec
        events = flags["events_optimize"] and self.is_event_query(spec)
        wrapped = None
        stmts = split_statements(spec.query)
        if not (spec.snapshot or events or flags["logger_numerics"]) and len(stmts) == 1:
            # The common case: SQLite renders the rows (csrc/logline.c).
            wrapped = render_in_sqlite(conn, stmts[0], flags["nullvalue"])
        if wrapped is not None:
            names, chunks = list(wrapped[0]), wrapped[1]
        else:
            names, chunks = stream_sql(conn, spec.query)
        rows = query_rows(chunks)
        # unixTime/calendarTime: when the first rows are in (for osqlite's
        # tables, which generate their rows when the scan starts, that is
        # when the query has run, as osquery takes it).
        head = next(rows, [])
        rows = itertools.chain([head], rows)
        decorations = {} if flags["disable_decorators"] else self.decorators.current()
        run = Run(name=job.name, query=spec.query, host=self.host_identifier(), unix=int(self.clock()),
                  epoch=flags["schedule_epoch"], numerics=flags["logger_numerics"],
                  event_format=flags["logger_event_type"], removed=spec.removed,
                  snapshot=spec.snapshot, snapshot_event_type=flags["logger_snapshot_event_type"],
                  events=events,
                  nullvalue=flags["nullvalue"], decorations=decorations,
                  top_level=flags["decorations_top_level"])
        try:
            if spec.snapshot:
                out = self.step.snapshot(run, names, rows)
            else:
                out = self.step.differential(run, names, rows, rendered=wrapped is not None)
        except QueryError:
            raise
        except (sqlite3.Error, OSError) as exc:
            self._store_failed(job.name, exc)
            return False
        self._store_ok()
        # The unixTime/calendarTime of the lines are taken when the rows are in.
        if out.first and not spec.snapshot:
            if out.new_epoch:
                log.info("New Epoch %s for scheduled query %s", run.epoch, job.name)
            else:
                log.info("Storing initial results for new scheduled query: %s", job.name)
        job.stats["output_size"] += out.size
        return not out.deferred

    def _store_failed(self, name: str, exc: BaseException) -> None:
        what = getattr(exc, "strerror", None) or str(exc)
        if what != self._store_error:
            log.error("Cannot store the results of %s in the state database %s: %s; nothing of "
                      "that run is logged, the next run that can be stored logs its changes",
                      name, self.state.path if self.state else "", what)
            self._store_error = what

    def _store_ok(self) -> None:
        if self._store_error is not None:
            log.warning("The state database accepts results again")
            self._store_error = None

    def _record(self, job: Job, t0: float, r0: Any) -> int:
        """Account a run in osquery_schedule; the CPU ms it used."""
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
        return user + system

    exit_code = EXIT_OK

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Check paths, activate the logger (and distributed) plugins, take the
        pidfile, open the state database; DaemonError (exit 1) or PluginError
        (exit 78) when that cannot be done, having created nothing that stays."""
        flags = self.flags
        check_paths(flags)
        registry.load_builtins()
        loggers = []
        if not flags["disable_logging"]:
            for name in registry.plugin_names(flags["logger_plugin"]):
                self._wait_plugin("logger", name)
            loggers = [registry.create("logger", name, self)
                       for name in registry.plugin_names(flags["logger_plugin"])]
        if not flags["disable_distributed"]:
            self.distributed = registry.create("distributed", flags["distributed_plugin"], self)
        registry.REGISTRY.set_active("logger", [p.name for p in loggers])
        registry.REGISTRY.set_active("distributed", [self.distributed.name] if self.distributed else [])
        try:
            # Loggers first: a bad --logger_path fails before the pidfile or the
            # database is created.
            if loggers:
                self.results = Loggers(loggers)
                self.results.setup()
            self.open_state()
            self.outbox = Outbox(self.state, self.results.sinks() if self.results is not None else [],
                                 flags["buffered_log_max"])
        except BaseException:
            self.abort()
            raise
        setup_status_logs(flags, self.results)
        self._previous = take_executing(self.state)
        self.step = ResultStep(self.state, self.outbox, self._in_commit)
        # Lines committed before the last stop (a kill, a crash, a failing
        # log) go out first, before any new run.
        backlog = sum(self.outbox.backlog().values())
        if backlog:
            log.info("Writing %d result lines committed before the last stop", backlog)
        self.outbox.deliver()
        for hook in self.hooks:
            if hasattr(hook, "start"):
                hook.start(self)
        self.is_event_query(QuerySpec("", "", 1))   # list the event tables now, on this thread
        self._host_uuid = self._hardware_uuid()
        self.pool = ThreadPoolExecutor(max_workers=max(1, flags["worker_threads"]),
                                       thread_name_prefix="osqlite-worker")

    def open_state(self) -> StateDB:
        """Take the pidfile and open the state database, once.  start() does
        it after the loggers are set up; a plugin that needs the database
        sooner (the tls config plugin keeps its node key there, and fetches
        the config before the loggers exist) calls it first, as osquery
        opens its database before loading the config.  --config_check and
        --config_dump take no pidfile, as in osquery."""
        if self.state is not None:
            return self.state
        flags = self.flags
        check_paths(flags)
        checking = flags["config_check"] or flags["config_check_strict"] or flags["config_dump"]
        try:
            # A worker leaves the pidfile to its watcher (osquery: init.cpp initDaemon).
            if (not flags["ephemeral"] and not checking and self.pidfile is None
                    and self.watcher_link is None):
                self.pidfile = Pidfile(flags["pidfile"], flags["force"])
            try:
                self.state = StateDB(None if flags["disable_database"] else flags["database_path"])
            except DaemonError as exc:
                if not checking:
                    raise
                # --config_check beside a running daemon (which holds the
                # database): check with a state of its own.
                log.info("%s; --config_check uses a state in memory", exc)
                self.state = StateDB(None)
        except BaseException:
            self.abort()
            raise
        return self.state

    def host_details(self, tables: Sequence[str]) -> dict[str, dict[str, str]]:
        """The first row of each table, values as text (osquery:
        EnrollPlugin::genHostDetails); a table that is missing or empty is
        left out."""
        out: dict[str, dict[str, str]] = {}
        # Its own connection: enrollment may happen on any thread.
        conn = self.new_connection()
        try:
            self.refresh_backing(conn)
            for table in tables:
                try:
                    cur = conn.execute(f'SELECT * FROM "{table}" LIMIT 1')
                    row = cur.fetchone()
                except sqlite3.Error:
                    continue
                if row is not None:
                    names = [d[0] for d in cur.description]
                    out[table] = {n: "" if v is None else format_double(v) if isinstance(v, float)
                                  else str(v) for n, v in zip(names, row)}
        finally:
            self.drop_connection(conn)
        return out

    def abort(self) -> None:
        """Undo a start that failed half-way: release the pidfile, close the database."""
        if self.state is not None:
            self.state.close()
            self.state = None
        if self.pidfile is not None:
            self.pidfile.release()
            self.pidfile = None

    def load_initial_config(self, cfg: Config | None, error: ConfigError | None = None) -> None:
        """Apply the config read at start.  As osquery, an error is only a
        warning: the sources read before the failing one apply, the daemon
        keeps running (possibly with an empty schedule), and SIGHUP or
        config_refresh can bring a good config later."""
        error = error or (cfg.error if cfg is not None else None)
        if error is not None:
            log.warning("Error reading config: %s", error)
        if cfg is not None:
            self.apply_config(cfg, options_applied=True)
        self._started = True
        settle_previous(self, self._previous,
                        self.watcher_link.report if self.watcher_link is not None else None)
        self._previous = []

    def announce(self) -> None:
        """The start line: version, config, log destination, schedule size."""
        config = (f"{self.config_plugin.describe()} ({self.config_plugin.name})"
                  if self.config_plugin is not None else "none")
        logs = self.results.describe() if self.results is not None else "nowhere (--disable_logging)"
        jobs = len(self.scheduler.jobs)
        log.info("osqlite daemon started [version=%s, osquery %s] pid %d: config %s, "
                 "logging to %s, %d scheduled quer%s", osqlite.__version__, OSQUERY_VERSION,
                 os.getpid(), config, logs, jobs, "y" if jobs == 1 else "ies")

    def run(self) -> int:
        assert self.pool is not None
        refresh = self.flags["config_refresh"]
        next_refresh = self.clock() + refresh if refresh > 0 else None
        while not self.stop_event.is_set():
            self.wake.clear()
            self.housekeeping()
            now = self.clock()
            if self.reload_requested and self._fetching is None:
                self.reload_requested = False
                self._fetch_async(force=True)
            if next_refresh is not None and now >= next_refresh and self._fetching is None:
                self._fetch_async(force=False)
                next_refresh = None
            done = self._fetched
            if done is not None:
                self._fetched = None
                self._fetching = None
                ok = self.reload(force=done[0], fetched=done[1])
                if refresh > 0:
                    next_refresh = now + (refresh if ok else (self.flags["config_accelerated_refresh"]
                                                              or refresh))
            if self.pack_timer is not None and self.pack_timer.due(now):
                self.evaluate_discovery(now)
                self.install_schedule(now)
                self.bump()
            if not self.flags["disable_decorators"]:
                for rate, timer in self.decorator_timers.items():
                    if timer.due(now):
                        self.decorators.run_interval(
                            rate, lambda sql: self.run_config_sql(self._main(), sql))
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

    def _fetch_async(self, force: bool) -> None:
        """Fetch the config on a thread; run() applies it when it arrives."""
        def fetch() -> None:
            result = self.fetch_config()
            self._fetched = (force, result)
            self.wake.set()
        self._fetching = threading.Thread(target=fetch, name="osqlite-config", daemon=True)
        self._fetching.start()

    def refresh_config(self, now: float) -> float:
        """config_refresh: re-read the config; when of the next read.  As
        osquery, after a failed read it retries every config_accelerated_refresh
        seconds until one succeeds (osquery: osquery/config/config.cpp)."""
        refresh = self.flags["config_refresh"]
        if self.reload(force=False):
            return now + refresh
        return now + (self.flags["config_accelerated_refresh"] or refresh)

    def _in_commit(self, tx: sqlite3.Connection) -> None:
        """Inside a run's transaction: hooks that keep state in the state
        database (the events' per-query positions) may write it there, so it
        commits with the run (hook method ``in_commit(daemon, tx)``)."""
        for hook in self.hooks:
            if hasattr(hook, "in_commit"):
                hook.in_commit(self, tx)

    def housekeeping(self) -> None:
        """Each loop step: the state database and pidfile still where they
        belong, failing log sinks retried once their back-off has passed."""
        if self.state is not None and self.state.check():
            if self.outbox is not None:
                self.outbox.reopen()
            # Query connections may have attached the old file (the event
            # store): new ones are made on demand.
            self._local = threading.local()
            self._main_conn = None
            # Event publishers keep their own connection: restart them on the new file.
            for hook in self.hooks:
                if hasattr(hook, "stop") and hasattr(hook, "start"):
                    try:
                        hook.stop(self)
                        hook.start(self)
                        if self.config is not None and hasattr(hook, "configure"):
                            hook.configure(self, self.config)
                    except Exception as exc:
                        log.error("Cannot restart %s on the recreated state database: %s",
                                  type(hook).__name__, exc)
        if self.pidfile is not None:
            self.pidfile.check()
        if self.outbox is not None:
            self.outbox.retry_due()
        if self.watcher_link is not None and not self.watcher_link.alive():
            # The watcher is gone (its SIGTERM may have been missed): follow it.
            self.stop_event.set()

    def watcher_lost(self) -> bool:
        return self.watcher_link is not None and not self.watcher_link.alive()

    def shutdown(self) -> None:
        log.info("osqlite daemon stopping")
        # As osquery's alarm_timeout: a shutdown that hangs is cut short (exit 78).
        timeout = max(10, self.flags["alarm_timeout"])
        if self.watcher_lost():
            assert self.watcher_link is not None
            log.warning("osqueryd worker (%d) detected killed watcher (%d); stopping", os.getpid(),
                        self.watcher_link.watcher_pid)
            # Nobody waits for this worker: it must not outlive its watcher for long.
            timeout = WORKER_ORPHAN_TIMEOUT
        alarm = threading.Timer(timeout, self._force_exit)
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
        if self.outbox is not None:
            try:
                self.outbox.deliver(force=False)
            finally:
                self.outbox.close()
                self.outbox = None
        for plugin in (self.results, self.distributed, self.config_plugin):
            if plugin is not None:
                try:
                    plugin.stop()
                except Exception:
                    log.exception("Error stopping %r", plugin)
        if self.extensions is not None:
            self.extensions.stop()
        self.abort()

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


class StatusFanout(logging.Handler):
    """Status records to every active logger plugin's log_status, from
    --logger_min_status up (osquery: osquery/logger/logger.cpp)."""

    def __init__(self, loggers: Loggers, min_status: int) -> None:
        super().__init__(logging.DEBUG)
        self.loggers = loggers
        self.min_level = (logging.DEBUG, logging.WARNING, logging.ERROR)[max(0, min(min_status, 2))]

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self.min_level:
            return
        for plugin in self.loggers.plugins:
            try:
                plugin.log_status(record)
            except Exception:   # a status log must never take the daemon down
                self.handleError(record)


def setup_early_logging(flags: Flags) -> None:
    """Before the config is read: stderr, and a buffer replayed into the status logs."""
    root = logging.getLogger("osqlite")
    root.setLevel(logging.DEBUG if flags["verbose"] else logging.INFO)
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
    if flags["logger_stderr"]:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(GlogFormatter())
        err.setLevel((logging.DEBUG, logging.WARNING, logging.ERROR)[max(0, min(flags["logger_min_stderr"], 2))])
        root.addHandler(err)
    _buffer.records.clear()
    root.addHandler(_buffer)


def setup_status_logs(flags: Flags, loggers: Loggers | None) -> None:
    root = logging.getLogger("osqlite")
    root.removeHandler(_buffer)
    if loggers is not None:
        fanout = StatusFanout(loggers, flags["logger_min_status"])
        root.addHandler(fanout)
        for record in _buffer.records:
            fanout.handle(record)
    _buffer.records.clear()


# -- entry point ------------------------------------------------------------------------

def _positional(flags: Flags, program: str) -> str | None:
    """Arguments that are not flags: gflags leaves them to the program, and
    osqueryd ignores them.  osqlite refuses SQL (the daemon runs its
    schedule, the shell runs SQL) and warns about a boolean written as a
    separate word, which gflags reads as true whatever the word says."""
    for arg in flags.positional:
        if arg.lower() in ("true", "false", "t", "f", "1", "0", "yes", "no", "y", "n"):
            log.warning("Ignoring the argument %r: a boolean flag takes its value as "
                        "--flag=%s (written apart, gflags reads the flag as true)", arg, arg)
            continue
        return (f"{program}: unexpected argument {arg!r}: the daemon runs the config's "
                f"schedule and takes no SQL or file on its command line; run SQL with "
                f"osqueryi (or {program} -S)")
    return None


def _flag_error(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_FAILURE


def main(argv: Sequence[str] | None = None, program: str | None = None) -> int:
    """osqueryd: ``osqlited``/``osqueryd``/``python -m osqlite.daemon``."""
    args = list(sys.argv[1:] if argv is None else argv)
    argv0 = program or (sys.argv[0] if argv is None else "osqlited")
    if personality(argv0, args, "daemon") == "shell":
        from .shell import main as shell_main
        return shell_main(args)
    base = os.path.basename(argv0)
    program = "osqueryd" if "osqueryd" in base else "osqlited"
    # osquery reads --help before gflags (osquery: osquery/core/init.cpp).
    if any(a in ("--help", "-help", "--h", "-h") for a in args):
        print(usage(program))
        return EXIT_OK
    flags = Flags(program)
    given = list(args)
    if (not any(a.lstrip("-").startswith("flagfile") for a in args)
            and os.access(DEFAULT_FLAGFILE, os.R_OK)):
        # No --flagfile: osquery reads its defaults file when there is one.
        args = [f"--flagfile={DEFAULT_FLAGFILE}"] + args
    try:
        flags.parse_argv(args)
    except FlagError as exc:
        return _flag_error(str(exc))
    if flags.version_requested:
        print(version_line(program))
        return EXIT_OK
    if flags.help_requested:
        print(usage(program))
        return EXIT_OK
    setup_early_logging(flags)
    for message in flags.warnings:
        log.warning("%s", message)
    problem = _positional(flags, program)
    if problem:
        return _flag_error(problem)
    if flags["database_dump"]:
        return database_dump(flags)
    link = WatcherLink.from_env()
    if link is not None and not link.bind():
        # The watcher died before this worker was up (or OSQUERY_WORKER was set by hand).
        print(f"{program}: the watcher (pid {link.watcher_pid}, from OSQUERY_WORKER) is not this "
              "worker's parent any more; exiting", file=sys.stderr)
        return EXIT_OK
    one_shot = flags["config_dump"] or flags["config_check"] or flags["config_check_strict"]
    if link is None and not one_shot and watchdog.enabled(flags):
        # The same program, arguments and interpreter options, as osquery re-executes itself.
        worker = ([sys.executable] + sys.orig_argv[1:] if argv is None
                  else [sys.executable, "-m", "osqlite.daemon"] + given)
        return run_as_watcher(flags, worker, program)
    daemon = Daemon(flags)
    from .carver import Carver
    daemon.watcher_link = link
    from .config_tables import ConfigTables
    from .distributed import DistributedRunner
    from .events import EventsHook
    daemon.hooks.append(ConfigTables())
    daemon.hooks.append(EventsHook())
    daemon.hooks.append(Carver())
    daemon.hooks.append(DistributedRunner())
    # osquery: init.cpp Initializer::start -- the extension manager (and the
    # autoloaded extensions) come before the config plugin, which may be
    # one of theirs; a config check or dump does without them unless
    # extensions are autoloaded.
    quick = flags["config_check"] or flags["config_check_strict"] or flags["config_dump"]
    if not quick:
        install_signal_handlers(daemon)
    managed: list[str] = []
    if not flags["disable_extensions"]:
        from .extensions import managed as managed_extensions
        managed = managed_extensions(flags)
    daemonized = False
    if not flags["disable_extensions"] and (managed or not quick):
        if flags["daemonize"] and not quick:
            # Threads and children must belong to the detached process.
            try:
                detach(flags, link)
            except DaemonError as exc:
                print(f"{program}: {exc}", file=sys.stderr)
                return EXIT_FAILURE
            daemonized = True
        daemon.start_extensions(managed)
    try:
        return _serve(daemon, program, daemonized)
    finally:
        if daemon.extensions is not None:
            daemon.extensions.stop()     # a no-op after a normal shutdown


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGTERM/SIGINT stop and SIGHUP reloads from the first moment: a
    service manager may stop the daemon while the extension manager or the
    config plugin is still starting, and the daemon must still shut down
    cleanly (exit 0, pidfile removed) rather than die of the signal."""

    def on_stop(signum: int, frame: Any) -> None:
        daemon.stop_event.set()
        daemon.wake.set()

    def on_hup(signum: int, frame: Any) -> None:
        daemon.reload_requested = True
        daemon.wake.set()

    def on_limit(signum: int, frame: Any) -> None:
        # osquery: SIGUSR1 says a resource limit was hit; the record of the
        # running queries stays for the next worker, and the daemon stops.
        daemon.tracker.limit_hit = True
        on_stop(signum, frame)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGUSR1, on_limit)


def _serve(daemon: Daemon, program: str, daemonized: bool) -> int:
    """main() once the extension manager runs: the config plugin, the
    config, the loggers, then the schedule until a signal stops it."""
    flags = daemon.flags
    link = daemon.watcher_link
    try:
        daemon.activate_config_plugin()
    except PluginError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CATASTROPHIC

    if flags["config_dump"]:
        return config_dump(daemon.config_plugin)
    if flags["config_check"] or flags["config_check_strict"]:
        return config_check(daemon, strict=flags["config_check_strict"])

    # The config is read before the log files exist because its options may
    # move logger_path; its messages are buffered and replayed into them.
    cfg = daemon.read_config(initial=True)
    flags.apply_options(cfg.options, cfg.options_source)
    warn_inert(flags)
    if link is None and flags["enable_monitor"] and flags.origin("enable_monitor").startswith("config"):
        # The watchdog is decided from the command line, before any config is read.
        log.warning("enable_monitor=true in %s cannot start the watchdog of a daemon started with "
                    "--disable_watchdog: pass --enable_monitor on the command line, or drop "
                    "--disable_watchdog", flags.origin("enable_monitor")[len("config "):])
    if flags.origin("watchdog_max_delay").startswith("config"):
        # A hidden flag, so the options parser takes it; the watcher reads no config.
        log.warning("watchdog_max_delay in %s has no effect: the watcher reads its flags from the "
                    "command line only", flags.origin("watchdog_max_delay")[len("config "):])
    try:
        if flags["daemonize"] and not daemonized:
            detach(flags, link)
        daemon.start()
    except DaemonError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except PluginError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CATASTROPHIC
    except OSError as exc:
        log.error("Cannot start: %s", exc)
        return EXIT_CATASTROPHIC

    code = EXIT_OK
    try:
        daemon.load_initial_config(cfg)
        daemon.announce()
        if link is not None:
            link.send({"ready": os.getpid()})
        code = daemon.run()
    finally:
        daemon.shutdown()
        logging.shutdown()
    return code


def warn_inert(flags: Flags) -> None:
    """ONE line naming every flag given that osqlite accepts without effect."""
    inert = flags.inert_given()
    if inert:
        log.warning("These osquery flags are accepted but have no effect in osqlite: %s",
                    ", ".join(inert))


def config_check(daemon: Daemon, strict: bool) -> int:
    """--config_check: exit 1 when the config cannot be read or parsed.  Every
    skipped entry (bad SQL, a bad interval...) is a warning on stderr; with
    --config_check_strict they make it exit 1 as well."""
    cfg = daemon.read_config()
    daemon.flags.apply_options(cfg.options, cfg.options_source)
    warn_inert(daemon.flags)
    if cfg.error is not None:
        print(f"Error reading config: {cfg.error}", file=sys.stderr)
        return EXIT_FAILURE
    if strict and cfg.problems:
        print(f"Error reading config: {len(cfg.problems)} entr{'y' if len(cfg.problems) == 1 else 'ies'} "
              "would be skipped (--config_check_strict):", file=sys.stderr)
        for problem in cfg.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def detach(flags: Flags, link: WatcherLink | None) -> None:
    """--daemonize for this process.  A worker only does daemon()'s last part:
    its watcher has forked and made the session.  A single process checks its
    paths first, while the message can still reach the terminal."""
    if link is not None:
        daemonize(flags, fork=False)
        return
    check_paths(flags)
    daemonize(flags)


def daemonize(flags: Flags, fork: bool = True) -> None:
    """--daemonize: daemon(0, 0) as osquery (osquery: osquery/core/init.cpp
    initDaemon): fork, new session, cwd /, standard streams on /dev/null.
    Relative path flags are made absolute first, since the cwd changes.
    A worker (``fork`` False) only does the last part: its watcher forked."""
    for name in ("config_path", "logger_path", "database_path", "pidfile"):
        if flags[name] and not os.path.isabs(flags[name]):
            flags.set(name, os.path.abspath(flags[name]), flags.origin(name))
    if fork:
        if os.fork() > 0:
            os._exit(EXIT_OK)
        os.setsid()
    os.chdir("/")
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(fd, std)
    if fd > 2:
        os.close(fd)


def run_as_watcher(flags: Flags, worker_argv: list[str], program: str) -> int:
    """The watchdog's watcher (osqlite.watchdog): it checks the paths, daemonizes,
    takes the pidfile and supervises workers; no database, no log files, no
    config (osquery: osquery/core/init.cpp initWatcher)."""
    root = logging.getLogger("osqlite")
    root.removeHandler(_buffer)          # no status logs here: stderr (and syslog) only
    _buffer.records.clear()
    cwd = os.getcwd()
    pidfile = None
    try:
        check_paths(flags)
        if flags["daemonize"]:
            daemonize(flags)
        if not flags["ephemeral"]:
            pidfile = Pidfile(flags["pidfile"], flags["force"])
    except DaemonError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    watchdog.background_priority(flags)
    try:
        return watchdog.Watcher(flags, worker_argv, cwd,
                                housekeeping=pidfile.check if pidfile is not None else None).run()
    finally:
        if pidfile is not None:
            pidfile.release()
        logging.shutdown()


def entry(argv: Sequence[str] | None = None) -> int:
    """The console scripts' entry point (osqueryd, osqlited) and python -m osqlite.daemon."""
    try:
        return main(argv)
    except ExtensionLoadError as exc:   # no compiled extension: say how to build it
        print(f"osqlite daemon: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(entry())
