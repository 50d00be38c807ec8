"""When each scheduled query runs, built on the ``schedule`` package.

The daemon asks ``due(now)`` for the queries to start, hands them to its
worker pool, reports ``finished(job)`` and sleeps until ``next_wakeup()``.
Each query is a ``schedule.Job`` and ``due`` is ``schedule``'s own
``run_pending`` loop (jobs sorted by next run, missed runs not replayed);
what osqlite changes is the clock.  ``schedule`` reads ``datetime.now()``
inside ``Job.should_run``, ``Job.run`` and ``_schedule_next_run``; here those
read the time the daemon passed to ``due(now)``, so tests drive the
scheduler with plain numbers and never sleep, and the next run is
osquery's aligned time rather than "now + interval".

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

import datetime
import functools
import logging
import math
import random
from typing import Any, Callable, MutableMapping

import schedule

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


def _instant(ts: float) -> datetime.datetime:
    # Aware UTC datetimes: schedule only compares them, and unix times map
    # to them without any local-time ambiguity.
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)


def _new_stats() -> dict[str, Any]:
    return {"executions": 0, "last_executed": 0, "output_size": 0, "wall_time": 0,
            "wall_time_ms": 0, "last_wall_time_ms": 0, "user_time": 0, "last_user_time": 0,
            "system_time": 0, "last_system_time": 0, "average_memory": 0, "last_memory": 0}


class Job(schedule.Job):
    """One scheduled query: a ``schedule.Job`` on the scheduler's clock."""

    scheduler: Scheduler

    def __init__(self, name: str, spec: QuerySpec, splayed: int, first_run: float,
                 scheduler: Scheduler) -> None:
        super().__init__(splayed, scheduler)
        self.unit = "seconds"
        self.name = name            # the log name (pack_<pack>_<query> or bare)
        self.spec = spec
        self.splayed = splayed
        self.running = False
        self.denylisted_until = 0.0
        self.stats = _new_stats()
        # schedule calls job_func() when the job is due; a partial keeps
        # schedule's repr (which reads .args) working.
        self.job_func = functools.partial(scheduler._offer, self)
        self.next_run = _instant(first_run)

    @property
    def due_at(self) -> float:
        return self.next_run.timestamp()

    @property
    def should_run(self) -> bool:
        return self.scheduler.instant >= self.next_run

    def run(self) -> Any:
        ret = self.job_func()
        self.last_run = self.scheduler.instant
        self._schedule_next_run()
        return ret

    def _schedule_next_run(self) -> None:
        # Missed runs are not replayed: the next run is the next aligned time
        # after now, whether or not this one started.
        self.next_run = _instant(next_aligned(self.scheduler.now, self.splayed))


class Scheduler(schedule.Scheduler):
    def __init__(self, rng: random.Random | None = None,
                 splay_store: MutableMapping[str, str] | None = None) -> None:
        super().__init__()
        self.rng = rng or random.Random()
        self.splay_store: MutableMapping[str, str] = splay_store if splay_store is not None else {}
        self.jobs: list[Job] = []       # schedule's list, in config order
        self.now = 0.0
        self.instant = _instant(0.0)
        self._due: list[Job] = []

    @property
    def by_name(self) -> dict[str, Job]:
        return {job.name: job for job in self.jobs}

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

    def _set_now(self, now: float) -> None:
        self.now = now
        self.instant = _instant(now)

    def update(self, queries: list[tuple[str, QuerySpec]], now: float, splay_percent: int,
               run_at_startup: bool = False, denylist: dict[str, float] | None = None) -> None:
        """Install a new schedule.  A query whose name and interval are unchanged
        keeps its timing and statistics."""
        denylist = denylist or {}
        self._set_now(now)
        old_jobs = self.by_name
        jobs: dict[str, Job] = {}
        for name, spec in queries:
            if name in jobs:
                log.warning("Duplicate scheduled query name %s: the first one is kept", name)
                continue
            old = old_jobs.get(name)
            if old is not None and old.spec.interval == spec.interval:
                old.spec = spec
                jobs[name] = old
                continue
            splayed = self._splayed(spec, splay_percent)
            first = now if run_at_startup else next_aligned(now, splayed)
            job = Job(name, spec, splayed, first, self)
            if old is not None:
                job.stats = old.stats
                job.running = old.running
            job.denylisted_until = denylist.get(name, 0.0)
            jobs[name] = job
        self.jobs = list(jobs.values())

    def due(self, now: float) -> list[Job]:
        """Jobs to start now; each is marked running and gets its next run time."""
        self._set_now(now)
        for job in self.jobs:
            if job.due_at - now > job.splayed:
                # The wall clock stepped back: don't wait out the difference.
                job.next_run = _instant(next_aligned(now, job.splayed))
        self._due = []
        self.run_pending()          # schedule: due jobs, in next-run order
        due, self._due = self._due, []
        return due

    def _offer(self, job: Job) -> None:
        """schedule's job function: decide whether this due run starts."""
        if job.running:
            log.debug("Scheduled query %s is still running, skipping this run", job.name)
            return
        if job.denylisted_until > self.now and job.spec.denylist:
            return
        if job.denylisted_until:
            if job.denylisted_until <= self.now:
                log.info("Scheduled denylisted query has expired: %s", job.name)
            job.denylisted_until = 0.0
        job.running = True
        self._due.append(job)

    def finished(self, job: Job) -> None:
        job.running = False

    def denylist(self, job: Job, until: float) -> None:
        job.denylisted_until = until

    def next_wakeup(self) -> float:
        return min((j.due_at for j in self.jobs), default=math.inf)


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
