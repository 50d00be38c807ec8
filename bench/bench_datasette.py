#!/usr/bin/env python3
"""What the Datasette plugin costs over the same SQL on a plain connection.

    python3 bench/bench_datasette.py [--rounds N]

Measured in one run, interleaved round by round, each the median of N
rounds (default 15):

* a new connection of the ``host`` database (open, load osqlite, declare
  every table) against ``osqlite.connect()`` alone: the plugin's cost per
  Datasette thread (Datasette keeps a connection per thread);
* ``GET /host/processes.json?_shape=array&_nocount=1&_nofacet=1&_nosuggest=1``
  through Datasette's in-process ASGI client against the statement that
  page runs, ``SELECT rowid, * FROM processes ORDER BY rowid LIMIT 101``,
  on an osqlite connection (the floor: the table itself);
* the full table page ``GET /host/processes`` (HTML, with its row count
  and suggested facets, each a run of the table) against the same floor.

Ratios are to the floor of each pair.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OSQLITE_METADATA_ENDPOINT", "127.0.0.1:9")

from datasette.app import Datasette  # noqa: E402

import osqlite  # noqa: E402
from osqlite.datasette_plugin import HostDatabase  # noqa: E402

SQL = "SELECT rowid, * FROM processes ORDER BY rowid LIMIT 101"
JSON = "/host/processes.json?_shape=array&_nocount=1&_nofacet=1&_nosuggest=1"
PAGE = "/host/processes"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    ds = Datasette()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(ds.invoke_startup())
    host = HostDatabase(ds)
    conn = osqlite.connect()

    def get(path: str) -> None:
        resp = loop.run_until_complete(ds.client.get(path))
        assert resp.status_code == 200, (path, resp.status_code)

    def host_connection() -> None:
        host.connect().close()

    def plain_connection() -> None:
        osqlite.connect().close()

    def direct() -> None:
        conn.execute(SQL).fetchall()

    cases = {"host connection": host_connection, "osqlite.connect()": plain_connection,
             "JSON page": lambda: get(JSON), "table page (HTML)": lambda: get(PAGE),
             "SQL alone": direct}
    for fn in cases.values():          # warm up: first connections, templates
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"medians of {args.rounds} rounds (ms); ratio to the floor of each pair")
    pairs = [("host connection", "osqlite.connect()"), ("JSON page", "SQL alone"),
             ("table page (HTML)", "SQL alone")]
    for name, floor in pairs:
        print(f"  {name:<18} {med[name]:8.2f}   {floor:<18} {med[floor]:8.2f}"
              f"   x{med[name] / med[floor]:.1f}")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
