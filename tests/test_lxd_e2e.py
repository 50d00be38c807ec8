"""lxd_* tables against a real LXD daemon (Debian's lxd 5.0), started here.

The daemon runs with its own LXD_DIR in a private mount and network
namespace (unshare -m -n, /sys remounted so LXD sees its own network
devices): it has no network but loopback, so nothing leaves the machine,
and its mounts vanish with it.  It gets a dir storage pool, a bridge
without addresses, a trusted client certificate made with openssl, and a
container "hello" (osquery's example name) from a busybox image imported
offline; the container is started where the kernel lets LXD start it.
Oracle: LXD's own client, `lxc query`, on the same socket.  osquery's
lxd_* spec examples run against it too."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from conftest import rows

SPEC = Path(__file__).resolve().parent.parent / "specs" / "osquery-spec-examples.json"

PRESEED = """\
config:
  images.auto_update_interval: "0"
networks:
- name: osqbr0
  type: bridge
  config:
    ipv4.address: none
    ipv6.address: none
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root: {path: /, pool: default, type: disk}
    eth0: {name: eth0, network: osqbr0, type: nic}
"""


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "a real LXD daemon needs root"
    for tool, pkg in (("lxd", "lxd"), ("lxc", "lxd-client"), ("unshare", "util-linux"),
                      ("openssl", "openssl")):
        if shutil.which(tool) is None:
            return f"{tool} is absent (Debian package {pkg})"
    if not os.path.exists("/bin/busybox"):
        return "/bin/busybox is absent (Debian package busybox-static) for the test image"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


class Lxd:
    def __init__(self, d: Path) -> None:
        self.dir = d / "var"
        self.dir.mkdir()
        self.env = dict(os.environ, LXD_DIR=str(self.dir))
        self.log = d / "lxd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.dir / "unix.socket"

    def lxc(self, *args: str, check: bool = True, timeout: int = 120, **kw) -> str:
        r = subprocess.run(["lxc", *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, **kw)
        if check and r.returncode:
            raise RuntimeError(f"lxc {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def query(self, path: str):
        return json.loads(self.lxc("query", path))

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["unshare", "-m", "-n", "--propagation", "private", "sh", "-c",
             'ip link set lo up 2>/dev/null; mount -t sysfs sysfs /sys && '
             'exec lxd --group root --logfile "$0"', str(self.log)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        r = subprocess.run(["lxd", "waitready", "--timeout", "60"], env=self.env,
                           capture_output=True, text=True, timeout=90)
        if r.returncode or self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None \
                else r.stderr
            self.stop()
            pytest.skip(f"the LXD daemon does not start here: {err.strip()[-300:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # lxd shutdown stops the instances it runs, then the daemon.
            subprocess.run(["lxd", "shutdown", "--timeout", "60"], env=self.env,
                           capture_output=True, timeout=90)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None


def busybox_image(d: Path) -> tuple[Path, Path]:
    meta, rootfs = d / "meta.tar.xz", d / "rootfs.tar.xz"
    (d / "metadata.yaml").write_text(
        "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n"
        "  description: osqlite test busybox\n  os: busybox\n  release: \"1.35\"\n")
    with tarfile.open(meta, "w:xz") as t:
        t.add(d / "metadata.yaml", "metadata.yaml")
    root = d / "rootfs"
    for sub in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp"):
        (root / sub).mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin/busybox")
    for a in ("sh", "init", "sleep"):
        os.symlink("busybox", root / "bin" / a)
    os.symlink("../bin/busybox", root / "sbin/init")
    with tarfile.open(rootfs, "w:xz") as t:
        t.add(root, ".")
    return meta, rootfs


@pytest.fixture(scope="module")
def lxd():
    # Not under pytest's tmp dir: that is mode 0700, and the container's
    # (id-mapped) root must be able to reach its rootfs under LXD_DIR.
    d = Path(tempfile.mkdtemp(prefix="osqlite-lxd-"))
    d.chmod(0o755)
    daemon = Lxd(d)
    daemon.start()
    try:
        subprocess.run(["lxd", "init", "--preseed"], input=PRESEED, env=daemon.env,
                       check=True, capture_output=True, text=True, timeout=120)
        meta, rootfs = busybox_image(d)
        daemon.lxc("image", "import", str(meta), str(rootfs), "--alias", "osqbusy")
        daemon.lxc("init", "osqbusy", "hello", "-c", "limits.cpu=1", "-c", "user.note=osqlite")
        crt = d / "client.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(d / "client.key"), "-out", str(crt), "-days", "30",
                        "-subj", "/CN=osqlite lxd client"], check=True, capture_output=True)
        daemon.lxc("config", "trust", "add", str(crt), "--name", "osqlite-client")
        started = subprocess.run(["lxc", "start", "hello"], env=daemon.env, capture_output=True,
                                 text=True, timeout=120)
        daemon.started = started.returncode == 0
        daemon.start_error = started.stderr.strip()
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def conn_lxd(conn, lxd, monkeypatch):
    monkeypatch.setenv("OSQLITE_LXD_SOCKET", str(lxd.socket))
    return conn


def test_instances(conn_lxd, lxd):
    got = rows(conn_lxd, "SELECT * FROM lxd_instances")
    inst = lxd.query("/1.0/instances/hello")
    state = lxd.query("/1.0/instances/hello/state")
    meta = lxd.query("/1.0/instances/hello/metadata")
    assert len(got) == 1
    r = got[0]
    assert (r["name"], r["status"], r["created_at"]) == \
        ("hello", inst["status"], inst["created_at"])
    assert (r["stateful"], r["ephemeral"]) == (int(inst["stateful"]), int(inst["ephemeral"]))
    assert r["base_image"] == inst["config"]["volatile.base_image"]
    assert (r["os"], r["description"]) == \
        (meta["properties"]["os"], meta["properties"]["description"])
    assert r["pid"] == state["pid"] and r["processes"] == state["processes"]
    if lxd.started:
        assert r["status"] == "Running" and r["pid"] > 0
    else:
        print(f"the container did not start here ({lxd.start_error}): checked stopped")
    assert rows(conn_lxd, "SELECT name FROM lxd_instances WHERE name = 'hello'") == \
        [{"name": "hello"}]
    assert rows(conn_lxd, "SELECT name FROM lxd_instances WHERE name = 'nope'") == []


def test_instance_config_and_devices(conn_lxd, lxd):
    inst = lxd.query("/1.0/instances/hello")
    cfg = rows(conn_lxd, "SELECT key, value FROM lxd_instance_config WHERE name = 'hello'")
    assert {r["key"]: r["value"] for r in cfg} == inst["config"]
    assert {"limits.cpu": "1", "user.note": "osqlite"}.items() <= \
        {r["key"]: r["value"] for r in cfg}.items()
    dev = rows(conn_lxd, "SELECT device, device_type, key, value FROM lxd_instance_devices "
                         "WHERE name = 'hello'")
    want = {(n, d["type"], k, v) for n, d in inst["expanded_devices"].items()
            for k, v in d.items() if k != "type"}
    assert {(r["device"], r["device_type"], r["key"], r["value"]) for r in dev} == want
    assert {r["device"] for r in dev} == {"eth0", "root"}


def test_networks_pools_cluster(conn_lxd, lxd):
    nets = {r["name"]: r for r in rows(conn_lxd, "SELECT * FROM lxd_networks")}
    assert set(nets) == {u.rsplit("/", 1)[1] for u in lxd.query("/1.0/networks")}
    br = lxd.query("/1.0/networks/osqbr0")
    st = lxd.query("/1.0/networks/osqbr0/state")
    r = nets["osqbr0"]
    assert (r["type"], r["managed"], r["ipv4_address"], r["ipv6_address"]) == \
        (br["type"], int(br["managed"]), br["config"]["ipv4.address"], br["config"]["ipv6.address"])
    assert (r["hwaddr"], r["state"], r["mtu"]) == (st["hwaddr"], st["state"], st["mtu"])
    # osquery joins used_by with ',' and keeps an instance's name only.
    assert set(r["used_by"].split(",")) == {u.replace("/1.0/instances/", "")
                                            for u in br["used_by"]}
    assert r["packets_received"] >= 0 and r["bytes_sent"] >= 0
    pools = rows(conn_lxd, "SELECT * FROM lxd_storage_pools")
    pool = lxd.query("/1.0/storage-pools/default")
    res = lxd.query("/1.0/storage-pools/default/resources")
    assert [(p["name"], p["driver"], p["source"]) for p in pools] == \
        [("default", pool["driver"], pool["config"]["source"])]
    assert pools[0]["space_total"] == res["space"]["total"]
    assert pools[0]["inodes_total"] == res["inodes"]["total"]
    cl = lxd.query("/1.0/cluster")
    got = rows(conn_lxd, "SELECT * FROM lxd_cluster")
    assert [(g["server_name"], g["enabled"], g["member_config_key"]) for g in got] == \
        [(cl["server_name"], int(cl["enabled"]), m["key"]) for m in cl["member_config"]]
    # Not clustered: /1.0/cluster/members answers an error, so no members.
    assert rows(conn_lxd, "SELECT * FROM lxd_cluster_members") == []


def test_certificates_and_images(conn_lxd, lxd):
    certs = rows(conn_lxd, "SELECT * FROM lxd_certificates")
    want = [lxd.query(u) for u in lxd.query("/1.0/certificates")]
    assert [(c["name"], c["type"], c["fingerprint"]) for c in certs] == \
        [(w["name"], w["type"], w["fingerprint"]) for w in want]
    assert certs[0]["name"] == "osqlite-client"
    assert "BEGIN CERTIFICATE" in certs[0]["certificate"]
    # An image imported from files has no update_source: osquery's
    # get_child("update_source") throws and drops the row, and so does osqlite.
    fp = lxd.query("/1.0/images")[0].rsplit("/", 1)[1]
    assert "update_source" not in lxd.query(f"/1.0/images/{fp}")
    assert rows(conn_lxd, "SELECT * FROM lxd_images") == []
    assert rows(conn_lxd, "SELECT * FROM lxd_images WHERE id = ?", fp) == []


def test_osquery_spec_examples_on_real_lxd(conn_lxd, lxd):
    data = json.loads(SPEC.read_text())["tables"]
    ran = 0
    for table, v in data.items():
        if not table.startswith("lxd_"):
            continue
        for sql in v["examples"]:
            cur = conn_lxd.execute(sql)
            got = cur.fetchall()
            if "where name = 'hello'" in sql:
                assert got, sql
            ran += 1
    assert ran >= 10


def test_daemon_gone(conn, tmp_path, monkeypatch):
    # A socket path where no LXD listens: empty tables, no error.
    monkeypatch.setenv("OSQLITE_LXD_SOCKET", str(tmp_path / "nothing.sock"))
    assert rows(conn, "SELECT * FROM lxd_instances") == []
    assert rows(conn, "SELECT * FROM lxd_instance_config WHERE name = 'hello'") == []
