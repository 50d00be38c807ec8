"""osquery's own Linux pack queries (specs/osquery-linux-pack-queries.json)
prepare and run on osqlite.

Each query is one test, so the report shows pass or fail per query; the
terminal summary (conftest.py) adds the totals.  vuln-management's
opera_extensions names a table osquery itself no longer has, so it is the
one expected failure.  Queries over data every Linux host has must also
return rows, so "runs" cannot hide an empty stub.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
QUERIES = json.loads((REPO / "specs" / "osquery-linux-pack-queries.json").read_text())["queries"]

GONE_FROM_OSQUERY = {("vuln-management", "opera_extensions")}

# Queries whose tables have data on any Linux host this project runs on.
MUST_RETURN_ROWS = {
    ("hardware-monitoring", "device_nodes"),
    ("incident-response", "etc_hosts"),
    ("incident-response", "mounts"),
    ("incident-response", "process_env"),
    ("incident-response", "process_memory"),
    ("it-compliance", "osquery_info"),
    ("it-compliance", "kernel_info"),
    ("it-compliance", "os_version"),
    ("it-compliance", "mounts"),
    ("it-compliance", "deb_packages"),
    ("osquery-monitoring", "osquery_info"),
    ("vuln-management", "kernel_info"),
    ("vuln-management", "os_version"),
}


def _param(q: dict):
    key = (q["pack"], q["name"])
    marks = []
    if key in GONE_FROM_OSQUERY:
        marks.append(pytest.mark.xfail(strict=True, reason="table removed from osquery"))
    return pytest.param(q, id=f"{q['pack']}/{q['name']}", marks=marks)


@pytest.mark.parametrize("query", [_param(q) for q in QUERIES])
def test_pack_query_runs(conn, query):
    key = (query["pack"], query["name"])
    result = conn.execute(query["query"]).fetchall()
    if key in MUST_RETURN_ROWS:
        if key[1] == "deb_packages" and not Path("/var/lib/dpkg/status").exists():
            return  # not a Debian host: an empty result is right
        assert result, f"{key[0]}/{key[1]} returned no rows on a host that has the data"
