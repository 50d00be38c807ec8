"""When each scheduled query runs.  Pure bookkeeping: no threads, no sleeping.

The daemon asks ``due(now)`` for the queries to start, hands them to its
worker pool, reports ``finished(job, now)`` and sleeps until ``next_wakeup()``.
Time is always passed in, so tests drive the scheduler with plain numbers.
(The Scheduler/Job split and "missed runs are not replayed" come from the
``schedule`` package; it is not used itself because it reads the wall clock
internally and cannot align runs the way osquery does.)

Timing rules, as osquery (osquery: osquery/dispatcher/scheduler.cpp,
osquery/config/packs.cpp splayValue):

* the interval is splayed once: with p = schedule_splay_percent (values <= 1
  mean 10, > 100 mean no splay) and d = floor(interval * p / 100), the
  splayed interval is uniform in [max(1, interval - d), interval + d].  It is
  persisted (``interval.<bare name>`` = "<interval>:<splayed>") and reused
  while the configured interval is unchanged, across restarts;
* runs happen at unix times that are multiples of the splayed interval; the
  first one is the first multiple after start (or right at start with
  schedule_run_at_startup);
* a run still in progress is never started again, and runs missed while it
  ran (or while the host slept) are skipped, not replayed — so a slow query
  delays nothing but itself;
* a denylisted query is skipped until its denylisting expires;
* if the wall clock steps back, waits are cut to one interval.
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, MutableMapping

from .config import QuerySpec

log = logging.getLogger("osqlite.scheduler")


def splay(interval: int, percent: int, rng: random.Random) -> int:
    if percent <= 1:
        percent = 10        # osquery resets 0 and 1 to the default
    if percent > 100:
        return interval
    d = math.floor(interval * percent / 100)
    if d == 0:
        return interval
    return rng.randint(max(1, interval - d), interval + d)


def next_aligned(now: float, period: int) -> float:
    """The first unix time after ``now`` that is a multiple of ``period``."""
    return (math.floor(now / period) + 1) * period


@dataclass
class Job:
    name: str                 # the log name (pack_<pack>_<query> or bare)
    spec: QuerySpec
    splayed: int
    next_run: float
    running: bool = False
    denylisted_until: float = 0.0
    stats: dict[str, Any] = field(default_factory=lambda: {
        "executions": 0, "last_executed": 0, "output_size": 0, "wall_time": 0,
        "wall_time_ms": 0, "last_wall_time_ms": 0, "user_time": 0, "last_user_time": 0,
        "system_time": 0, "last_system_time": 0, "average_memory": 0, "last_memory": 0})


class Scheduler:
    def __init__(self, rng: random.Random | None = None,
                 splay_store: MutableMapping[str, str] | None = None) -> None:
        self.rng = rng or random.Random()
        self.splay_store: MutableMapping[str, str] = splay_store if splay_store is not None else {}
        self.jobs: dict[str, Job] = {}

    def _splayed(self, spec: QuerySpec, percent: int) -> int:
        key = f"interval.{spec.name}"
        stored = self.splay_store.get(key)
        if stored:
            configured, _, value = stored.partition(":")
            if configured == str(spec.interval) and value.isdigit() and int(value) > 0:
                return int(value)
        value = splay(spec.interval, percent, self.rng)
        self.splay_store[key] = f"{spec.interval}:{value}"
        return value

    def update(self, queries: list[tuple[str, QuerySpec]], now: float, splay_percent: int,
               run_at_startup: bool = False, denylist: dict[str, float] | None = None) -> None:
        """Install a new schedule.  A query whose name and interval are unchanged
        keeps its timing and statistics."""
        denylist = denylist or {}
        jobs: dict[str, Job] = {}
        for name, spec in queries:
            if name in jobs:
                log.warning("Duplicate scheduled query name %s: the first one is kept", name)
                continue
            old = self.jobs.get(name)
            if old is not None and old.spec.interval == spec.interval:
                old.spec = spec
                jobs[name] = old
                continue
            splayed = self._splayed(spec, splay_percent)
            job = Job(name, spec, splayed, now if run_at_startup else next_aligned(now, splayed))
            if old is not None:
                job.stats = old.stats
                job.running = old.running
            job.denylisted_until = denylist.get(name, 0.0)
            jobs[name] = job
        self.jobs = jobs

    def due(self, now: float) -> list[Job]:
        """Jobs to start now; each is marked running and gets its next run time."""
        out = []
        for job in self.jobs.values():
            if job.next_run - now > job.splayed:
                # The wall clock stepped back: don't wait out the difference.
                job.next_run = next_aligned(now, job.splayed)
            if job.next_run > now:
                continue
            # Missed runs are not replayed: the next run is the next aligned
            # time after now, whether or not this one starts.
            job.next_run = next_aligned(now, job.splayed)
            if job.running:
                log.debug("Scheduled query %s is still running, skipping this run", job.name)
                continue
            if job.denylisted_until > now and job.spec.denylist:
                continue
            if job.denylisted_until:
                if job.denylisted_until <= now:
                    log.info("Scheduled denylisted query has expired: %s", job.name)
                job.denylisted_until = 0.0
            job.running = True
            out.append(job)
        return out

    def finished(self, job: Job) -> None:
        job.running = False

    def denylist(self, job: Job, until: float) -> None:
        job.denylisted_until = until

    def next_wakeup(self) -> float:
        return min((j.next_run for j in self.jobs.values()), default=math.inf)


class AlignedTimer:
    """Fires on wall-clock multiples of a period (interval decorators, pack
    discovery refresh).  ``due(now)`` is true once per period."""

    def __init__(self, period: int, now: float, immediately: bool = False) -> None:
        self.period = period
        self.next = now if immediately else next_aligned(now, period)

    def due(self, now: float) -> bool:
        if now < self.next:
            return False
        self.next = next_aligned(now, self.period)
        return True


Clock = Callable[[], float]
