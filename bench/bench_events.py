#!/usr/bin/env python3
"""The event pipeline against its floor: CPU per 1000 events, % of a core,
memory, and no loss, through the real daemon.

    python3 bench/bench_events.py [--rounds 5] [--rate 1000] [--seconds 10]
                                  [--files 10000] [--markdown]

Needs root (audit netlink).  Each round runs, one after another (never at
the same time: only one audit listener can be registered):

1. limit, execs: bench/audit_reader.c, a bare C audit-netlink reader (one
   recv() per record), while a C launcher fork+execs /bin/true with a
   unique marker argument at --rate per second for --seconds seconds.
2. osqlite, execs: `python -m osqlite.daemon` with audit process events and
   a scheduled query (interval 1 s) logging them; the same launcher.  Every
   marker must be logged exactly once.
3. limit, files: bench/inotify_reader.c, a bare C inotify reader that
   lstat()s every event's path, while --files files are written (one write
   each: CREATED, UPDATED for IN_MODIFY, UPDATED for IN_CLOSE_WRITE).
4. osqlite, files: the daemon (the same one as in 2) with file_events on
   the tree; every event must be logged exactly once.

CPU is user+system seconds from /proc/PID/stat (the daemon: from the start
of the phase until everything was logged; the limit programs report their
own).  Printed per round with the load average during it, then the medians
over the rounds and the ratio osqlite/limit; RSS of the daemon after start
and after the file phase.  --markdown prints the section of bench/RESULTS.md.
--osqlite-root runs the daemon of another checkout (for before/after).
Exit status 1 when any event was lost or duplicated.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
CLK_TCK = os.sysconf("SC_CLK_TCK")

LAUNCHER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
static double now(void){
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec/1e9;
}
int main(int argc, char **argv){
  if( argc<4 ) return 2;
  double rate = atof(argv[1]), secs = atof(argv[2]);
  long n = (long)(rate*secs), i;
  double t0 = now();
  for(i=0; i<n; i++){
    double due = t0 + i/rate, d = due - now();
    if( d>0 ){
      struct timespec ts = { (time_t)d, (long)((d-(time_t)d)*1e9) };
      nanosleep(&ts, 0);
    }
    pid_t p = fork();
    if( p==0 ){
      char buf[160];
      snprintf(buf, sizeof buf, "%s-%ld", argv[3], i);
      execl("/bin/true", "true", buf, (char*)0);
      _exit(127);
    }
    if( p<0 ){ perror("fork"); usleep(1000); i--; continue; }
    while( waitpid(-1, 0, WNOHANG)>0 ){}
  }
  while( wait(0)>0 ){}
  printf("%.3f\n", now()-t0);
  return 0;
}
"""


def build() -> dict:
    os.makedirs(BUILD, exist_ok=True)
    src = os.path.join(BUILD, "bench_launcher.c")
    with open(src, "w") as f:
        f.write(LAUNCHER_C)
    out = {}
    for name, path in (("launcher", src),
                       ("audit_reader", os.path.join(ROOT, "bench", "audit_reader.c")),
                       ("inotify_reader", os.path.join(ROOT, "bench", "inotify_reader.c"))):
        exe = os.path.join(BUILD, "bench_" + name)
        subprocess.run(["gcc", "-O2", "-o", exe, path], check=True)
        out[name] = exe
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> tuple[float, float]:
    rss = hwm = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return rss, hwm


def load() -> float:
    return os.getloadavg()[0]


def audit_owner() -> int:
    """The pid registered as the audit daemon (0: none), via AUDIT_GET."""
    import socket
    import struct
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
    try:
        s.bind((0, 0))
        s.send(struct.pack("=IHHII", 16, 1000, 1, 1, 0))
        s.settimeout(2)
        while True:
            data = s.recv(8192)
            ln, mtype = struct.unpack_from("=IH", data)
            if mtype == 1000:
                pid = struct.unpack_from("=11I", data, 16)[3]
                return pid if pid and os.path.exists(f"/proc/{pid}") else 0
    finally:
        s.close()


def wait_audit_free(timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        owner = audit_owner()
        if not owner:
            return
        if time.monotonic() > deadline:
            sys.exit(f"bench_events: audit stays owned by pid {owner}; try again later")
        print(f"(audit is owned by pid {owner}; waiting)", file=sys.stderr)
        time.sleep(5)


class Results:
    """Incremental reader of osqueryd.results.log."""

    def __init__(self, path: str):
        self.path = path
        self.off = 0
        self.rows = collections.defaultdict(list)   # query name -> [columns]

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.off += end + 1
        for line in data[: end + 1].splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("action") == "added":
                self.rows[item["name"]].append(item["columns"])


def wait_until(results: Results, done, stall: float) -> None:
    """Poll until done() or no new rows for `stall` seconds."""
    last, last_change = -1, time.monotonic()
    while True:
        results.poll()
        n = sum(len(v) for v in results.rows.values())
        if done():
            return
        if n != last:
            last, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > stall:
            return
        time.sleep(0.2)


def make_tree(top: str) -> str:
    watched = os.path.join(top, "w")
    os.makedirs(watched)
    for d in range(10):
        os.mkdir(os.path.join(watched, f"d{d}"))
    return watched


def write_files(watched: str, n: int) -> list:
    paths = []
    for i in range(n):
        p = os.path.join(watched, f"d{i % 10}", f"f{i}")
        with open(p, "w") as f:
            f.write(f"{i}\n")
        paths.append(p)
    return paths


def run_limit(exe: str, args: list, workload) -> dict:
    """Start a limit program, wait for 'ready', run the workload, collect."""
    p = subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    if line.strip() != "ready":
        p.wait()
        raise RuntimeError(f"{os.path.basename(exe)}: {p.stderr.read().strip()}")
    l0 = load()
    workload()
    out, err = p.communicate(timeout=120)
    fields = dict(f.split("=") for f in out.split())
    fields["load"] = round((l0 + load()) / 2, 2)
    return fields


def limit_execs(tools: dict, rate: float, secs: float) -> dict:
    marker = "osqbench" + uuid.uuid4().hex[:8]
    n = int(rate * secs)
    elapsed = []

    def work():
        out = subprocess.run([tools["launcher"], str(rate), str(secs), marker],
                             capture_output=True, text=True)
        elapsed.append(float(out.stdout.strip() or "nan"))
    wait_audit_free()
    r = run_limit(tools["audit_reader"], [marker, str(n), "10"], work)
    matched = int(r["matched"])
    return {"n": n, "matched": matched, "cpu": float(r["cpu"]),
            "per1000": float(r["cpu"]) / (n / 1000), "elapsed": elapsed[0],
            "load": r["load"]}


def limit_files(tools: dict, nfiles: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="osqlite-bench-lim-")
    try:
        watched = make_tree(tmp)
        r = run_limit(tools["inotify_reader"], [watched, str(3 * nfiles), "10"],
                      lambda: write_files(watched, nfiles))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ev = int(r["events"])
    return {"events": ev, "cpu": float(r["cpu"]), "per1000": float(r["cpu"]) / (ev / 1000),
            "load": r["load"]}


def osqlite_round(tools: dict, args) -> dict:
    tmp = tempfile.mkdtemp(prefix="osqlite-bench-")
    tok = uuid.uuid4().hex[:8]
    marker = f"osqbench{tok}"
    watched = make_tree(tmp)
    logs = os.path.join(tmp, "logs")
    os.mkdir(logs)
    config = {
        "schedule": {
            "bench_procs": {"query": "SELECT pid, cmdline FROM process_events "
                                     f"WHERE cmdline LIKE '%{marker}-%'", "interval": 1},
            "bench_files": {"query": "SELECT target_path, action FROM file_events "
                                     f"WHERE target_path LIKE '{watched}/%'", "interval": 1},
        },
        "file_paths": {"bench": [watched + "/%%"]},
    }
    conf = os.path.join(tmp, "osquery.conf")
    with open(conf, "w") as f:
        json.dump(config, f)
    cmd = [sys.executable, "-m", "osqlite.daemon", f"--config_path={conf}",
           f"--database_path={tmp}/state.db", f"--logger_path={logs}",
           f"--pidfile={tmp}/pidfile", "--disable_events=false", "--enable_file_events=true",
           "--disable_audit=false", "--audit_allow_process_events=true",
           "--disable_hardware_events=true", "--schedule_splay_percent=10"]
    root = args.osqlite_root or ROOT
    with open(os.path.join(root, "osqlite", "daemon.py")) as f:
        if "disable_extensions" in f.read():     # an older tree has no such flag
            cmd.append("--disable_extensions=true")
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    wait_audit_free()
    daemon = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(tmp, "daemon.err"), "w"))
    out: dict = {}
    results = Results(os.path.join(logs, "osqueryd.results.log"))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with open(os.path.join(logs, "osqueryd.INFO")) as f:
                    if "daemon started" in f.read():
                        break
            except FileNotFoundError:
                pass
            time.sleep(0.2)
        time.sleep(2.0)
        try:
            with open(os.path.join(logs, "osqueryd.WARNING")) as f:
                warn = f.read()
        except FileNotFoundError:
            warn = ""
        if "process_events falls back" in warn:
            raise RuntimeError("the daemon could not get audit: " + warn[-300:])
        out["rss_start"] = rss_mb(daemon.pid)[0]

        # -- execs -----------------------------------------------------------
        n_exec = int(args.rate * args.seconds)
        l0, cpu0, t0 = load(), cpu_seconds(daemon.pid), time.monotonic()
        r = subprocess.run([tools["launcher"], str(args.rate), str(args.seconds), marker],
                           capture_output=True, text=True)
        elapsed = float(r.stdout.strip() or "nan")

        def marks():
            return [c.get("cmdline", "").rsplit("-", 1)[-1]
                    for c in results.rows.get("bench_procs", [])]
        wait_until(results, lambda: len(set(marks())) >= n_exec, args.stall)
        cpu1, t1 = cpu_seconds(daemon.pid), time.monotonic()
        m = marks()
        uniq = set(m)
        cpu = cpu1 - cpu0
        out["execs"] = {"n": n_exec, "logged": len(m),
                        "lost": n_exec - len(uniq & {str(i) for i in range(n_exec)}),
                        "duplicated": len(m) - len(uniq), "cpu": cpu,
                        "per1000": cpu / (n_exec / 1000), "elapsed": elapsed,
                        "rate": n_exec / elapsed if elapsed else 0.0,
                        # share of a core while the execs ran and were logged
                        "core": cpu / (t1 - t0), "load": round((l0 + load()) / 2, 2)}

        # -- files -----------------------------------------------------------
        l0, cpu2 = load(), cpu_seconds(daemon.pid)
        paths = write_files(watched, args.files)
        expected = collections.Counter()
        for p in paths:
            expected[(p, "CREATED")] += 1
            expected[(p, "UPDATED")] += 2
        total = sum(expected.values())

        def seen():
            return collections.Counter((c["target_path"], c["action"])
                                       for c in results.rows.get("bench_files", []))
        wait_until(results, lambda: sum(seen().values()) >= total, args.stall)
        cpu3 = cpu_seconds(daemon.pid)
        got = seen()
        rss, hwm = rss_mb(daemon.pid)
        out["files"] = {"events": total, "logged": sum(got.values()),
                        "lost": sum((expected - got).values()),
                        "duplicated": sum((got - expected).values()),
                        "cpu": cpu3 - cpu2, "per1000": (cpu3 - cpu2) / (total / 1000),
                        "rss_end": rss, "hwm": hwm, "load": round((l0 + load()) / 2, 2)}
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        try:
            with open(os.path.join(logs, "osqueryd.WARNING")) as f:
                out["warnings"] = [ln.strip() for ln in f
                                   if "lost" in ln.lower() or "overflow" in ln.lower()]
        except FileNotFoundError:
            out["warnings"] = []
        if args.keep:
            out["tmp"] = tmp
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--stall", type=float, default=20, help="give up after N s without progress")
    ap.add_argument("--osqlite-root", help="run the daemon of this checkout instead")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--markdown", action="store_true", help="print the RESULTS.md section")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_events: needs root (audit netlink)", file=sys.stderr)
        return 2
    tools = build()
    rounds = []
    bad = False
    disturbed = 0
    i = -1
    while len(rounds) < args.rounds:
        i += 1
        # Alternate which goes first, so a slow drift in the machine's load
        # does not favour one side.
        r: dict = {}
        order = ("osqlite", "limit") if i % 2 == 0 else ("limit", "osqlite")
        for side in order:
            if side == "limit":
                r["lim_exec"] = limit_execs(tools, args.rate, args.seconds)
                r["lim_file"] = limit_files(tools, args.files)
            else:
                r["osq"] = osqlite_round(tools, args)
        o, le, lf = r["osq"], r["lim_exec"], r["lim_file"]
        e, f = o["execs"], o["files"]
        print(f"round {i + 1}: execs {e['n']} at {e['rate']:.0f}/s: osqlite "
              f"{e['per1000']:.4f} CPU-s/1000 ({100 * e['core']:.1f}% of a core, lost "
              f"{e['lost']}, dup {e['duplicated']}, load {e['load']}), limit "
              f"{le['per1000']:.4f} (load {le['load']}); files {f['events']} events: osqlite "
              f"{f['per1000']:.4f} (lost {f['lost']}, dup {f['duplicated']}, RSS "
              f"{o['rss_start']:.1f}->{f['rss_end']:.1f} MB, load {f['load']}), limit "
              f"{lf['per1000']:.4f} (load {lf['load']})", flush=True)
        for w in o.get("warnings", []):
            print("  warning:", w)
        if e["lost"] == e["n"] or le["matched"] < le["n"]:
            # Nothing reached the daemon, or the floor missed execs: audit was
            # taken by another audit client meanwhile; the
            # round does not measure the pipeline.  Said, and run again.
            disturbed += 1
            print(f"  round {i + 1} disturbed (osqlite lost {e['lost']}, limit saw "
                  f"{le['matched']} of {le['n']}): run again", flush=True)
            if disturbed <= 3 * args.rounds:
                continue
        bad = bad or any((e["lost"], e["duplicated"], f["lost"], f["duplicated"]))
        rounds.append(r)

    def col(path):
        out = []
        for r in rounds:
            v = r
            for k in path:
                v = v[k]
            out.append(v)
        return out
    summary = {
        "rounds": len(rounds),
        "disturbed": disturbed,
        "exec_osqlite": med(col(("osq", "execs", "per1000"))),
        "exec_limit": med(col(("lim_exec", "per1000"))),
        "exec_core": med(col(("osq", "execs", "core"))),
        "exec_rate": med(col(("osq", "execs", "rate"))),
        "file_osqlite": med(col(("osq", "files", "per1000"))),
        "file_limit": med(col(("lim_file", "per1000"))),
        "rss_start": med(col(("osq", "rss_start"))),
        "rss_end": med(col(("osq", "files", "rss_end"))),
        "hwm": med(col(("osq", "files", "hwm"))),
        "lost": sum(col(("osq", "execs", "lost"))) + sum(col(("osq", "files", "lost"))),
        "duplicated": (sum(col(("osq", "execs", "duplicated")))
                       + sum(col(("osq", "files", "duplicated")))),
        "load": [min(col(("osq", "execs", "load")) + col(("lim_exec", "load"))),
                 max(col(("osq", "files", "load")) + col(("lim_file", "load")))],
    }
    summary["exec_ratio"] = summary["exec_osqlite"] / summary["exec_limit"]
    summary["file_ratio"] = summary["file_osqlite"] / summary["file_limit"]
    s = summary
    print(f"\nmedians of {s['rounds']} rounds (load average {s['load'][0]}-{s['load'][1]}; "
          f"{s['disturbed']} disturbed rounds run again):")
    print(f"  process events: osqlite {s['exec_osqlite']:.4f} CPU-s per 1000 execs, "
          f"limit {s['exec_limit']:.4f}, ratio {s['exec_ratio']:.2f}x; "
          f"{100 * s['exec_core']:.1f}% of a core at {s['exec_rate']:.0f} execs/s")
    print(f"  file events:    osqlite {s['file_osqlite']:.4f} CPU-s per 1000 events, "
          f"limit {s['file_limit']:.4f}, ratio {s['file_ratio']:.2f}x")
    print(f"  daemon RSS {s['rss_start']:.1f} MB after start, {s['rss_end']:.1f} MB after "
          f"{args.files * 3} file events (peak {s['hwm']:.1f} MB); lost {s['lost']}, "
          f"duplicated {s['duplicated']}")
    if args.json:
        print(json.dumps({"summary": summary, "rounds": rounds}, indent=2))
    if args.markdown:
        print(markdown(summary, rounds, args))
    return 1 if bad else 0


def markdown(s: dict, rounds: list, args) -> str:
    lines = [
        "## Event pipeline (`python3 bench/bench_events.py`)",
        "",
        f"Medians of {s['rounds']} interleaved rounds ({s['disturbed']} disturbed by another "
        f"audit client, run again); {int(args.rate * args.seconds)} execs at "
        f"{args.rate:.0f}/s and {args.files} file writes ({args.files * 3} inotify events) "
        "per round, each logged by a scheduled query (interval 1 s). Limits: "
        "bench/audit_reader.c (bare audit-netlink reader) and bench/inotify_reader.c "
        "(bare inotify reader + lstat).",
        "",
        "| | osqlite | limit | ratio | target |",
        "|---|---|---|---|---|",
        f"| process events, CPU-s per 1000 execs | {s['exec_osqlite']:.4f} | "
        f"{s['exec_limit']:.4f} | {s['exec_ratio']:.2f}x | within 2x |",
        f"| share of a core at {s['exec_rate']:.0f} execs/s | {100 * s['exec_core']:.1f}% | | "
        "| under 5% |",
        f"| file events, CPU-s per 1000 events | {s['file_osqlite']:.4f} | "
        f"{s['file_limit']:.4f} | {s['file_ratio']:.2f}x | within 2x |",
        f"| daemon RSS after {args.files * 3} file events | {s['rss_end']:.1f} MB "
        f"(start {s['rss_start']:.1f}, peak {s['hwm']:.1f}) | | | under 40 MB |",
        f"| events lost / duplicated | {s['lost']} / {s['duplicated']} | | | 0 / 0 |",
        "",
        "Per round (load average during each run: osqlite execs / limit execs / "
        "osqlite files / limit files):",
        "",
    ]
    for i, r in enumerate(rounds):
        o = r["osq"]
        lines.append(f"- round {i + 1}: execs {o['execs']['per1000']:.4f} vs "
                     f"{r['lim_exec']['per1000']:.4f}, files {o['files']['per1000']:.4f} vs "
                     f"{r['lim_file']['per1000']:.4f}, RSS {o['files']['rss_end']:.1f} MB; load "
                     f"{o['execs']['load']} / {r['lim_exec']['load']} / {o['files']['load']} / "
                     f"{r['lim_file']['load']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
