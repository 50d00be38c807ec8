#!/usr/bin/env python3
"""Benchmark process_open_sockets against the number of processes and
sockets.

Spawns N processes (forks) holding M sockets each (half UDP sockets bound
to 127.0.0.1, half AF_UNIX socketpair ends), then measures the median time
of

  * SELECT * FROM process_open_sockets               (osqlite, all pids)
  * SELECT * FROM process_open_sockets WHERE pid = X (pid push-down)
  * psutil.net_connections(kind='all')               (same run, same host)
  * a naive per-process reader (Python): /proc/PID/net/{tcp,udp,unix,...}
    read for EVERY pid, the way osquery's first version worked - only for
    small grids, because it costs processes x sockets.

osqlite reads the socket files once per network namespace, so its cost
should grow with processes + sockets; the naive reader grows with
processes x sockets.

    python3 bench/bench_sockets.py [--grid small|default] [--reps 5]

Children die with the parent (PR_SET_PDEATHSIG) and are always killed and
reaped in a finally block.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import psutil  # noqa: E402

import osqlite  # noqa: E402

NET_FILES = ["icmp", "icmp6", "tcp", "tcp6", "udp", "udp6", "udplite",
             "udplite6", "raw", "raw6", "unix", "packet"]


def spawn(n: int, m: int) -> list[int]:
    """Fork n children holding m sockets each; return their pids once all
    sockets exist."""
    pids = []
    libc = ctypes.CDLL(None)
    for _ in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                       # child
            try:
                libc.prctl(1, signal.SIGKILL)          # PR_SET_PDEATHSIG
                os.close(r)
                held = []
                for i in range(m):
                    if i % 2 == 0:
                        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        s.bind(("127.0.0.1", 0))
                        held.append(s)
                    else:
                        held.extend(socket.socketpair())
                        held[-1].close()               # keep one end: M sockets
                        held.pop()
                os.write(w, b"k")
                signal.pause()
            finally:
                os._exit(0)
        os.close(w)
        os.read(r, 1)                      # wait until its sockets exist
        os.close(r)
        pids.append(pid)
    return pids


def kill_all(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in pids:
        try:
            os.waitpid(p, 0)
        except ChildProcessError:
            pass


def median_time(fn, reps: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def naive_per_process() -> int:
    """osquery v1: every pid's fds AND its whole set of socket files."""
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{d}/fd"):
                try:
                    os.readlink(f"/proc/{d}/fd/{fd}")
                except OSError:
                    pass
        except OSError:
            continue
        for f in NET_FILES:
            try:
                with open(f"/proc/{d}/net/{f}", "rb") as fh:
                    n += fh.read().count(b"\n")
            except OSError:
                pass
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", choices=["small", "default"], default="default")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if a.grid == "small":
        grid = [(0, 0), (10, 4), (40, 4), (10, 16), (40, 16)]
    else:
        grid = [(0, 0), (20, 2), (80, 2), (160, 2), (20, 32), (80, 32),
                (160, 32), (20, 128), (80, 128)]
    conn = osqlite.connect()
    base_procs = len([d for d in os.listdir("/proc") if d.isdigit()])
    print(f"host: {os.cpu_count()} cpus, {base_procs} processes before spawning")
    hdr = (f"{'N':>4} {'M':>4} {'procs':>6} {'sockets':>8} {'rows':>7} "
           f"{'osqlite ms':>10} {'pid=X ms':>9} {'psutil ms':>10} "
           f"{'naive ms':>9} {'us/(P+S)':>9}")
    print(hdr)
    print("-" * len(hdr))
    for n, m in grid:
        pids = []
        try:
            pids = spawn(n, m)
            procs = len([d for d in os.listdir("/proc") if d.isdigit()])
            q = "SELECT * FROM process_open_sockets"
            conn.execute(q).fetchall()                      # warm up
            t_all, rows = median_time(lambda q=q: conn.execute(q).fetchall(), a.reps)
            target = pids[0] if pids else os.getpid()
            t_pid, _ = median_time(lambda q=q, target=target: conn.execute(
                q + " WHERE pid = ?", (target,)).fetchall(), a.reps)
            t_ps, conns = median_time(
                lambda: psutil.net_connections(kind="all"), max(1, a.reps // 2))
            naive = "-"
            if procs * (len(rows) + 1) <= 400_000:
                t_nv, _ = median_time(naive_per_process, 1)
                naive = f"{t_nv*1000:9.1f}"
            per = t_all * 1e6 / (procs + len(rows))
            print(f"{n:>4} {m:>4} {procs:>6} {len(conns):>8} {len(rows):>7} "
                  f"{t_all*1000:10.2f} {t_pid*1000:9.2f} {t_ps*1000:10.1f} "
                  f"{naive:>9} {per:9.2f}", flush=True)
        finally:
            kill_all(pids)


if __name__ == "__main__":
    main()
