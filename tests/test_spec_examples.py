"""Every example query of osquery's table specs (examples([...]) in osquery's
specs/*.table) for the 156 tables osquery builds on Linux, run on this
machine.  The queries live in specs/osquery-spec-examples.json
(tools/gen_spec_examples.py), so a clean checkout runs them without
osquery's sources.

Each example must run, and a `SELECT *` of one table must return that
table's visible columns; the examples this machine certainly has data for
must return rows.  The Docker and LXD examples run against the
scripted API servers of test_docker.py and test_lxd.py, the cloud ones
against the suite's closed loopback metadata endpoint.  Skipped, each with
its reason: examples that need the outside network or the link-local
metadata address, tables this build does not have yet, and tables whose
system library is missing in a dev run.  osquery's yara_process examples
query the `yara` alias of yara_file by pid, which has no pid column: they
run and must fail as they fail in osquery.  The closing lines of the
pytest run count the examples (conftest.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from http_fixture import ScriptedServer, json_body
from test_docker import REC
from test_lxd import API, sync

import osqlite

SPEC = Path(__file__).resolve().parent.parent / "specs" / "osquery-spec-examples.json"
DATA = json.loads(SPEC.read_text())
EXAMPLES = [(t, i, sql) for t, v in DATA["tables"].items() for i, sql in enumerate(v["examples"])]


def _tables() -> set[str]:
    c = osqlite.connect()
    try:
        return {r[0] for r in c.execute("SELECT name FROM osqlite_tables")}
    finally:
        c.close()


TABLES = _tables()


def skip_reason(table: str, sql: str) -> str | None:
    if "169.254.169.254" in sql:
        return "contacts the link-local metadata address"
    if re.search(r"https?://(?!127\.|localhost)|osquery\.io\b|github", sql):
        return "needs the outside network"
    if table not in TABLES:
        return "table not in this build"
    return None


# The examples osquery documents that fail in osquery itself, and how.
FAILS_IN_OSQUERY = {
    "yara_process": "no such column: pid",      # `yara` is yara_file's alias
}


# Examples this machine certainly answers with at least one row (the Docker
# and LXD ones from the scripted servers' data).
AT_LEAST_ONE = {
    "select * from process_namespaces where pid = 1", "select * from ulimit_info",
    "select * from users where username = 'root'", "select * from groups where gid = 0",
    "select * from file where path = '/etc/passwd'", "select * from hash where path = '/etc/passwd'",
    "select * from file where directory = '/etc/'", "select * from processes where pid = 1",
    "select * from load_average;",
    "select count(*) from users u, user_groups ug where u.uid = ug.uid",
    "select * from docker_info",
    "select * from lxd_instances", "select * from lxd_networks",
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    d = tmp_path_factory.mktemp("svc")
    docker = ScriptedServer(unix_path=d / "docker.sock", lifetime=600)
    for path, doc in REC.items():
        docker.route(path, json_body(doc))
    lxd = ScriptedServer(unix_path=d / "lxd.sock", lifetime=600)
    for path, doc in API.items():
        lxd.route(path, json_body(sync(doc)))
    with docker, lxd:
        yield d


def test_every_linux_table_is_listed():
    # The data covers osquery's 156 Linux tables, each with its spec file.
    assert len(DATA["tables"]) == 156 and "Apache-2.0" in DATA["license"]
    assert all(v["spec"].startswith("osquery: specs/") for v in DATA["tables"].values())
    assert len(EXAMPLES) >= 100


@pytest.mark.parametrize("table,i,sql", EXAMPLES, ids=[f"{t}-{i}" for t, i, _ in EXAMPLES])
def test_spec_example(conn, servers, monkeypatch, table, i, sql):
    reason = skip_reason(table, sql)
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("OSQLITE_DOCKER_SOCKET", str(servers / "docker.sock"))
    monkeypatch.setenv("OSQLITE_LXD_SOCKET", str(servers / "lxd.sock"))
    monkeypatch.setenv("OSQLITE_YARA_DELAY", "0")
    monkeypatch.delenv("OSQLITE_CONFIG_YARA", raising=False)
    # Users' files and process environments may hold any bytes.
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    if table in FAILS_IN_OSQUERY:
        with pytest.raises(Exception, match=FAILS_IN_OSQUERY[table]):
            conn.execute(sql).fetchall()
        return
    try:
        cur = conn.execute(sql)
        got = cur.fetchall()
    except Exception as e:
        if "install the Debian package" in str(e):
            pytest.skip(f"system library absent: {e}")
        raise
    names = [d[0] for d in cur.description]
    for row in got:
        assert len(row) == len(names)
    if sql in AT_LEAST_ONE:
        assert got and (not sql.startswith("select count") or got[0][0] >= 1)
    if re.fullmatch(rf"select \* from {table}\b(?! *(,|join|cross)).*", sql.strip(), re.I | re.S):
        visible = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        assert names == visible


def test_examples_match_osquery_sources():
    """The committed data is what tools/gen_spec_examples.py makes from
    osquery's specs, where osquery's sources are on the machine."""
    src = Path("/work/src/osquery/specs")
    if not src.is_dir():
        pytest.skip("osquery's sources are not on this machine")
    r = subprocess.run([sys.executable, str(SPEC.parent.parent / "tools/gen_spec_examples.py"),
                        "--check", str(src.parent)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
