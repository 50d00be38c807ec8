"""The daemon managed over osquery's TLS remote API: time from start to the
first results at the server, and the results per second one daemon ships.

    python3 bench/bench_remote.py                    # both parts, 5 rounds each
    python3 bench/bench_remote.py --start --rounds 7
    python3 bench/bench_remote.py --ship --backlog 200000

The server is tests/tls_server.py (a real TLS server, certificates made with
openssl), in this process; the daemon is the real one, a subprocess.

Part A, start to first results: a fresh state database each round (so the
daemon enrolls), the config (one snapshot query, interval 1) comes from the
server.  Timed from the daemon's exec to the server's enroll request, config
request and first result line, with osquery's default --logger_tls_period=4
and with 1 s, and a restart that reuses its node key.  The peer in the same
run is the same daemon with a local config file and the filesystem logger:
the time to the first line in osqueryd.snapshots.log.

Part B, results shipped per second: the server is taken away while the
daemon logs --backlog lines (a 20,000-row snapshot per second, one line per
row), then brought back; the rate is the backlog divided by the time to
drain it.  osquery's pacing caps it at --logger_tls_max_lines per
--logger_tls_period (1024 per 4 s by default): the run with max_lines 1024
and period 1 is compared with that cap (1024 lines/s), the run with max_lines
100,000 shows what the sending pipeline itself (buffer read, TLS POST, ack)
can do.  The server only counts lines (it does not parse them), so it is not
the limit.  Medians over the rounds.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from tls_server import OsqueryServer, make_pki  # noqa: E402

SECRET = "this_is_a_deployment_secret"
ROWS = 20000


def argv(flags: dict) -> list[str]:
    return [sys.executable, "-m", "osqlite.daemon"] + [f"--{k}={v}" for k, v in flags.items()]


def spawn(flags: dict, tmp: Path) -> subprocess.Popen:
    env_path = str(REPO)
    import os
    env = dict(os.environ, PYTHONPATH=env_path + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(argv(flags), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "stderr", "ab"))


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def until(pred, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    raise SystemExit("timed out")


def base_flags(tmp: Path) -> dict:
    (tmp / "log").mkdir(exist_ok=True)
    return {"database_path": tmp / "osquery.db", "pidfile": tmp / "pid", "logger_path": tmp / "log",
            "schedule_splay_percent": 101}


# -- part A --------------------------------------------------------------------------------

def one_start(pki, tmp: Path, period: int, reuse: bool = False) -> dict:
    secret = tmp / "secret"
    secret.write_text(SECRET)
    with OsqueryServer(pki) as srv:
        srv.config = {"options": {"logger_tls_period": period},
                      "schedule": {"q": {"query": "SELECT 1 AS x", "interval": 1, "snapshot": True}}}
        flags = dict(base_flags(tmp), **srv.flags(secret))
        if reuse:       # enroll once, then time a restart that reuses the node key
            p = spawn(flags, tmp)
            until(lambda: srv.results("q"))
            stop(p)
            srv.requests.clear()
            srv.logs.clear()
        t0 = time.time()
        p = spawn(flags, tmp)
        until(lambda: srv.results("q"))
        t_first = time.time()
        out = {"first_results": t_first - t0,
               "config": srv.of("/config")[0].time - t0}
        if srv.of("/enroll"):
            out["enroll"] = srv.of("/enroll")[0].time - t0
        stop(p)
    return out


def one_local_start(tmp: Path) -> float:
    cfg = tmp / "osqueryd.conf"
    cfg.write_text('{"schedule": {"q": {"query": "SELECT 1 AS x", "interval": 1, "snapshot": true}}}')
    flags = dict(base_flags(tmp), config_path=cfg)
    t0 = time.time()
    p = spawn(flags, tmp)
    snaps = tmp / "log" / "osqueryd.snapshots.log"
    until(lambda: snaps.exists() and snaps.stat().st_size > 0)
    t = time.time() - t0
    stop(p)
    return t


def part_a(pki, rounds: int) -> None:
    rows: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, fn in (("tls, period 4 (osquery's default)", lambda t: one_start(pki, t, 4)),
                         ("tls, period 1", lambda t: one_start(pki, t, 1)),
                         ("tls, period 1, restart (node key kept)", lambda t: one_start(pki, t, 1, True)),
                         ("local config + filesystem logger (peer)", lambda t: {"first_results": one_local_start(t)})):
            tmp = Path(tempfile.mkdtemp(prefix="osqlite-bench-"))
            try:
                got = fn(tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            for k, v in got.items():
                rows.setdefault(f"{name}: {k}", []).append(v)
    peer = statistics.median(rows["local config + filesystem logger (peer): first_results"])
    print(f"\nPart A: start to first results, median of {rounds} (min-max)")
    for k, vals in rows.items():
        med = statistics.median(vals)
        ratio = f"  {med / peer:.2f}x the peer" if k.endswith("first_results") else ""
        print(f"  {k:58s} {med:6.2f} s ({min(vals):.2f}-{max(vals):.2f}){ratio}")


# -- part B --------------------------------------------------------------------------------

def one_drain(pki, tmp: Path, max_lines: int, backlog: int) -> tuple[float, float]:
    secret = tmp / "secret"
    secret.write_text(SECRET)
    sql = (f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS}) "
           "SELECT x, 'some text of a typical column' AS t, x * 2 AS y FROM c")
    with OsqueryServer(pki) as srv:
        srv.lean = True
        srv.config = {"options": {"logger_tls_period": 1, "logger_tls_max_lines": max_lines,
                                  "logger_snapshot_event_type": True, "logger_tls_backoff_max": 1},
                      "schedule": {"rows": {"query": sql, "interval": 1, "snapshot": True}}}
        flags = dict(base_flags(tmp), **srv.flags(secret))
        p = spawn(flags, tmp)
        until(lambda: srv.lines_received > 0)
        srv.down()
        time.sleep(1.5)
        # Let the backlog build while the server is away, then stop producing.
        import sqlite3
        db = sqlite3.connect(f"file:{tmp}/osquery.db?mode=ro", uri=True)
        until(lambda: db.execute("SELECT count(*) FROM tls_buffer WHERE kind='r'").fetchone()[0] >= backlog,
              timeout=600)
        p.send_signal(signal.SIGSTOP)
        waiting = db.execute("SELECT count(*) FROM tls_buffer WHERE kind='r'").fetchone()[0]
        before = srv.lines_received
        srv.up()
        p.send_signal(signal.SIGCONT)
        # The query keeps producing ROWS lines a second: count what drains beyond that.
        t0 = time.time()
        until(lambda: srv.lines_received - before >= waiting, timeout=900)
        took = time.time() - t0
        stop(p)
    return waiting / took, waiting


def part_b(pki, rounds: int, backlog: int) -> None:
    print(f"\nPart B: lines shipped per second draining a backlog of >= {backlog}, "
          f"median of {rounds} (min-max)")
    for max_lines, cap in ((1024, 1024), (100000, None)):
        rates = []
        size = min(backlog, 20 * cap) if cap else backlog     # about 20 s at the cap
        for _ in range(rounds):
            tmp = Path(tempfile.mkdtemp(prefix="osqlite-bench-"))
            try:
                rate, _ = one_drain(pki, tmp, max_lines, size)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            rates.append(rate)
        med = statistics.median(rates)
        note = f"  {med / cap:.2f}x osquery's pacing cap ({cap}/s)" if cap else ""
        print(f"  max_lines {max_lines:6d}, period 1: {med:9.0f} lines/s "
              f"({min(rates):.0f}-{max(rates):.0f}){note}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", action="store_true")
    ap.add_argument("--ship", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backlog", type=int, default=200000)
    a = ap.parse_args()
    both = not (a.start or a.ship)
    pki = make_pki(Path(tempfile.mkdtemp(prefix="osqlite-bench-pki-")))
    if a.start or both:
        part_a(pki, a.rounds)
    if a.ship or both:
        part_b(pki, max(1, a.rounds // 2 + 1) if both else a.rounds, a.backlog)


if __name__ == "__main__":
    main()
