"""docker_* tables against a real dockerd that this test starts (Debian's
docker.io), on a private socket, data root and exec root, without a bridge
or iptables rules so the host's network is left alone.  The image is made
offline: `docker import` of a one-binary busybox rootfs.  The docker CLI is
the oracle."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time

import pytest
from conftest import rows


def _busybox() -> str | None:
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(p):
            return p
    return None


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory):
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("dockerd is not installed (Debian package docker.io)")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    bb = _busybox()
    if bb is None:
        pytest.skip("no static busybox for the test image (Debian package busybox-static)")
    d = tmp_path_factory.mktemp("dockerd")
    sock = d / "docker.sock"
    log = open(d / "dockerd.log", "wb")
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(d / "data"), "--exec-root", str(d / "exec"),
         "--pidfile", str(d / "docker.pid"), "--host", f"unix://{sock}",
         "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
         "--ip-masq=false"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if sock.exists() and subprocess.run(["docker", "version"], env=env,
                                            capture_output=True).returncode == 0:
            break
        time.sleep(0.5)
    else:
        proc.kill()
    if proc.poll() is not None:
        pytest.skip("dockerd cannot run here: " + (d / "dockerd.log").read_text()[-500:])

    def docker(*args: str) -> str:
        return subprocess.run(["docker", *args], env=env, check=True, capture_output=True,
                              text=True, timeout=120).stdout.strip()

    root = d / "rootfs.tar"
    with tarfile.open(root, "w") as tar:
        tar.add(bb, arcname="bin/busybox")
        for app in ("sh", "sleep", "echo"):
            info = tarfile.TarInfo(f"bin/{app}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    docker("import", "-c", "LABEL org.osqlite.test=image", str(root), "osqlite-bb:1")
    docker("volume", "create", "--label", "vol=yes", "osqlite-vol")
    cid = docker("run", "-d", "--name", "osqlite-c1", "-l", "role=test", "-e", "GREETING=hi there",
                 "--network", "none", "-v", "osqlite-vol:/data", "--entrypoint", "/bin/sh",
                 "osqlite-bb:1", "-c", "echo x > /created; exec sleep 600")
    time.sleep(1)
    try:
        yield {"sock": sock, "docker": docker, "cid": cid}
    finally:
        subprocess.run(["docker", "rm", "-f", cid], env=env, capture_output=True, timeout=60)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["umount", "-R", str(d / "data")], capture_output=True)
        subprocess.run(["umount", "-R", str(d / "exec")], capture_output=True)


@pytest.fixture
def dconn(conn, dockerd, monkeypatch):
    monkeypatch.setenv("OSQLITE_DOCKER_SOCKET", str(dockerd["sock"]))
    return conn


def test_containers_against_cli(dconn, dockerd):
    cid, docker = dockerd["cid"], dockerd["docker"]
    ins = json.loads(docker("inspect", cid))[0]
    (r,) = rows(dconn, "SELECT * FROM docker_containers WHERE id = ?", cid)
    assert r["name"] == ins["Name"] and r["pid"] == ins["State"]["Pid"] and r["state"] == "running"
    assert r["image_id"] == ins["Image"][7:] and r["image"] == "osqlite-bb:1"
    assert r["env_variables"] == ", ".join(ins["Config"]["Env"])
    assert r["config_entrypoint"] == "/bin/sh" and r["path"] == ins["Path"]
    assert r["started_at"] == ins["State"]["StartedAt"] and r["finished_at"] == ""
    pid = ins["State"]["Pid"]
    assert r["pid_namespace"] == os.readlink(f"/proc/{pid}/ns/pid").split("[")[1].rstrip("]")
    short = cid[:12]
    assert [x["id"] for x in rows(dconn, "SELECT id FROM docker_containers WHERE id = ?", short)] == [short]
    envs = {x["key"]: x["value"] for x in rows(dconn, "SELECT * FROM docker_container_envs WHERE id = ?", cid)}
    assert envs["GREETING"] == "hi there"
    labels = rows(dconn, "SELECT key, value FROM docker_container_labels WHERE id = ?", cid)
    assert {"key": "role", "value": "test"} in labels
    (m,) = rows(dconn, "SELECT * FROM docker_container_mounts WHERE id = ?", cid)
    assert (m["type"], m["name"], m["destination"], m["rw"]) == ("volume", "osqlite-vol", "/data", 1)
    nets = rows(dconn, "SELECT name FROM docker_container_networks WHERE id = ?", cid)
    assert nets == [{"name": "none"}]


def test_processes_stats_changes(dconn, dockerd):
    cid = dockerd["cid"]
    procs = rows(dconn, "SELECT * FROM docker_container_processes WHERE id = ?", cid)
    top = json.loads(subprocess.run(
        ["curl", "-s", "--unix-socket", str(dockerd["sock"]),
         f"http://x/containers/{cid}/top"], capture_output=True, text=True).stdout
        or "{}") if shutil.which("curl") else None
    assert [p["name"] for p in procs] == ["sleep"]
    assert procs[0]["cmdline"] == "sleep 600" and procs[0]["user"] == "root"
    if top:
        assert int(top["Processes"][0][1]) == procs[0]["pid"]
    (s,) = rows(dconn, "SELECT * FROM docker_container_stats WHERE id = ?", cid)
    assert s["name"] == "/osqlite-c1" and s["pids"] == 1 and s["memory_usage"] > 0
    changes = rows(dconn, "SELECT path, change_type FROM docker_container_fs_changes WHERE id = ?", cid)
    assert {"path": "/created", "change_type": "A"} in changes


def test_images_volumes_networks_info(dconn, dockerd):
    docker = dockerd["docker"]
    img = json.loads(docker("image", "inspect", "osqlite-bb:1"))[0]
    iid = img["Id"][7:]
    (i,) = rows(dconn, "SELECT * FROM docker_images")
    assert i == {"id": iid, "created": i["created"], "size_bytes": img["Size"], "tags": "osqlite-bb:1"}
    assert rows(dconn, "SELECT layer_id FROM docker_image_layers WHERE id = ?", iid) == [
        {"layer_id": x[7:]} for x in img["RootFS"]["Layers"]]
    assert rows(dconn, "SELECT key, value FROM docker_image_labels") == [
        {"key": "org.osqlite.test", "value": "image"}]
    assert len(rows(dconn, "SELECT * FROM docker_image_history WHERE id = ?", iid)) == len(
        docker("history", "-q", "--no-trunc", iid).splitlines())
    (v,) = rows(dconn, "SELECT * FROM docker_volumes")
    vol = json.loads(docker("volume", "inspect", "osqlite-vol"))[0]
    assert (v["name"], v["driver"], v["mount_point"]) == ("osqlite-vol", "local", vol["Mountpoint"])
    assert rows(dconn, "SELECT key, value FROM docker_volume_labels") == [{"key": "vol", "value": "yes"}]
    names = {n["name"] for n in rows(dconn, "SELECT name FROM docker_networks")}
    assert names == set(docker("network", "ls", "--format", "{{.Name}}").split())
    (info,) = rows(dconn, "SELECT * FROM docker_info")
    assert info["containers_running"] == 1 and info["images"] == 1
    (ver,) = rows(dconn, "SELECT * FROM docker_version")
    assert ver["version"] == docker("version", "--format", "{{.Server.Version}}")
