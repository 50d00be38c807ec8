"""osquery's own spec examples (examples([...]) in /specs) for the service-
and library-backed tables run: the Docker and LXD ones against the scripted
API servers of test_docker.py and test_lxd.py, the cloud ones against the
test suite's closed loopback metadata endpoint.  Examples that need the
outside network or the link-local metadata address are skipped with that
reason; so are osquery's yara_process examples, which query the `yara`
alias of yara_file with a pid column and fail in osquery too."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from http_fixture import ScriptedServer, json_body
from test_docker import REC
from test_lxd import API, sync

SPECS = Path("/work/src/osquery/specs")
PREFIXES = ("docker_", "lxd_", "yara_", "curl", "ec2_", "azure_", "ycloud_", "prometheus_",
            "magic", "augeas", "certificates")


def _examples() -> list[tuple[str, str]]:
    out = []
    if not SPECS.is_dir():
        return out
    for f in sorted(SPECS.rglob("*.table")):
        text = f.read_text()
        name = re.search(r'table_name\("([^"]+)"', text)
        m = re.search(r"examples\((\[.*?\])\)", text, re.S)
        if not name or not m or not name.group(1).startswith(PREFIXES):
            continue
        for sql in ast.literal_eval(m.group(1)):
            out.append((name.group(1), sql))
    return out


EXAMPLES = _examples()


def _skip_reason(table: str, sql: str) -> str | None:
    if "169.254.169.254" in sql:
        return "contacts the link-local metadata address"
    if re.search(r"https?://|osquery\.io|github", sql):
        return "needs the outside network"
    if table == "yara_process" and re.search(r"from yara\b", sql):
        return "osquery's example queries the yara alias (yara_file) by pid: fails in osquery too"
    return None


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    d = tmp_path_factory.mktemp("svc")
    docker = ScriptedServer(unix_path=d / "docker.sock", lifetime=300)
    for path, doc in REC.items():
        docker.route(path, json_body(doc))
    lxd = ScriptedServer(unix_path=d / "lxd.sock", lifetime=300)
    for path, doc in API.items():
        lxd.route(path, json_body(sync(doc)))
    with docker, lxd:
        yield d


@pytest.mark.skipif(not EXAMPLES, reason="osquery's specs are not on this machine")
@pytest.mark.parametrize("table,sql", EXAMPLES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(EXAMPLES)])
def test_spec_example_runs(conn, servers, monkeypatch, table, sql):
    reason = _skip_reason(table, sql)
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("OSQLITE_DOCKER_SOCKET", str(servers / "docker.sock"))
    monkeypatch.setenv("OSQLITE_LXD_SOCKET", str(servers / "lxd.sock"))
    monkeypatch.setenv("OSQLITE_YARA_DELAY", "0")
    conn.execute(sql).fetchall()
