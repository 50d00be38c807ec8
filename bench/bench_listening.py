#!/usr/bin/env python3
"""listening_ports at about 50 sockets and at 10,000, against the physical
limit (the fd scan of every process plus a LISTEN-only TCP dump and the
other sock_diag dumps: bench/sockdiag_limit.c listen) and against
ss -tulnp.

    python3 bench/bench_listening.py [--rounds 5] [--lib PATH] [--markdown]

Method as in bench_sockets.py: medians of interleaved rounds from C, the
ratios, the load average, the sockets held by a child made for the run.
"""
from __future__ import annotations

import _common as c

if __name__ == "__main__":
    c.sockets_main(__doc__, "`listening_ports`", "SELECT * FROM listening_ports",
                   "listen", ["ss", "-tulnp"])
