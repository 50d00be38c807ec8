#!/usr/bin/env python3
"""The shell's start-up: from exec to the first prompt (target < 150 ms).

    python3 bench/bench_shell.py [--rounds N]

Measured in one run, interleaved round by round so the machine's load
touches all of them alike, each as the median of N rounds (default 15):

* ``osqueryi`` on a pseudo-terminal, from fork/exec to the moment the
  ``osquery> `` prompt has been written (the child then gets Ctrl-D);
* ``osqueryi "select 1"`` one-shot, exec to exit;
* the physical floor: ``python3 -c pass`` (the interpreter alone) and the
  ``sqlite3`` shell loading the osqlite extension to its first prompt on a
  pty (C, no Python), and ``python3 -c "import osqlite; osqlite.connect()"``
  (the interpreter plus loading the extension).

Ratios are to the Python floor.  The shell runs with HOME in a temporary
directory (a history file is read and written) and no config.
"""
from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def until_prompt(argv: list[str], prompt: bytes, env: dict[str, str]) -> float:
    """Seconds from fork to the prompt on a pty, then EOF to the child."""
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    seen = b""
    elapsed = None
    deadline = t0 + 30
    while time.perf_counter() < deadline:
        r, _, _ = select.select([fd], [], [], 1.0)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if prompt in seen:
            elapsed = time.perf_counter() - t0
            break
    os.write(fd, b"\x04")
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass
    os.waitpid(pid, 0)
    os.close(fd)
    if elapsed is None:
        raise RuntimeError(f"no prompt from {argv}: {seen[-200:]!r}")
    return elapsed


def run_time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    import osqlite

    ext = osqlite.extension_path()
    home = tempfile.mkdtemp(prefix="bench-shell-")
    env = dict(os.environ, HOME=home, TERM="dumb")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    py = sys.executable
    cases: dict[str, object] = {
        "python3 -c pass (floor)": lambda: run_time([py, "-c", "pass"], env),
        "python3 + osqlite.connect()": lambda: run_time(
            [py, "-c", "import osqlite; osqlite.connect()"], env),
        "osqueryi to first prompt (pty)": lambda: until_prompt(
            [py, "-m", "osqlite.shell"], b"osquery> ", env),
        'osqueryi "select 1" (one-shot)': lambda: run_time(
            [py, "-m", "osqlite.shell", "select 1"], env),
    }
    sqlite = shutil.which("sqlite3")
    if sqlite:
        cases["sqlite3 shell + .load osqlite, first prompt (pty)"] = lambda: until_prompt(
            [sqlite, "-interactive", "-cmd", f".load {ext}", ":memory:"], b"sqlite> ", env)
    else:
        print("sqlite3 shell not found (apt-get install sqlite3): that floor is skipped")
    # Warm the page cache and .pyc files once.
    for fn in cases.values():
        fn()  # type: ignore[operator]
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            times[name].append(fn())  # type: ignore[operator]
    shutil.rmtree(home, ignore_errors=True)
    floor = statistics.median(times["python3 -c pass (floor)"])
    print(f"{args.rounds} rounds, {sys.implementation.name} {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'case':52} {'median':>9} {'min':>9} {'max':>9} {'x python':>9}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:52} {med * 1000:7.1f}ms {min(ts) * 1000:7.1f}ms {max(ts) * 1000:7.1f}ms "
              f"{med / floor:8.2f}x")
    prompt = statistics.median(times["osqueryi to first prompt (pty)"])
    print(f"osqueryi start-up to first prompt: {prompt * 1000:.1f} ms "
          f"(target < 150 ms: {'met' if prompt < 0.150 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
