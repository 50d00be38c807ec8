"""The watchdog, end to end: the real daemon (a watcher and its worker) as
subprocesses, real /proc, real signals.

* a watcher with one worker (same argv, OSQUERY_WORKER=<watcher pid>),
  osquery_info.watcher, the watcher's pidfile, SIGHUP passed on, SIGTERM;
* SIGKILL of the watcher: the worker exits within 10 s (osquery's
  tools/tests/test_osqueryd.py test_daemon_with_watchdog);
* SIGINT and SIGKILL of the worker: a new worker, nothing denylisted;
* a query over the memory limit: killed, denylisted, the others go on;
  with ``"denylist": false`` it is not denylisted and the restarts back off;
* a busy query over a low CPU limit: killed and denylisted;
* the back-off sequence of a worker that keeps dying;
* --disable_watchdog, the one-shot modes and the shell: one process;
* exit 78 and start failures end the watcher with the worker's status;
* exactly-once results across watchdog kills and kill -9 of the worker,
  checked by the fault suite's log checker.

Every wait is bounded; the figures (kills, delays, lines checked) are
printed (run with ``-s``).  ``OSQLITE_WATCHDOG_KILLS`` sets the number of
kills per phase of the exactly-once test (3).
"""
from __future__ import annotations

import fcntl
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import psutil
from daemon_harness import REPO, Daemon, environ, wait_for
from test_faults_e2e import (
    QUERY,
    Hosts,
    LogChecker,
    Rewriter,
    aim_kill,
    assert_clean,
    report,
    settle,
)

KILLS = int(os.environ.get("OSQLITE_WATCHDOG_KILLS", "3"))
# A query that builds a ~250 MB string over ~20 s, and one that spins a CPU for minutes.
BIG = ("SELECT length(group_concat(x)) AS n FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
       "SELECT x + 1 FROM c WHERE x < 30000000) SELECT x FROM c)")
BUSY = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
        "SELECT count(*) AS n FROM c")
SCHED = {"query": "SELECT name, denylisted, executions FROM osquery_schedule", "interval": 1,
         "snapshot": True}
TICK = {"query": "SELECT 1 AS one", "interval": 1, "snapshot": True}


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ready_worker(d: Daemon, other_than: tuple[int, ...] = (), timeout: float = 60) -> int:
    """The watcher's worker, once it has started (its start line is in the INFO log)."""
    def find() -> int | None:
        try:
            kids = psutil.Process(d.proc.pid).children()
        except psutil.NoSuchProcess:
            return None
        info = d.info()
        for kid in kids:
            if kid.pid not in other_than and f"] pid {kid.pid}:" in info and alive(kid.pid):
                return kid.pid
        return None
    return wait_for(find, timeout=timeout, what="a worker", daemon=d)


def stderr(d: Daemon) -> str:
    return (d.tmp / "stderr.txt").read_text(errors="replace")


def schedule(d: Daemon, after: float = 0.0) -> dict[str, dict[str, str]] | None:
    """osquery_schedule as the last 'sched' snapshot taken after ``after``."""
    snaps = [s for s in d.snapshots("sched") if s["unixTime"] >= after]
    return {r["name"]: r for r in snaps[-1]["snapshot"]} if snaps else None


def watchdog_daemon(tmp_path: Path, schedule_: dict, **flags) -> Daemon:
    return Daemon(tmp_path, {"schedule": schedule_}, **flags)


def fd_targets(pid: int) -> list[str]:
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out


def test_a_watcher_runs_one_worker(tmp_path):
    watched = tmp_path / "watched"
    watched.mkdir()
    d = Daemon(tmp_path, {"schedule": {"info": {"query": "SELECT pid, watcher FROM osquery_info",
                                                "interval": 1, "snapshot": True}},
                          "file_paths": {"tmp": [f"{watched}/%%"]}}, enable_file_events="true")
    d.start()
    try:
        watcher = d.proc.pid
        w = ready_worker(d)
        proc = psutil.Process(w)
        assert proc.ppid() == watcher
        assert proc.cmdline() == psutil.Process(watcher).cmdline()          # the same argv
        assert proc.environ()["OSQUERY_WORKER"] == str(watcher)
        assert (tmp_path / "osqueryd.pid").read_text() == str(watcher)   # the watcher's pidfile
        row = d.wait_snapshots("info", 1)[-1]["snapshot"][0]
        assert row == {"pid": str(w), "watcher": str(watcher)}
        d.signal(signal.SIGHUP)                                            # passed on to the worker
        wait_for(lambda: "Config reloaded" in d.info(), what="the worker's reload", daemon=d)
        assert "Passing SIGHUP to osqueryd worker" in stderr(d)
        assert ready_worker(d) == w
        # The event publishers (inotify here) run in the worker only.
        assert any(t == "anon_inode:inotify" for t in fd_targets(w))
        assert not [t for t in fd_targets(watcher) if t.startswith(("socket:", "anon_inode:"))]
        d.signal(signal.SIGINT)                                            # stops both, cleanly
        assert d.proc.wait(30) == 0
    finally:
        d.stop()
    assert not alive(w)
    assert not (tmp_path / "osqueryd.pid").exists()


def test_ctrl_c_stops_the_watcher_and_the_worker_without_a_respawn(tmp_path):
    d = watchdog_daemon(tmp_path, {"tick": TICK}, verbose="true")
    err = tmp_path / "stderr.txt"
    with open(err, "w") as f:
        # Its own process group, as a shell gives a foreground job: Ctrl-C signals both.
        proc = subprocess.Popen(d.argv(), cwd=REPO, env=d.environ(), stdout=subprocess.DEVNULL,
                                stderr=f, start_new_session=True)
        d.proc = proc
        try:
            w = ready_worker(d)
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    text = err.read_text()
    assert not alive(w)
    assert text.count("executing worker") == 1 and "a new worker starts" not in text


def test_sigkill_of_the_watcher_takes_the_worker_down(tmp_path):
    d = watchdog_daemon(tmp_path, {"tick": TICK})
    d.start()
    w = ready_worker(d)
    d.proc.kill()
    d.proc.wait(10)
    try:
        # osquery's test_daemon_with_watchdog: the worker must follow its watcher.
        wait_for(lambda: not alive(w), timeout=10, what="the worker to exit after its watcher was killed")
    finally:
        if alive(w):
            os.kill(w, signal.SIGKILL)
        d.stop()
    assert "detected killed watcher" in d.warning()


def test_sigint_or_sigkill_of_the_worker_starts_a_new_one_and_denylists_nothing(tmp_path):
    d = watchdog_daemon(tmp_path, {"busy": {"query": BUSY, "interval": 2}, "sched": SCHED},
                        watchdog_level=-1, schedule_lognames="true", watchdog_max_delay=3)
    d.start()
    try:
        w1 = ready_worker(d)
        os.kill(w1, signal.SIGINT)
        wait_for(lambda: not alive(w1), timeout=30, what="the worker to stop on SIGINT")
        w2 = ready_worker(d, (w1,))
        assert alive(d.proc.pid)
        assert re.search(rf"osqueryd worker \({w1}\) exited with status 0", stderr(d)), stderr(d)
        # Killed by something else while a query runs: a new worker, nothing denylisted.
        started = d.info().count("Executing scheduled query busy")
        wait_for(lambda: d.info().count("Executing scheduled query busy") > started,
                 what="busy running in the second worker", daemon=d)
        os.kill(w2, signal.SIGKILL)
        w3 = ready_worker(d, (w1, w2))
        since = time.time()
        assert re.search(rf"osqueryd worker \({w2}\) was killed by signal 9 \(SIGKILL\) after \d+ s "
                         r"while running busy; nothing is denylisted", stderr(d)), stderr(d)
        wait_for(lambda: "Scheduled query may have failed: busy (the previous worker was killed by "
                 "signal 9 (SIGKILL); only a watchdog limit denylists a query)" in d.warning(),
                 what="the new worker's warning", daemon=d)
        sched = wait_for(lambda: schedule(d, since + 1), what="osquery_schedule", daemon=d)
        assert sched["busy"]["denylisted"] == "0"
        assert ready_worker(d, (w1, w2)) == w3
    finally:
        assert d.stop() == 0


def kill_line(d: Daemon, what: str) -> re.Match:
    return wait_for(lambda: re.search(r"osqueryd worker \((\d+)\) stopping: " + what, stderr(d)),
                    timeout=90, what=f"the watcher's stop line ({what})", daemon=d)


def test_a_query_over_the_memory_limit_is_stopped_and_denylisted(tmp_path):
    d = watchdog_daemon(tmp_path, {"big": {"query": BIG, "interval": 2}, "tick": TICK, "sched": SCHED},
                        watchdog_memory_limit=40, watchdog_delay=2)
    d.start()
    try:
        w1 = ready_worker(d)
        m = kill_line(d, r"Memory limits exceeded: (\d+) bytes \(limit is 40MB\); "
                         r"the scheduled query big (?:was running|ran until \d+ s before): "
                         r"the next worker denylists it for 86400 s; stopping it \(SIGUSR1, SIGTERM, "
                         r"SIGKILL after 4 s\); a new worker starts now")
        assert int(m.group(1)) == w1 and int(m.group(2)) > 40 << 20
        print(f"\n[watchdog] {m.group(0)}")
        w2 = ready_worker(d, (w1,))
        since = time.time()
        warning = wait_for(lambda: re.search(r"Scheduled query may have failed: big \(the worker running it "
                                             r"was stopped by the watchdog: Memory limits exceeded: \d+ bytes "
                                             r"\(limit is 40MB\)\); it is denylisted for 86400 s", d.warning()),
                           what="the denylisting in the new worker's log", daemon=d)
        assert warning
        ticks = len(d.snapshots("tick"))
        wait_for(lambda: len(d.snapshots("tick")) >= ticks + 3, what="other queries keep running", daemon=d)
        sched = wait_for(lambda: schedule(d, since + 1), what="osquery_schedule", daemon=d)
        assert sched["big"]["denylisted"] == "1" and sched["big"]["executions"] == "0"
        assert sched["tick"]["denylisted"] == "0"
        assert ready_worker(d, (w1,)) == w2 and len(re.findall(r"stopping: Memory", stderr(d))) == 1
    finally:
        assert d.stop() == 0


def test_a_query_with_denylist_false_is_not_denylisted_and_restarts_back_off(tmp_path):
    big = {"query": BIG, "interval": 2, "denylist": False}
    d = watchdog_daemon(tmp_path, {"big": big, "tick": TICK, "sched": SCHED},
                        watchdog_memory_limit=40, watchdog_delay=2)
    d.start()
    try:
        w1 = ready_worker(d)
        kill_line(d, r"Memory limits exceeded: \d+ bytes \(limit is 40MB\); the scheduled query big "
                     r"(?:was running|ran until \d+ s before): it is not denylisted \(\"denylist\": false, "
                     r"or it reads only event tables\); .*a new worker starts now")
        w2 = ready_worker(d, (w1,))
        wait_for(lambda: "Scheduled query may have failed: big (the worker running it was stopped by the "
                 "watchdog" in d.warning() and "it is not denylisted" in d.warning(),
                 what="the new worker's warning", daemon=d)
        # It runs again, is stopped again: the second restart waits (osquery: 5 + 2**2 s).
        m = kill_line(d, r"Memory limits exceeded: \d+ bytes \(limit is 40MB\); .*a new worker starts in "
                         r"9 s \(back-off: 2 unhealthy workers in a row\)")
        assert int(m.group(1)) == w2
        print(f"\n[watchdog] {m.group(0)}")
    finally:
        assert d.stop() == 0


def test_a_busy_query_over_the_cpu_limit_is_stopped_and_denylisted(tmp_path):
    d = watchdog_daemon(tmp_path, {"busy": {"query": BUSY, "interval": 2}, "sched": SCHED},
                        watchdog_utilization_limit=5, watchdog_latency_limit=6, watchdog_delay=8)
    d.start()
    try:
        w1 = ready_worker(d)
        cpu_ms = 5 * 3000 * (os.cpu_count() or 1) // 100
        m = kill_line(d, rf"Maximum sustainable CPU utilization limit {cpu_ms}ms exceeded for (\d+) seconds; "
                         r"the scheduled query busy was running: the next worker denylists it for 86400 s")
        assert int(m.group(1)) == w1 and int(m.group(2)) >= 6
        print(f"\n[watchdog] {m.group(0)}")
        ready_worker(d, (w1,))
        since = time.time()
        sched = wait_for(lambda: schedule(d, since + 1), what="osquery_schedule", daemon=d)
        assert sched["busy"]["denylisted"] == "1"
    finally:
        assert d.stop() == 0


def test_a_worker_that_keeps_dying_is_restarted_with_growing_delays(tmp_path):
    # Level -1: osquery's restart base is 1 s there; the delays are 1 + 2**n, at most 6 here.
    d = watchdog_daemon(tmp_path, {"slow": {"query": "SELECT 1", "interval": 3600}},
                        watchdog_level=-1, watchdog_max_delay=6)
    d.start()
    seen: tuple[int, ...] = ()
    try:
        for _ in range(4):
            w = ready_worker(d, seen)
            seen += (w,)
            os.kill(w, signal.SIGKILL)
            wait_for(lambda w=w: not alive(w), timeout=10, what="the worker to die")
        ready_worker(d, seen)
    finally:
        assert d.stop() == 0
    delays = [int(x) for x in re.findall(r"was killed by signal 9 \(SIGKILL\) after \d+ s; a new worker "
                                         r"starts in (\d+) s", stderr(d))]
    print(f"\n[watchdog] restart delays of a worker killed as soon as it is up: {delays}")
    assert delays == [3, 5, 6, 6]


def test_disable_watchdog_is_one_process(tmp_path):
    d = watchdog_daemon(tmp_path, {"info": {"query": "SELECT pid, watcher FROM osquery_info",
                                            "interval": 1, "snapshot": True}}, disable_watchdog="true")
    d.start()
    try:
        row = d.wait_snapshots("info", 1)[-1]["snapshot"][0]
        assert row == {"pid": str(d.proc.pid), "watcher": "-1"}
        assert psutil.Process(d.proc.pid).children() == []
        assert (tmp_path / "osqueryd.pid").read_text() == str(d.proc.pid)
    finally:
        assert d.stop() == 0


def test_one_shot_modes_and_the_shell_never_start_a_worker(tmp_path):
    d = watchdog_daemon(tmp_path, {"tick": TICK}, verbose="true")
    for mode in ("--config_check", "--config_dump", "--database_dump"):
        r = d.run(mode, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "executing worker" not in r.stderr and "daemon started" not in r.stderr
    shell = subprocess.run([sys.executable, "-m", "osqlite", "--disable_watchdog=false", "--verbose", "--json",
                            "SELECT pid, watcher FROM osquery_info"], cwd=REPO, env=environ(),
                           capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0, shell.stderr
    [row] = json.loads(shell.stdout)
    assert row["watcher"] == "-1" and int(row["pid"]) > 0
    assert "executing worker" not in shell.stderr


def test_a_worker_exiting_78_stops_the_watcher_with_78(tmp_path):
    d = watchdog_daemon(tmp_path, {"tick": TICK}, logger_plugin="nope")
    r = d.run(timeout=60)
    assert r.returncode == 78, r.stderr
    assert "Cannot activate nope logger plugin" in r.stderr and "Traceback" not in r.stderr


def test_a_first_worker_that_cannot_start_ends_the_watcher_with_its_status(tmp_path):
    d = watchdog_daemon(tmp_path, {"tick": TICK})
    db = tmp_path / "osquery.db"
    with open(db, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)       # as another daemon would
        r = d.run(timeout=60)
    assert r.returncode == 1, r.stderr
    assert "another osqlite daemon is using the state database" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "osqueryd.pid").exists()


# -- exactly once across watchdog kills ----------------------------------------------------

def stop_lines(d: Daemon) -> list[str]:
    return re.findall(r"stopping: Maximum sustainable CPU.*", stderr(d))


def hosts_daemon(tmp_path: Path, **flags) -> Daemon:
    # "denylist": false keeps the query running through every stop.
    cfg = {"schedule": {QUERY: {"query": "SELECT address, hostnames FROM etc_hosts", "interval": 1,
                                "denylist": False}}}
    d = Daemon(tmp_path, cfg, watchdog_max_delay=1, **flags)
    d.env["OSQLITE_ROOT"] = str(tmp_path / "root")
    return d


def test_exactly_once_across_watchdog_kills_and_kill_9_of_the_worker(tmp_path):
    hosts = Hosts(tmp_path / "root", 20000, seed=44)
    results = tmp_path / "log" / "osqueryd.results.log"
    checker = LogChecker()
    rewriter = Rewriter(hosts)
    rng = random.Random(9)
    figures: dict[str, int] = {}
    d: Daemon | None = None
    try:
        rewriter.start()
        # 1 and 2: the watchdog stops the worker for CPU while it stores and logs
        # (1 % of the CPUs for 3 s), at once with SIGKILL, then gracefully.
        for phase, forced in (("SIGKILL", 0), ("SIGUSR1+SIGTERM", 4)):
            d = hosts_daemon(tmp_path, watchdog_utilization_limit=1, watchdog_latency_limit=3,
                             watchdog_delay=2, watchdog_forced_shutdown_delay=forced)
            d.start()
            seen: tuple[int, ...] = ()
            for i in range(1, KILLS + 1):
                seen += (ready_worker(d, seen),)
                wait_for(lambda d=d, i=i: len(stop_lines(d)) >= i, timeout=90, what="a watchdog stop",
                         daemon=d)
            assert d.stop() == 0
            lines = stop_lines(d)
            assert all("hosts was running: it is not denylisted" in s or "hosts ran until" in s
                       or "no scheduled query" in s for s in lines), lines
            figures[f"watchdog stops ({phase})"] = len(lines)
            (tmp_path / "stderr.txt").rename(tmp_path / f"stderr.{forced}.txt")
            assert_clean(checker.feed(results))
        # 3: kill -9 of the worker from outside, aimed at the store/log window.
        d = hosts_daemon(tmp_path, watchdog_level=-1)
        d.start()
        seen = ()
        for _ in range(KILLS):
            w = ready_worker(d, seen)
            seen += (w,)
            aim_kill(types.SimpleNamespace(proc=psutil.Process(w)), rng, tmp_path / "osquery.db", results)
            wait_for(lambda w=w: not alive(w), timeout=10, what="the worker to die")
        figures["kill -9 of the worker"] = len(seen)
        ready_worker(d, seen)
        rewriter.stop.set()
        rewriter.join()
        settle(d, hosts, checker, [results])
        assert d.stop() == 0
        assert "denylisted for" not in d.warning()
    finally:
        rewriter.stop.set()
        if d is not None and d.proc is not None:
            d.proc.kill()
            d.proc.wait()
    checker.feed(results)
    # Workers that found lines committed but not yet written: the kills that landed in that window.
    figures["restarts finishing a delivery"] = d.info().count("committed before the last stop")
    report("watchdog stops and kill -9 of the worker", checker, **{k.replace(" ", "_"): v for k, v in figures.items()})
    assert_clean(checker)
    assert checker.mismatch(hosts.rows()) == 0
