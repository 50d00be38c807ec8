"""osqlite.scheduler driven by plain numbers: no sleeping, no wall clock."""
from __future__ import annotations

import random

from osqlite.config import QuerySpec
from osqlite.scheduler import AlignedTimer, Scheduler, next_aligned, splay


def q(name: str, interval: int, **kw) -> tuple[str, QuerySpec]:
    return name, QuerySpec(name=name, query="SELECT 1", interval=interval, **kw)


def test_splay_bounds_and_quirks():
    rng = random.Random(1)
    values = {splay(60, 10, rng) for _ in range(500)}
    assert min(values) >= 54 and max(values) <= 66 and len(values) > 5
    assert splay(60, 101, rng) == 60            # > 100 disables splay
    assert 54 <= splay(60, 0, rng) <= 66        # 0 and 1 mean 10 (osquery)
    assert splay(5, 10, rng) == 5               # too short to splay
    assert splay(1, 100, rng) >= 1


def test_runs_are_aligned_and_missed_runs_are_not_replayed():
    s = Scheduler()
    s.update([q("a", 10)], now=1000.5, splay_percent=101)
    assert s.next_wakeup() == 1010
    assert s.due(1009.9) == []
    [job] = s.due(1010)
    assert job.name == "a" and job.running
    s.finished(job)
    # The daemon was away for a long time: one run, then the next aligned time.
    assert [j.name for j in s.due(1075)] == ["a"]
    assert s.next_wakeup() == 1080


def test_a_running_query_is_not_started_twice_and_does_not_block_others():
    s = Scheduler()
    s.update([q("slow", 2), q("fast", 3)], now=0, splay_percent=101)
    assert [j.name for j in s.due(2)] == ["slow"]
    fast = s.due(3)
    assert [j.name for j in fast] == ["fast"]
    s.finished(fast[0])
    assert s.due(4) == []                      # slow still running: skipped
    assert [j.name for j in s.due(6)] == ["fast"]


def test_run_at_startup():
    s = Scheduler()
    s.update([q("a", 3600)], now=50, splay_percent=101, run_at_startup=True)
    assert [j.name for j in s.due(50)] == ["a"]
    assert s.next_wakeup() == 3600


def test_splay_is_persisted_and_reused():
    store: dict[str, str] = {}
    s1 = Scheduler(rng=random.Random(3), splay_store=store)
    s1.update([q("a", 100)], now=0, splay_percent=50)
    first = s1.by_name["a"].splayed
    assert store["interval.a"] == f"100:{first}"
    s2 = Scheduler(rng=random.Random(99), splay_store=store)
    s2.update([q("a", 100)], now=0, splay_percent=50)
    assert s2.by_name["a"].splayed == first
    s2.update([q("a", 200)], now=0, splay_percent=50)   # interval changed: new splay
    assert store["interval.a"].startswith("200:")


def test_update_keeps_stats_of_unchanged_queries():
    s = Scheduler()
    s.update([q("a", 10), q("b", 10)], now=0, splay_percent=101)
    [a, b] = s.due(10)
    a.stats["executions"] = 5
    s.update([q("a", 10)], now=11, splay_percent=101)
    assert list(s.by_name) == ["a"] and s.by_name["a"].stats["executions"] == 5


def test_denylisted_queries_are_skipped_until_expiry():
    s = Scheduler()
    s.update([q("a", 10), q("b", 10, denylist=False)], now=0, splay_percent=101,
             denylist={"a": 25.0, "b": 25.0})
    assert [j.name for j in s.due(10)] == ["b"]   # "denylist": false ignores it
    s.finished(s.by_name["b"])
    assert [j.name for j in s.due(20)] == ["b"]
    s.finished(s.by_name["b"])
    assert sorted(j.name for j in s.due(30)) == ["a", "b"]


def test_aligned_timer():
    t = AlignedTimer(60, now=100)
    assert not t.due(119) and t.due(120) and not t.due(121) and t.due(180)
    assert next_aligned(120, 60) == 180


def test_clock_stepping_back_does_not_stall():
    s = Scheduler()
    s.update([q("a", 10)], now=100_000, splay_percent=101)
    assert s.due(50) == []                  # the clock went back by a day
    assert s.next_wakeup() == 60
    assert [j.name for j in s.due(60)] == ["a"]


def test_jobs_are_schedule_jobs_run_by_schedules_loop():
    import schedule

    s = Scheduler()
    s.update([q("b", 10), q("a", 10), q("c", 20)], now=0, splay_percent=101)
    assert all(isinstance(j, schedule.Job) for j in s.jobs)
    assert isinstance(s, schedule.Scheduler)
    # schedule's run_pending orders due jobs by next run; ties keep config order.
    assert [j.name for j in s.due(20)] == ["b", "a", "c"]
    assert s.get_next_run().timestamp() == s.next_wakeup() == 30
