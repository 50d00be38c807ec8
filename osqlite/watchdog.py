"""osquery's watchdog, the watcher's side (osqlite.worker is the worker's).

With the watchdog on (osquery's default; ``--disable_watchdog`` turns it
off), ``osqlited`` is a *watcher*: it keeps the pidfile and starts a *worker*,
the same program with the same arguments and ``OSQUERY_WORKER=<watcher pid>``
in its environment (osquery: osquery/core/watcher.cpp, osquery/core/init.cpp).
The worker does all the work (config, schedule, logs, events); the watcher
opens no database and writes no log file, only its own status lines on stderr
and to syslog.  Every INTERVAL (3 s) it reads the worker's /proc entry and
applies osquery's limits, with osquery's formulas and messages:

* CPU: ``limit_ms = min(utilization, 100) * 3000 * cpu_count / 100``; a
  check where user+system time grew by more than that counts one more
  sustained interval (any other check resets the count); the limit is hit
  when ``sustained * 3 >= latency``: ``Maximum sustainable CPU utilization
  limit <L>ms exceeded for <S> seconds``;
* memory: the footprint is the resident size minus the one measured at the
  worker's first check; the limit is hit when it exceeds ``memory`` MB:
  ``Memory limits exceeded: <bytes> bytes (limit is <M>MB)``;
* the limits come from --watchdog_level (0 normal, 1 restrictive, -1 off;
  ``LIMITS``), and --watchdog_memory_limit, --watchdog_utilization_limit and
  --watchdog_latency_limit override them when > 0; nothing is enforced
  before ``worker start + --watchdog_delay``.

A worker over a limit is sent SIGUSR1 (it then keeps its record of the
queries it was running), SIGTERM, and SIGKILL after
--watchdog_forced_shutdown_delay seconds (0: SIGKILL at once).

What differs from osquery, on purpose:

* **Which query is denylisted.**  The worker tells the watcher, through a
  pipe, each scheduled query it starts and finishes (``Runs``).  A worker
  stopped for a limit makes the watcher name one culprit: among the queries
  that ran since the last check within that limit, the one that used the most
  CPU time (measured per thread in /proc).  Only that query is denylisted,
  by the next worker, for --schedule_denylist_duration seconds (unless it
  has ``"denylist": false``).  A worker that died of anything else (a crash,
  an OOM kill, a kill -9 from outside, SIGINT) gets nothing denylisted: the
  next worker only warns ``Scheduled query may have failed`` (osquery
  denylists whatever was executing, whatever the cause: osquery#8541).
* **Restarts back off instead of looping** (osquery#5234, osquery#8806).
  Every worker that died unhealthy (a limit, a crash, an exit status other
  than 0, or a life shorter than the respawn limit) counts one more failure
  in a row; the first restarts at once when the worker had lived long
  enough, the n-th waits ``respawn_delay + 2**n`` seconds (osquery's
  formula), at most --watchdog_max_delay.  A worker that lived STABLE
  seconds starts the count again.  The watcher never gives up (osquery exits
  1 after 4 quick restarts and relies on its service manager to start it
  again, which starts the same loop again).
* Each stop says which limit, the measured value, which query is blamed,
  whether it will be denylisted, how the worker is stopped and when the next
  one starts; the next worker repeats it in the status logs, so it also
  reaches osqueryd.WARNING and the log plugins.

The watcher dies with its worker's fate bound to it: the worker asks the
kernel for SIGTERM when the watcher dies (PR_SET_PDEATHSIG) and checks its
parent every second.  SIGTERM, SIGINT (or SIGUSR1) stop the watcher: the
worker gets SIGTERM, alarm_timeout - 4 seconds, then SIGKILL; SIGHUP is
passed on to the worker.  A worker that exits 78 (osquery's
EXIT_CATASTROPHIC) ends the watcher with 78; the first worker failing to
start (a bad path, a database held by another daemon) ends it with the
worker's status.

Seam for autoloaded extensions: ``Watcher.children`` is the list of
supervised processes.  The worker is a ``Worker``; an extension would be
another ``Child`` subclass with its own ``spawn()`` (and ``enforce`` from
--enable_extensions_watchdog), appended to that list before ``run()``: the
loop checks, stops, reaps and restarts every child the same way.  Today the
worker's extension manager starts and restarts them (osqlite.extensions.autoload),
outside the watcher's limits.
"""
from __future__ import annotations

import errno
import json
import logging
import math
import os
import select
import signal
import subprocess
import sys
import syslog
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from .flags import Flags

log = logging.getLogger("osqlite.watchdog")

EXIT_CATASTROPHIC = 78
ENV_WORKER = "OSQUERY_WORKER"             # osquery's: the watcher's pid
ENV_FD = "OSQLITE_WATCHER_FD"             # the worker's end of the status pipe
ENV_REPORT = "OSQLITE_WATCHDOG_REPORT"    # why the previous worker ended (JSON)

#: osquery's limit table (osquery: osquery/core/watcher.cpp kWatchdogLimits):
#: (level 0 normal, level 1 restrictive, level -1 off).
LIMITS: dict[str, tuple[int, int, int]] = {
    "memory": (200, 100, 10000),        # MB above the first measured resident size
    "utilization": (10, 5, 100),        # % of all CPUs' time, per interval
    "respawn_limit": (4, 4, 1000),      # s: a worker that lived less died "too quickly"
    "respawn_delay": (5, 5, 1),         # s: the back-off's base
    "latency": (12, 6, 1000),           # s of sustained excess CPU tolerated
    "interval": (3, 3, 3),              # s between two checks
}
OVERRIDES = {"memory": "watchdog_memory_limit", "utilization": "watchdog_utilization_limit",
             "latency": "watchdog_latency_limit"}
STABLE = 600.0          # s: a worker that lived this long starts the failure count again
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def limit(flags: Flags, name: str) -> int:
    """osquery's getWorkerLimit: the override flag when > 0, else the level's value
    (any level other than 1 and -1 is the normal one)."""
    override = OVERRIDES.get(name)
    if override is not None and flags[override] > 0:
        return int(flags[override])
    normal, restrictive, off = LIMITS[name]
    level = flags["watchdog_level"]
    return off if level == -1 else restrictive if level == 1 else normal


def enabled(flags: Flags) -> bool:
    """Is this daemon a watcher?  The watchdog is on unless --disable_watchdog;
    the seed's ``enable_monitor`` turns it on in any case."""
    return not flags["disable_watchdog"] or bool(flags["enable_monitor"])


# -- measuring -------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """What osquery reads from the processes table: parent, user_time and
    system_time (ms), resident_size (bytes, VmRSS)."""
    ppid: int
    user_ms: int
    system_ms: int
    rss: int


def _stat_fields(path: str) -> list[bytes] | None:
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    end = data.rfind(b")")
    fields = data[end + 2:].split() if end >= 0 else []
    return fields if len(fields) > 20 else None


def sample(pid: int) -> Sample | None:
    """The process's sample, or None when it is gone (or a zombie)."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    if fields is None or fields[0] in (b"Z", b"X"):
        return None
    rss = 0
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            rss = int(f.read(256).split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return None
    return Sample(int(fields[1]), int(fields[11]) * 1000 // CLK_TCK,
                  int(fields[12]) * 1000 // CLK_TCK, rss)


def thread_cpu_ms(pid: int, tid: int) -> int | None:
    """user+system ms of one thread of a process."""
    fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 // CLK_TCK


class Performance:
    """osquery's PerformanceState and getChange for one watched process."""

    def __init__(self) -> None:
        self.sustained = 0
        self.user_ms = 0
        self.system_ms = 0
        self.initial = 0          # the resident size at the first check
        self.cpu_ms = 0           # CPU used during the last interval
        self.footprint = 0        # resident size above the initial one
        self.cpu_ok_at = 0.0      # the last check within each limit
        self.memory_ok_at = 0.0

    def update(self, s: Sample, cpu_limit_ms: int, memory_limit: int, now: float) -> None:
        self.cpu_ms = max(0, s.user_ms - self.user_ms) + max(0, s.system_ms - self.system_ms)
        if self.cpu_ms > cpu_limit_ms:
            self.sustained += 1
        else:
            self.sustained = 0
            self.cpu_ok_at = now
        self.user_ms, self.system_ms = s.user_ms, s.system_ms
        if self.initial == 0:
            self.initial = s.rss
        self.footprint = max(0, s.rss - self.initial)
        if not self.footprint or self.footprint <= memory_limit * 1024 * 1024:
            self.memory_ok_at = now


@dataclass(frozen=True)
class Limits:
    memory: int              # MB
    utilization: int         # %
    latency: int             # s
    interval: int            # s
    cpus: int

    @classmethod
    def of(cls, flags: Flags) -> "Limits":
        return cls(limit(flags, "memory"), limit(flags, "utilization"), limit(flags, "latency"),
                   max(1, limit(flags, "interval")), os.cpu_count() or 1)

    @property
    def cpu_ms(self) -> int:
        """CPU time allowed per interval (osquery: cpuUtilizationTimeLimit)."""
        return min(self.utilization, 100) * self.interval * 1000 * self.cpus // 100


@dataclass(frozen=True)
class Violation:
    limit: str               # "cpu" | "memory"
    value: int               # ms of CPU in the last interval, or bytes of footprint
    message: str             # osquery's text
    since: float             # the last check that was within this limit


def violation(perf: Performance, limits: Limits) -> Violation | None:
    """osquery's isChildSane: CPU first, then memory."""
    if perf.sustained and perf.sustained * limits.interval >= limits.latency:
        return Violation("cpu", perf.cpu_ms,
                         f"Maximum sustainable CPU utilization limit {limits.cpu_ms}ms exceeded for "
                         f"{perf.sustained * limits.interval} seconds", perf.cpu_ok_at)
    if perf.footprint and perf.footprint > limits.memory * 1024 * 1024:
        return Violation("memory", perf.footprint,
                         f"Memory limits exceeded: {perf.footprint} bytes (limit is {limits.memory}MB)",
                         perf.memory_ok_at)
    return None


# -- restarts --------------------------------------------------------------------------

class Backoff:
    """How long to wait before the next worker (see the module docstring)."""

    def __init__(self, respawn_limit: int, respawn_delay: int, max_delay: int) -> None:
        self.respawn_limit = respawn_limit
        self.respawn_delay = respawn_delay
        self.max_delay = max_delay
        self.failures = 0

    def next(self, lived: float, failed: bool) -> float:
        quick = lived < self.respawn_limit
        if not (failed or quick):
            self.failures = 0
            return 0.0
        if lived >= STABLE:
            self.failures = 0
        self.failures += 1
        if self.failures == 1 and not quick:
            return 0.0
        return float(min(self.max_delay, self.respawn_delay + 2 ** min(self.failures, 30)))


# -- what the worker was running -------------------------------------------------------

@dataclass
class Run:
    name: str
    tid: int
    denylist: int            # seconds the next worker denylists it for; 0: it would not
    started: float
    cpu0: int | None         # the thread's CPU ms when the run started
    ended: float | None = None
    cpu_ms: int = 0          # CPU the run used (reported by the worker at its end)


class Runs:
    """The scheduled queries a worker runs, from its status pipe."""

    def __init__(self, keep: float = 120.0) -> None:
        self.running: dict[str, Run] = {}
        self.ended: deque[Run] = deque(maxlen=512)
        self.keep = keep

    def feed(self, msg: dict[str, Any], pid: int, now: float) -> None:
        if "start" in msg:
            tid = int(msg.get("tid", 0))
            self.running[str(msg["start"])] = Run(str(msg["start"]), tid, int(msg.get("denylist", 0)),
                                                  now, thread_cpu_ms(pid, tid))
        elif "end" in msg:
            run = self.running.pop(str(msg["end"]), None)
            if run is not None:
                run.ended, run.cpu_ms = now, int(msg.get("cpu", 0))
                self.ended.append(run)
        while self.ended and self.ended[0].ended is not None and self.ended[0].ended < now - self.keep:
            self.ended.popleft()

    def culprit(self, pid: int, since: float) -> Run | None:
        """The query to blame for a limit hit since ``since``: of those running now
        or ended since then, the one that used the most CPU."""
        best, cost = None, -1
        for run in self.running.values():
            now_ms = thread_cpu_ms(pid, run.tid)
            used = now_ms - run.cpu0 if now_ms is not None and run.cpu0 is not None else 0
            if used > cost:
                best, cost = run, used
        for run in self.ended:
            if run.ended is not None and run.ended >= since and run.cpu_ms > cost:
                best, cost = run, run.cpu_ms
        return best


# -- supervised processes --------------------------------------------------------------

class Child:
    """One supervised process.  Subclasses say how to start it."""

    kind = "child"
    enforce = True           # apply the limits (extensions: --enable_extensions_watchdog)

    def __init__(self, watcher: "Watcher", name: str) -> None:
        self.watcher = watcher
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.perf = Performance()
        self.started = 0.0
        self.next_start = 0.0
        self.stopping: Violation | None = None   # the limit this child is being stopped for
        b = watcher.limit
        self.backoff = Backoff(b("respawn_limit"), b("respawn_delay"), watcher.flags["watchdog_max_delay"])

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else -1

    def spawn(self) -> subprocess.Popen:
        raise NotImplementedError

    def start(self, now: float) -> None:
        self.proc = self.spawn()
        self.started = now
        self.perf = Performance()
        self.stopping = None

    def fds(self) -> list[int]:
        return []

    def readable(self, fd: int, now: float) -> None:
        pass

    def check(self, now: float, limits: Limits) -> Violation | None:
        """Measure; a limit hit (after --watchdog_delay) or None."""
        assert self.proc is not None
        s = sample(self.proc.pid)
        if s is None:
            return None          # exited: reaped by the loop
        self.perf.update(s, limits.cpu_ms, limits.memory, now)
        if self.watcher.flags["enable_watchdog_debug"]:
            log.debug("pid: %d, cpu: %dms/%dms, memory: %.2fMB/%dMB", self.proc.pid, self.perf.cpu_ms,
                      limits.cpu_ms, self.perf.footprint / (1024 * 1024), limits.memory)
        if s.ppid != os.getpid() or not self.enforce:
            return None          # not our child (any more), or not watched for limits
        if now < self.started + self.watcher.flags["watchdog_delay"]:
            return None
        return violation(self.perf, limits)

    def exited(self, status: int, now: float) -> None:
        """Reaped: decide what comes next."""
        raise NotImplementedError

    def blame(self, v: Violation) -> tuple[Run | None, str]:
        """Who is to blame for a limit hit, and what happens to it, in words."""
        return None, ""

    def limit_stopped(self, pid: int, v: Violation, culprit: Run | None, running: list[str]) -> None:
        """Stopped for a limit (already reaped)."""

    def running(self) -> list[str]:
        return []

    def released(self) -> None:
        """Reaped, by a limit stop or the watcher's own stop."""


class Worker(Child):
    """The daemon's worker: the same program, OSQUERY_WORKER set, a status pipe."""

    kind = "worker"

    def __init__(self, watcher: "Watcher", argv: list[str], cwd: str) -> None:
        super().__init__(watcher, "osqueryd worker")
        self.argv = argv
        self.cwd = cwd
        self.fd = -1
        self.buffer = b""
        self.ever_ready = False      # has any worker said it started?
        self.runs = self._new_runs()
        self.report: dict[str, Any] | None = None   # for the next worker

    def spawn(self) -> subprocess.Popen:
        r, w = os.pipe()
        os.set_blocking(r, False)
        env = dict(os.environ)
        env[ENV_WORKER] = str(os.getpid())
        env[ENV_FD] = str(w)
        env.pop(ENV_REPORT, None)
        if self.report is not None:
            env[ENV_REPORT] = json.dumps(self.report)
        try:
            proc = subprocess.Popen(self.argv, cwd=self.cwd, env=env, pass_fds=(w,))
        except OSError:
            os.close(r)
            raise
        finally:
            os.close(w)
        self.fd, self.buffer = r, b""
        self.runs = self._new_runs()
        self.report = None
        log.debug("osqueryd watcher (%d) executing worker (%d)", os.getpid(), proc.pid)
        return proc

    def _new_runs(self) -> Runs:
        # Ended runs are kept as long as a limit hit could still be blamed on them.
        lim = self.watcher.limits
        return Runs(keep=max(120.0, self.watcher.flags["watchdog_delay"] + lim.latency + 2 * lim.interval))

    def fds(self) -> list[int]:
        return [self.fd] if self.fd >= 0 else []

    def readable(self, fd: int, now: float) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            os.close(self.fd)
            self.fd = -1
            return
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("ready"):
                self.ever_ready = True
            self.runs.feed(msg, self.pid, now)

    def running(self) -> list[str]:
        return sorted(self.runs.running)

    def released(self) -> None:
        self.close_pipe()

    def limit_stopped(self, pid: int, v: Violation, culprit: Run | None, running: list[str]) -> None:
        self.report = {"pid": pid, "cause": f"stopped by the watchdog: {v.message}", "limit": v.limit,
                       "value": v.value, "culprit": culprit.name if culprit is not None else None,
                       "running": running}

    def close_pipe(self) -> None:
        if self.fd >= 0:
            # Whatever the worker said last (its final "end" lines) still counts.
            self.readable(self.fd, time.time())
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

    def blame(self, v: Violation) -> tuple[Run | None, str]:
        run = self.runs.culprit(self.pid, v.since - self.watcher.limits.interval)
        if run is None:
            return None, "no scheduled query was running, nothing is denylisted"
        when = "was running" if run.ended is None else f"ran until {max(0.0, time.time() - run.ended):.0f} s before"
        if run.denylist:
            return run, (f"the scheduled query {run.name} {when}: the next worker denylists it for "
                         f"{run.denylist} s")
        return run, (f"the scheduled query {run.name} {when}: it is not denylisted "
                     "(\"denylist\": false, or it reads only event tables)")

    def exited(self, status: int, now: float) -> None:
        w = self.watcher
        pid, lived = self.pid, now - self.started
        self.released()
        running = self.running()
        self.proc = None
        if status == EXIT_CATASTROPHIC:
            w.finish(EXIT_CATASTROPHIC, f"osqueryd worker ({pid}) returned exit status 78; "
                     "the watcher stops too")
            return
        if not self.ever_ready and status > 0:
            # The first worker could not start (its own message says why): so would the next.
            w.finish(status, None)
            return
        failed = status != 0
        delay = self.backoff.next(lived, failed)
        self.next_start = now + delay
        if status < 0:
            cause = f"was killed by signal {-status} ({_signame(-status)})"
        else:
            cause = f"exited with status {status}"
        what = f" while running {', '.join(running)}" if running else ""
        self.report = {"pid": pid, "cause": cause, "limit": None, "running": running}
        deny = "; nothing is denylisted (only a watchdog limit denylists a query)" if running else ""
        level = logging.WARNING if failed or lived < self.backoff.respawn_limit else logging.INFO
        log.log(level, "osqueryd worker (%d) %s after %.0f s%s%s; %s", pid, cause, lived, what, deny,
                _next_start(delay, self.backoff.failures))


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return "unknown"


def _next_start(delay: float, failures: int) -> str:
    if delay <= 0:
        return "a new worker starts now"
    return f"a new worker starts in {delay:.0f} s (back-off: {failures} unhealthy worker{'s' if failures != 1 else ''} in a row)"


# -- the watcher -----------------------------------------------------------------------

class Watcher:
    """The watcher's loop (see the module docstring).  ``housekeeping`` is
    called every loop step (the pidfile check)."""

    def __init__(self, flags: Flags, argv: list[str], cwd: str,
                 housekeeping: Callable[[], None] | None = None) -> None:
        self.flags = flags
        self.limits = Limits.of(flags)
        self.worker = Worker(self, argv, cwd)
        #: Every supervised process.  Autoloaded extensions join this list.
        self.children: list[Child] = [self.worker]
        self.housekeeping = housekeeping
        self.perf = Performance()                 # the watcher's own health
        self.exit_code: int | None = None
        self._stop = False
        self._hup = False
        self._wake_r = self._wake_w = -1

    def limit(self, name: str) -> int:
        return limit(self.flags, name)

    def finish(self, code: int, message: str | None) -> None:
        if message:
            log.error("%s", message)
        if self.exit_code is None:
            self.exit_code = code

    # -- signals --

    def _on_stop(self, signum: int, frame: Any) -> None:
        self._stop = True

    def _on_hup(self, signum: int, frame: Any) -> None:
        self._hup = True

    def _install_signals(self) -> dict[int, Any]:
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        old = {}
        handlers = {signal.SIGTERM: self._on_stop, signal.SIGINT: self._on_stop,
                    signal.SIGUSR1: self._on_stop, signal.SIGHUP: self._on_hup,
                    signal.SIGCHLD: lambda s, f: None}   # SIGCHLD only wakes the loop
        for sig, handler in handlers.items():
            old[sig] = signal.signal(sig, handler)
        old[-1] = signal.set_wakeup_fd(self._wake_w)
        return old

    def _restore_signals(self, old: dict[int, Any]) -> None:
        signal.set_wakeup_fd(old.pop(-1))
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    # -- the loop --

    def run(self) -> int:
        old = self._install_signals()
        try:
            self._loop()
        finally:
            self._stop_all()
            self._restore_signals(old)
        return self.exit_code if self.exit_code is not None else 0

    def _loop(self) -> None:
        interval = self.limits.interval
        next_check = time.monotonic() + interval
        while not self._stop and self.exit_code is None:
            now = time.time()
            for child in self.children:
                self._tend(child, now)
                if self.exit_code is not None:
                    return
            if self._hup:
                self._hup = False
                if self.worker.proc is not None:
                    log.info("Passing SIGHUP to osqueryd worker (%d)", self.worker.pid)
                    self.worker.proc.send_signal(signal.SIGHUP)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + interval
                self._check_all(time.time())
                if self.exit_code is not None or self._stop:
                    return
            if self.housekeeping is not None:
                self.housekeeping()
            self._wait(min(next_check - time.monotonic(), self._next_spawn_in(time.time()), 1.0))

    def _tend(self, child: Child, now: float) -> None:
        """Reap a child that exited; start one that is due."""
        if child.proc is not None:
            status = child.proc.poll()
            if status is not None:
                child.exited(status, now)
        if child.proc is None and self.exit_code is None and not self._stop and now >= child.next_start:
            try:
                child.start(now)
            except OSError as exc:
                self.finish(1, f"osqueryd could not create a {child.kind} process: {exc}")

    def _next_spawn_in(self, now: float) -> float:
        waits = [c.next_start - now for c in self.children if c.proc is None]
        return max(0.01, min(waits)) if waits else math.inf

    def _wait(self, timeout: float) -> None:
        fds = [self._wake_r]
        for child in self.children:
            fds.extend(child.fds())
        try:
            ready, _, _ = select.select(fds, [], [], max(0.01, timeout))
        except InterruptedError:
            return
        now = time.time()
        for fd in ready:
            if fd == self._wake_r:
                try:
                    while os.read(fd, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            for child in self.children:
                if fd in child.fds():
                    child.readable(fd, now)

    def _check_all(self, now: float) -> None:
        for child in self.children:
            if child.proc is None or child.stopping is not None:
                continue
            v = child.check(now, self.limits)
            if v is not None:
                self._stop_for(child, v)
        s = sample(os.getpid())
        if s is not None:
            self.perf.update(s, self.limits.cpu_ms, self.limits.memory, now)
            v = violation(self.perf, self.limits)
            if v is not None and v.limit == "memory":
                # osquery: isWatcherHealthy checks only the watcher's memory.
                self.finish(EXIT_CATASTROPHIC, f"Watcher has become unhealthy: {v.message}")

    def _stop_for(self, child: Child, v: Violation) -> None:
        """A limit hit: say it all in one line, then stop the child."""
        pid = child.pid
        culprit, blame = child.blame(v)
        delay = child.backoff.next(time.time() - child.started, True)
        child.next_start = time.time() + delay
        forced = self.flags["watchdog_forced_shutdown_delay"]
        how = f"SIGUSR1, SIGTERM, SIGKILL after {forced} s" if forced > 0 else "SIGUSR1, SIGKILL"
        line = (f"{child.name} ({pid}) stopping: {v.message}; {blame + '; ' if blame else ''}"
                f"stopping it ({how}); {_next_start(delay, child.backoff.failures)}")
        log.warning("%s", line)
        _syslog(line)
        child.stopping = v
        running = child.running()
        # osquery: warnResourceLimitHit, then stopChild(force=true).
        self._signal(child, signal.SIGUSR1)
        self._stop_child(child, forced)
        child.released()
        child.limit_stopped(pid, v, culprit, running)
        child.proc = None

    @staticmethod
    def _signal(child: Child, sig: int) -> None:
        if child.proc is not None and child.proc.poll() is None:
            try:
                child.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def _stop_child(self, child: Child, timeout: float) -> int | None:
        """osquery's stopChild: SIGTERM, ``timeout`` s, then SIGKILL and 2 s.
        The exit status, or None (and exit 78) when it would not die."""
        assert child.proc is not None
        proc = child.proc
        if timeout > 0:
            self._signal(child, signal.SIGTERM)
            status = _reap_within(proc, timeout)
            if status is not None:
                return status
            log.warning("%s (%d) could not be stopped. Sending kill signal.", child.name, proc.pid)
        self._signal(child, signal.SIGKILL)
        status = _reap_within(proc, 2.0)
        if status is None:
            self.finish(EXIT_CATASTROPHIC, f"Watcher cannot stop {child.kind} process ({proc.pid}).")
        return status

    def _stop_all(self) -> None:
        """The watcher stops: every child gets SIGTERM, alarm_timeout - 4 s, SIGKILL."""
        grace = max(0, self.flags["alarm_timeout"] - 4)
        for child in self.children:
            if child.proc is None:
                continue
            status = self._stop_child(child, grace)
            child.released()
            if child is self.worker and status is not None and status >= 0 and self.exit_code is None:
                # osquery: the watcher exits with its worker's status.
                self.exit_code = status
            child.proc = None


def _reap_within(proc: subprocess.Popen, timeout: float) -> int | None:
    end = time.monotonic() + timeout
    while True:
        status = proc.poll()
        if status is not None or time.monotonic() >= end:
            return status
        time.sleep(0.02)


def _syslog(line: str) -> None:
    """osquery's systemLog: the watcher's limit lines also go to syslog."""
    try:
        syslog.openlog("osqueryd", syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_NOTICE, line)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            print(f"osqueryd: cannot write to syslog: {exc}", file=sys.stderr)


def background_priority(flags: Flags) -> None:
    """osquery lowers its priority when the watchdog is on and the level is not
    -1 (osquery: osquery/core/init.cpp initDaemon): nice 10 and idle I/O.  For
    this process only (inherited by the worker), not the whole process group
    as osquery, whose group may be the shell or the test runner that started it."""
    if flags["watchdog_level"] < 0:
        return
    import psutil
    me = psutil.Process()
    try:
        if me.nice() < 10:
            me.nice(10)
        me.ionice(psutil.IOPRIO_CLASS_IDLE)
    except (psutil.Error, OSError, AttributeError) as exc:
        log.debug("Cannot lower the daemon's priority: %s", exc)
