#!/usr/bin/env python3
"""Round-trip cost of one extension-table query of 1,000 rows.

    python3 bench/bench_extensions.py [--rounds N] [--rows R]

A real osquery-python extension (a separate process, ``osquery.start_extension``
with a TablePlugin of R rows x 4 columns, default 1,000) registers with an
osqlite extension manager running in this process.  Measured in one run,
interleaved round by round so the machine's load touches all of them alike,
each the median of N rounds (default 15):

* **SQL query, osqlite** -- ``SELECT * FROM bench`` on an osqlite connection,
  fetched: the C table builds osquery's query context, calls the manager,
  which calls the extension over Thrift (thrift's C codec), and the rows come
  back as JSON into the table;
* **ExtensionManager.query** -- the same SELECT sent by osquery-python's own
  client to the manager (``osqueryi --connect``'s path: extension -> manager
  -> extension, then the rows as strings back to the client);
* **raw Thrift call, osqlite's client** -- ``call("table", "bench",
  {"action": "generate"})`` to the extension with osqlite's client (what the
  SQL query costs below the SQL layer);
* **raw Thrift call, osquery-python's client** -- the same call with
  osquery-python's ``ExtensionClient`` (pure-Python binary protocol): the
  peer's own client-side cost, the reference.

Every case includes the extension's own work (its generate() and
osquery-python's pure-Python serialisation of the answer), which is the
floor no manager can go below.  Ratios are to osquery-python's raw call.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EXTENSION = """\
#!{python}
import osquery

ROWS = [{{"id": str(i), "name": "name-%d" % i, "path": "/usr/lib/x86_64-linux-gnu/lib%d.so" % i,
          "size": str(i * 4096)}} for i in range({rows})]

@osquery.register_plugin
class Bench(osquery.TablePlugin):
    def name(self):
        return "bench"

    def columns(self):
        return [osquery.TableColumn(name="id", type=osquery.INTEGER),
                osquery.TableColumn(name="name", type=osquery.STRING),
                osquery.TableColumn(name="path", type=osquery.STRING),
                osquery.TableColumn(name="size", type="BIGINT")]

    def generate(self, context):
        return [dict(r) for r in ROWS]

if __name__ == "__main__":
    osquery.start_extension(name="bench", version="1.0.0")
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--rows", type=int, default=1000)
    args = ap.parse_args()
    try:
        import osquery
    except ImportError:
        print("osquery-python is not installed: pip install osquery (the test extra)")
        return 1
    from osqlite.extensions import client
    from osqlite.extensions import start as start_manager
    from osqlite.extensions.shell import ShellHost
    from osqlite.flags import Flags

    tmp = tempfile.mkdtemp(prefix="bench-ext-")
    ext_path = Path(tmp) / "bench.ext"
    ext_path.write_text(textwrap.dedent(EXTENSION.format(python=sys.executable, rows=args.rows)))
    os.chmod(ext_path, 0o755)
    flags = Flags("osqueryi")
    flags.set("extensions_timeout", "10")
    host = ShellHost(flags)
    manager = start_manager(host, os.path.join(tmp, "em"), [str(ext_path)])
    host.manager = manager
    host.bump()
    try:
        if len(manager.extensions()) != 1:
            raise SystemExit(f"the extension did not register (see {ext_path}'s errors above)")
        [ext] = manager.extensions().values()
        conn = host.new_connection()
        host.refresh_backing(conn)

        def sql_query() -> int:
            return len(conn.execute("SELECT * FROM bench").fetchall())

        def em_query() -> int:
            c = osquery.ExtensionClient(path=manager.path)
            c.open()
            try:
                return len(c.extension_manager_client().query("SELECT * FROM bench").response)
            finally:
                c.close()

        def raw_osqlite() -> int:
            r = client.call(ext.path, 10, "call", "table", "bench", {"action": "generate"})
            return len(r.response)

        def raw_osquery_python() -> int:
            c = osquery.ExtensionClient(path=manager.path, uuid=ext.uuid)
            c.open()
            try:
                r = c.extension_client().call("table", "bench", {"action": "generate"})
                return len(r.response)
            finally:
                c.close()

        cases = {
            "raw Thrift call, osquery-python's client (reference)": raw_osquery_python,
            "raw Thrift call, osqlite's client": raw_osqlite,
            "SQL query, osqlite (SELECT * FROM bench, fetched)": sql_query,
            "ExtensionManager.query from osquery-python's client": em_query,
        }
        for name, fn in cases.items():       # warm up, and check every path returns the rows
            n = fn()
            if n != args.rows:
                raise SystemExit(f"{name}: {n} rows, expected {args.rows}")
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    finally:
        manager.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    ref = statistics.median(times["raw Thrift call, osquery-python's client (reference)"])
    print(f"{args.rounds} rounds, {args.rows} rows x 4 columns, {sys.implementation.name} "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'case':56} {'median':>9} {'min':>9} {'max':>9} {'x ref':>7}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:56} {med * 1e3:7.2f}ms {min(ts) * 1e3:7.2f}ms {max(ts) * 1e3:7.2f}ms "
              f"{med / ref:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
