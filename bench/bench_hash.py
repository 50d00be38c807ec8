#!/usr/bin/env python3
"""Hash throughput: `SELECT sha256 FROM hash WHERE path=?` vs sha256sum.

Creates a 1 GiB file of random-ish data in /tmp (a 4 MiB os.urandom block
repeated), then alternates osqlite and sha256sum runs (--repeat, default 3),
checks the digests agree, and prints medians, MB/s and the ratio.  The file
is cached after the first read, so both sides measure hashing, not disk.

    python3 bench/bench_hash.py [--size-mb 1024] [--repeat 3] [--digest sha256]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import osqlite  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--digest", choices=["md5", "sha1", "sha256"], default="sha256")
    args = ap.parse_args()
    tool = {"md5": "md5sum", "sha1": "sha1sum", "sha256": "sha256sum"}[args.digest]

    fd, path = tempfile.mkstemp(prefix="osq-bench-hash-", dir="/tmp")
    try:
        block = os.urandom(4 << 20)
        with os.fdopen(fd, "wb") as f:
            for _ in range(args.size_mb // 4):
                f.write(block)
        size = os.path.getsize(path)
        conn = osqlite.connect()
        sql = f"SELECT {args.digest} FROM hash WHERE path = ?"
        # warm the page cache once
        subprocess.run([tool, path], capture_output=True, check=True)
        t_osq, t_tool = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            d_osq = conn.execute(sql, (path,)).fetchone()[0]
            t_osq.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = subprocess.run([tool, path], capture_output=True, text=True, check=True)
            t_tool.append(time.perf_counter() - t0)
            d_tool = out.stdout.split()[0]
            if d_osq != d_tool:
                print(f"DIGEST MISMATCH: osqlite {d_osq} {tool} {d_tool}")
                return 1
        m_osq, m_tool = statistics.median(t_osq), statistics.median(t_tool)
        mb = size / 1e6
        print(f"file: {size} bytes, digest {args.digest}, {args.repeat} interleaved runs")
        print(f"osqlite hash : median {m_osq:.3f} s  ({mb / m_osq:.0f} MB/s)  runs "
              + " ".join(f"{t:.3f}" for t in t_osq))
        print(f"{tool:<13}: median {m_tool:.3f} s  ({mb / m_tool:.0f} MB/s)  runs "
              + " ".join(f"{t:.3f}" for t in t_tool))
        print(f"ratio osqlite/{tool}: {m_osq / m_tool:.2f}")
        return 0
    finally:
        os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())
