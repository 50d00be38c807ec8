"""The daemon's cost: diff/log throughput on a 100,000-row result, and CPU/RSS
while running conf/linux.conf.

    python3 bench/bench_daemon.py                 # both parts
    python3 bench/bench_daemon.py --throughput    # part A only
    python3 bench/bench_daemon.py --daemon --seconds 150 --scale 60

Part A (in process): one differential query returning 100,000 rows of six
mixed-type columns, from rows already in Python: the store/log step
(osqlite.results: rows rendered, the previous result read back as a
multiset, the new result and the lines committed in one transaction) and the
delivery to a log file.  Timed for a first run (all 100,000 rows logged as
added) and a later run where 1% of the rows changed.  Target: under 1 s
each.  bench_results.py measures the first run from a query against its
peer, and the memory.

Part B (the real daemon as a subprocess): conf/linux.conf with every interval
(and decorator interval) divided by --scale, so a run of S seconds does the
query work of S*scale seconds of normal operation.  The daemon's own idle cost
(its wake-ups, the interpreter) does not shrink with the intervals, so it is
measured separately in an idle run (same config, intervals of one week) and
not scaled:

    cpu_per_hour = idle_cpu_per_s * 3600 + (scaled_cpu - startup_cpu - idle_cpu_per_s * S)
                   * 3600 / (S * scale)

Queries naming tables missing from the extension under test are dropped and
listed (set OSQLITE_EXTENSION to benchmark another build).  The daemon runs
as osqueryd does, a watcher and its worker (osqlite.watchdog): CPU is the sum
of both, peak RSS (VmHWM) is given for each.  Targets: under 1% of one core
(36 CPU-seconds per hour) and under 40 MB RSS for the worker.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import osqlite  # noqa: E402
from osqlite.config import parse_json_text  # noqa: E402
from osqlite.logger import FileSink  # noqa: E402
from osqlite.outbox import Outbox  # noqa: E402
from osqlite.results import CHUNK, ResultStep, Run  # noqa: E402
from osqlite.state import StateDB  # noqa: E402

N = 100_000


def make_tuples(rng: random.Random, n: int) -> list[tuple]:
    return [(i, f"proc-{i % 977}", f"/usr/bin/proc-{i % 977}", f"/usr/bin/proc-{i} --flag {i * 7}",
             i % 1000, rng.random() * 100) for i in range(n)]


def _step(tmp: str, batched: bool = False):
    state = StateDB(os.path.join(tmp, "state.db"))
    outbox = Outbox(state, [FileSink(os.path.join(tmp, "osqueryd.results.log"))])
    run = Run(name="bench", query="SELECT ...", host="host", unix=int(time.time()), epoch=0, numerics=False,
              event_format=not batched, decorations={"host_uuid": "x"})
    return state, outbox, ResultStep(state, outbox), run


def throughput() -> dict:
    """The store/log step from rows already in Python (bench_results.py
    measures it from a query, with the rows rendered inside SQLite)."""
    rng = random.Random(1)
    names = ["pid", "name", "path", "cmdline", "uid", "cpu"]
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        state, outbox, step, run = _step(tmp)
        tuples = make_tuples(rng, N)
        for label, batch in (("first_run", tuples), ("one_percent_changed", None)):
            if batch is None:
                batch = list(tuples)
                for i in rng.sample(range(N), N // 100):
                    row = list(batch[i])
                    row[3] += " changed"
                    batch[i] = tuple(row)
            t0 = time.perf_counter()
            o = step.differential(run, names, (batch[i:i + CHUNK] for i in range(0, N, CHUNK)))
            t1 = time.perf_counter()
            outbox.deliver()
            t2 = time.perf_counter()
            out[label] = {"rows_logged": o.lines, "diff_store_commit_s": round(t1 - t0, 3),
                          "write_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3)}
        outbox.close()
        state.close()
    with tempfile.TemporaryDirectory() as tmp:
        state, outbox, step, run = _step(tmp, batched=True)
        t0 = time.perf_counter()
        step.differential(run, names, (tuples[i:i + CHUNK] for i in range(0, N, CHUNK)))
        outbox.deliver()
        out["batched_first_run_s"] = round(time.perf_counter() - t0, 3)
        outbox.close()
        state.close()
    return out


def tables_available() -> set[str]:
    c = osqlite.connect()
    try:
        return {r[0] for r in c.execute("SELECT DISTINCT name FROM osqlite_tables")}
    finally:
        c.close()


def scaled_config(scale: float, idle: bool, have: set[str]) -> tuple[dict, list[str]]:
    doc = parse_json_text((REPO / "conf" / "linux.conf").read_text(), "conf/linux.conf")
    dropped = []
    words = lambda sql: set(re.findall(r"\b\w+\b", sql.lower()))  # noqa: E731
    known = {t for t in have}
    all_tables = {"processes", "users", "system_info", "os_version", "kernel_info", "uptime",
                  "logged_in_users", "mounts", "kernel_modules", "memory_info", "load_average",
                  "etc_hosts", "interface_addresses", "listening_ports"}
    missing = all_tables - known
    for name, q in list(doc["schedule"].items()):
        if words(q["query"]) & missing:
            dropped.append(name)
            del doc["schedule"][name]
            continue
        q["interval"] = 604800 if idle else max(1, round(q["interval"] / scale))
    deco = doc["decorators"]
    for kind in ("load", "always"):
        deco[kind] = [s for s in deco[kind] if not (words(s) & missing)]
    deco["interval"] = {str(604800 if idle else max(1, round(int(k) / scale))):
                        [s for s in v if not (words(s) & missing)] for k, v in deco["interval"].items()}
    doc["packs"] = {}
    return doc, dropped


def worker_of(pid: int) -> int | None:
    """The watcher's worker (its only child)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def cpu_and_rss(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return cpu, hwm


def run_daemon(config: dict, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "osqueryd.conf"
        conf.write_text(json.dumps(config))
        (Path(tmp) / "log").mkdir()
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.Popen([sys.executable, "-m", "osqlite.daemon", f"--config_path={conf}",
                                 f"--logger_path={tmp}/log", f"--database_path={tmp}/db",
                                 f"--pidfile={tmp}/pid", "--logger_stderr=false"],
                                env=env, cwd=REPO, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while "daemon started" not in _read(Path(tmp) / "log" / "osqueryd.INFO"):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("daemon did not start")
                time.sleep(0.1)
            worker = worker_of(proc.pid)
            if worker is None:
                raise RuntimeError("no worker under the watcher")
            startup_cpu = cpu_and_rss(proc.pid)[0] + cpu_and_rss(worker)[0]
            time.sleep(seconds)
            if worker_of(proc.pid) != worker:
                raise RuntimeError("the worker was replaced during the run")
            (watcher_cpu, watcher_hwm), (worker_cpu, hwm) = cpu_and_rss(proc.pid), cpu_and_rss(worker)
            cpu = watcher_cpu + worker_cpu
            results = _read(Path(tmp) / "log" / "osqueryd.results.log").count("\n")
            snaps = _read(Path(tmp) / "log" / "osqueryd.snapshots.log").count("\n")
            errors = _read(Path(tmp) / "log" / "osqueryd.WARNING")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return {"seconds": seconds, "startup_cpu_s": round(startup_cpu, 3), "cpu_s": round(cpu, 3),
            "watcher_cpu_s": round(watcher_cpu, 3),
            "peak_rss_mb": round(hwm / 2**20, 1), "watcher_peak_rss_mb": round(watcher_hwm / 2**20, 1),
            "result_lines": results, "snapshot_lines": snaps,
            "warnings": errors.strip().splitlines()[-3:]}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def daemon_cost(seconds: float, scale: float, idle_seconds: float) -> dict:
    have = tables_available()
    idle_cfg, dropped = scaled_config(scale, True, have)
    busy_cfg, _ = scaled_config(scale, False, have)
    idle = run_daemon(idle_cfg, idle_seconds)
    busy = run_daemon(busy_cfg, seconds)
    idle_rate = max(0.0, idle["cpu_s"] - idle["startup_cpu_s"]) / idle_seconds
    work = max(0.0, busy["cpu_s"] - busy["startup_cpu_s"] - idle_rate * seconds)
    per_hour = idle_rate * 3600 + work * 3600 / (seconds * scale)
    return {"scale": scale, "queries_dropped_missing_tables": dropped,
            "queries_run": sorted(busy_cfg["schedule"]), "idle_run": idle, "scaled_run": busy,
            "idle_cpu_s_per_hour": round(idle_rate * 3600, 2),
            "work_cpu_s_per_hour": round(work * 3600 / (seconds * scale), 2),
            "cpu_s_per_hour": round(per_hour, 2),
            "percent_of_one_core": round(per_hour / 36, 3),
            "peak_rss_mb": max(idle["peak_rss_mb"], busy["peak_rss_mb"]),
            "watcher_peak_rss_mb": max(idle["watcher_peak_rss_mb"], busy["watcher_peak_rss_mb"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--daemon", action="store_true")
    ap.add_argument("--seconds", type=float, default=150)
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--scale", type=float, default=60)
    args = ap.parse_args()
    both = not (args.throughput or args.daemon)
    report: dict = {"extension": osqlite.extension_path()}
    if args.throughput or both:
        report["throughput_100k_rows"] = throughput()
    if args.daemon or both:
        report["daemon_linux_conf"] = daemon_cost(args.seconds, args.scale, args.idle_seconds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
