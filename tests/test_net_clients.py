"""curl, curl_certificate, prometheus_metrics, certificates and the cloud
metadata tables, against HTTP and HTTPS servers this test starts on
127.0.0.1 (certificates made with the openssl command, which is also the
oracle for the X.509 columns), plus hostile servers: hung, truncated,
huge, non-UTF-8, malformed chunking."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
from conftest import rows
from http_fixture import HANG, ScriptedServer, http, json_body, make_ca_and_cert

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="the openssl command is needed to make certificates")


@pytest.fixture
def pki(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make certificates")
    return make_ca_and_cert(tmp_path)


def openssl_x509(path, *args: str) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(path), "-noout", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


# ---- curl -------------------------------------------------------------------------

def test_curl_http(conn, monkeypatch):
    srv = ScriptedServer()
    srv.route("/plain", http(200, b"hello world"))
    srv.route("/chunked", http(201, b"a chunked body of some length", chunked=True, reason="Created"))
    srv.route("/missing", http(404, b"nope", reason="Not Found"))
    with srv:
        base = srv.base
        got = rows(conn, "SELECT * FROM curl WHERE url IN (?, ?, ?)",
                   base + "/plain", base + "/chunked", base + "/missing")
        ua = rows(conn, "SELECT user_agent FROM curl WHERE url = ? AND user_agent = ?",
                  base + "/plain", "tester\r\nX-Injected: 1")
    by = {r["url"].rsplit("/", 1)[1]: r for r in got}
    assert by["plain"]["response_code"] == 200 and by["plain"]["result"] == "hello world"
    assert by["plain"]["bytes"] == 11 and by["plain"]["method"] == "GET"
    assert by["plain"]["round_trip_time"] > 0 and by["plain"]["user_agent"] == "osquery"
    assert by["chunked"]["response_code"] == 201
    assert by["chunked"]["result"] == "a chunked body of some length"
    assert by["missing"]["response_code"] == 404
    # the user agent reaches the server without its CR/LF (no header injection)
    sent = [h for m, t, h, b in srv.requests if t == "/plain"]
    assert {"user-agent": "tester", "x-injected": "1"}.items() - sent[0].items()
    assert sent[-1]["user-agent"] == "testerX-Injected: 1"
    assert "x-injected" not in sent[-1]
    assert ua == []  # SQLite re-checks user_agent: the sanitized value differs


def test_curl_failures_keep_the_row(conn, monkeypatch):
    monkeypatch.setenv("OSQLITE_CURL_TIMEOUT_MS", "800")
    srv = ScriptedServer(lifetime=20)
    srv.route("/hang", HANG)
    srv.route("/huge", b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (65 << 20))
    srv.route("/trunc", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort")
    srv.route("/garbage", b"\x00\xff\xfe garbage")
    with srv:
        urls = [srv.base + p for p in ("/hang", "/huge", "/trunc", "/garbage")] + [
            "http://127.0.0.1:9/closed", "ftp://127.0.0.1/x", "not a url", "http://[::1"]
        t0 = time.monotonic()
        got = rows(conn, "SELECT url, response_code, result FROM curl WHERE url IN (%s)"
                   % ",".join("?" * len(urls)), *urls)
        elapsed = time.monotonic() - t0
    assert sorted(r["url"] for r in got) == sorted(urls)
    assert all(r["response_code"] is None and r["result"] is None for r in got), got
    assert elapsed < 60  # the hung server cost one timeout, not forever


def test_curl_https_verifies(conn, pki, monkeypatch):
    srv = ScriptedServer(tls=(pki["cert"], pki["key"]))
    srv.route("/", http(200, b"secure"))
    with srv:
        url = srv.base + "/"
        # Not trusted yet: the handshake fails and the row has no response.
        (r,) = rows(conn, "SELECT response_code FROM curl WHERE url = ?", url)
        assert r["response_code"] is None
        monkeypatch.setenv("OSQLITE_TLS_SERVER_CERTS", str(pki["ca"]))
        (r,) = rows(conn, "SELECT response_code, result FROM curl WHERE url = ?", url)
    assert r == {"response_code": 200, "result": "secure"}


# ---- curl_certificate ----------------------------------------------------------------

def test_curl_certificate(conn, pki):
    srv = ScriptedServer(tls=(pki["cert"], pki["key"]))
    with srv:
        host = f"127.0.0.1:{srv.port}"
        (r,) = rows(conn, "SELECT *, dump_certificate, timeout FROM curl_certificate "
                    "WHERE hostname = ? AND dump_certificate = 1",
                    host)
    crt = pki["cert"]
    assert r["hostname"] == host and r["common_name"] == "127.0.0.1"
    assert r["organization"] == "osqlite" and r["organization_unit"] == "tests"
    assert r["issuer_common_name"] == "osqlite test CA" and r["issuer_organization"] == "osqlite tests"
    assert r["serial_number"] == openssl_x509(crt, "-serial").split("=")[1]
    assert r["sha256_fingerprint"] == openssl_x509(crt, "-fingerprint", "-sha256").split("=")[1] \
        .replace(":", "").lower()
    assert r["sha1_fingerprint"] == openssl_x509(crt, "-fingerprint", "-sha1").split("=")[1] \
        .replace(":", "").lower()
    assert len(r["sha256_fingerprint"]) == 64
    assert r["valid_to"] == openssl_x509(crt, "-enddate").split("=")[1]
    assert r["valid_from"] == openssl_x509(crt, "-startdate").split("=")[1]
    assert r["version"] == 3 and r["signature_algorithm"] == "RSA-SHA256"
    assert r["subject_alternative_names"] == "IP Address:127.0.0.1, DNS:localhost"
    assert r["key_usage"] == "Digital Signature, Key Encipherment"
    assert r["extended_key_usage"] == "TLS Web Server Authentication"
    assert r["has_expired"] == 0 and r["dump_certificate"] == 1 and r["timeout"] == 4
    assert r["pem"].strip() == crt.read_text().strip()
    assert len(r["signature"].split(":")) == 256


def test_curl_certificate_unreachable(conn):
    srv = ScriptedServer(lifetime=20)
    srv.route("/", HANG)  # accepts, never speaks TLS
    with srv:
        got = rows(conn, "SELECT * FROM curl_certificate WHERE hostname IN (?, ?, ?) AND timeout = 1",
                   f"127.0.0.1:{srv.port}", "127.0.0.1:9", "no.such.host.invalid")
    assert got == []


# ---- prometheus_metrics ------------------------------------------------------------------

def _config(conn, key: str, value) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS osqlite_config(key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT OR REPLACE INTO osqlite_config VALUES (?, ?)", (key, json.dumps(value)))


def test_prometheus_metrics(conn):
    body = (b"# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\n"
            b"go_goroutines 42\nprocess_cpu_seconds_total   1.5e3\n\n"
            b'http_requests{code="200"} 7 1700000000000\nbad_value abc\nlonely\n')
    a, b = ScriptedServer(), ScriptedServer(lifetime=20)
    a.route("/metrics", http(200, body))
    b.route("/metrics", HANG)
    with a, b:
        _config(conn, "prometheus_targets", {"timeout": 1,
                                             "urls": [a.base + "/metrics", b.base + "/metrics"]})
        t0 = int(time.time() * 1000)
        got = rows(conn, "SELECT * FROM prometheus_metrics")
    assert [(r["target_name"], r["metric_name"], r["metric_value"]) for r in got] == [
        (a.base + "/metrics", "go_goroutines", 42.0),
        (a.base + "/metrics", "process_cpu_seconds_total", 1500.0),
        (a.base + "/metrics", 'http_requests{code="200"}', 7.0),
        (a.base + "/metrics", "bad_value", None)]
    assert all(abs(r["timestamp_ms"] - t0) < 60000 for r in got)


def test_prometheus_without_config(conn):
    assert rows(conn, "SELECT * FROM prometheus_metrics") == []
    _config(conn, "prometheus_targets", {"urls": "not a list"})
    assert rows(conn, "SELECT * FROM prometheus_metrics") == []
    conn.execute("UPDATE osqlite_config SET value = '{broken'")
    assert rows(conn, "SELECT * FROM prometheus_metrics") == []


# ---- certificates --------------------------------------------------------------------

def test_certificates_system_bundle(conn):
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    if not os.path.exists(bundle) or shutil.which("openssl") is None:
        pytest.skip("needs the ca-certificates bundle and the openssl command")
    got = rows(conn, "SELECT * FROM certificates WHERE path = ?", bundle)
    text = open(bundle).read()
    assert len(got) == text.count("-----BEGIN CERTIFICATE-----")
    first = text[:text.index("-----END CERTIFICATE-----") + 25]
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-fingerprint", "-sha1",
                          "-subject", "-nameopt", "oneline"], input=first,
                         capture_output=True, text=True, check=True).stdout
    fields = dict(line.split("=", 1) for line in out.splitlines())
    assert got[0]["serial"] == fields["serial"]
    fp = next(v for k, v in fields.items() if k.lower() == "sha1 fingerprint")
    assert got[0]["sha1"] == fp.replace(":", "").lower()
    assert got[0]["subject2"] == fields["subject"].strip()
    assert got[0]["path"] == bundle and got[0]["ca"] == 1


def test_certificates_fixture_and_hostile(conn, pki, root, tmp_path):
    tree = tmp_path / "tree"
    (tree / "etc/ssl/certs").mkdir(parents=True)
    bundle = tree / "etc/ssl/certs/ca-certificates.crt"
    bundle.write_text(pki["ca"].read_text() + "junk between\n" + pki["cert"].read_text())
    root(tree)
    got = rows(conn, "SELECT common_name, ca, self_signed, key_strength, key_usage, issuer, "
               "not_valid_after, path FROM certificates")
    end = openssl_x509(pki["cert"], "-enddate").split("=")[1]
    want_end = int(time.mktime(time.strptime(end, "%b %d %H:%M:%S %Y %Z")))
    assert [(r["common_name"], r["ca"], r["self_signed"]) for r in got] == [
        ("osqlite test CA", 1, 1), ("127.0.0.1", 0, 0)]
    assert got[1]["key_strength"] == "2048" and got[1]["not_valid_after"] == want_end
    assert got[1]["key_usage"] == "Key Encipherment, Digital Signature"
    assert got[1]["issuer"] == "/CN=osqlite test CA/O=osqlite tests"
    assert {r["path"] for r in got} == {"/etc/ssl/certs/ca-certificates.crt"}
    for name, data in (("garbage", os.urandom(5000)),
                       ("truncated", pki["ca"].read_bytes()[:300]),
                       ("badb64", b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")):
        (tree / name).write_bytes(data)
        assert rows(conn, "SELECT * FROM certificates WHERE path = ?", "/" + name) == []
    os.mkfifo(tree / "fifo")
    assert rows(conn, "SELECT * FROM certificates WHERE path = '/fifo'") == []


# ---- cloud metadata ------------------------------------------------------------------------

EC2_DOC = {"instanceId": "i-0123456789abcdef0", "instanceType": "t3.micro", "privateIp": "10.0.0.5",
           "availabilityZone": "eu-west-1a", "region": "eu-west-1", "accountId": "123456789012",
           "architecture": "x86_64", "imageId": "ami-0abc"}


def ec2_server(imdsv2: bool = True) -> ScriptedServer:
    srv = ScriptedServer()
    tok = b"AQAEAtoken=="

    def guarded(body: bytes):
        def h(method, target, headers, _b):
            if imdsv2 and headers.get("x-aws-ec2-metadata-token") != tok.decode():
                return http(401, b"", reason="Unauthorized")
            return http(200, body)
        return h

    srv.route("/latest/api/token", (lambda m, t, h, b: http(200, tok)
                                    if m == "PUT" and h.get("x-aws-ec2-metadata-token-ttl-seconds")
                                    else http(405, b"")) if imdsv2 else http(403, b""))
    srv.route("/latest/dynamic/instance-identity/document", guarded(json.dumps(EC2_DOC).encode()))
    srv.route("/latest/meta-data/iam/info",
              guarded(b'{"InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/web"}'))
    srv.route("/latest/meta-data/mac", guarded(b"0e:49:61:0f:c3:11"))
    srv.route("/latest/meta-data/local-hostname", guarded(b"ip-10-0-0-5.ec2.internal"))
    srv.route("/latest/meta-data/security-groups", guarded(b"web\nssh"))
    srv.route("/latest/meta-data/reservation-id", guarded(b"r-0123"))
    srv.route("/latest/meta-data/tags/instance", guarded(b"Name\nteam\nbad/key"))
    srv.route("/latest/meta-data/tags/instance/Name", guarded(b"web-1"))
    srv.route("/latest/meta-data/tags/instance/team", guarded(b"sec ops"))
    return srv


@pytest.mark.parametrize("imdsv2", [True, False])
def test_ec2(conn, monkeypatch, imdsv2):
    monkeypatch.setenv("OSQLITE_AWS_IMDSV2_REQUEST_ATTEMPTS", "1")
    monkeypatch.setenv("OSQLITE_AWS_IMDSV2_REQUEST_INTERVAL", "0")
    with ec2_server(imdsv2) as srv:
        monkeypatch.setenv("OSQLITE_METADATA_ENDPOINT", f"127.0.0.1:{srv.port}")
        (m,) = rows(conn, "SELECT * FROM ec2_instance_metadata")
        tags = rows(conn, "SELECT * FROM ec2_instance_tags")
    assert m["instance_id"] == "i-0123456789abcdef0" and m["region"] == "eu-west-1"
    assert m["local_ipv4"] == "10.0.0.5" and m["ami_id"] == "ami-0abc"
    assert m["iam_arn"].endswith("instance-profile/web") and m["mac"] == "0e:49:61:0f:c3:11"
    assert m["security_groups"] == "webssh"  # osquery erases the newlines
    assert m["ssh_public_key"] == ""         # 404: empty, as osquery
    assert tags == [{"instance_id": "i-0123456789abcdef0", "key": "Name", "value": "web-1"},
                    {"instance_id": "i-0123456789abcdef0", "key": "team", "value": "sec ops"}]


def test_ec2_not_in_a_cloud(conn, monkeypatch):
    # Nothing listens there: one row of NULLs (as osquery), quickly.
    t0 = time.monotonic()
    (m,) = rows(conn, "SELECT * FROM ec2_instance_metadata")
    assert set(m.values()) == {None}
    assert rows(conn, "SELECT * FROM ec2_instance_tags") == []
    assert time.monotonic() - t0 < 30
    srv = ScriptedServer(lifetime=30)
    srv.route("/latest/api/token", HANG)
    with srv:
        monkeypatch.setenv("OSQLITE_METADATA_ENDPOINT", f"127.0.0.1:{srv.port}")
        (m,) = rows(conn, "SELECT instance_id FROM ec2_instance_metadata")
    assert m == {"instance_id": None}


AZURE = {"location": "westeurope", "name": "vm1", "offer": "UbuntuServer", "osType": "Linux",
         "platformFaultDomain": "0", "platformUpdateDomain": "0", "publisher": "Canonical",
         "sku": "18.04-LTS", "version": "18.04.201806170", "vmId": "13f56399-bd52-4150-9748-7190aae1ff21",
         "vmSize": "Standard_D1", "subscriptionId": "sub", "resourceGroupName": "rg",
         "placementGroupId": "", "vmScaleSetName": "", "zone": "1",
         "tags": "env:prod;owner:a:b;novalue;"}


def test_azure(conn, monkeypatch, root, tmp_path):
    srv = ScriptedServer()
    srv.route("/metadata/instance/compute?api-version=2018-02-01",
              lambda m, t, h, b: json_body(AZURE) if h.get("metadata") == "true" else http(400, b""))
    with srv:
        monkeypatch.setenv("OSQLITE_METADATA_ENDPOINT", f"127.0.0.1:{srv.port}")
        root(tmp_path)
        assert rows(conn, "SELECT * FROM azure_instance_metadata") == []  # no waagent.log
        (tmp_path / "var/log").mkdir(parents=True)
        (tmp_path / "var/log/waagent.log").write_text("")
        (m,) = rows(conn, "SELECT * FROM azure_instance_metadata")
        tags = rows(conn, "SELECT key, value, vm_id FROM azure_instance_tags")
    assert m["vm_id"] == AZURE["vmId"] and m["os_type"] == "Linux" and m["zone"] == "1"
    assert m["platform_fault_domain"] == "0" and m["vm_scale_set_name"] == ""
    assert [(t["key"], t["value"]) for t in tags] == [("env", "prod"), ("owner", "a:b")]
    assert {t["vm_id"] for t in tags} == {AZURE["vmId"]}


def test_ycloud(conn):
    doc = {"id": "fhm1", "name": "vm", "description": "d", "hostname": "vm.ru-central1.internal",
           "zone": "projects/b1g/zones/ru-central1-a", "vendor": {"folderId": "b1f", "cloudId": "b1c"},
           "attributes": {"ssh-keys": "user:ssh-ed25519 AAAA", "serial-port-enable": "1"}}
    srv = ScriptedServer()
    srv.route("/computeMetadata/v1/instance/?alt=json&recursive=true",
              lambda m, t, h, b: json_body(doc) if h.get("metadata-flavor") == "Google" else http(403, b""))
    with srv:
        ep = f"http://127.0.0.1:{srv.port}"
        (m,) = rows(conn, "SELECT * FROM ycloud_instance_metadata WHERE metadata_endpoint = ?", ep)
    assert m == {"instance_id": "fhm1", "folder_id": "b1f", "cloud_id": "b1c", "name": "vm",
                 "description": "d", "hostname": "vm.ru-central1.internal", "zone": "ru-central1-a",
                 "ssh_public_key": "user:ssh-ed25519 AAAA", "serial_port_enabled": "1",
                 "metadata_endpoint": ep}


@pytest.mark.parametrize("body", [b"{trunc", b"[]", b'{"vmId": 5, "tags": ["x"]}', b"\xff\xfe" * 1000,
                                  b"[" * 50000])
def test_metadata_hostile(conn, monkeypatch, root, tmp_path, body):
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/waagent.log").write_text("")
    root(tmp_path)
    monkeypatch.setenv("OSQLITE_AWS_IMDSV2_REQUEST_ATTEMPTS", "1")
    monkeypatch.setenv("OSQLITE_AWS_IMDSV2_REQUEST_INTERVAL", "0")
    srv = ScriptedServer()
    for p in ("/metadata/instance/compute?api-version=2018-02-01", "/latest/api/token",
              "/latest/dynamic/instance-identity/document", "/latest/meta-data/tags/instance",
              "/computeMetadata/v1/instance/?alt=json&recursive=true"):
        srv.route(p, http(200, body))
    with srv:
        monkeypatch.setenv("OSQLITE_METADATA_ENDPOINT", f"127.0.0.1:{srv.port}")
        az = rows(conn, "SELECT vm_id FROM azure_instance_metadata")
        for t in ("azure_instance_tags", "ec2_instance_metadata", "ec2_instance_tags",
                  "ycloud_instance_metadata"):
            conn.execute(f"SELECT * FROM {t}").fetchall()
    assert az in ([], [{"vm_id": ""}])


@needs_openssl
def test_asan(tmp_path, monkeypatch, asan_driver):
    from asan_helper import run_asan
    pki = make_ca_and_cert(tmp_path)
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/waagent.log").write_text("")
    (tmp_path / "bad.pem").write_bytes(pki["ca"].read_bytes()[:500] + os.urandom(300))
    plain, tls = ScriptedServer(), ScriptedServer(tls=(pki["cert"], pki["key"]))
    plain.route("/metrics", http(200, b"a 1\n#x\nb\n c  2 \n" * 50, chunked=True))
    plain.route("/bad", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
    plain.route("/metadata/instance/compute?api-version=2018-02-01", json_body(AZURE))
    plain.route("/latest/dynamic/instance-identity/document", http(200, b'{"instanceId": "i-1"}'))
    plain.route("/latest/meta-data/tags/instance", http(200, b"a\n\n/b\nc"))
    plain.route("/latest/meta-data/tags/instance/a", http(200, b"1"))
    tls.route("/", http(200, b"ok"))
    monkeypatch.setenv("OSQLITE_AWS_IMDSV2_REQUEST_ATTEMPTS", "1")
    monkeypatch.setenv("OSQLITE_AWS_IMDSV2_REQUEST_INTERVAL", "0")
    monkeypatch.setenv("OSQLITE_CONFIG_PROMETHEUS_TARGETS",
                       json.dumps({"urls": ["PLAIN/metrics", "PLAIN/bad", "PLAIN/none"]}))
    with plain, tls:
        monkeypatch.setenv("OSQLITE_METADATA_ENDPOINT", f"127.0.0.1:{plain.port}")
        monkeypatch.setenv("OSQLITE_CONFIG_PROMETHEUS_TARGETS", json.dumps(
            {"urls": [plain.base + "/metrics", plain.base + "/bad", plain.base + "/none"]}))
        monkeypatch.setenv("OSQLITE_TLS_SERVER_CERTS", str(pki["ca"]))
        out = run_asan(tmp_path,
                       f"SELECT * FROM curl WHERE url IN ('{plain.base}/metrics', '{plain.base}/bad', "
                       f"'{tls.base}/', 'http://[::1')",
                       f"SELECT * FROM curl_certificate WHERE hostname = '127.0.0.1:{tls.port}' "
                       "AND dump_certificate = 1",
                       "SELECT * FROM prometheus_metrics",
                       "SELECT * FROM certificates",
                       "SELECT * FROM certificates WHERE path IN ('/bad.pem', '/nonexistent')",
                       "SELECT * FROM azure_instance_metadata", "SELECT * FROM azure_instance_tags",
                       "SELECT * FROM ec2_instance_metadata", "SELECT * FROM ec2_instance_tags",
                       "SELECT * FROM ycloud_instance_metadata")
    assert "0 statement(s) failed" in out
