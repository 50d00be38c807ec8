#!/usr/bin/env python3
"""`users JOIN authorized_keys` / `users JOIN shell_history` over many users.

A per-user table joined with users is filtered once per user; each call
used to parse the whole etc/passwd, so the join cost grew with the square
of the user count.  This bench builds fixture trees (OSQLITE_ROOT) of N
users (default 8,000 and 50,000), each with ~/.ssh/authorized_keys (two
keys) and ~/.bash_history (three lines), and times

    SELECT count(*) FROM users JOIN authorized_keys USING (uid)
    SELECT count(*) FROM users JOIN shell_history USING (uid)
    SELECT count(*) FROM users JOIN user_groups USING (uid)

--repeat times each (median reported), next to a peer in the same run:
Python opening and reading the same files once each (the I/O the join
cannot avoid).  The figures to read are the time per user and its ratio
between the two tree sizes (1.0 = linear), and the ratio to the peer.
Run as root, every file is opened with its user's rights (a thread's
fsuid/fsgid/groups switch per open); --extension selects another build
(OSQLITE_EXTENSION) to compare with.

    python3 bench/bench_userjoin.py [--users 8000,50000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import osqlite  # noqa: E402

KEYS = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample one@host\n" \
       "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQExample two@host\n"
HISTORY = "ls -la\n#1700000000\nmake\n"


def build(top: Path, n: int) -> Path:
    root = top / f"users{n}"
    (root / "etc").mkdir(parents=True)
    root.chmod(0o755)
    lines = []
    for i in range(n):
        uid = 100000 + i
        home = f"/home/u{i}"
        lines.append(f"u{i}:x:{uid}:{uid}:User {i}:{home}:/bin/sh\n")
        h = root / home.lstrip("/")
        (h / ".ssh").mkdir(parents=True)
        (h / ".ssh/authorized_keys").write_text(KEYS)
        (h / ".bash_history").write_text(HISTORY)
        if os.geteuid() == 0:
            for p in (h, h / ".ssh", h / ".ssh/authorized_keys", h / ".bash_history"):
                os.chown(p, uid, uid)
    (root / "etc/passwd").write_text("".join(lines))
    return root


def peer(root: Path, n: int) -> float:
    """Read every file the two joins read, once, in Python."""
    t0 = time.perf_counter()
    for i in range(n):
        for rel in (".ssh/authorized_keys", ".bash_history"):
            with open(root / f"home/u{i}" / rel, "rb") as f:
                f.read()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", default="8000,50000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--extension", help="another libosqlite.so to measure")
    ap.add_argument("--timeout", type=float, default=300,
                    help="skip further runs of a query once one run takes this long")
    args = ap.parse_args()
    if args.extension:
        os.environ["OSQLITE_EXTENSION"] = args.extension
    sizes = [int(x) for x in args.users.split(",")]
    top = Path(tempfile.mkdtemp(prefix="osqlite-userjoin-", dir="/tmp"))
    top.chmod(0o755)
    queries = {
        "authorized_keys": ("SELECT count(*) FROM users JOIN authorized_keys USING (uid)", 2),
        "shell_history": ("SELECT count(*) FROM users JOIN shell_history USING (uid)", 2),
        # No file per user: what is left is the passwd lookup itself.
        "user_groups": ("SELECT count(*) FROM users JOIN user_groups USING (uid)", 1),
    }
    per_user: dict[str, dict[int, float]] = {q: {} for q in queries}
    try:
        print(f"extension: {osqlite.extension_path()}, euid {os.geteuid()}, "
              f"{args.repeat} runs each, medians")
        for n in sizes:
            t0 = time.perf_counter()
            root = build(top, n)
            print(f"\n{n} users (tree built in {time.perf_counter() - t0:.1f} s)")
            os.environ["OSQLITE_ROOT"] = str(root)
            conn = osqlite.connect()
            peer(root, n)                          # warm the dentry and page caches
            t_peer = statistics.median(peer(root, n) for _ in range(args.repeat))
            print(f"  peer (Python reads the {2 * n} files once): median {t_peer:.3f} s")
            for name, (sql, per) in queries.items():
                times = []
                count = None
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    count = conn.execute(sql).fetchone()[0]
                    times.append(time.perf_counter() - t0)
                    if times[-1] > args.timeout:
                        break
                assert count == per * n, (name, count)
                m = statistics.median(times)
                per_user[name][n] = m / n
                print(f"  users JOIN {name:15s}: median {m:.3f} s ({len(times)} runs: "
                      + " ".join(f"{t:.3f}" for t in times)
                      + f"), {m / n * 1e6:.1f} us/user, {m / t_peer:.1f}x the peer,"
                      f" {count} rows")
            conn.close()
            shutil.rmtree(root)
        if len(sizes) > 1:
            a, b = sizes[0], sizes[-1]
            print(f"\ntime per user, {b} vs {a} users (1.0 = linear):")
            for name in queries:
                print(f"  {name}: {per_user[name][b] / per_user[name][a]:.2f}")
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
