#!/usr/bin/env python3
"""Benchmark of the processes table (a script, not a test).

    python3 bench/bench_processes.py [--rounds 7] [--spawn 5000]

1. Full scan, interleaved over ROUNDS rounds, each timing in turn:
   - raw-plain:  bench/raw_procfs.c, open("/proc/N/f") + read to EOF + close
                 of stat, status, cmdline, io, cgroup and readlink of exe,
                 cwd, root for every pid: the minimal C program
   - raw-openat: the same files, opened relative to an O_PATH /proc/N fd and
                 read with one read(2) each (the tricks osqlite uses)
   - osqlite-C:  SELECT * FROM processes through the loaded extension from C
                 (bench/osq_time.c: steps every row, reads every column)
   - osqlite-py: the same query from Python, conn.execute(...).fetchall()
   - psutil:     process_iter() with the equivalent attributes
   Each figure is microseconds per process; the medians and ratios follow.
2. Lookup by pid: SELECT * FROM processes WHERE pid = <this pid> with the
   processes that are running now, then again with SPAWN more sleeping
   processes (bench/forker.c), which are ALWAYS killed at the end.

Compiles its helpers with gcc into build/.  Run `make` first.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
sys.path.insert(0, str(ROOT))

import _common as c  # noqa: E402
import psutil  # noqa: E402

import osqlite  # noqa: E402

LIB = ROOT / "osqlite" / "libosqlite.so"
PSUTIL_ATTRS = ["pid", "name", "cmdline", "exe", "cwd", "uids", "gids",
                "memory_info", "cpu_times", "io_counters", "create_time",
                "ppid", "num_threads", "nice", "status"]


def build() -> None:
    c.build("raw_procfs", "osq_time", "forker")
    if not LIB.exists():
        sys.exit("build the extension first: make")


def parse(out: str) -> dict[str, float]:
    return {k: float(v) for k, v in (f.split("=") for f in out.split())}


def raw(mode: str, reps: int) -> float:
    r = parse(subprocess.run([str(BUILD / "raw_procfs"), str(reps), mode],
                             check=True, capture_output=True, text=True).stdout)
    return r["usec"] / r["pids"]


def osq_c(sql: str, reps: int, per_row: bool = True) -> float:
    r = parse(subprocess.run([str(BUILD / "osq_time"), str(LIB), str(reps), sql],
                             check=True, capture_output=True, text=True).stdout)
    return r["usec"] / r["rows"] if per_row else r["usec"]


def osq_py(conn, reps: int) -> float:
    t0 = time.perf_counter()
    n = 0
    for _ in range(reps):
        n = len(conn.execute("SELECT * FROM processes").fetchall())
    return (time.perf_counter() - t0) * 1e6 / reps / n


def ps(reps: int) -> float:
    t0 = time.perf_counter()
    n = 0
    for _ in range(reps):
        n = sum(1 for _ in psutil.process_iter(PSUTIL_ATTRS))
    return (time.perf_counter() - t0) * 1e6 / reps / n


def full_scan(conn, rounds: int, reps: int, ps_reps: int) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {k: [] for k in
                                   ("raw-plain", "raw-openat", "osqlite-C",
                                    "osqlite-py", "psutil")}
    for _ in range(rounds):
        res["raw-plain"].append(raw("plain", reps))
        res["osqlite-C"].append(osq_c("SELECT * FROM processes", reps))
        res["raw-openat"].append(raw("openat", reps))
        res["osqlite-py"].append(osq_py(conn, reps))
        res["psutil"].append(ps(ps_reps))
    return res


def report(title: str, res: dict[str, list[float]]) -> None:
    med = {k: statistics.median(v) for k, v in res.items()}
    low = {k: min(v) for k, v in res.items()}
    print(f"\n{title}: microseconds per process (median and best of "
          f"{len(res['raw-plain'])} rounds)")
    for k, v in res.items():
        print(f"  {k:11s} median {med[k]:8.2f}  best {low[k]:8.2f}   rounds: "
              + " ".join(f"{x:.1f}" for x in v))
    print(f"  ratio osqlite-C  / raw-plain   = {med['osqlite-C'] / med['raw-plain']:.2f}")
    print(f"  ratio osqlite-C  / raw-openat  = {med['osqlite-C'] / med['raw-openat']:.2f}")
    print(f"  ratio osqlite-py / raw-plain   = {med['osqlite-py'] / med['raw-plain']:.2f}")
    print(f"  ratio psutil / osqlite-py      = {med['psutil'] / med['osqlite-py']:.1f}x")
    print(f"  ratio psutil / osqlite-C       = {med['psutil'] / med['osqlite-C']:.1f}x")
    print(f"  (best-of ratios: osqlite-C / raw-plain = {low['osqlite-C'] / low['raw-plain']:.2f}, "
          f"psutil / osqlite-py = {low['psutil'] / low['osqlite-py']:.1f}x)")


def lookup(rounds: int) -> float:
    sql = f"SELECT * FROM processes WHERE pid = {os.getpid()}"
    return statistics.median(osq_c(sql, 2000, per_row=False) for _ in range(rounds))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--spawn", type=int, default=5000)
    args = ap.parse_args()
    build()
    conn = osqlite.connect()
    n_now = len(conn.execute("SELECT pid FROM processes").fetchall())
    print(f"{n_now} processes, {os.cpu_count()} CPUs")

    report("Full scan", full_scan(conn, args.rounds, args.reps, 5))
    small = lookup(args.rounds)
    print(f"\nWHERE pid = <pid> with {n_now} processes: {small:.1f} us per query")

    with c.processes(n_now + args.spawn) as n_big:
        big = lookup(args.rounds)
        print(f"WHERE pid = <pid> with {n_big} processes ({n_big - n_now} spawned): "
              f"{big:.1f} us per query (ratio {big / small:.2f})")
        report(f"Full scan with {n_big} processes",
               full_scan(conn, 3, 3, 1))
    left = len(conn.execute("SELECT pid FROM processes").fetchall())
    print(f"\ncleaned up: {left} processes left")
    conn.close()


if __name__ == "__main__":
    main()
