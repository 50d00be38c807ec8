"""osquery's TLS remote API, client side, against a real TLS server: the
transport (verification, CN-only certificates, mTLS, gzip, proxy,
redirects, statuses), enrollment, the tls logger's buffer and sender, the
tls config and distributed plugins, the distributed runner's rules.  The
daemon itself runs in tests/test_remote_e2e.py."""
from __future__ import annotations

import json
import logging
import select
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from remote_helpers import SECRET, daemon_for
from tls_server import OsqueryServer

from osqlite import registry, tlslog
from osqlite.distributed import DENYLISTED, RUNNING, DistributedRunner, WorkError
from osqlite.plugins import TLSConfig
from osqlite.remote import Remote, RemoteError, Transport, split_hostport, tls_context


@pytest.fixture
def server(pki):
    with OsqueryServer(pki) as srv:
        yield srv


def post(daemon, path="/config", body=b'{"node_key":""}', compress=False):
    t = Transport(daemon.flags)
    try:
        return t.post(t.url(path), body, "", compress)
    finally:
        t.close()


# -- transport ----------------------------------------------------------------------------

def test_hostport_forms():
    assert split_hostport("localhost:8080", 443) == ("localhost", 8080)
    assert split_hostport("fleet.example.com", 443) == ("fleet.example.com", 443)
    assert split_hostport("[::1]:9000", 443) == ("::1", 9000)
    for bad in ("localhost:x", ":80", "host:70000"):
        with pytest.raises(RemoteError):
            split_hostport(bad, 443)


def test_cn_only_certificate_verifies_and_headers_are_osquerys(tmp_path, server):
    """osquery's test certificates have a CN and no subjectAltName."""
    d = daemon_for(tmp_path, server)
    status, doc = post(d, "/enroll", json.dumps({"enroll_secret": SECRET}).encode())
    assert status == 200 and doc["node_key"] in server.node_keys
    req = server.of("/enroll")[0]
    assert req.headers["user-agent"] == "osquery/5.23.0"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["accept"] == "application/json"
    assert "authorization" not in req.headers
    assert req.headers["host"] == f"localhost:{server.port}"


def test_wrong_host_name_is_refused(tmp_path, pki):
    with OsqueryServer(pki, cert=pki.other_host) as srv:
        d = daemon_for(tmp_path, srv)
        with pytest.raises(RemoteError, match="certificate verify failed: Hostname mismatch"):
            post(d)
        assert srv.requests == []
        # The same server through the name its certificate has is fine
        # (resolved by hand: no /etc/hosts entry needed).
        ctx = tls_context(d.flags)
        with socket.create_connection(("127.0.0.1", srv.port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="otherhost.example") as s:
                assert s.version() in ("TLSv1.2", "TLSv1.3")


def test_untrusted_ca_is_refused(tmp_path, pki):
    with OsqueryServer(pki, cert=pki.rogue) as srv:
        d = daemon_for(tmp_path, srv)
        with pytest.raises(RemoteError, match="certificate verify failed"):
            post(d)
        assert srv.requests == []


def test_no_trust_store_given_uses_the_system_store(tmp_path, server):
    """osquery's default --tls_server_certs does not exist here: the system
    CAs are the store, so the test CA is not trusted."""
    d = daemon_for(tmp_path, server)
    d.flags.set("tls_server_certs", "/opt/osquery/share/osquery/certs/certs.pem")
    with pytest.raises(RemoteError, match="certificate verify failed"):
        post(d)
    d.flags.set("tls_server_certs", str(tmp_path / "missing.pem"))
    with pytest.raises(RemoteError, match="cannot read --tls_server_certs="):
        post(d)


def test_pinning_the_server_certificate_itself(tmp_path, pki, server):
    d = daemon_for(tmp_path, server, tls_server_certs=pki.server[0])
    assert post(d)[0] == 401       # reached the server: the unknown node key is its answer


def test_tls_below_1_2_is_not_offered(tmp_path, server):
    ctx = tls_context(daemon_for(tmp_path, server).flags)
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_mutual_tls(tmp_path, pki):
    with OsqueryServer(pki, require_client_cert=True) as srv:
        bare = daemon_for(tmp_path, srv)
        with pytest.raises(RemoteError):
            post(bare)
        d = daemon_for(tmp_path, srv, tls_client_cert=pki.client[0], tls_client_key=pki.client[1])
        assert post(d)[0] == 401
        subject = dict(x[0] for x in srv.requests[-1].peer_cert["subject"])
        assert subject["commonName"] == "node-1"


def test_gzip_both_ways(tmp_path, server):
    d = daemon_for(tmp_path, server, tls_accept_gzip="true")
    status, doc = post(d, "/enroll", json.dumps({"enroll_secret": SECRET}).encode(), compress=True)
    assert status == 200 and doc["node_key"]
    req = server.of("/enroll")[-1]
    assert req.gzipped and req.headers["content-encoding"] == "gzip"
    assert req.headers["accept-encoding"] == "gzip"
    assert req.body["enroll_secret"] == SECRET
    plain = daemon_for(tmp_path, server)
    post(plain, "/enroll", b"{}")
    assert "accept-encoding" not in server.of("/enroll")[-1].headers


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that records the tunnels it made."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.tunnels: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(4096)
            if not chunk:
                return
            head += chunk
        target = head.split(b" ")[1].decode()
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        up = socket.create_connection(("127.0.0.1" if host == "localhost" else host, int(port)))
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        socks = [c, up]
        while True:
            r, _, _ = select.select(socks, [], [], 10)
            if not r:
                break
            for s in r:
                data = s.recv(65536)
                if not data:
                    c.close()
                    up.close()
                    return
                (up if s is c else c).sendall(data)

    def close(self) -> None:
        self.sock.close()


def test_proxy_hostname_tunnels_with_connect(tmp_path, server):
    proxy = ConnectProxy()
    try:
        d = daemon_for(tmp_path, server, proxy_hostname=f"127.0.0.1:{proxy.port}")
        status, doc = post(d, "/enroll", json.dumps({"enroll_secret": SECRET}).encode())
        assert status == 200 and doc["node_key"]
        assert proxy.tunnels == [f"localhost:{server.port}"]
    finally:
        proxy.close()


def test_an_error_status_fails_whatever_the_body(tmp_path, server):
    d = daemon_for(tmp_path, server)
    remote = Remote(d)
    remote.node_key()
    real = server.handle
    server.handle = lambda req: real(req) if req.path == "/enroll" else (502, None)
    with pytest.raises(RemoteError, match="Request failed: HTTP status 502"):
        remote.call_once("/config")
    server.handle = real
    server.fail_with(503)
    with pytest.raises(RemoteError, match="Request failed: the test server answers 503"):
        remote.call_once("/config")


def test_redirects_are_followed_only_to_https(tmp_path, server):
    server.config = {"schedule": {}}
    d = daemon_for(tmp_path, server)
    remote = Remote(d)
    remote.node_key()
    real = server.handle
    where = {"/old": "/config", "/away": f"https://localhost:{server.port}/config",
             "/plain": f"http://localhost:{server.port}/config", "/loop": "/loop"}

    def moving(req):
        if req.path in where:
            server.requests.append(req)
            return 307, None, {"Location": where[req.path]}
        return real(req)
    server.handle = moving
    assert remote.call_once("/old") == {"schedule": {}}
    assert [r.path for r in server.requests[-2:]] == ["/old", "/config"]
    assert server.requests[-1].body == server.requests[-2].body      # the same POST again
    assert remote.call_once("/away") == {"schedule": {}}
    with pytest.raises(RemoteError, match="only https is used"):
        remote.call_once("/plain")
    with pytest.raises(RemoteError, match="exceeded max of 10 redirects"):
        remote.call_once("/loop")


def test_an_answer_that_is_not_json_fails(tmp_path, server):
    d = daemon_for(tmp_path, server)
    server.handle = lambda req: (200, None)      # empty body: {}
    assert post(d)[1] == {}
    with pytest.raises(RemoteError, match="not a JSON object"):
        server.handle = lambda req: (200, [1, 2])
        post(d)


# -- enrollment ---------------------------------------------------------------------------

def test_enroll_body_and_node_key_kept_in_the_state_database(tmp_path, server, caplog):
    caplog.set_level(logging.DEBUG, logger="osqlite")
    d = daemon_for(tmp_path, server)
    remote = Remote(d)
    key = remote.node_key()
    assert key in server.node_keys
    body = server.of("/enroll")[0].body
    assert body["enroll_secret"] == SECRET
    assert body["platform_type"] == "9"
    assert body["host_identifier"] == d.host_identifier()
    details = body["host_details"]
    assert details["osquery_info"]["version"] == "5.23.0"
    assert details["system_info"]["uuid"] and details["os_version"]["platform"]
    assert all(isinstance(v, str) for t in details.values() for v in t.values())
    assert d.state.get("nodeKey") == key and d.state.get("nodeKeyTime").isdigit()
    # Reused: no second enrollment, also from a new Remote (a restart).
    assert Remote(d).node_key() == key and len(server.of("/enroll")) == 1
    assert SECRET not in caplog.text


def test_wrong_secret_gives_no_node_key_and_says_why(tmp_path, server, caplog):
    d = daemon_for(tmp_path, server, tls_enroll_max_attempts=2, tls_enroll_max_interval=0)
    (tmp_path / "secret").write_text("wrong")
    assert Remote(d).node_key() == ""
    assert len(server.of("/enroll")) == 2
    assert "the server said: enroll failed: invalid secret" in caplog.text
    assert d.state.get("nodeKey") is None


def test_secret_from_the_environment(tmp_path, server, monkeypatch):
    monkeypatch.setenv("OSQ_SECRET", SECRET)
    d = daemon_for(tmp_path, server, enroll_secret_path="", enroll_secret_env="OSQ_SECRET")
    assert Remote(d).node_key()
    assert server.of("/enroll")[0].body["enroll_secret"] == SECRET


def test_node_invalid_forgets_the_key_and_the_next_call_enrolls_again(tmp_path, server):
    server.config = {"schedule": {"a": {"query": "SELECT 1", "interval": 60}}}
    d = daemon_for(tmp_path, server)
    remote = Remote(d)
    first = remote.node_key()
    assert remote.call("/config") == server.config
    server.invalidate()
    with pytest.raises(RemoteError, match="Invalid node key: invalid node key"):
        remote.call_once("/config")
    assert d.state.get("nodeKey") is None
    assert remote.call("/config") == server.config
    second = d.state.get("nodeKey")
    assert second and second != first
    assert server.of("/config")[-1].headers["authorization"] == f"NodeKey {second}"


def test_disable_reenrollment_keeps_the_key(tmp_path, server):
    d = daemon_for(tmp_path, server, disable_reenrollment="true")
    remote = Remote(d)
    key = remote.node_key()
    server.invalidate()
    with pytest.raises(RemoteError):
        remote.call_once("/config")
    assert d.state.get("nodeKey") == key


def test_retries_sleep_i_squared_and_stop_at_shutdown(tmp_path, server):
    d = daemon_for(tmp_path, server)
    remote = Remote(d)
    slept: list[float] = []
    remote.wait = lambda s: slept.append(s) or False
    server.fail_with(500)
    with pytest.raises(RemoteError):
        remote.call("/config", attempts=3)
    assert slept == [1, 4]
    assert len(server.of("/config")) == 3
    d.stop_event.set()
    remote = Remote(d)
    with pytest.raises(RemoteError):
        remote.call("/config", attempts=3)
    assert len(server.of("/config")) == 4      # one attempt, then the shutdown ends the wait


# -- the tls config plugin ----------------------------------------------------------------

def test_tls_config_is_the_whole_answer(tmp_path, server):
    server.config = {"schedule": {"up": {"query": "SELECT total_seconds FROM uptime", "interval": 10}},
                     "options": {"logger_tls_period": 3}, "node_invalid": False}
    d = daemon_for(tmp_path, server)
    registry.load_builtins()
    plugin = TLSConfig(d)
    d.config_plugin = plugin
    sources = plugin.gen_config()
    assert json.loads(sources["tls_plugin"]) == server.config
    cfg = d.read_config(fetched=sources)
    assert cfg.error is None
    assert [q.name for q in cfg.schedule] == ["up"] and cfg.options["logger_tls_period"] == 3


def test_tls_config_failure_names_the_url(tmp_path, server):
    d = daemon_for(tmp_path, server, config_tls_max_attempts=1)
    server.fail_with(500)
    plugin = TLSConfig(d)
    with pytest.raises(Exception, match=rf"https://localhost:{server.port}/config: Request failed"):
        plugin.gen_config()


def test_enroll_always_enrolls_again_once(tmp_path, server):
    d = daemon_for(tmp_path, server, enroll_always="true")
    d.open_state().put("nodeKey", "stale")
    plugin = TLSConfig(d)
    plugin.gen_config()
    plugin.gen_config()
    assert len(server.of("/enroll")) == 1
    assert d.state.get("nodeKey") in server.node_keys


# -- the tls logger's buffer and sender ---------------------------------------------------

def test_buffer_keeps_order_bytes_and_acknowledges_by_kind(tmp_path, server):
    d = daemon_for(tmp_path, server)
    buf = tlslog.Buffer(d)
    odd = "caf\udce9"          # a byte that is not UTF-8, kept as a surrogate
    buf.add(tlslog.RESULT, ['{"a":1}', '{"a":"' + odd + '"}'])
    buf.add(tlslog.STATUS, ['{"s":1}'])
    buf.add(tlslog.RESULT, ['{"a":3}'])
    rows = buf.batch(tlslog.RESULT, 10)
    assert [r[1] for r in rows] == [b'{"a":1}', b'{"a":"caf\xe9"}', b'{"a":3}']
    buf.ack(tlslog.RESULT, rows[1][0])
    assert [r[1] for r in buf.batch(tlslog.RESULT, 10)] == [b'{"a":3}']
    assert buf.count() == {"r": 1, "s": 1}
    assert buf.trim(1) == {"s": 1}       # the status line was older
    assert buf.count() == {"r": 1, "s": 0}


def sender_for(tmp_path, server, **flags):
    d = daemon_for(tmp_path, server, **flags)
    return d, tlslog.Sender(d, tlslog.Buffer(d))


def test_sender_posts_results_then_statuses_and_empties_the_buffer(tmp_path, server):
    d, s = sender_for(tmp_path, server, logger_tls_max_lines=3)
    s.buffer.add(tlslog.RESULT, [json.dumps({"name": "q", "n": i}) for i in range(5)])
    rec = logging.LogRecord("osqlite.x", logging.WARNING, "/x/daemon.py", 42, "hello %s", ("you",), None)
    s.queue_status(rec)
    s.flush_statuses()
    s.check(time.monotonic())
    assert [x["n"] for x in server.results()] == [0, 1, 2]     # max_lines per round
    assert server.statuses() == []                             # no room left this round
    s.check(time.monotonic())
    assert [x["n"] for x in server.results()] == [0, 1, 2, 3, 4]
    st = server.statuses()
    assert len(st) == 1 and st[0]["message"] == "hello you" and st[0]["severity"] == 1
    assert st[0]["filename"] == "daemon.py" and st[0]["line"] == 42
    assert st[0]["version"] == "5.23.0" and st[0]["calendarTime"].endswith(" UTC")
    assert st[0]["hostIdentifier"] == d.host_identifier() and isinstance(st[0]["unixTime"], int)
    body = server.of("/log")[0].body
    assert body["log_type"] == "result" and body["node_key"] in server.node_keys
    assert s.buffer.count() == {"r": 0, "s": 0}


def test_sender_keeps_lines_through_an_outage_and_backs_off(tmp_path, server):
    d, s = sender_for(tmp_path, server, logger_tls_period=2, logger_tls_backoff_max=30)
    s.remote.node_key()
    s.buffer.add(tlslog.RESULT, ['{"n":1}'])
    server.down()
    now = 1000.0
    for n, wait in ((1, 2), (2, 8), (3, 18), (3, 30)):
        s.next_try[tlslog.RESULT] = 0
        s.check(now)
        assert s.backoff[tlslog.RESULT] == n and s.next_try[tlslog.RESULT] == now + wait
    assert s.buffer.count()["r"] == 1
    server.up()
    s.check(now)                    # still backing off: nothing sent
    assert server.results() == []
    s.check(now + 30)
    assert server.results() == [{"n": 1}] and s.buffer.count()["r"] == 0
    assert s.backoff[tlslog.RESULT] == 0


def test_sender_drops_oldest_beyond_buffered_log_max_and_says_so(tmp_path, server, caplog):
    d, s = sender_for(tmp_path, server, buffered_log_max=3)
    server.fail_with(500)
    s.buffer.add(tlslog.RESULT, [json.dumps({"n": i}) for i in range(5)])
    s.check(time.monotonic())
    assert "Purging buffered logs limit (3) exceeded: dropped the 2 oldest lines (2 results, 0 status)" \
        in caplog.text
    server.fail_with(200)
    s.next_try[tlslog.RESULT] = 0
    s.check(time.monotonic())
    assert [x["n"] for x in server.results()] == [2, 3, 4]


def test_sender_drops_a_line_over_the_maximum_size(tmp_path, server, caplog):
    d, s = sender_for(tmp_path, server, logger_tls_max_linesize=20)
    s.buffer.add(tlslog.RESULT, ['{"n":"' + "x" * 40 + '"}', '{"n":2}'])
    s.check(time.monotonic())
    assert server.results() == [{"n": 2}]
    assert "Linesize exceeds TLS logger maximum: 48" in caplog.text
    assert s.buffer.count()["r"] == 0


def test_status_log_can_be_kept_local_and_bodies_gzipped(tmp_path, server):
    d, s = sender_for(tmp_path, server, tls_disable_status_log="true", logger_tls_compress="true")
    s.buffer.add(tlslog.STATUS, ['{"message":"x"}'])
    s.buffer.add(tlslog.RESULT, ['{"n":1}'])
    s.check(time.monotonic())
    assert server.statuses() == [] and s.buffer.count() == {"r": 0, "s": 0}
    req = server.of("/log")[0]
    assert req.gzipped and req.body["data"] == [{"n": 1}]


# -- distributed ----------------------------------------------------------------------------

def runner_for(tmp_path, server, **flags):
    d = daemon_for(tmp_path, server, disable_distributed="false", **flags)
    registry.load_builtins()
    d.open_state()
    d.distributed = registry.create("distributed", "tls", d)
    r = DistributedRunner()
    r.daemon = d
    return d, r


def test_distributed_read_run_write(tmp_path, server):
    d, r = runner_for(tmp_path, server)
    server.reads = [{"queries": {"info": "SELECT version, pid, 1.5 AS f, NULL AS n FROM osquery_info",
                                 "win": "SELECT 1", "bad": "SELECT * FROM no_such_table"},
                     "discovery": {"win": "SELECT 1 FROM os_version WHERE platform = 'windows'"}}]
    r.round()
    w = server.writes[0]
    assert set(w["queries"]) == {"info", "bad"}
    row = w["queries"]["info"][0]
    assert list(row) == ["version", "pid", "f", "n"]           # SELECT order
    assert row["version"] == "5.23.0" and row["f"] == "1.5" and row["n"] == ""
    assert all(isinstance(v, str) for v in row.values())
    assert w["statuses"] == {"info": 0, "bad": 1}
    assert w["messages"]["info"] == "" and "no such table" in w["messages"]["bad"]
    assert set(w["stats"]["info"]) == {"wall_time_ms", "user_time", "system_time", "memory"}
    assert w["node_key"] in server.node_keys
    assert d.state.prefixed(RUNNING) == {}


def test_discovery_error_or_non_string_rejects_the_whole_answer(tmp_path, server):
    d, r = runner_for(tmp_path, server)
    with pytest.raises(WorkError, match="discovery query has an SQL error"):
        r.accept(json.dumps({"queries": {"a": "SELECT 1"}, "discovery": {"b": "SELEC"}}))
    with pytest.raises(WorkError, match="query is not a string"):
        r.accept(json.dumps({"queries": {"a": "SELECT 1", "b": 5}}))
    assert r.accept(json.dumps({"queries": {"a": "SELECT 1"}, "accelerate": 60})) == {"a": "SELECT 1"}
    assert r.interval() == 5
    r.accept(json.dumps({"accelerate": "60"}))          # not an integer: ignored


def test_a_query_that_died_running_is_denylisted(tmp_path, server):
    d, r = runner_for(tmp_path, server, distributed_denylist_duration=3600)
    import hashlib
    sql = "SELECT 42"
    d.state.put(RUNNING + hashlib.sha256(sql.encode()).hexdigest(), str(int(time.time()) - 10))
    out = r.run_query("again", sql)
    assert out["status"] == 1 and out["message"] == DENYLISTED and out["rows"] == []
    d.flags.set("distributed_denylist_duration", 5)
    r.cleanup()
    assert d.state.prefixed(RUNNING) == {}
    assert r.run_query("again", sql)["rows"] == [{"42": "42"}]


def test_a_failed_write_is_sent_with_the_next_round(tmp_path, server):
    d, r = runner_for(tmp_path, server, distributed_tls_max_attempts=1)
    server.reads = [{"queries": {"a": "SELECT 1 AS x"}}, {"queries": {"b": "SELECT 2 AS x"}}]
    real = server.handle

    def no_writes(req):
        if req.path == "/distributed_write":
            return 500, {}
        return real(req)
    server.handle = no_writes
    r.round()
    assert server.writes == [] and set(r.pending) == {"a"}
    server.handle = real
    r.round()
    assert len(server.writes) == 1 and set(server.writes[0]["queries"]) == {"a", "b"}


def test_gzip_response_of_a_distributed_read(tmp_path, server):
    d, r = runner_for(tmp_path, server, tls_accept_gzip="true")
    server.reads = [{"queries": {"a": "SELECT 'z' AS x"}}]
    r.round()
    assert server.writes[0]["queries"] == {"a": [{"x": "z"}]}
    assert server.of("/distributed_read")[0].headers["accept-encoding"] == "gzip"


def test_pki_files_are_cn_only(pki):
    text = Path(pki.server[0]).read_bytes()
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    assert b"BEGIN CERTIFICATE" in text and ctx is not None
    import subprocess
    out = subprocess.run(["openssl", "x509", "-in", str(pki.server[0]), "-noout", "-text"],
                         capture_output=True, text=True).stdout
    assert "Subject Alternative Name" not in out and "CN = localhost" in out


def test_wrong_flags_are_not_retried(tmp_path, server, caplog):
    d = daemon_for(tmp_path, server, tls_enroll_max_attempts=12, tls_hostname="")
    remote = Remote(d)
    remote.wait = lambda s: pytest.fail("a flag problem must not be retried")
    assert remote.node_key() == ""
    assert "--tls_hostname is empty: pass --tls_hostname=" in caplog.text
    d.state.close()
    d = daemon_for(tmp_path, server, tls_enroll_max_attempts=12, tls_server_certs=tmp_path / "nope.pem")
    remote = Remote(d)
    remote.wait = lambda s: pytest.fail("a flag problem must not be retried")
    assert remote.node_key() == ""
    assert f"cannot read --tls_server_certs={tmp_path / 'nope.pem'}" in caplog.text


def test_outbox_hands_a_batch_to_the_tls_buffer_once_across_a_kill(tmp_path, server):
    """The outbox's mark and the buffer's record of the batch: a kill after
    the lines are in the buffer but before the outbox marked them delivered
    does not put them in twice."""
    from osqlite.outbox import Outbox
    d = daemon_for(tmp_path, server)
    state = d.open_state()
    buf = tlslog.Buffer(d)
    sink = tlslog.Sink(buf)
    real_take = buf.take

    def take_then_die(seq, payload):
        real_take(seq, payload)
        raise OSError("killed right after the copy")
    buf.take = take_then_die
    ob = Outbox(state, [sink], 1000)
    staged = ob.stage()
    staged.add("added", b'{"n":1}\n{"n":2}\n', 2)
    with state.transaction() as tx:
        ob.enqueue(tx, staged, "results", "q", ["added"])
    ob.committed(staged)
    ob.deliver()
    assert [r[1] for r in buf.batch(tlslog.RESULT, 10)] == [b'{"n":1}', b'{"n":2}']
    assert ob.backlog() == {"tls": 2}             # the outbox still thinks it is owed
    buf.take = real_take
    again = Outbox(state, [tlslog.Sink(buf)], 1000)   # the restart
    again.deliver()
    assert again.backlog() == {"tls": 0}
    assert [r[1] for r in buf.batch(tlslog.RESULT, 10)] == [b'{"n":1}', b'{"n":2}']


def test_a_running_distributed_query_does_not_hold_up_the_stop(tmp_path, server):
    d, r = runner_for(tmp_path, server)
    server.reads = [{"queries": {"slow": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                                         "FROM c) SELECT count(*) FROM c"}}]
    r.daemon.distributed.setup()
    r.start(d)
    wait = time.monotonic() + 20
    while not server.of("/distributed_read") and time.monotonic() < wait:
        time.sleep(0.05)
    time.sleep(0.5)
    thread = r._thread
    r.stop(d)
    assert not thread.is_alive()                # the endless query was interrupted
    assert d.state.prefixed(RUNNING) == {}      # a shutdown is not the query's fault
