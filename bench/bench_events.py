#!/usr/bin/env python3
"""No-loss benchmark of osqlite's event publishers, through the real daemon.

    python3 bench/bench_events.py [--rate 1000] [--seconds 10] [--files 10000]

Starts `python -m osqlite.daemon` (as root) with audit process events and
inotify file events on, and two scheduled queries (interval 1 s) that read
process_events and file_events.  Then:

1. execs: a small C launcher (compiled here with cc; a Python posix_spawn
   loop if there is no compiler) fork+execs /bin/true with a unique marker
   argument at --rate per second for --seconds seconds.  Every marker must
   appear in the results log exactly once.
2. files: writes --files files (one write each) under the watched tree.
   osquery's inotify publisher reports each as CREATED, UPDATED (IN_MODIFY)
   and UPDATED (IN_CLOSE_WRITE); each of these must appear exactly once.

It prints, per source: expected, logged, lost, duplicated, the achieved
rate, the daemon's CPU seconds (user+system from /proc/PID/stat, from the
start of the phase until everything was logged) and the daemon's warnings
(audit lost counters, inotify overflows).  Exit status 0 when nothing was
lost or duplicated.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def build_launcher(tmp: str) -> str | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src = os.path.join(tmp, "launcher.c")
    exe = os.path.join(tmp, "launcher")
    with open(src, "w") as f:
        f.write(LAUNCHER_C)
    r = subprocess.run([cc, "-O2", "-o", exe, src], capture_output=True, text=True)
    return exe if r.returncode == 0 else None


def spawn_python(rate: float, secs: float, prefix: str) -> float:
    n = int(rate * secs)
    t0 = time.monotonic()
    pids = []
    for i in range(n):
        d = t0 + i / rate - time.monotonic()
        if d > 0:
            time.sleep(d)
        pids.append(os.posix_spawn("/bin/true", ["true", f"{prefix}-{i}"], os.environ))
        while pids:
            try:
                p, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if p == 0:
                break
    for _ in range(len(pids)):
        try:
            os.wait()
        except ChildProcessError:
            break
    return time.monotonic() - t0


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
        time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--stall", type=float, default=20, help="give up after N s without progress")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_events: needs root (audit netlink)", file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="osqlite-bench-")
    tok = uuid.uuid4().hex[:8]
    marker = f"osqbench{tok}"
    watched = os.path.join(tmp, "w")
    os.makedirs(watched)
    for d in range(10):
        os.mkdir(os.path.join(watched, f"d{d}"))
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
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    daemon = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(tmp, "daemon.err"), "w"))
    report: dict = {"rate_requested": args.rate, "seconds": args.seconds}
    results = Results(os.path.join(logs, "osqueryd.results.log"))
    try:
        # Wait for the publishers (the INFO log names the daemon start).
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

        # -- execs -----------------------------------------------------------
        launcher = build_launcher(tmp)
        n_exec = int(args.rate * args.seconds)
        cpu0 = cpu_seconds(daemon.pid)
        if launcher:
            out = subprocess.run([launcher, str(args.rate), str(args.seconds), marker],
                                 capture_output=True, text=True)
            elapsed = float(out.stdout.strip() or "nan")
        else:
            elapsed = spawn_python(args.rate, args.seconds, marker)
        report["exec_launcher"] = "c" if launcher else "python posix_spawn"
        report["exec_elapsed_s"] = round(elapsed, 3)
        report["exec_rate_achieved"] = round(n_exec / elapsed, 1) if elapsed else None

        def marks():
            return [c.get("cmdline", "").rsplit("-", 1)[-1]
                    for c in results.rows.get("bench_procs", [])]
        wait_until(results, lambda: len(set(marks())) >= n_exec, args.stall)
        cpu1 = cpu_seconds(daemon.pid)
        m = marks()
        uniq = set(m)
        report["execs"] = {"expected": n_exec, "logged": len(m),
                           "lost": n_exec - len(uniq & {str(i) for i in range(n_exec)}),
                           "duplicated": len(m) - len(uniq),
                           "daemon_cpu_s": round(cpu1 - cpu0, 2)}

        # -- files -----------------------------------------------------------
        cpu2 = cpu_seconds(daemon.pid)
        t0 = time.monotonic()
        paths = []
        for i in range(args.files):
            p = os.path.join(watched, f"d{i % 10}", f"f{i}")
            with open(p, "w") as f:
                f.write(f"{i}\n")
            paths.append(p)
        report["files_write_s"] = round(time.monotonic() - t0, 3)
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
        lost = sum((expected - got).values())
        extra = sum((got - expected).values())
        report["files"] = {"files": args.files, "expected_events": total,
                           "logged": sum(got.values()), "lost": lost, "duplicated": extra,
                           "daemon_cpu_s": round(cpu3 - cpu2, 2)}
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        try:
            with open(os.path.join(logs, "osqueryd.WARNING")) as f:
                report["warnings"] = [ln.strip() for ln in f
                                      if "lost" in ln.lower() or "overflow" in ln.lower()]
        except FileNotFoundError:
            report["warnings"] = []
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            report["tmp"] = tmp
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        e, f = report.get("execs", {}), report.get("files", {})
        print(f"execs: {e.get('expected')} at {report.get('exec_rate_achieved')}/s "
              f"({report.get('exec_launcher')}), logged {e.get('logged')}, lost {e.get('lost')}, "
              f"duplicated {e.get('duplicated')}, daemon CPU {e.get('daemon_cpu_s')} s")
        print(f"files: {f.get('files')} files = {f.get('expected_events')} events "
              f"(written in {report.get('files_write_s')} s), logged {f.get('logged')}, "
              f"lost {f.get('lost')}, duplicated {f.get('duplicated')}, "
              f"daemon CPU {f.get('daemon_cpu_s')} s")
        for w in report["warnings"]:
            print("warning:", w)
    bad = (report.get("execs", {}).get("lost", 1) or report.get("execs", {}).get("duplicated", 1)
           or report.get("files", {}).get("lost", 1) or report.get("files", {}).get("duplicated", 1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
