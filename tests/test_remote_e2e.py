"""The real daemon managed over osquery's TLS remote API by a real TLS
server (tests/tls_server.py): enrollment, the schedule the server sends,
results at its logger endpoint, distributed queries, carves, outages with
and without kill -9, mTLS, gzip, refused servers."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import REPO, environ, wait_for
from remote_helpers import SECRET
from tls_server import OsqueryServer

#: What a Fleet server sends by default (fleetdm/fleet's default agent options),
#: with short intervals for a test.
FLEET_OPTIONS = {"pack_delimiter": "/", "logger_tls_period": 1, "distributed_plugin": "tls",
                 "disable_distributed": False, "distributed_interval": 1,
                 "distributed_tls_max_attempts": 3}
FLEET_DECORATORS = {"load": ["SELECT uuid AS host_uuid FROM system_info",
                             "SELECT hostname AS hostname FROM system_info"]}


class Node:
    """One osqlite daemon managed by a test server; stderr is its log."""

    def __init__(self, tmp: Path, server: OsqueryServer, fleet: bool = False, **flags: Any) -> None:
        self.tmp = tmp
        self.secret = tmp / "secret.txt"
        if not self.secret.exists():
            self.secret.write_text(SECRET + "\n")
        self.flags = server.flags(self.secret, fleet=fleet, database_path=tmp / "osquery.db",
                                  pidfile=tmp / "osqueryd.pid", logger_path=tmp / "log",
                                  schedule_splay_percent=101)
        self.flags.update(flags)
        (tmp / "log").mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.err = tmp / "stderr.txt"
        self.offset = 0

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "osqlite.daemon"] + [f"--{k}={v}" for k, v in self.flags.items()]

    def start(self, wait: bool = True) -> "Node":
        self.offset = self.err.stat().st_size if self.err.exists() else 0
        with open(self.err, "ab") as f:
            self.proc = subprocess.Popen(self.argv(), cwd=REPO, env=environ(), stdout=subprocess.DEVNULL,
                                         stderr=f)
        if wait:
            wait_for(lambda: "daemon started" in self.stderr(since_start=True) or self.proc.poll() is not None,
                     timeout=60, what="the daemon's start line")
            assert self.proc.poll() is None, f"daemon exited {self.proc.returncode}\n{self.stderr()[-3000:]}"
        return self

    def dump(self) -> str:
        """For wait_for's message when something never happens."""
        return "--- daemon stderr\n" + self.stderr()[-4000:]

    def stderr(self, since_start: bool = False) -> str:
        if not self.err.exists():
            return ""
        data = self.err.read_bytes()
        return data[self.offset if since_start else 0:].decode(errors="replace")

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("daemon did not stop on SIGTERM\n" + self.stderr()[-3000:]) from None
        code, self.proc = self.proc.returncode, None
        return code

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def file_lines(self) -> list[str]:
        out = []
        for name in ("osqueryd.results.log", "osqueryd.snapshots.log"):
            path = self.tmp / "log" / name
            if path.exists():
                out += [x for x in path.read_text(errors="replace").splitlines() if x.endswith("}")]
        return out


@pytest.fixture
def nodes():
    started: list[Node] = []
    yield started
    for n in started:
        try:
            n.stop()
        except AssertionError:
            pass


def canon(obj: dict) -> str:
    return json.dumps(obj, sort_keys=True)


# -- the issue's "done when" -------------------------------------------------------------------

def test_managed_by_a_fleet_style_server(tmp_path, pki, nodes):
    """osquery's usual remote flags: enrolls, runs the schedule the server
    sends, ships results there, answers distributed queries, survives an
    outage without losing or repeating a line."""
    with OsqueryServer(pki) as srv:
        srv.config = {
            "options": FLEET_OPTIONS, "decorators": FLEET_DECORATORS,
            "schedule": {"seconds": {"query": "SELECT unix_time FROM time", "interval": 1}},
            "packs": {"Global": {"queries": {"info": {"query": "SELECT version FROM osquery_info",
                                                      "interval": 2, "snapshot": True}}}},
        }
        srv.reads = [{"queries": {"fleet_detail_query_osquery_info": "select * from osquery_info limit 1",
                                  "fleet_distributed_query_1": "SELECT 1 AS one, 'two' AS two",
                                  "fleet_policy_query_5": "SELECT 1 FROM no_such_table"},
                      "discovery": {"fleet_distributed_query_1": "SELECT 1"}}]
        node = Node(tmp_path, srv, fleet=True)
        # Exactly the flags of the issue, plus Fleet's endpoints.
        node.flags.update({"disable_distributed": "false", "distributed_plugin": "tls"})
        nodes.append(node.start())
        t0 = time.time()
        wait_for(lambda: srv.results("pack/Global/info"), timeout=60, what="results at the server")
        first = time.time() - t0
        enroll = srv.of("/enroll")[0]
        assert enroll.path == "/api/osquery/enroll" and enroll.body["enroll_secret"] == SECRET
        assert enroll.body["host_details"]["osquery_info"]["version"] == "5.23.0"
        [snap] = srv.results("pack/Global/info")[:1]
        assert snap["snapshot"] == [{"version": "5.23.0"}] and snap["action"] == "snapshot"
        assert set(snap["decorations"]) == {"host_uuid", "hostname"}
        line = wait_for(lambda: srv.results("seconds"), what="differential results")[0]
        assert list(line)[:7] == ["name", "hostIdentifier", "calendarTime", "unixTime", "epoch",
                                  "counter", "numerics"]
        assert line["action"] == "added" and isinstance(line["unixTime"], int)
        wait_for(lambda: srv.writes, what="the distributed write")
        w = srv.writes[0]
        assert w["queries"]["fleet_distributed_query_1"] == [{"one": "1", "two": "two"}]
        assert w["queries"]["fleet_detail_query_osquery_info"][0]["version"] == "5.23.0"
        assert w["statuses"] == {"fleet_detail_query_osquery_info": 0, "fleet_distributed_query_1": 0,
                                 "fleet_policy_query_5": 1}
        assert "no such table" in w["messages"]["fleet_policy_query_5"]
        statuses = wait_for(srv.statuses, what="status lines")
        assert any("daemon started" in s["message"] for s in statuses)
        # An outage: results made while the server is away arrive afterwards,
        # none lost, none twice.  Lines go out oldest first, so one made after
        # the server is back means the backlog is in.
        srv.down()
        wait_for(lambda: buffered(tmp_path) >= 4, timeout=60, what="lines made during the outage",
                 daemon=node)
        srv.up()
        stamp = time.time()
        wait_for(lambda: any(x["unixTime"] > stamp + 1 for x in srv.results("seconds")), timeout=60,
                 what="the backlog to drain", daemon=node)
        lines = [canon(x) for x in srv.results()]
        assert len(lines) == len(set(lines)), "a line arrived twice"
        # The differential query's lines form a chain: each value added by one
        # run is removed by a later one, so a lost line breaks it.
        seconds = srv.results("seconds")
        added = [x["columns"]["unix_time"] for x in seconds if x["action"] == "added"]
        removed = [x["columns"]["unix_time"] for x in seconds if x["action"] == "removed"]
        assert len(added) >= 2
        assert removed == added[:len(removed)] and len(added) - len(removed) <= 2
        assert node.stop() == 0
        assert SECRET not in node.stderr()
        print(f"first results at the server {first:.2f} s after start")


def buffered(tmp: Path) -> int:
    """Result lines waiting in the daemon's tls buffer (read-only, beside it)."""
    import sqlite3
    try:
        db = sqlite3.connect(f"file:{tmp}/osquery.db?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM tls_buffer WHERE kind = 'r'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


# -- enrollment -------------------------------------------------------------------------------

def test_wrong_secret_stops_the_daemon_with_78(tmp_path, pki):
    with OsqueryServer(pki, secret="the right one") as srv:
        node = Node(tmp_path, srv, tls_enroll_max_attempts=2, tls_enroll_max_interval=1)
        node.start(wait=False)
        assert node.proc.wait(120) == 78
        err = node.stderr()
        assert "Cannot activate tls logger plugin: No node key, TLS logging disabled." in err
        assert "enroll failed: invalid secret" in err
        assert SECRET not in err
        assert all(r.body["enroll_secret"] == SECRET for r in srv.of("/enroll"))
        assert srv.of("/log") == []


def test_node_invalid_makes_the_node_enroll_again_and_loses_nothing(tmp_path, pki, nodes):
    with OsqueryServer(pki) as srv:
        srv.config = {"options": {"logger_tls_period": 1},
                      "schedule": {"seconds": {"query": "SELECT unix_time FROM time", "interval": 1}}}
        node = Node(tmp_path, srv, logger_plugin="tls,filesystem")
        nodes.append(node.start())
        wait_for(lambda: srv.results("seconds"), what="first results")
        srv.invalidate()
        wait_for(lambda: len(srv.of("/enroll")) >= 2, timeout=30, what="a second enrollment")
        n = len(srv.results("seconds"))
        wait_for(lambda: len(srv.results("seconds")) > n + 2, what="results after re-enrolling")
        keys = {r.body.get("node_key") for r in srv.of("/log")}
        assert len(keys) == 2
        produced = {canon(json.loads(x)) for x in node.file_lines()}
        wait_for(lambda: produced <= {canon(x) for x in srv.results()}, what="every line at the server")
        assert node.stop() == 0
        sent = [canon(x) for x in srv.results()]
        assert len(sent) == len(set(sent))


# -- config ----------------------------------------------------------------------------------

def test_config_refresh_changes_the_schedule(tmp_path, pki, nodes):
    with OsqueryServer(pki) as srv:
        srv.config = {"options": {"logger_tls_period": 1},
                      "schedule": {"a": {"query": "SELECT 'a' AS q, unix_time FROM time", "interval": 1}}}
        node = Node(tmp_path, srv, config_refresh=2)
        nodes.append(node.start())
        wait_for(lambda: srv.results("a"), what="results of a")
        srv.config = {"options": {"logger_tls_period": 1},
                      "schedule": {"b": {"query": "SELECT 'b' AS q, unix_time FROM time", "interval": 1}}}
        wait_for(lambda: srv.results("b"), timeout=60, what="results of b")
        time.sleep(3)
        # Once b runs, a is no longer scheduled.
        first_b = min(x["unixTime"] for x in srv.results("b"))
        assert [x for x in srv.results("a") if x["unixTime"] > first_b] == []
        assert len(srv.of("/config")) >= 2


# -- outages -----------------------------------------------------------------------------------

def test_a_60_second_outage_and_a_kill_9_lose_and_repeat_nothing(tmp_path, pki, nodes):
    """Results produced while the server is away (60 s, with the daemon
    killed -9 in the middle and started again while it is still away) all
    arrive afterwards, each once.  The filesystem logger beside the tls one
    is the record of what was produced."""
    with OsqueryServer(pki) as srv:
        srv.config = {"options": {"logger_tls_period": 1},
                      "schedule": {"tick": {"query": "SELECT unix_time FROM time", "interval": 1,
                                            "snapshot": True},
                                   "diff": {"query": "SELECT unix_time FROM time", "interval": 2}}}
        node = Node(tmp_path, srv, logger_plugin="tls,filesystem", config_tls_max_attempts=2,
                    logger_tls_backoff_max=2)
        nodes.append(node.start())
        wait_for(lambda: srv.results("tick"), what="first results")
        srv.down()
        down_at = time.time()
        time.sleep(30)
        killed_at = time.time()
        node.kill9()
        nodes.remove(node)
        node.start()          # the server is still away: the saved config and node key serve
        nodes.append(node)
        restarted_at = time.time()
        assert "using the last good config, saved in the state database" in node.stderr()
        time.sleep(max(0.0, 60 - (time.time() - down_at)))
        srv.up()
        up_at = time.time()
        print(f"outage {up_at - down_at:.1f} s")
        produced = {canon(json.loads(x)) for x in node.file_lines()}
        wait_for(lambda: produced <= {canon(x) for x in srv.results()}, timeout=90,
                 what="every produced line at the server")
        print(f"backlog in {time.time() - up_at:.1f} s")
        assert node.stop() == 0
        sent = [canon(x) for x in srv.results()]
        assert len(sent) == len(set(sent)), "a line arrived twice"
        # Lines made in both halves of the outage (before the kill, after the restart) arrived.
        stamps = [x["unixTime"] for x in srv.results("tick")]
        assert any(down_at < t < killed_at for t in stamps)
        assert any(restarted_at - 1 < t < up_at for t in stamps)
        # At most the lines of one run may be at the server and not in the file
        # (a kill between the two loggers' writes).
        everything = {canon(json.loads(x)) for x in node.file_lines()}
        assert len(set(sent) - everything) <= 2


# -- distributed and carving ---------------------------------------------------------------

def test_distributed_carve_reassembled_byte_exact(tmp_path, pki, nodes):
    evidence = tmp_path / "evidence.bin"
    data = os.urandom(20000) + b"tail"
    evidence.write_bytes(data)
    with OsqueryServer(pki) as srv:
        srv.config = {"options": {"logger_tls_period": 1, "distributed_interval": 1}}
        srv.reads = [{"queries": {"fleet_distributed_query_9":
                                  f"SELECT * FROM carves WHERE path = '{evidence}' AND carve = 1"}}]
        node = Node(tmp_path, srv, disable_distributed="false", disable_carver="false",
                    carver_block_size=4096)
        nodes.append(node.start())
        [archive] = wait_for(srv.carved, timeout=60, what="the carve", daemon=node)
        w = srv.writes[0]["queries"]["fleet_distributed_query_9"]
        assert len(w) == 1 and w[0]["carve"] == "1" and w[0]["status"] == "SCHEDULED"
        start = next(iter(srv.carves.values()))
        assert start["request_id"] == "fleet_distributed_query_9" and start["carve_id"] == w[0]["carve_guid"]
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            assert tar.extractfile(str(evidence).lstrip("/")).read() == data
        srv.reads = [{"queries": {"check": "SELECT status, size FROM carves"}}]
        done = wait_for(lambda: [x for x in srv.writes if "check" in x["queries"]], what="carves table")
        assert done[0]["queries"]["check"] == [{"status": "SUCCESS", "size": str(len(archive))}]


def test_distributed_sql_cannot_read_the_node_key(tmp_path, pki, nodes):
    """The event store is attached to every query connection and shares its
    file with the daemon's state: a server's SQL reads the event tables but
    never the node key, the tls buffer or the stored results, and cannot
    ATTACH another file."""
    with OsqueryServer(pki) as srv:
        srv.config = {"options": {"distributed_interval": 1}}
        srv.reads = [{"queries": {
            "key": "SELECT value FROM osqlite_events.kv",
            "buffer": "SELECT * FROM osqlite_events.tls_buffer",
            "results": "SELECT * FROM osqlite_events.results",
            "attach": f"ATTACH '{tmp_path}/osquery.db' AS again",
            "events": "SELECT count(*) AS n FROM osquery_events WHERE name = 'inotify'"}}]
        node = Node(tmp_path, srv, disable_distributed="false", disable_events="false")
        nodes.append(node.start())
        [w] = wait_for(lambda: srv.writes, timeout=60, what="the distributed write", daemon=node)[:1]
        assert w["statuses"] == {"key": 1, "buffer": 1, "results": 1, "attach": 1, "events": 0}
        assert "prohibited" in w["messages"]["key"] and "not authorized" in w["messages"]["attach"]
        assert w["queries"]["events"] == [{"n": "1"}]
        key = w["node_key"]
        assert key in srv.node_keys and key not in json.dumps(
            {k: v for k, v in w.items() if k != "node_key"})
        assert node.stop() == 0


# -- transport options, end to end -------------------------------------------------------------

def test_mutual_tls_and_gzip(tmp_path, pki, nodes):
    with OsqueryServer(pki, require_client_cert=True) as srv:
        srv.config = {"options": {"logger_tls_period": 1},
                      "schedule": {"u": {"query": "SELECT 'x' AS x", "interval": 1, "snapshot": True}}}
        node = Node(tmp_path, srv, tls_client_cert=pki.client[0], tls_client_key=pki.client[1],
                    tls_accept_gzip="true", logger_tls_compress="true")
        nodes.append(node.start())
        wait_for(lambda: srv.results("u"), what="results over mTLS")
        logs = srv.of("/log")
        assert all(r.gzipped for r in logs) and logs[0].peer_cert is not None
        assert all(r.headers.get("accept-encoding") == "gzip" for r in srv.requests)


def test_an_untrusted_server_is_refused(tmp_path, pki):
    with OsqueryServer(pki, cert=pki.rogue) as srv:
        node = Node(tmp_path, srv, tls_enroll_max_attempts=1)
        node.start(wait=False)
        assert node.proc.wait(120) == 78
        assert "certificate verify failed" in node.stderr()
        assert srv.requests == [] and srv.handshake_errors
