#!/usr/bin/env python3
"""File walk: `SELECT * FROM file WHERE path LIKE '/usr/%%'` vs find(1).

find runs `find /usr -printf '%p %s %m %U %G %i %T@\\n'` (a stat per entry,
like the file table).  Runs alternate (--repeat, default 3); medians, the
ratio and both row counts are printed.  A third figure, "engine", reads
every column inside SQLite (an aggregate over all of them) without making
138k Python tuples: the Python sqlite3 module's row conversion is most of
the cost of fetchall() here and is not osqlite's.  Expected count difference: find
also lists /usr itself and any dot files directly in /usr, which a '%'
glob level does not match (glob(3) semantics, as in osquery).

    python3 bench/bench_file.py [--top /usr] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import osqlite  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", default="/usr")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    top = args.top.rstrip("/")
    conn = osqlite.connect()
    sql = "SELECT * FROM file WHERE path LIKE ?"
    engine_sql = ("SELECT count(*), sum(length(path) + length(directory) + "
                  "length(filename) + inode + uid + gid + length(mode) + device + "
                  "size + block_size + atime + mtime + ctime + btime + hard_links + "
                  "symlink + length(type) + ifnull(length(symlink_target_path), 0)) "
                  "FROM file WHERE path LIKE ?")
    t_osq, t_find, t_eng = [], [], []
    n_osq = n_find = 0
    subprocess.run(["find", top], capture_output=True)   # warm the dentry cache
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        n_osq = len(conn.execute(sql, (top + "/%%",)).fetchall())
        t_osq.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        conn.execute(engine_sql, (top + "/%%",)).fetchall()
        t_eng.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = subprocess.run(["find", top, "-printf", "%p %s %m %U %G %i %T@\\n"],
                             capture_output=True, check=False)
        t_find.append(time.perf_counter() - t0)
        n_find = out.stdout.count(b"\n")
    dots = sum(1 for n in os.listdir(top) if n.startswith("."))
    m_osq, m_find = statistics.median(t_osq), statistics.median(t_find)
    m_eng = statistics.median(t_eng)
    print(f"tree: {top}, {args.repeat} interleaved runs")
    print(f"osqlite file : median {m_osq:.3f} s, {n_osq} rows  runs "
          + " ".join(f"{t:.3f}" for t in t_osq))
    print(f"find -printf : median {m_find:.3f} s, {n_find} rows  runs "
          + " ".join(f"{t:.3f}" for t in t_find))
    print(f"osqlite engine (all columns, no Python rows): median {m_eng:.3f} s  runs "
          + " ".join(f"{t:.3f}" for t in t_eng))
    print(f"ratio osqlite/find: {m_osq / m_find:.2f} (SELECT * fetchall), "
          f"{m_eng / m_find:.2f} (engine)")
    print(f"row counts: find - osqlite = {n_find - n_osq} "
          f"(expected {1 + dots}: {top} itself + {dots} top-level dot entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
