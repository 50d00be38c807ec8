#!/usr/bin/env python3
"""process_open_sockets at about 50 sockets and at 10,000, against the
physical limit and against ss.

    python3 bench/bench_sockets.py [--rounds 5] [--lib PATH] [--markdown]

  * osqlite: SELECT * FROM process_open_sockets from C (bench/osq_time.c:
    every row stepped, every column read);
  * the limit: bench/sockdiag_limit.c, the fd scan of every process plus
    the sock_diag dumps of every socket kind, nothing formatted;
  * ss -tunap, the whole process (TCP and UDP only, with owners).
Medians of interleaved rounds, the ratios to the limit (target <= 1.5) and
to ss (target < 1), the 1-minute load average of each condition.  The
sockets (TCP listening and connected, UDP, UNIX pairs) are held by a child
process made for the run and killed after it.
"""
from __future__ import annotations

import _common as c

if __name__ == "__main__":
    c.sockets_main(__doc__, "`process_open_sockets`", "SELECT * FROM process_open_sockets",
                   "all", ["ss", "-tunap"])
