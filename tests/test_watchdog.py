"""The watchdog's parts, without running a daemon: osquery's limit table and
formulas, the restart back-off, which query is blamed, /proc readings
(against psutil), the worker's pipe, and what a new worker does with its
predecessor's report.  The real watcher and worker are tested in
test_watchdog_e2e.py."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time

import psutil
import pytest

from osqlite import watchdog, worker
from osqlite.config import QuerySpec
from osqlite.daemon import Daemon
from osqlite.flags import Flags
from osqlite.state import StateDB
from osqlite.watchdog import Backoff, Limits, Performance, Runs, Sample, limit, violation


def flags(*argv: str) -> Flags:
    f = Flags()
    f.parse_argv(list(argv))
    return f


# -- limits ----------------------------------------------------------------------------

@pytest.mark.parametrize("level, memory, utilization, latency, respawn_delay", [
    ("0", 200, 10, 12, 5), ("1", 100, 5, 6, 5), ("-1", 10000, 100, 1000, 1),
    ("3", 200, 10, 12, 5),        # any other level is the normal one (osquery: getWorkerLimit)
])
def test_level_table(level, memory, utilization, latency, respawn_delay):
    f = flags(f"--watchdog_level={level}")
    assert (limit(f, "memory"), limit(f, "utilization"), limit(f, "latency"),
            limit(f, "respawn_delay"), limit(f, "interval")) == (memory, utilization, latency,
                                                                  respawn_delay, 3)


def test_override_flags_win_over_the_level_when_positive():
    f = flags("--watchdog_level=1", "--watchdog_memory_limit=350", "--watchdog_utilization_limit=130",
              "--watchdog_latency_limit=0")
    assert (limit(f, "memory"), limit(f, "utilization"), limit(f, "latency")) == (350, 130, 6)


def test_cpu_limit_formula():
    # cpu_limit_ms = min(utilization, 100) * 3000 * cores / 100 (docs/wiki/installation/cli-flags.md)
    assert Limits(200, 10, 12, 3, 8).cpu_ms == 2400
    assert Limits(200, 10, 12, 3, 2).cpu_ms == 600
    assert Limits(200, 130, 12, 3, 2).cpu_ms == 6000      # capped at 100 %


def test_watchdog_is_on_by_default_and_enable_monitor_wins():
    assert watchdog.enabled(flags())
    assert not watchdog.enabled(flags("--disable_watchdog"))
    assert watchdog.enabled(flags("--disable_watchdog", "--enable_monitor"))


# -- measuring and deciding --------------------------------------------------------------

def test_cpu_limit_needs_sustained_intervals_and_a_quiet_one_resets():
    lim = Limits(memory=200, utilization=10, latency=9, interval=3, cpus=2)    # 600 ms per 3 s
    p = Performance()
    used = 0
    verdicts = []
    for t, step in enumerate([700, 700, 100, 700, 700, 700]):
        used += step
        p.update(Sample(1, used, 0, 10 << 20), lim.cpu_ms, lim.memory, now=float(t))
        verdicts.append(violation(p, lim))
    assert verdicts[:5] == [None] * 5 and p.cpu_ok_at == 2.0
    v = verdicts[5]
    assert v.limit == "cpu" and v.value == 700 and v.since == 2.0
    assert v.message == "Maximum sustainable CPU utilization limit 600ms exceeded for 9 seconds"


def test_memory_is_measured_above_the_first_check():
    lim = Limits(memory=50, utilization=10, latency=12, interval=3, cpus=2)
    p = Performance()
    p.update(Sample(1, 0, 0, 40 << 20), lim.cpu_ms, lim.memory, 0.0)
    assert p.initial == 40 << 20 and violation(p, lim) is None
    p.update(Sample(1, 0, 0, (40 + 50) << 20), lim.cpu_ms, lim.memory, 3.0)
    assert violation(p, lim) is None                      # exactly the limit is fine
    p.update(Sample(1, 0, 0, ((40 + 50) << 20) + 1), lim.cpu_ms, lim.memory, 6.0)
    v = violation(p, lim)
    assert v.limit == "memory" and v.value == (50 << 20) + 1 and v.since == 3.0
    assert v.message == f"Memory limits exceeded: {(50 << 20) + 1} bytes (limit is 50MB)"
    p.update(Sample(1, 0, 0, 10 << 20), lim.cpu_ms, lim.memory, 9.0)   # below the start: 0
    assert p.footprint == 0 and violation(p, lim) is None


def test_sample_matches_psutil_for_a_still_process():
    child = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.2)
        ps = psutil.Process(child.pid)
        s = watchdog.sample(child.pid)
        times, mem = ps.cpu_times(), ps.memory_info()
        assert s.ppid == os.getpid() == ps.ppid()
        assert s.rss == mem.rss
        assert s.user_ms == int(round(times.user * 1000)) and s.system_ms == int(round(times.system * 1000))
    finally:
        child.kill()
        child.wait()
    assert watchdog.sample(child.pid) is None             # gone


def test_sample_reads_a_command_name_with_spaces_and_parentheses(tmp_path):
    prog = tmp_path / "a) b (c"
    prog.symlink_to("/bin/sleep")
    child = subprocess.Popen([str(prog), "30"])
    try:
        time.sleep(0.2)
        assert watchdog.sample(child.pid).ppid == os.getpid()
    finally:
        child.kill()
        child.wait()


def test_thread_cpu_is_the_threads_own():
    stop, spun = threading.Event(), threading.Event()
    tid = []

    def spin() -> None:
        tid.append(threading.get_native_id())
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass
        spun.set()
        stop.wait()

    t = threading.Thread(target=spin)
    t.start()
    try:
        assert spun.wait(60)
        spent = watchdog.thread_cpu_ms(os.getpid(), tid[0])
        oracle = [th for th in psutil.Process().threads() if th.id == tid[0]][0]
        assert spent >= 290                                   # 300 ms in 10 ms ticks
        assert spent == round((oracle.user_time + oracle.system_time) * 1000)
        assert watchdog.thread_cpu_ms(os.getpid(), threading.get_native_id()) is not None
        assert watchdog.thread_cpu_ms(os.getpid(), 2 ** 22 + 7) is None
    finally:
        stop.set()
        t.join()


# -- restarts ----------------------------------------------------------------------------

def test_backoff_grows_per_unhealthy_worker_and_is_capped():
    b = Backoff(respawn_limit=4, respawn_delay=5, max_delay=600)
    # Killed for a limit each time, after living a while: once at once, then osquery's 5 + 2**n.
    assert [b.next(120, True) for _ in range(11)] == [0, 9, 13, 21, 37, 69, 133, 261, 517, 600, 600]
    b = Backoff(4, 5, 600)
    assert [b.next(1, False) for _ in range(3)] == [7, 9, 13]     # died too quickly, whatever status


def test_backoff_starts_again_after_a_healthy_end_or_a_long_life():
    b = Backoff(4, 5, 600)
    b.next(100, True)
    b.next(100, True)
    assert b.next(100, False) == 0 and b.failures == 0            # SIGINT'ed after a normal life
    b.next(100, True)
    b.next(100, True)
    assert b.next(watchdog.STABLE, True) == 0 and b.failures == 1


def test_backoff_level_off_uses_its_own_base():
    f = flags("--watchdog_level=-1", "--watchdog_max_delay=6")
    b = Backoff(limit(f, "respawn_limit"), limit(f, "respawn_delay"), f["watchdog_max_delay"])
    assert [b.next(2, True) for _ in range(4)] == [3, 5, 6, 6]


# -- blame ---------------------------------------------------------------------------------

def test_the_query_that_used_most_cpu_since_the_last_good_check_is_blamed(monkeypatch):
    cpu = {11: 100, 12: 100}
    monkeypatch.setattr(watchdog, "thread_cpu_ms", lambda pid, tid: cpu.get(tid))
    runs = Runs()
    runs.feed({"start": "idle", "tid": 11, "denylist": 86400}, 1, now=10)
    runs.feed({"start": "busy", "tid": 12, "denylist": 86400}, 1, now=10)
    runs.feed({"start": "short", "tid": 13, "denylist": 0}, 1, now=10)
    runs.feed({"end": "short", "cpu": 900}, 1, now=11)
    cpu.update({11: 110, 12: 2100})
    assert runs.culprit(1, since=9).name == "busy"                # 2000 ms beats 900 and 10
    assert sorted(runs.running) == ["busy", "idle"]
    runs.feed({"end": "busy", "cpu": 2000}, 1, now=12)
    runs.feed({"end": "idle", "cpu": 10}, 1, now=12)
    assert runs.culprit(1, since=11.5).name == "busy"             # it finished just before the kill
    assert runs.culprit(1, since=20) is None                      # nothing ran since


# -- the worker's side -------------------------------------------------------------------

def test_link_from_env_sends_lines_and_never_blocks(monkeypatch):
    r, w = os.pipe()
    monkeypatch.setenv("OSQUERY_WORKER", str(os.getppid()))
    monkeypatch.setenv("OSQLITE_WATCHER_FD", str(w))
    monkeypatch.setenv("OSQLITE_WATCHDOG_REPORT", json.dumps({"pid": 5, "limit": "memory"}))
    link = worker.WatcherLink.from_env()
    try:
        assert link.watcher_pid == os.getppid() and link.alive()
        assert link.report == {"pid": 5, "limit": "memory"}
        assert "OSQLITE_WATCHER_FD" not in os.environ and "OSQLITE_WATCHDOG_REPORT" not in os.environ
        link.send({"start": "q\u00e9", "tid": 1})
        assert json.loads(os.read(r, 4096)) == {"start": "q\u00e9", "tid": 1}
        for _ in range(10000):                  # nobody reads: the pipe fills, send drops lines
            link.send({"end": "x" * 100})
        assert link._dropped > 0
    finally:
        os.close(r)
        if link.fd >= 0:
            os.close(link.fd)


def test_link_ignores_a_bad_environment(monkeypatch):
    monkeypatch.setenv("OSQUERY_WORKER", "not-a-pid")
    monkeypatch.setenv("OSQLITE_WATCHER_FD", "0")       # not a pipe
    monkeypatch.setenv("OSQLITE_WATCHDOG_REPORT", "{not json")
    link = worker.WatcherLink.from_env()
    assert link.watcher_pid == os.getppid() and link.fd == -1 and link.report is None
    link.send({"ready": 1})                             # no pipe: nothing happens
    monkeypatch.delenv("OSQUERY_WORKER")
    assert worker.WatcherLink.from_env() is None


@pytest.fixture
def daemon():
    d = Daemon(flags("--schedule_denylist_duration=600"), clock=lambda: 1000.0)
    d.state = StateDB(None)
    queries = [(n, QuerySpec(n, sql, 60, denylist=deny)) for n, sql, deny in (
        ("big", "SELECT * FROM processes", True),
        ("keep", "SELECT * FROM processes", False),
        ("events", "SELECT * FROM process_events", True),
        ("mixed", "SELECT * FROM processes JOIN process_events USING (pid)", True),
        ("other", "SELECT 1", True))]
    d.scheduler.update(queries, now=1000.0, splay_percent=101)
    yield d
    d.state.close()


def test_denylist_for_follows_osquerys_exemptions(daemon):
    jobs = daemon.scheduler.by_name
    assert daemon.tracker.denylist_for(jobs["big"]) == 600
    assert daemon.tracker.denylist_for(jobs["keep"]) == 0            # "denylist": false
    assert daemon.tracker.denylist_for(jobs["events"]) == 0          # only event tables
    assert daemon.tracker.denylist_for(jobs["mixed"]) == 600
    daemon.flags.set("events_enforce_denylist", True)
    daemon.tracker._exempt.clear()
    assert daemon.tracker.denylist_for(jobs["events"]) == 600


def test_a_limit_stop_denylists_only_the_blamed_query(daemon, caplog):
    daemon.state.put("executing_query.other", "999")
    previous = worker.take_executing(daemon.state)
    assert previous == ["other"] and daemon.state.prefixed("executing_query.") == {}
    report = {"pid": 42, "cause": "stopped by the watchdog: Memory limits exceeded: 1 bytes (limit is 1MB)",
              "limit": "memory", "culprit": "big", "running": ["big", "other"]}
    with caplog.at_level(logging.INFO, "osqlite"):
        worker.settle_previous(daemon, previous, report)
    denied = {row[0]: row[5] for row in daemon.schedule_rows()}
    assert denied == {"big": 1, "keep": 0, "events": 0, "mixed": 0, "other": 0}
    assert daemon.state.get("denylist.big") == "1600.0"
    text = caplog.text
    assert "The previous osqueryd worker (42) was stopped by the watchdog: Memory limits exceeded" in text
    assert "Scheduled query may have failed: big (the worker running it was stopped by the watchdog" in text
    assert "denylisted for 600 s" in text
    assert "Scheduled query may have failed: other\n" in text + "\n"


def test_a_blamed_query_with_denylist_false_is_not_denylisted(daemon, caplog):
    report = {"pid": 42, "cause": "stopped by the watchdog: x", "limit": "cpu", "culprit": "keep",
              "running": ["keep"]}
    with caplog.at_level(logging.WARNING, "osqlite"):
        worker.settle_previous(daemon, [], report)
    assert all(row[5] == 0 for row in daemon.schedule_rows())
    assert "keep (the worker running it was stopped by the watchdog: x); it is not denylisted" in caplog.text


def test_any_other_death_denylists_nothing(daemon, caplog):
    report = {"pid": 42, "cause": "was killed by signal 9 (SIGKILL)", "limit": None, "running": ["big"]}
    with caplog.at_level(logging.WARNING, "osqlite"):
        worker.settle_previous(daemon, ["big", "mixed"], report)
    assert all(row[5] == 0 for row in daemon.schedule_rows())
    assert ("Scheduled query may have failed: big (the previous worker was killed by signal 9 (SIGKILL); "
            "only a watchdog limit denylists a query)") in caplog.text
    # Without a watcher (--disable_watchdog): osquery's warning, nothing denylisted.
    caplog.clear()
    with caplog.at_level(logging.WARNING, "osqlite"):
        worker.settle_previous(daemon, ["big"], None)
    assert caplog.messages == ["Scheduled query may have failed: big"]
    assert all(row[5] == 0 for row in daemon.schedule_rows())


def test_tracker_keeps_the_record_when_a_limit_was_hit(daemon):
    job = daemon.scheduler.by_name["big"]
    daemon.tracker.started(job)
    assert "big" in daemon.state.prefixed("executing_query.")
    daemon.tracker.finished(job, 5)
    assert daemon.state.prefixed("executing_query.") == {}
    daemon.tracker.started(job)
    daemon.tracker.limit_hit = True
    daemon.tracker.finished(job, 5)
    assert "big" in daemon.state.prefixed("executing_query.")


def test_trim_memory_threshold_follows_osquery(monkeypatch):
    calls = []

    class Libc:
        def malloc_trim(self, pad: int) -> int:
            calls.append(pad)
            return 1

    monkeypatch.setattr(worker, "_libc", lambda: Libc())
    worker.trim_memory(flags("--watchdog_memory_limit=1"), watchdog=True)     # 80 % of 1 MB: trims
    worker.trim_memory(flags("--malloc_trim_threshold=0"), watchdog=True)     # 0: never
    worker.trim_memory(flags("--malloc_trim_threshold=100000"), watchdog=False)
    assert calls == [0]

