"""Events: the daemon's publishers, their store and osquery's events rules.

    mgr = EventManager("/var/osquery/osquery.db", flags)   # flags: name -> value
    mgr.start()
    mgr.configure(file_paths={...}, exclude_paths={...}, file_accesses=[...],
                  schedule=[("name", "SELECT ...", 60), ...])
    mgr.prepare_connection(conn)              # every query connection
    token = mgr.begin_query(conn, name, sql)  # before a scheduled query
    ...run it...
    mgr.end_query(name, token, ok=True)       # after it succeeded
    mgr.stop()

Publishers (one thread each, never blocking the scheduler):
  inotify              file_events          --enable_file_events
  auditeventpublisher  process_events       --disable_audit=false (--audit_allow_process_events)
                       socket_events        ... --audit_allow_sockets
                       process_file_events  ... --audit_allow_fim_events
                       user_events          ... (--audit_allow_user_events)
                       selinux_events       ... --audit_allow_selinux_events
                       apparmor_events      ... --audit_allow_apparmor_events
                       seccomp_events       ... --audit_allow_seccomp_events
  proc_connector       process_events       when audit cannot be had
  syslog               syslog_events        --enable_syslog (rsyslog's pipe)
  udev                 hardware_events      unless --disable_hardware_events
All of them are off with --disable_events.  A publisher that cannot start
(no permission, audit owned by another daemon, ...) is logged as a warning
and the daemon runs on without it.  inotify, audit and syslog read the
kernel in the extension (pump.py): Python handles their batches, not their
records.

Events go to the state database (store.py); scheduled queries get only the
events since their previous run (osquery's events_optimize).  The daemon
applies osquery's counter rules for event queries itself (osqlite.diff
event_based, osquery's addNewEvents).  EventsHook plugs all of this into
osqlite.daemon.Daemon through its hooks seam.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from typing import Any, Iterable, Mapping

from .store import STORE_CACHE_KIB, TABLES, EventStore

log = logging.getLogger("osqlite.events")

#: osquery's tables with the event_subscriber attribute (Linux).
EVENTED_TABLES = frozenset((
    "apparmor_events", "file_events", "hardware_events", "process_events",
    "process_file_events", "seccomp_events", "selinux_events", "socket_events",
    "syslog", "syslog_events", "user_events", "yara_events"))
#: osquery's aliases of evented tables.
ALIASES = {"syslog": "syslog_events"}
_EVENTED_RE = re.compile(r"\b(" + "|".join(sorted(EVENTED_TABLES)) + r")\b", re.I)
_PUBLISHED_RE = re.compile(r"\b(" + "|".join(sorted(TABLES)) + r"|syslog)\b", re.I)

#: Flags this package reads, beyond the daemon's events_* and
#: enable_file_events: (name, type, default, description), osquery's names
#: and defaults (osquery/events/linux/auditeventpublisher.cpp, ...).
EVENT_FLAGS = (
    ("disable_audit", "bool", True, "Disable receiving events from the audit subsystem"),
    ("audit_allow_process_events", "bool", True,
     "Allow the audit publisher to install process event monitoring rules"),
    ("audit_allow_sockets", "bool", False,
     "Allow the audit publisher to install socket-related rules"),
    ("audit_allow_accept_socket_events", "bool", True, "Include rows for accept socket events"),
    ("audit_allow_failed_socket_events", "bool", False,
     "Include rows for socket events that have failed"),
    ("audit_allow_unix", "bool", False, "Allow socket events to collect domain sockets"),
    ("audit_allow_fim_events", "bool", False,
     "Allow the audit publisher to install filesystem-related rules"),
    ("audit_allow_user_events", "bool", True,
     "Allow the audit publisher to install user-related rules"),
    ("audit_allow_selinux_events", "bool", False,
     "Allow the audit publisher to process audit events"),
    ("audit_allow_apparmor_events", "bool", False,
     "Allow the publisher to process audit events"),
    ("audit_allow_seccomp_events", "bool", False,
     "Allow the audit publisher to process seccomp events"),
    ("audit_show_partial_fim_events", "bool", False,
     "Allow the audit publisher to show partial file events"),
    ("audit_fim_show_accesses", "bool", False, "Also show file accesses (not just writes)"),
    ("audit_backlog_limit", "int", 4096, "The audit backlog limit"),
    ("enable_syslog", "bool", False, "Enable the syslog ingestion event publisher"),
    ("syslog_pipe_path", "string", "/var/osquery/syslog_pipe",
     "Path to the named pipe used for forwarding rsyslog events"),
    ("syslog_rate_limit", "int", 100,
     "Maximum number of logs to ingest per run (~200ms between runs)"),
    ("syslog_events_expiry", "int", 60 * 60 * 24 * 30,
     "Timeout to expire event subscriber results"),
    ("syslog_events_max", "int", 100000, "Maximum number of events per type to buffer"),
    ("disable_hardware_events", "bool", False,
     "osqlite: disable the uevent publisher behind hardware_events"),
    ("read_max", "int", 50 * 1024 * 1024, "Maximum file read size"),
)

DEFAULTS: dict[str, Any] = {n: d for n, _, d, _ in EVENT_FLAGS}

#: The audit reader's subscriber options and their tables.
AUDIT_SUBSCRIBERS = (
    ("process", "process_events"), ("sockets", "socket_events"),
    ("fim", "process_file_events"), ("user", "user_events"),
    ("selinux", "selinux_events"), ("apparmor", "apparmor_events"),
    ("seccomp", "seccomp_events"))
DEFAULTS.update(disable_events=False, enable_file_events=False, events_expiry=3600,
                events_max=50000, events_optimize=True)


def is_event_query(sql: str) -> bool:
    """osquery's test: the query reads any EVENT_BASED table."""
    return bool(_EVENTED_RE.search(sql or ""))


def published_tables(sql: str) -> set:
    """The stored event tables a query reads (an alias by its table)."""
    return {ALIASES.get(m.lower(), m.lower()) for m in _PUBLISHED_RE.findall(sql or "")}


class EventManager:
    """Publishers + store + the per-query optimisation state."""

    def __init__(self, database_path: str | None, flags: Mapping[str, Any] | None = None):
        self.flags = dict(DEFAULTS)
        if flags is not None:
            for k in DEFAULTS:
                try:
                    v = flags[k]
                except (KeyError, LookupError):
                    continue
                if v is not None:
                    self.flags[k] = v
        self._tmpdir = None
        if not database_path or database_path == ":memory:":
            self._tmpdir = tempfile.mkdtemp(prefix="osqlite-events-")
            database_path = os.path.join(self._tmpdir, "events.db")
        self.path = database_path
        self.store: EventStore | None = None
        self.publishers: dict[str, Any] = {}     # name -> publisher
        self.failed: dict[str, str] = {}         # name -> reason
        self.inotify = None
        self.audit = None
        self.yara = None                         # YaraSubscriber on file events
        self._yara_eid = 0                       # the last file event given to it
        self.process_source = None               # "audit" | "proc_connector" | None
        self._lock = threading.Lock()
        self.started = False

    # -- lifecycle ---------------------------------------------------------

    def emit(self, table: str, row: dict) -> None:
        if self.store is not None:
            self.store.add(table, row)
        if self.yara is not None:
            self.yara.on_event(table, row)

    def _file_events_stored(self) -> None:
        """The inotify reader stored a batch (its thread): the new rows go
        to the YARA subscriber, which scans them on its own thread, as
        osquery's yara_events subscribes to the file events."""
        yara = self.yara
        if yara is None or self.store is None:
            return
        if not yara.active:
            # Nothing to scan for: the next configured scan starts from now.
            self._yara_eid = self.store.max_eid("file_events")
            return
        from .yara import ACTIONS
        rows, self._yara_eid = self.store.rows_after(
            "file_events", self._yara_eid, ("target_path", "category", "action",
                                            "transaction_id"), actions=ACTIONS)
        for row in rows:
            yara.on_event("file_events", row)

    def start(self) -> None:
        f = self.flags
        if f["disable_events"]:
            log.info("Events are disabled (--disable_events)")
            return
        self.store = EventStore(self.path, f["events_expiry"], f["events_max"], limits={
            "syslog_events": (int(f["syslog_events_expiry"]), int(f["syslog_events_max"]))})
        self.store.start()
        self.started = True
        if f["enable_file_events"]:
            from .inotify import INotifyPublisher
            from .yara import YaraSubscriber
            self.yara = YaraSubscriber(self.emit)
            self.yara.start()
            self._yara_eid = self.store.max_eid("file_events")
            pub = INotifyPublisher(self.store, read_max=int(f["read_max"]),
                                   on_stored=self._file_events_stored)
            if self._start("inotify", pub):
                self.inotify = pub
        if not f["disable_audit"]:
            self._start_audit()
        if f["enable_syslog"]:
            from .syslog import SyslogPublisher
            self._start("syslog", SyslogPublisher(self.store, str(f["syslog_pipe_path"]),
                                                  int(f["syslog_rate_limit"])))
        if not f["disable_hardware_events"]:
            from .uevent import UdevPublisher
            self._start("udev", UdevPublisher(self.emit))

    def _start_audit(self) -> None:
        f = self.flags
        options = {
            "process": f["audit_allow_process_events"],
            "sockets": f["audit_allow_sockets"],
            "fim": f["audit_allow_fim_events"],
            "user": f["audit_allow_user_events"],
            "selinux": f["audit_allow_selinux_events"],
            "apparmor": f["audit_allow_apparmor_events"],
            "seccomp": f["audit_allow_seccomp_events"],
            "allow_failed_sockets": f["audit_allow_failed_socket_events"],
            "allow_accept": f["audit_allow_accept_socket_events"],
            "allow_unix": f["audit_allow_unix"],
            "fim_show_accesses": f["audit_fim_show_accesses"],
            "fim_show_partial": f["audit_show_partial_fim_events"],
        }
        wanted = [t for opt, t in AUDIT_SUBSCRIBERS if options[opt]]
        if not wanted:
            return
        from .audit import AuditPublisher, AuditUnavailable, ProcConnectorPublisher
        reason = None
        try:
            pub = AuditPublisher(self.store, options,
                                 backlog_limit=int(f["audit_backlog_limit"]))
        except AuditUnavailable as exc:
            pub, reason = None, str(exc)
        if pub is not None and self._start("auditeventpublisher", pub):
            self.audit = pub
            self.process_source = "audit" if options["process"] else None
            return
        reason = reason or self.failed.get("auditeventpublisher", "")
        self.failed["auditeventpublisher"] = reason
        if options["process"]:
            log.warning("process_events falls back to the proc connector (netlink) "
                        "because audit is unavailable: %s; process details are read "
                        "from /proc/PID and may be missing for short-lived processes",
                        reason)
            if self._start("proc_connector", ProcConnectorPublisher(self.emit)):
                self.process_source = "proc_connector"
        for t in wanted:
            if t != "process_events":
                log.warning("%s is unavailable without audit", t)

    def _start(self, name: str, pub) -> bool:
        try:
            pub.setup()
        except Exception as exc:
            self.failed[name] = str(exc)
            log.warning("Event publisher %s failed to start and is disabled: %s", name, exc)
            return False
        pub.start()
        self.publishers[name] = pub
        return True

    def stop(self) -> None:
        for name, pub in list(self.publishers.items()):
            try:
                pub.stop()
            except Exception as exc:
                log.warning("Stopping event publisher %s failed: %s", name, exc)
        self.publishers.clear()
        if self.yara is not None:
            self.yara.stop()
            self.yara = None
        if self.store is not None:
            self.store.stop()
            self.store = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        self.started = False

    # -- configuration -----------------------------------------------------

    def configure(self, file_paths: Mapping | None = None, exclude_paths: Mapping | None = None,
                  file_accesses: Iterable[str] = (),
                  schedule: Iterable[tuple[str, str, int]] = (), yara: Any = None) -> None:
        if self.yara is not None:
            self.yara.configure(yara)
        if self.inotify is not None:
            self.inotify.configure(dict(file_paths or {}), dict(exclude_paths or {}),
                                   list(file_accesses or ()))
        if self.audit is not None:
            self.audit.configure(dict(file_paths or {}))
        if self.store is not None:
            intervals: dict[str, int] = {}
            for _name, sql, interval in schedule:
                for t in published_tables(sql):
                    intervals[t] = max(intervals.get(t, 0), int(interval or 0))
            self.store.set_min_intervals(intervals)

    # -- queries -----------------------------------------------------------

    def prepare_connection(self, conn) -> None:
        """Make the store visible to a query connection."""
        if self.store is None:
            return
        if conn.execute("SELECT 1 FROM pragma_database_list WHERE name='osqlite_events'"
                        ).fetchone() is None:
            conn.execute("ATTACH DATABASE ? AS osqlite_events", (self.path,))
            # Every worker's connection reads the store: a small page cache
            # each (SQLite's default is 2 MiB per connection and schema).
            conn.execute(f"PRAGMA osqlite_events.cache_size=-{STORE_CACHE_KIB}")
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS osqlite_events_window"
                         "(tbl TEXT PRIMARY KEY, lo INTEGER, hi INTEGER)")

    def begin_query(self, conn, name: str, sql: str):
        """Set the eid window of each published table the scheduled query
        reads: (last eid it saw, newest committed eid].  Returns a token
        for end_query, or None when the optimisation does not apply."""
        if self.store is None:
            return None
        self.prepare_connection(conn)
        conn.execute("DELETE FROM temp.osqlite_events_window")
        if not self.flags["events_optimize"]:
            return None
        tables = published_tables(sql)
        if not tables:
            return None
        window = {}
        for t in sorted(tables):
            row = conn.execute("SELECT eid FROM osqlite_events.osqlite_events_optimize "
                               "WHERE query=? AND tbl=?", (name, t)).fetchone()
            lo = row[0] if row else 0
            hi = conn.execute(f'SELECT coalesce(max(eid), 0) FROM '
                              f'osqlite_events."osqlite_data_{t}"').fetchone()[0]
            window[t] = (lo, max(hi, lo))
        conn.executemany("INSERT INTO temp.osqlite_events_window(tbl, lo, hi) VALUES (?, ?, ?)",
                         [(t, lo, hi) for t, (lo, hi) in window.items()])
        return window

    def end_query(self, name: str, token, ok: bool = True, conn=None) -> None:
        if conn is not None:
            try:
                conn.execute("DELETE FROM temp.osqlite_events_window")
            except Exception:
                pass
        if not ok or not token or self.store is None:
            return
        self.store.set_optimize(name, {t: hi for t, (_lo, hi) in token.items()})

    # -- introspection -----------------------------------------------------

    OSQUERY_EVENTS_COLUMNS = ("name", "publisher", "type", "subscriptions", "events",
                              "refreshes", "active")

    def osquery_events(self):
        """Rows of osquery_events: each publisher and subscriber."""
        pubs = self.publishers
        counts = dict(self.store.counts) if self.store is not None else {}
        rows = []
        ino = pubs.get("inotify")
        aud = pubs.get("auditeventpublisher")
        pc = pubs.get("proc_connector")
        sysl = pubs.get("syslog")
        udev = pubs.get("udev")
        nsubs = ino.subscription_count() if ino is not None else 0

        def active(p):
            return 1 if p is not None and getattr(p, "active", False) else 0

        def audit_on(opt):
            return bool(aud is not None and aud.subscribed(opt) and active(aud))

        rows.append(("inotify", "inotify", "publisher", nsubs,
                     ino.events if ino else 0, 0, active(ino)))
        rows.append(("auditeventpublisher", "auditeventpublisher", "publisher",
                     sum(audit_on(o) for o, _ in AUDIT_SUBSCRIBERS),
                     aud.events if aud else 0, 0, active(aud)))
        rows.append(("proc_connector", "proc_connector", "publisher", 1 if pc else 0,
                     pc.events if pc else 0, 0, active(pc)))
        rows.append(("syslog", "syslog", "publisher", 1 if sysl else 0,
                     sysl.events if sysl else 0, 0, active(sysl)))
        rows.append(("udev", "udev", "publisher", 1 if udev else 0,
                     udev.events if udev else 0, 0, active(udev)))
        rows.append(("file_events", "inotify", "subscriber", nsubs,
                     counts.get("file_events", 0), 0, active(ino)))
        if self.process_source == "proc_connector":
            rows.append(("process_events", "proc_connector", "subscriber", 1 if pc else 0,
                         counts.get("process_events", 0), 0, active(pc)))
        else:
            on = audit_on("process")
            rows.append(("process_events", "auditeventpublisher", "subscriber", int(on),
                         counts.get("process_events", 0), 0, int(on)))
        for opt, table in AUDIT_SUBSCRIBERS[1:]:
            on = audit_on(opt)
            rows.append((table, "auditeventpublisher", "subscriber", int(on),
                         counts.get(table, 0), 0, int(on)))
        rows.append(("syslog_events", "syslog", "subscriber", 1 if sysl else 0,
                     counts.get("syslog_events", 0), 0, active(sysl)))
        rows.append(("hardware_events", "udev", "subscriber", 1 if udev else 0,
                     counts.get("hardware_events", 0), 0, active(udev)))
        return self.OSQUERY_EVENTS_COLUMNS, rows

    def flush(self, timeout: float = 10.0) -> bool:
        return self.store.flush(timeout) if self.store is not None else True


M_TRIM_THRESHOLD = -1       # <malloc.h>
M_MMAP_THRESHOLD = -3
MALLOC_THRESHOLD = 512 * 1024


def tune_malloc() -> bool:
    """Make glibc give freed memory back to the system.

    Event queries return bursts of rows (30,000 file events after a busy
    second); by default glibc raises its mmap threshold after freeing large
    blocks, up to 32 MiB, and keeps the freed memory of every thread's
    arena, so the daemon's RSS ratchets up with each burst and stays there.
    Fixed thresholds of 512 KiB keep large blocks in mmap and trim the
    heaps; they stay above the buffers allocated per file or per query
    (the hash table's 256 KiB read buffer), which would otherwise cost an
    mmap and munmap each.  Returns False where there is no glibc."""
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MALLOC_THRESHOLD)
                and mallopt(M_TRIM_THRESHOLD, MALLOC_THRESHOLD))


class EventsHook:
    """Plugs EventManager into osqlite.daemon.Daemon (its hooks seam)."""

    def __init__(self) -> None:
        self.mgr: EventManager | None = None

    def start(self, daemon) -> None:
        if not daemon.flags["disable_events"]:
            tune_malloc()
        state = daemon.state
        path = getattr(state, "path", None) if state is not None else None
        self.mgr = EventManager(path, daemon.flags)
        self.mgr.start()
        daemon.backing["osquery_events"] = self.mgr.osquery_events

    def configure(self, daemon, cfg) -> None:
        if self.mgr is None:
            return
        delim = daemon.flags["pack_delimiter"]
        schedule = []
        for spec in list(getattr(cfg, "schedule", [])):
            schedule.append((spec.log_name(delim), spec.query, spec.interval))
        for pack in getattr(daemon, "packs", []):
            if getattr(pack, "active", False):
                for spec in pack.spec.queries:
                    schedule.append((spec.log_name(delim), spec.query, spec.interval))
        self.mgr.configure(getattr(cfg, "file_paths", {}), getattr(cfg, "exclude_paths", {}),
                           getattr(cfg, "file_accesses", []), schedule,
                           yara=getattr(cfg, "table_keys", {}).get("yara"))

    def prepare_connection(self, daemon, conn) -> None:
        if self.mgr is not None:
            self.mgr.prepare_connection(conn)

    def before_query(self, daemon, conn, job):
        mgr = self.mgr
        if mgr is None:
            return None
        try:
            return mgr.begin_query(conn, job.name, job.spec.query)
        except Exception as exc:   # never break the scheduler
            log.warning("Events: cannot prepare scheduled query %s: %s", job.name, exc)
            return None

    def after_query(self, daemon, conn, job, token, ok: bool) -> None:
        mgr = self.mgr
        if mgr is None:
            return
        try:
            mgr.end_query(job.name, token, ok, conn)
        except Exception as exc:
            log.warning("Events: cannot record the position of %s: %s", job.name, exc)

    def stop(self, daemon) -> None:
        if self.mgr is not None:
            self.mgr.stop()
            self.mgr = None
