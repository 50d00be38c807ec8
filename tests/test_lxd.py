"""lxd_* tables against a server that speaks the LXD REST API on a UNIX
socket.  The responses are the shapes of LXD 5's documented REST API (the
"sync" envelope with "metadata"), as the LXD API reference shows them for
each endpoint.  Hostile servers too.  The same tables against a real LXD
daemon: test_lxd_e2e.py."""
from __future__ import annotations

import copy

import pytest
from conftest import rows
from http_fixture import HANG, ScriptedServer, http, json_body


def sync(metadata) -> dict:
    return {"type": "sync", "status": "Success", "status_code": 200, "operation": "",
            "error_code": 0, "error": "", "metadata": metadata}


API = {
    "/1.0/containers": ["/1.0/containers/web", "/1.0/containers/db"],
    "/1.0/containers/web": {
        "architecture": "x86_64", "name": "web", "status": "Running", "status_code": 103,
        "stateful": False, "ephemeral": False, "created_at": "2023-03-01T10:00:00.000000Z",
        "description": "", "profiles": ["default"],
        "config": {"image.os": "Ubuntu", "volatile.base_image": "a8402324842148ccfcba2d7a7a6d2b8a",
                   "limits.cpu": "2"},
        "expanded_devices": {"eth0": {"type": "nic", "nictype": "bridged", "parent": "lxdbr0"},
                             "root": {"type": "disk", "path": "/", "pool": "default"}}},
    "/1.0/containers/web/metadata": {"architecture": "x86_64", "creation_date": 1677664800,
                                     "properties": {"architecture": "amd64",
                                                    "description": "Ubuntu jammy amd64 (20230301_07:42)",
                                                    "os": "Ubuntu", "release": "jammy"}},
    "/1.0/containers/web/state": {"status": "Running", "pid": 4242, "processes": 17,
                                  "cpu": {"usage": 123}, "memory": {"usage": 1}},
    # db lacks "stateful": osquery's get<bool>("stateful") throws, the row is dropped
    "/1.0/containers/db": {"name": "db", "status": "Stopped", "ephemeral": True,
                           "created_at": "x", "config": {"volatile.base_image": "b"}},
    "/1.0/images": ["/1.0/images/a8402324842148ccfcba2d7a7a6d2b8a"],
    "/1.0/images/a8402324842148ccfcba2d7a7a6d2b8a": {
        "fingerprint": "a8402324842148ccfcba2d7a7a6d2b8a", "architecture": "x86_64",
        "filename": "ubuntu-22.04-server-cloudimg-amd64-lxd.tar.xz", "size": 443539392,
        "auto_update": True, "cached": True, "public": False,
        "created_at": "2023-03-01T00:00:00Z", "expires_at": "2027-04-21T00:00:00Z",
        "uploaded_at": "2023-03-02T09:00:00Z", "last_used_at": "2023-03-05T09:00:00Z",
        "properties": {"os": "ubuntu", "release": "jammy", "description": "ubuntu 22.04 LTS amd64"},
        "update_source": {"server": "https://cloud-images.ubuntu.com/releases", "protocol": "simplestreams",
                          "certificate": "", "alias": "22.04"},
        "aliases": [{"name": "jammy", "description": ""}, {"name": "lts", "description": ""}]},
    "/1.0/certificates": ["/1.0/certificates/abc123"],
    "/1.0/certificates/abc123": {"name": "admin", "type": "client", "fingerprint": "abc123",
                                 "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                                 "restricted": False, "projects": []},
    "/1.0/networks": ["/1.0/networks/lxdbr0", "/1.0/networks/eth0"],
    "/1.0/networks/lxdbr0": {"name": "lxdbr0", "type": "bridge", "managed": True,
                             "config": {"ipv4.address": "10.155.68.1/24", "ipv6.address": "none"},
                             "used_by": ["/1.0/instances/web", "/1.0/profiles/default"]},
    "/1.0/networks/lxdbr0/state": {"addresses": [], "counters": {
        "bytes_received": 1000, "bytes_sent": 2000, "packets_received": 10, "packets_sent": 20},
        "hwaddr": "00:16:3e:5a:e5:8d", "mtu": 1500, "state": "up", "type": "broadcast"},
    "/1.0/networks/eth0": {"name": "eth0", "type": "physical", "managed": False, "config": {},
                           "used_by": []},
    "/1.0/storage-pools": ["/1.0/storage-pools/default"],
    "/1.0/storage-pools/default": {"name": "default", "driver": "zfs",
                                   "config": {"size": "30GiB", "source": "/var/snap/lxd/disks/default.img"}},
    "/1.0/storage-pools/default/resources": {"space": {"used": 1234, "total": 5678},
                                             "inodes": {"used": 11, "total": 99}},
    "/1.0/cluster": {"server_name": "node1", "enabled": True, "member_config": [
        {"entity": "storage-pool", "name": "local", "key": "source", "value": "",
         "description": "\"source\" property for storage pool \"local\""},
        {"entity": "storage-pool", "name": "local", "key": "volatile.initial_source", "value": "/dev/sdb",
         "description": "\"volatile.initial_source\" property"}]},
    "/1.0/cluster/members": ["/1.0/cluster/members/node1"],
    "/1.0/cluster/members/node1": {"server_name": "node1", "url": "https://10.1.1.101:8443",
                                   "database": True, "status": "Online", "message": "Fully operational",
                                   "roles": ["database"]},
}


@pytest.fixture
def lxd(tmp_path, monkeypatch):
    sock = tmp_path / "unix.socket"
    srv = ScriptedServer(unix_path=sock)
    for path, doc in API.items():
        srv.route(path, json_body(sync(doc)))
    monkeypatch.setenv("OSQLITE_LXD_SOCKET", str(sock))
    monkeypatch.setenv("OSQLITE_LXD_TIMEOUT_MS", "1500")
    with srv:
        yield srv


def test_instances(conn, lxd):
    assert rows(conn, "SELECT * FROM lxd_instances") == [{
        "name": "web", "status": "Running", "stateful": 0, "ephemeral": 0,
        "created_at": "2023-03-01T10:00:00.000000Z", "base_image": "a8402324842148ccfcba2d7a7a6d2b8a",
        "architecture": "amd64", "os": "Ubuntu", "description": "Ubuntu jammy amd64 (20230301_07:42)",
        "pid": 4242, "processes": 17}]
    assert [r["name"] for r in rows(conn, "SELECT name FROM lxd_instances WHERE name = 'web'")] == ["web"]
    assert ("GET", "/1.0/containers/web") in [(m, t) for m, t, _, _ in lxd.requests]
    cfg = rows(conn, "SELECT * FROM lxd_instance_config WHERE name = 'web'")
    assert cfg == [{"name": "web", "key": k, "value": v} for k, v in API["/1.0/containers/web"]["config"].items()]
    devs = rows(conn, "SELECT * FROM lxd_instance_devices WHERE name = 'web'")
    assert devs == [{"name": "web", "device": d, "device_type": o["type"], "key": k, "value": v}
                    for d, o in API["/1.0/containers/web"]["expanded_devices"].items()
                    for k, v in o.items() if k != "type"]
    with pytest.raises(Exception, match="required"):
        conn.execute("SELECT * FROM lxd_instance_config").fetchall()


def test_images_certs(conn, lxd):
    img = API["/1.0/images/a8402324842148ccfcba2d7a7a6d2b8a"]
    (r,) = rows(conn, "SELECT * FROM lxd_images")
    assert r == {"id": img["fingerprint"], "architecture": "x86_64", "os": "ubuntu", "release": "jammy",
                 "description": "ubuntu 22.04 LTS amd64", "aliases": "jammy,lts",
                 "filename": img["filename"], "size": 443539392, "auto_update": 1, "cached": 1, "public": 0,
                 "created_at": img["created_at"], "expires_at": img["expires_at"],
                 "uploaded_at": img["uploaded_at"], "last_used_at": img["last_used_at"],
                 "update_source_server": "https://cloud-images.ubuntu.com/releases",
                 "update_source_protocol": "simplestreams", "update_source_certificate": "",
                 "update_source_alias": "22.04"}
    # an id constraint is fetched directly and echoed
    assert rows(conn, "SELECT id FROM lxd_images WHERE id = ?", img["fingerprint"]) == [{"id": img["fingerprint"]}]
    assert rows(conn, "SELECT * FROM lxd_certificates") == [
        {k: API["/1.0/certificates/abc123"][k] for k in ("name", "type", "fingerprint", "certificate")}]


def test_networks_pools_cluster(conn, lxd):
    nets = rows(conn, "SELECT * FROM lxd_networks")
    assert nets[0] == {"name": "lxdbr0", "type": "bridge", "managed": 1, "ipv4_address": "10.155.68.1/24",
                       "ipv6_address": "none", "used_by": "web,/1.0/profiles/default",
                       "bytes_received": 1000, "bytes_sent": 2000, "packets_received": 10,
                       "packets_sent": 20, "hwaddr": "00:16:3e:5a:e5:8d", "state": "up", "mtu": 1500}
    # eth0 has no /state: the row stays, without counters
    assert nets[1]["name"] == "eth0" and nets[1]["used_by"] == "" and nets[1]["mtu"] is None
    assert rows(conn, "SELECT * FROM lxd_storage_pools") == [{
        "name": "default", "driver": "zfs", "source": "/var/snap/lxd/disks/default.img", "size": "30GiB",
        "space_used": 1234, "space_total": 5678, "inodes_used": 11, "inodes_total": 99}]
    (c,) = rows(conn, "SELECT * FROM lxd_cluster")
    assert c["server_name"] == "node1" and c["enabled"] == 1
    assert c["member_config_key"] == "volatile.initial_source"  # osquery keeps the last member
    assert rows(conn, "SELECT * FROM lxd_cluster_members") == [{
        "server_name": "node1", "url": "https://10.1.1.101:8443", "database": 1, "status": "Online",
        "message": "Fully operational"}]


HOSTILE = {
    "truncated": http(200, b'{"metadata": ["/1.0/con'),
    "no-metadata": json_body({"type": "sync"}),
    "wrong-types": json_body(sync({"name": ["x"], "status": {"a": 1}, "stateful": "maybe"})),
    "evil-urls": json_body(sync(["/1.0/containers/web\r\nX: 1", "http://elsewhere/", "../../etc",
                                 "/1.0/a b", 5, None])),
    "error-status": json_body({"type": "error", "error": "not found"}, status=404),
    "non-utf8": http(200, b'{"metadata": {"name": "\xff\xfe", "type": "\x80"}}'),
    "hang": HANG,
}


@pytest.mark.parametrize("mode", list(HOSTILE))
def test_hostile(conn, tmp_path, monkeypatch, mode):
    sock = tmp_path / "unix.socket"
    srv = ScriptedServer(unix_path=sock, lifetime=30)
    for path in API:
        srv.route(path, HOSTILE[mode])
    monkeypatch.setenv("OSQLITE_LXD_SOCKET", str(sock))
    monkeypatch.setenv("OSQLITE_LXD_TIMEOUT_MS", "600")
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    with srv:
        got = {t: rows(conn, f"SELECT * FROM {t}") for t in (
            "lxd_instances", "lxd_images", "lxd_certificates", "lxd_networks", "lxd_storage_pools",
            "lxd_cluster", "lxd_cluster_members")}
        got["cfg"] = rows(conn, "SELECT * FROM lxd_instance_config WHERE name = 'web'")
    assert all(v == [] for v in got.values()), got
    # nothing but /1.0/ paths was ever requested
    assert all(t.startswith("/1.0/") and " " not in t for _, t, _, _ in srv.requests)


def test_asan(tmp_path, monkeypatch, asan_driver):
    from asan_helper import run_asan
    sock = tmp_path / "unix.socket"
    api = copy.deepcopy(API)
    api["/1.0/networks/eth0"] = {"name": 1, "config": [], "used_by": {"x": 1}}
    srv = ScriptedServer(unix_path=sock, lifetime=120)
    for path, doc in api.items():
        srv.route(path, json_body(sync(doc)))
    srv.route("/1.0/storage-pools", HOSTILE["truncated"])
    monkeypatch.setenv("OSQLITE_LXD_SOCKET", str(sock))
    with srv:
        out = run_asan(None, *[f"SELECT * FROM {t}" for t in (
            "lxd_instances", "lxd_images", "lxd_certificates", "lxd_networks", "lxd_storage_pools",
            "lxd_cluster", "lxd_cluster_members")],
            "SELECT * FROM lxd_instance_config WHERE name IN ('web', 'db', 'nope')",
            "SELECT * FROM lxd_instance_devices WHERE name = 'web'")
    assert "0 statement(s) failed" in out
