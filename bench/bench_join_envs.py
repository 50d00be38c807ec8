#!/usr/bin/env python3
"""Join order: process_envs e JOIN processes p USING (pid) WHERE p.name =
'python3' as written, against both hand-forced orders (CROSS JOIN), with the
processes on the host and with 500.

    python3 bench/bench_join_envs.py [--rounds 5] [--lib PATH] [--markdown]

Method as in bench_join_sockets.py: medians of interleaved rounds of the
query run from C, ratio = as written / the better hand order, the load
average of each condition, the extra processes always removed.
"""
from __future__ import annotations

import _common as c

WHERE = " USING (pid) WHERE p.name = 'python3'"

if __name__ == "__main__":
    c.join_main(__doc__, "`process_envs e JOIN processes p USING(pid) WHERE p.name = "
                "'python3'`", "SELECT * FROM process_envs e JOIN processes p" + WHERE, {
                    "processes CROSS JOIN envs":
                        "SELECT * FROM processes p CROSS JOIN process_envs e" + WHERE,
                    "envs CROSS JOIN processes":
                        "SELECT * FROM process_envs e CROSS JOIN processes p" + WHERE,
                })
