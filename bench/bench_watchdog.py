"""How fast the watchdog acts, and how its restarts back off: the real daemon
(a watcher and its worker) as subprocesses.

    python3 bench/bench_watchdog.py                # all three parts, 5 rounds each
    python3 bench/bench_watchdog.py --rounds 3 --part memory

memory: a scheduled query builds a large string (group_concat over a
recursive CTE, ~13 MB/s here) under --watchdog_memory_limit=64.  This script
samples the worker's resident size every 10 ms; the breach is the first
sample more than 64 MB above the worker's resident size at the watcher's
first check (--enable_watchdog_debug logs each check).  Reported: breach to
the watcher's stop line (detection; osquery's 3 s interval bounds it), stop
line to the worker's exit (SIGUSR1, SIGTERM: a graceful stop), breach to exit.

cpu: a query that spins a core, --watchdog_utilization_limit=5
--watchdog_latency_limit=6.  The excess starts when the query starts (the
worker's "Executing scheduled query" line); osquery's rule needs two checks
in a row over the limit (2 x 3 s >= 6 s), the first of which comes 0-3 s
after the start: the stop comes 3-6 s after the query starts.

backoff: the worker is killed (SIGKILL, from this script) as soon as it has
started, five times; reported: the delay the watcher announced and the time
from the kill to the next worker's process, against osquery's 5 + 2**n.

Medians over the rounds, with the minimum and maximum; the machine is shared,
so compare a figure with its bound, not with another run's figure.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIG = ("SELECT length(group_concat(x)) AS n FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
       "SELECT x + 1 FROM c WHERE x < 30000000) SELECT x FROM c)")
BUSY = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000000) "
        "SELECT count(*) FROM c")
LIMIT_MB = 64
PAGE = os.sysconf("SC_PAGE_SIZE")


def glog_time(line: str) -> float:
    """The unix time of a glog line (local time, microseconds, this year)."""
    m = re.match(r"[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})", line)
    assert m, line
    mon, day, hh, mm, ss, us = map(int, m.groups())
    return datetime(datetime.now().year, mon, day, hh, mm, ss, us).timestamp()


class Daemon:
    def __init__(self, tmp: Path, schedule: dict, *flags: str) -> None:
        self.tmp = tmp
        (tmp / "log").mkdir(exist_ok=True)
        (tmp / "osqueryd.conf").write_text(json.dumps({"schedule": schedule}))
        self.err = tmp / "stderr"
        argv = [sys.executable, "-m", "osqlite.daemon", f"--config_path={tmp}/osqueryd.conf",
                f"--logger_path={tmp}/log", f"--database_path={tmp}/db", f"--pidfile={tmp}/pid",
                "--schedule_splay_percent=101", *flags]
        self.proc = subprocess.Popen(argv, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                                     stdout=subprocess.DEVNULL, stderr=open(self.err, "w"))

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def worker(self, other_than: tuple[int, ...] = (), timeout: float = 60) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                kids = []
            info = self.stderr()
            for k in kids:
                if k not in other_than and f"] pid {k}:" in info:
                    return k
            time.sleep(0.02)
        raise RuntimeError("no worker:\n" + self.stderr()[-2000:])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def memory_round() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp), {"big": {"query": BIG, "interval": 5}}, f"--watchdog_memory_limit={LIMIT_MB}",
                   "--watchdog_delay=1", "--enable_watchdog_debug", "--verbose")
        try:
            w = d.worker()
            samples: list[tuple[float, int]] = []
            exited = None
            end = time.monotonic() + 90
            while time.monotonic() < end:
                value = rss(w)
                now = time.time()
                if value is None or not alive(w):
                    exited = now
                    break
                samples.append((now, value))
                time.sleep(0.01)
            text = d.stderr()
        finally:
            d.stop()
    first = re.search(rf"^.*pid: {w}, cpu: .*$", text, re.M)
    stop = re.search(rf"^.*osqueryd worker \({w}\) stopping: Memory limits exceeded: (\d+) bytes.*$", text, re.M)
    if not (first and stop and exited):
        raise RuntimeError("no memory stop:\n" + text[-3000:])
    t_first = glog_time(first.group(0))
    baseline = min(samples, key=lambda s: abs(s[0] - t_first))[1]
    breach = next(t for t, v in samples if v - baseline > LIMIT_MB << 20)
    t_stop = glog_time(stop.group(0))
    return {"breach_to_stop_line_s": t_stop - breach, "stop_line_to_exit_s": exited - t_stop,
            "breach_to_exit_s": exited - breach, "measured_bytes": int(stop.group(1))}


def cpu_round() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp), {"busy": {"query": BUSY, "interval": 4}}, "--watchdog_utilization_limit=5",
                   "--watchdog_latency_limit=6", "--watchdog_delay=1", "--schedule_lognames")
        try:
            w = d.worker()
            end = time.monotonic() + 90
            while alive(w) and time.monotonic() < end:
                time.sleep(0.01)
            exited = time.time()
            text = d.stderr()
        finally:
            d.stop()
    start = re.search(r"^.*Executing scheduled query busy.*$", text, re.M)
    stop = re.search(rf"^.*osqueryd worker \({w}\) stopping: Maximum sustainable CPU.*$", text, re.M)
    if not (start and stop):
        raise RuntimeError("no CPU stop:\n" + text[-3000:])
    t_start, t_stop = glog_time(start.group(0)), glog_time(stop.group(0))
    return {"query_start_to_stop_line_s": t_stop - t_start, "stop_line_to_exit_s": exited - t_stop,
            "query_start_to_exit_s": exited - t_start}


def backoff_run(kills: int) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp), {"slow": {"query": "SELECT 1", "interval": 3600}})
        try:
            seen: tuple[int, ...] = ()
            w = d.worker()
            for n in range(1, kills + 1):
                seen += (w,)
                os.kill(w, signal.SIGKILL)
                killed = time.time()
                # The next worker's process appears when the watcher starts it.
                end = time.monotonic() + 120
                nxt = None
                while nxt is None and time.monotonic() < end:
                    try:
                        with open(f"/proc/{d.proc.pid}/task/{d.proc.pid}/children") as f:
                            nxt = next((int(k) for k in f.read().split() if int(k) not in seen), None)
                    except OSError:
                        pass
                    time.sleep(0.01)
                spawned = time.time()
                said = re.search(rf"osqueryd worker \({w}\) was killed by signal 9 \(SIGKILL\) after (\d+) s; "
                                 r"a new worker starts (?:now|in (\d+) s)", d.stderr())
                lived = int(said.group(1)) if said else None
                # osquery's 5 + 2**n for a worker that lived less than 4 s; the first one
                # that lived longer restarts at once.
                expected = 0 if n == 1 and lived is not None and lived >= 4 else min(600, 5 + 2 ** n)
                out.append({"kill": n, "lived_s": lived, "expected_s": expected,
                            "announced_s": int(said.group(2) or 0) if said else None,
                            "kill_to_next_worker_s": round(spawned - killed, 2)})
                w = d.worker(seen)
        finally:
            d.stop()
    return out


def summary(rounds: list[dict]) -> dict:
    keys = [k for k in rounds[0] if k.endswith("_s")]
    return {k: {"median": round(statistics.median(r[k] for r in rounds), 3),
                "min": round(min(r[k] for r in rounds), 3), "max": round(max(r[k] for r in rounds), 3)}
            for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--part", choices=("memory", "cpu", "backoff"), action="append")
    args = ap.parse_args()
    parts = args.part or ["memory", "cpu", "backoff"]
    report: dict = {"cpus": os.cpu_count(), "interval_s": 3}
    if "memory" in parts:
        rounds = [memory_round() for _ in range(args.rounds)]
        report["memory"] = {"limit_mb": LIMIT_MB, "rounds": len(rounds), **summary(rounds)}
    if "cpu" in parts:
        rounds = [cpu_round() for _ in range(args.rounds)]
        report["cpu"] = {"utilization_limit_pct": 5, "latency_limit_s": 6, "rounds": len(rounds),
                         "bound_s": "3..6 after the query starts (the second check over the limit)", **summary(rounds)}
    if "backoff" in parts:
        report["backoff"] = backoff_run(5)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
