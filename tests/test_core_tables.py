"""osquery_info, uptime, time, kernel_info, os_version, kernel_modules:
compared with Python's os/time/uuid modules and files parsed in Python,
and run against fixture trees built in tmp_path (csrc/tables/system_core.c).
"""
from __future__ import annotations

import calendar
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from conftest import rows

import osqlite

PLACEHOLDERS = {"00000000-0000-0000-0000-000000000000",
                "03000200-0400-0500-0006-000700080009",
                "03020100-0504-0706-0809-0a0b0c0d0e0f",
                "10000000-0000-8000-0040-000000000000"}


def write(root: Path, rel: str, data: str | bytes) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)


def one(conn, sql):
    r = rows(conn, sql)
    assert len(r) == 1, r
    return r[0]


# ---------------------------------------------------------------------------
# osquery_info


def host_uuid() -> str | None:
    try:
        u = Path("/sys/class/dmi/id/product_uuid").read_text().strip().lower()
        if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", u) \
                and u not in PLACEHOLDERS:
            return u
    except OSError:
        pass
    try:
        m = Path("/etc/machine-id").read_text().strip().lower()
    except OSError:
        return None
    return str(uuid.UUID(m)) if re.fullmatch(r"[0-9a-f]{32}", m) else None


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    out = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip('"')
    return out


def test_osquery_info_live(conn):
    r = one(conn, "SELECT * FROM osquery_info")
    assert r["pid"] == os.getpid()
    assert r["platform_mask"] == 9
    assert r["watcher"] == -1
    assert r["extensions"] == "inactive"
    assert r["config_hash"] == "" and r["config_valid"] == 0
    assert r["build_platform"] == "linux"
    # version: the osquery release osqlite follows (packs and Fleet read it);
    # osqlite's own version is the hidden osqlite_version column.
    assert r["version"] == osqlite.OSQUERY_VERSION == "5.23.0"
    assert "osqlite_version" not in r
    own = one(conn, "SELECT osqlite_version FROM osquery_info")["osqlite_version"]
    assert own == osqlite.__version__ == conn.execute("SELECT osqlite_version()").fetchone()[0]
    u = host_uuid()
    assert r["uuid"] == u
    if u:
        assert r["instance_id"] == str(uuid.uuid5(uuid.UUID(u), "osqlite-instance"))
    rel = os_release()
    assert r["build_distro"] == rel.get("ID", "unknown") + rel.get("VERSION_ID", "")
    assert abs(r["start_time"] - psutil.Process().create_time()) < 2


def test_osquery_info_fixture_uuid(tmp_path, root, conn):
    write(tmp_path, "sys/class/dmi/id/product_uuid", "4C4C4544-0042-3510-8052-B7C04F4E3132\n")
    write(tmp_path, "etc/os-release", 'ID="rocky"\nVERSION_ID="9.3"\n')
    root(tmp_path)
    r = one(conn, "SELECT uuid, instance_id, build_distro FROM osquery_info")
    assert r["uuid"] == "4c4c4544-0042-3510-8052-b7c04f4e3132"
    assert r["instance_id"] == str(uuid.uuid5(uuid.UUID(r["uuid"]), "osqlite-instance"))
    assert r["build_distro"] == "rocky9.3"
    root(tmp_path / "none")
    r = one(conn, "SELECT uuid, instance_id, build_distro FROM osquery_info")
    assert r == {"uuid": None, "instance_id": None, "build_distro": "unknown"}


def test_osquery_info_backing_overrides(conn):
    conn.execute("CREATE TEMP VIEW osqlite_data_osquery_info AS SELECT 'abc' AS config_hash, "
                 "1 AS config_valid, NULL AS version, 4242 AS watcher, 'active' AS extensions, "
                 "7 AS not_a_column")
    r = one(conn, "SELECT * FROM osquery_info")
    assert r["config_hash"] == "abc" and r["config_valid"] == 1
    assert r["watcher"] == 4242 and r["extensions"] == "active"
    assert r["version"] == osqlite.OSQUERY_VERSION      # NULL keeps ours
    assert r["pid"] == os.getpid()


# ---------------------------------------------------------------------------
# uptime and time


def test_uptime_live(conn):
    before = float(Path("/proc/uptime").read_text().split()[0])
    r = one(conn, "SELECT * FROM uptime")
    after = float(Path("/proc/uptime").read_text().split()[0])
    t = r["total_seconds"]
    assert int(before) <= t <= int(after) + 2
    assert (r["days"], r["hours"], r["minutes"], r["seconds"]) == \
        (t // 86400, t // 3600 % 24, t // 60 % 60, t % 60)


def test_uptime_fixture(tmp_path, root, conn):
    write(tmp_path, "a/proc/uptime", "100000.5 123.00\n")
    write(tmp_path, "b/proc/uptime", "garbage\n")
    write(tmp_path, "c/proc/uptime", b"\xff" * 5000)
    root(tmp_path / "a")
    assert one(conn, "SELECT * FROM uptime") == {
        "days": 1, "hours": 3, "minutes": 46, "seconds": 41, "total_seconds": 100001}
    for sub in ("b", "c", "missing"):
        root(tmp_path / sub)
        assert rows(conn, "SELECT * FROM uptime") == []


def test_time_live(conn):
    t0 = int(time.time())
    r = one(conn, "SELECT *, date_time FROM time")
    t1 = int(time.time())
    u = r["unix_time"]
    assert t0 <= u <= t1
    g = time.gmtime(u)
    assert (r["year"], r["month"], r["day"], r["hour"], r["minutes"], r["seconds"]) == \
        (g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec)
    assert r["weekday"] == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                            "Saturday", "Sunday"][g.tm_wday]
    assert r["timezone"] == "UTC"
    assert r["timestamp"] == time.asctime(g) + " UTC"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", g)
    assert r["datetime"] == iso and r["iso_8601"] == iso and r["date_time"] == iso
    assert calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")) == u
    tz = time.strftime("%Z", time.localtime(u))
    assert r["local_timezone"] == (tz if tz and len(tz) <= 7 else "UTC")


def test_time_local_timezone_follows_tz():
    code = ("import osqlite; c = osqlite.connect(); "
            "print(c.execute('SELECT local_timezone, timezone, hour FROM time').fetchone())")
    root = Path(__file__).resolve().parent.parent
    for tz, want in (("UTC", "UTC"), ("JST-9", "JST"), ("America/New_York", None)):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=root, env={**os.environ, "TZ": tz}, timeout=60)
        assert out.returncode == 0, out.stderr
        local, utc, hour = eval(out.stdout)
        assert utc == "UTC"
        assert hour in (time.gmtime().tm_hour, (time.gmtime().tm_hour + 23) % 24)
        if want:
            assert local == want
        else:
            assert local in ("EST", "EDT", "UTC")   # UTC when zoneinfo is absent


# ---------------------------------------------------------------------------
# kernel_info


def test_kernel_info_live(conn):
    r = one(conn, "SELECT * FROM kernel_info")
    assert r["version"] == os.uname().release
    args = Path("/proc/cmdline").read_text().split()
    path = [a[11:] for a in args if a.startswith("BOOT_IMAGE=")]
    dev = [a[5:] for a in args if a.startswith("root=")]
    rest = [a for a in args if not a.startswith(("BOOT_IMAGE=", "root="))]
    assert r["path"] == (path[-1] if path else None)
    assert r["device"] == (dev[-1] if dev else None)
    assert r["arguments"] == " ".join(rest)


def test_kernel_info_fixture(tmp_path, root, conn):
    write(tmp_path, "a/proc/cmdline",
          "BOOT_IMAGE=/boot/vmlinuz-6.1.0 root=UUID=abcd  ro\tquiet  splash\n")
    write(tmp_path, "a/proc/version", "Linux version 6.1.0-13-amd64 (debian-kernel@lists) #1 SMP\n")
    write(tmp_path, "b/proc/cmdline", "")
    write(tmp_path, "b/proc/version", "Linux garbage 1.2\n")
    write(tmp_path, "c/proc/cmdline", b"root=/dev/\xff " + b"x" * (2 << 20))
    root(tmp_path / "a")
    assert one(conn, "SELECT * FROM kernel_info") == {
        "version": "6.1.0-13-amd64", "path": "/boot/vmlinuz-6.1.0", "device": "UUID=abcd",
        # pieces are split on ' ' only and trimmed: "ro\tquiet" stays one piece
        "arguments": "ro\tquiet splash"}
    root(tmp_path / "b")
    assert one(conn, "SELECT * FROM kernel_info") == {
        "version": None, "path": None, "device": None, "arguments": ""}
    root(tmp_path / "missing")
    assert one(conn, "SELECT * FROM kernel_info") == {
        "version": None, "path": None, "device": None, "arguments": None}
    root(tmp_path / "c")
    conn.text_factory = bytes
    r = conn.execute("SELECT device, length(CAST(arguments AS BLOB)) FROM kernel_info").fetchone()
    assert r == (b"/dev/\xff", (1 << 20) - 12)     # read up to the 1 MiB bound


# ---------------------------------------------------------------------------
# os_version


def test_os_version_live(conn):
    r = one(conn, "SELECT * FROM os_version")
    rel = os_release()
    if Path("/etc/redhat-release").exists() or Path("/etc/gentoo-release").exists():
        pytest.skip("release-file override host")
    assert r["name"] == rel.get("NAME", "Unknown")
    assert r["version"] == rel.get("VERSION")
    assert r["platform"] == rel.get("ID", "posix")
    assert r["platform_like"] == rel.get("ID_LIKE")
    assert r["codename"] == rel.get("VERSION_CODENAME", rel.get("UBUNTU_CODENAME"))
    parts = rel.get("VERSION_ID", "0").split(".")
    assert r["major"] == int(parts[0].lstrip("0") or "0")
    assert r["arch"] == os.uname().machine
    assert one(conn, "SELECT pid_with_namespace FROM os_version")["pid_with_namespace"] == 0


def os_tree(tmp_path: Path, name: str, files: dict[str, str | bytes]) -> Path:
    d = tmp_path / name
    d.mkdir()
    for rel, data in files.items():
        write(d, rel, data)
    return d


def test_os_version_fixtures(tmp_path, root, conn):
    cases = {
        "ubuntu": ({"etc/os-release":
                    'NAME="Ubuntu"\nVERSION="20.04.6 LTS (Focal Fossa)"\nID=ubuntu\n'
                    'ID_LIKE=debian\nVERSION_ID="20.04"\nVERSION_CODENAME=focal\n'
                    'UBUNTU_CODENAME=focal2\nBUILD_ID = b1 \n# comment\n\n'},
                   dict(name="Ubuntu", version="20.04.6 LTS (Focal Fossa)", major=20, minor=4,
                        patch=0, build="b1", platform="ubuntu", platform_like="debian",
                        codename="focal2")),
        # VERSION_ID '04.2': base-0 integers; '08' is octal garbage -> 0
        "v042": ({"etc/os-release": 'VERSION_ID="04.2"\n'},
                 dict(name="Unknown", major=4, minor=2, patch=0, platform="posix")),
        # single quotes are not removed
        "single": ({"etc/os-release": "NAME='Single'\nVERSION_ID='04.2'\nID=x\n"},
                  dict(name="'Single'", version=None, major=None, minor=2, patch=0,
                       platform="x", platform_like=None, codename=None, build=None)),
        "octal2": ({"etc/os-release": 'VERSION_ID="04.08.1.7"\nVERSION="a=b"\n'},
                   dict(name="Unknown", version="a=b", major=4, minor=0, patch=1,
                        platform="posix")),
        "quote": ({"etc/os-release": 'NAME="\nVERSION="unterminated\nID="\n'},
                  dict(name="", version="unterminate", platform="")),
        "empty": ({"etc/os-release": ""},
                  dict(name="Unknown", version=None, major=0, minor=0, patch=0,
                       platform="posix", platform_like=None, codename=None, build=None)),
        "centos": ({"etc/os-release": 'NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\nBUILD_ID=x\n',
                    "etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n"},
                   dict(name="CentOS Linux", version="CentOS Linux release 7.9.2009 (Core)",
                        major=7, minor=9, patch=2009, build="", platform="rhel",
                        platform_like="rhel")),
        "rhel": ({"etc/redhat-release": "Red Hat Enterprise Linux release 8.10  (Ootpa)\n\n"},
                 dict(name="Red Hat Enterprise Linux", version="Red Hat Enterprise Linux release 8.10 (Ootpa)",
                      major=8, minor=10, patch=0, build="", platform="rhel")),
        "fedora": ({"etc/os-release": "NAME=Fedora\nVERSION_ID=39\n",
                    "etc/redhat-release": "Fedora release 39 (Thirty Nine)\n"},
                   dict(name="Fedora", version="Fedora release 39 (Thirty Nine)", major=39,
                        minor=0, patch=0, platform="rhel", platform_like="rhel")),
        "gentoo": ({"etc/gentoo-release": "Gentoo Base System release 2.14\n"},
                   dict(name="Gentoo Base System", version="Gentoo Base System release 2.14",
                        major=2, minor=14, patch=0, platform="gentoo", platform_like="gentoo")),
        "binary": ({"etc/os-release": b"\xff\xfe=\x00\nNAME=\xc3(\n" + b"A" * (2 << 20),
                    "etc/redhat-release": b"\x00\x01 " * 1000 + b"x" * 100000},
                   dict(platform="rhel", major=0)),
        "missing": ({}, dict(name="Unknown", major=0, minor=0, patch=0, platform="posix",
                             version=None)),
    }
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    for name, (files, want) in cases.items():
        root(os_tree(tmp_path, name, files))
        r = one(conn, "SELECT * FROM os_version")
        got = {k: r[k] for k in want}
        assert got == want, name
        assert r["arch"] == os.uname().machine


def test_os_version_pid_with_namespace(conn):
    me = os.getpid()
    r = rows(conn, f"SELECT name, pid_with_namespace, mount_namespace_id FROM os_version "
                   f"WHERE pid_with_namespace = {me}")
    assert len(r) == 1 and r[0]["pid_with_namespace"] == me
    assert r[0]["name"] == os_release().get("NAME", "Unknown")
    ino = os.stat(f"/proc/{me}/ns/mnt").st_ino
    assert r[0]["mount_namespace_id"] == str(ino)
    assert rows(conn, "SELECT * FROM os_version WHERE pid_with_namespace = 999999999") == []


# ---------------------------------------------------------------------------
# kernel_modules


def parse_modules(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6:
            continue
        f = [x[:-1] if x.endswith(",") else x for x in f]
        out.append({"name": f[0], "size": int(f[1], 0), "used_by": f[3],
                    "status": f[4], "address": f[5]})
    return out


def test_kernel_modules_live(conn):
    try:
        text = Path("/proc/modules").read_text()
    except OSError:
        text = ""
    assert rows(conn, "SELECT * FROM kernel_modules") == parse_modules(text)


def test_kernel_modules_fixture(tmp_path, root, conn):
    text = ("nf_tables 245760 0 - Live 0x0000000000000000\n"
            "xt_conntrack 16384 2 nf_nat,nf_tables, Live 0xffffffffc0a00000 (OE)\n"
            "short line here\n\n"
            "  spaced   100   1   a,   Loading   0x10  \n"
            "hexsize 0x20 0 - Live 0x0\n")
    write(tmp_path, "proc/modules", text)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM kernel_modules")
    assert got == parse_modules(text)
    assert [g["name"] for g in got] == ["nf_tables", "xt_conntrack", "spaced", "hexsize"]
    assert got[1]["used_by"] == "nf_nat,nf_tables" and got[3]["size"] == 32
    write(tmp_path, "proc/modules", b"\xff\x00 1 2 3 4 5\n" + b"z " * (1 << 20))
    conn.text_factory = bytes
    r = conn.execute("SELECT name, size FROM kernel_modules").fetchall()
    assert r == [(b"\xff\x00", 1), (b"z", None)]


# ---------------------------------------------------------------------------
# Sanitizers


def test_asan_driver_core_tables(tmp_path, asan_driver):
    exe = asan_driver
    write(tmp_path, "proc/modules", b"a 1 2 3 4 5,\n\xff\n" + b"q" * 100000)
    write(tmp_path, "proc/cmdline", b"BOOT_IMAGE= root= " * 1000)
    write(tmp_path, "proc/version", b"Linux version")
    write(tmp_path, "proc/uptime", b"1e300")
    write(tmp_path, "etc/os-release", b"VERSION_ID=...\n=\n==\nX_CODENAME\nNAME=\"")
    write(tmp_path, "etc/redhat-release", b" a 1.2" * 20000 + b"\r 3.4")
    sql = [f"SELECT * FROM {t}" for t in
           ("osquery_info", "uptime", "time", "kernel_info", "os_version", "kernel_modules")]
    sql.append(f"SELECT * FROM os_version WHERE pid_with_namespace = {os.getpid()}")
    for env in ({}, {"OSQLITE_ROOT": str(tmp_path)}):
        out = subprocess.run([str(exe), "-q", *sql], capture_output=True, text=True,
                             timeout=120, env={**os.environ, **env})
        assert out.returncode == 0, out.stderr[-3000:]
        assert "0 statement(s) failed" in out.stdout
