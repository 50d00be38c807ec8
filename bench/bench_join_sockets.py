#!/usr/bin/env python3
"""Join order: processes JOIN process_open_sockets USING (pid) as written,
against the same query in either hand-forced order (CROSS JOIN), with the
processes on the host and with 500.

    python3 bench/bench_join_sockets.py [--rounds 5] [--lib PATH] [--markdown]

Each figure is the median over interleaved rounds of the query run from C
(bench/osq_time.c: every row stepped, every column read); the ratio is the
query as written over the better hand-ordered plan of the same rounds.  The
500-process condition is made with bench/forker.c and always removed; the
1-minute load average is printed for each condition.  --lib times another
build of the extension (before/after figures).
"""
from __future__ import annotations

import _common as c

if __name__ == "__main__":
    c.join_main(__doc__, "`processes JOIN process_open_sockets USING(pid)` as written",
                "SELECT * FROM processes JOIN process_open_sockets USING (pid)", {
                    "processes CROSS JOIN sockets":
                        "SELECT * FROM processes CROSS JOIN process_open_sockets USING (pid)",
                    "sockets CROSS JOIN processes":
                        "SELECT * FROM process_open_sockets CROSS JOIN processes USING (pid)",
                })
