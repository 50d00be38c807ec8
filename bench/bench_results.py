"""Large results: the daemon's store/log step in time and memory.

    python3 bench/bench_results.py                # both rows, 5 rounds each
    python3 bench/bench_results.py --rounds 7 --only first_run
    python3 bench/bench_results.py --only million

Row 1, ``first_run`` (in process, interleaved rounds, medians): one
differential query's first run of 100,000 rows of six mixed-type columns
(ints, strings, a double), event format, decorations on, read by
``SELECT * FROM t`` from a SQLite table.  osqlite's whole store/log step:
the query run as the daemon runs it (rows rendered by SQLite,
csrc/logline.c), the result stored in the state database and the 100,000
lines committed to the outbox in one transaction, then written to
osqueryd.results.log.  Against, in the same round:

* the peer: the same query's rows fetched and ``ujson.dumps`` of them (as
  dicts, in one call: 14 MB);
* for scale, the step from rows already in Python (the renderer used for
  snapshots, numerics and queries that cannot be wrapped), and building the
  100,000 log-line objects with ``ujson.dumps`` of each (the same 35 MB the
  log gets, without storing or durability).

Memory: a child process builds the same table, resets its peak RSS
(/proc/self/clear_refs), runs the step and reads VmHWM: the peak above the
input, against the 60 MB target.

Row 2, ``million`` (the real daemon as a subprocess): a scheduled query of
1,000,000 rows (a recursive CTE with the same six kinds of column; about 1%
of the rows change every second), run twice: the first run (1,000,000 lines
logged) and a later run (the diff against 1,000,000 stored rows).  The
VmHWM of the daemon's worker (the process that runs the queries; the
watcher's is given beside it) after both, against the 300 MB limit.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import ujson  # noqa: E402
from bench_daemon import cpu_and_rss, worker_of  # noqa: E402

from osqlite.diff import format_double  # noqa: E402
from osqlite.logger import FileSink  # noqa: E402
from osqlite.outbox import Outbox  # noqa: E402
from osqlite.results import CHUNK, ResultStep, Run, render_in_sqlite  # noqa: E402
from osqlite.state import StateDB  # noqa: E402

N = 100_000
NAMES = ["pid", "name", "path", "cmdline", "uid", "cpu"]
DECORATIONS = {"host_uuid": "4c4c4544-0000-1010-8000-b2c04f4d3332"}


def make_tuples(n: int, seed: int = 1) -> list[tuple]:
    rng = random.Random(seed)
    return [(i, f"proc-{i % 977}", f"/usr/bin/proc-{i % 977}", f"/usr/bin/proc-{i} --flag {i * 7}",
             i % 1000, rng.random() * 100) for i in range(n)]


def make_table(tuples: list[tuple]):
    import osqlite
    from osqlite.diff import decode_text
    conn = osqlite.connect()
    conn.text_factory = decode_text
    conn.execute(f"CREATE TABLE t({', '.join(NAMES)})")
    conn.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(NAMES))})", tuples)
    return conn


def _step(tmp: str):
    state = StateDB(os.path.join(tmp, "osquery.db"))
    sink = FileSink(os.path.join(tmp, "osqueryd.results.log"))
    outbox = Outbox(state, [sink])
    run = Run(name="bench", query="SELECT * FROM t", host="host", unix=int(time.time()), epoch=0,
              numerics=False, decorations=DECORATIONS)
    return state, outbox, ResultStep(state, outbox), run


def osqlite_first_run(conn, tmp: str) -> float:
    state, outbox, step, run = _step(tmp)
    t0 = time.perf_counter()
    columns, chunks = render_in_sqlite(conn, "SELECT * FROM t", "")
    step.differential(run, columns, chunks, rendered=True)
    outbox.deliver()
    elapsed = time.perf_counter() - t0
    outbox.close()
    state.close()
    return elapsed


def osqlite_from_tuples(tuples: list[tuple], tmp: str) -> float:
    state, outbox, step, run = _step(tmp)
    t0 = time.perf_counter()
    step.differential(run, NAMES, (tuples[i:i + CHUNK] for i in range(0, len(tuples), CHUNK)))
    outbox.deliver()
    elapsed = time.perf_counter() - t0
    outbox.close()
    state.close()
    return elapsed


def peer_rows(conn) -> float:
    t0 = time.perf_counter()
    rows = conn.execute("SELECT * FROM t").fetchall()
    ujson.dumps([dict(zip(NAMES, r)) for r in rows])
    return time.perf_counter() - t0


def peer_lines(tuples: list[tuple]) -> float:
    meta = {"name": "bench", "hostIdentifier": "host", "calendarTime": time.asctime(time.gmtime()) + " UTC",
            "unixTime": int(time.time()), "epoch": 0, "counter": 0, "numerics": False}
    t0 = time.perf_counter()
    out = []
    for r in tuples:
        cols = {k: (str(v) if type(v) is int else format_double(v) if type(v) is float else v)
                for k, v in sorted(zip(NAMES, r))}
        line = dict(meta)
        line["decorations"] = DECORATIONS
        line["columns"] = cols
        line["action"] = "added"
        out.append(ujson.dumps(line, ensure_ascii=False, escape_forward_slashes=False))
    "\n".join(out)
    return time.perf_counter() - t0


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child() -> None:
    """In a fresh process: peak RSS of the step above the input."""
    conn = make_table(make_tuples(N))
    with tempfile.TemporaryDirectory() as tmp:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")          # resets VmHWM to the current RSS
        base = _status("VmRSS")
        osqlite_first_run(conn, tmp)
        peak = _status("VmHWM")
    print(json.dumps({"input_rss_mb": base / 2**20, "peak_above_input_mb": (peak - base) / 2**20}))


def first_run(rounds: int) -> dict:
    tuples = make_tuples(N)
    conn = make_table(tuples)
    ours, rows, py, lines, mem = [], [], [], [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            ours.append(osqlite_first_run(conn, tmp))
        rows.append(peer_rows(conn))
        with tempfile.TemporaryDirectory() as tmp:
            py.append(osqlite_from_tuples(tuples, tmp))
        lines.append(peer_lines(tuples))
        child = subprocess.run([sys.executable, __file__, "--memory-child"], capture_output=True,
                               text=True, check=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        mem.append(json.loads(child.stdout)["peak_above_input_mb"])
    o, p = statistics.median(ours), statistics.median(rows)
    return {"rows": N, "rounds": rounds, "load_average": os.getloadavg()[0],
            "osqlite_first_run_s": round(o, 3), "osqlite_all_rounds_s": [round(x, 3) for x in ours],
            "peer_fetch_and_ujson_dumps_rows_s": round(p, 3), "peer_all_rounds_s": [round(x, 3) for x in rows],
            "ratio": round(o / p, 2),
            "ratio_median_of_rounds": round(statistics.median(a / b for a, b in zip(ours, rows)), 2),
            "target_ratio": 1.2,
            "scale_osqlite_from_python_tuples_s": round(statistics.median(py), 3),
            "scale_build_and_dump_log_lines_s": round(statistics.median(lines), 3),
            "peak_mb_above_input": round(statistics.median(mem), 1),
            "peak_mb_above_input_all_rounds": [round(x, 1) for x in mem], "target_mb": 60}


MILLION_SQL = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) "
               "SELECT i AS pid, 'proc-' || (i % 977) AS name, '/usr/bin/proc-' || (i % 977) AS path, "
               "'/usr/bin/proc-' || i || ' --flag ' || (i * 7) AS cmdline, i % 1000 AS uid, "
               "(i * 7 % 1000) / 10.0 AS cpu FROM n "
               "WHERE i % 100 <> CAST(strftime('%s', 'now') AS INTEGER) % 100")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def million_once(interval: int = 20) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "log").mkdir()
        (t / "osqueryd.conf").write_text(json.dumps({"schedule": {"big": {"query": MILLION_SQL,
                                                                        "interval": interval}}}))
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.Popen([sys.executable, "-m", "osqlite.daemon", f"--config_path={t}/osqueryd.conf",
                                 f"--logger_path={t}/log", f"--database_path={t}/osquery.db",
                                 f"--pidfile={t}/pid", "--logger_stderr=false", "--schedule_splay_percent=101",
                                 "--schedule_run_at_startup", "--disable_events"],
                                env=env, cwd=REPO, stdout=subprocess.DEVNULL)
        results = t / "log" / "osqueryd.results.log"
        try:
            deadline = time.monotonic() + 600
            counters: set[int] = set()
            first_worker = None
            while len(counters) < 2:
                if first_worker is None:
                    first_worker = worker_of(proc.pid)
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("daemon stopped or timed out:\n" + _read(t / "log" / "osqueryd.INFO")[-2000:])
                time.sleep(1)
                counters = set()
                try:
                    with open(results, "rb") as f:
                        size = os.path.getsize(results)
                        f.seek(max(0, size - 4096))
                        for raw in f.read().split(b"\n")[1:-1]:
                            counters.add(json.loads(raw)["counter"])
                        if size and 0 not in counters:
                            counters.add(0)
                except (OSError, ValueError):
                    pass
            time.sleep(1)
            # The daemon is a watcher and its worker (osqlite.watchdog): the
            # worker runs the query; a worker replaced during the run (the
            # watchdog killed it) would hide its peak, so it is checked.
            worker = worker_of(proc.pid)
            if worker is None or worker != first_worker:
                raise RuntimeError(f"the worker was replaced during the run ({first_worker} -> {worker})")
            hwm, watcher_hwm = cpu_and_rss(worker)[1], cpu_and_rss(proc.pid)[1]
            lines = _read(results).count("\n")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    return {"peak_rss_mb": hwm / 2**20, "watcher_peak_rss_mb": watcher_hwm / 2**20, "lines_logged": lines}



def million(rounds: int) -> dict:
    runs = [million_once() for _ in range(rounds)]
    peak = statistics.median(r["peak_rss_mb"] for r in runs)
    return {"rows": 1_000_000, "rounds": rounds, "runs_per_round": "first run + one diff run",
            "load_average": os.getloadavg()[0],
            "osqlite_peak_rss_mb": round(peak, 1), "all_rounds_mb": [round(r["peak_rss_mb"], 1) for r in runs],
            "watcher_peak_rss_mb": round(statistics.median(r["watcher_peak_rss_mb"] for r in runs), 1),
            "limit_mb": 300, "ratio_to_limit": round(peak / 300, 2),
            "lines_logged_per_round": [r["lines_logged"] for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", choices=("first_run", "million"))
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child()
        return
    report = {}
    if args.only in (None, "first_run"):
        report["first_run_100k"] = first_run(args.rounds)
    if args.only in (None, "million"):
        report["million_rows"] = million(args.rounds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
