"""Package tables: deb_packages, apt_sources, python_packages, rpm_packages,
portage_packages.  Oracles: dpkg-query, the machine's apt files parsed in
Python, importlib.metadata, rpmdb fixtures written here in RPM's header
format, and fixture trees.
"""
from __future__ import annotations

import glob
import importlib.metadata
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import rows

from osqlite._sqlite import sqlite3 as pysqlite


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


# ---------------------------------------------------------------- deb_packages

def test_deb_packages_vs_dpkg_query(conn):
    if not shutil.which("dpkg-query") or not os.path.exists("/var/lib/dpkg/status"):
        pytest.skip("no dpkg here")
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Version}\t${Architecture}\t${Status}\t"
         "${Installed-Size}\n"], capture_output=True, text=True, check=True).stdout
    expect = sorted(tuple(l.split("\t")) for l in out.splitlines())
    got = rows(conn, "SELECT name, version, arch, status, size, admindir FROM deb_packages")
    assert sorted((r["name"], r["version"], r["arch"], r["status"],
                   "" if r["size"] is None else str(r["size"])) for r in got) == expect
    # libdpkg's order: name, then arch.
    assert [(r["name"].encode(), r["arch"].encode()) for r in got] == \
        sorted((r["name"].encode(), r["arch"].encode()) for r in got)
    assert {r["admindir"] for r in got} == {"/var/lib/dpkg"}
    # source, maintainer and section as dpkg-query prints them ('' when absent).
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Architecture}\t${Source}\t${Maintainer}\t"
         "${Section}\n"], capture_output=True, text=True, check=True).stdout
    expect = sorted(tuple(line.split("\t")) for line in out.splitlines())
    got = rows(conn, "SELECT name, arch, source, maintainer, section FROM deb_packages")
    assert sorted((r["name"], r["arch"], r["source"], r["maintainer"], r["section"])
                  for r in got) == expect


DPKG_STATUS = """\
Package: zlib1g
Status: install ok installed
Priority: Optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.

Package: zlib1g
Status: install ok installed
Architecture: i386
Version: 1:1.2.13.dfsg-1
Installed-Size: 170

Package: apt
Status: deinstall ok config-files
Priority: important
Architecture: amd64
Version: 2.6.1
Maintainer: APT Development Team <deity@lists.debian.org>
 continued maintainer line

Package: gone
Status: purge ok not-installed
Architecture: all
Version: 1.0-1

 continuation without header
Package: base-files
Status: hold reinstreq half-configured
Architecture: amd64
Version: 12.4+deb12u5
Priority: weird-prio
X-Huge: {huge}

Package: broken-status
Status: install ok
Version: 1

Package: truncated
Status: install ok installed
Version: 2.0-3
Architec"""


def test_deb_packages_fixture(conn, root, tmp_path):
    text = DPKG_STATUS.replace("{huge}", "y" * (3 * 1024 * 1024))
    write(tmp_path / "var/lib/dpkg/status", text)
    root(tmp_path)
    got = rows(conn, "SELECT name, version, revision, arch, status, size, source, maintainer, "
                     "section, priority FROM deb_packages")
    assert [r["name"] for r in got] == ["apt", "base-files", "truncated", "zlib1g", "zlib1g"]
    apt, base, trunc, z64, z32 = got
    assert apt["status"] == "deinstall ok config-files"
    assert apt["maintainer"] == ("APT Development Team <deity@lists.debian.org>\n"
                                 "continued maintainer line")
    assert apt["revision"] == "" and apt["version"] == "2.6.1"
    assert base["status"] == "hold reinstreq half-configured"
    assert base["priority"] == "weird-prio" and base["revision"] == ""
    assert base["version"] == "12.4+deb12u5"
    assert trunc["arch"] == "<none>" and trunc["revision"] == "3" and trunc["priority"] == "unknown"
    assert z64 == {"name": "zlib1g", "version": "1:1.2.13.dfsg-1", "revision": "1",
                   "arch": "amd64", "status": "install ok installed", "size": 168,
                   "source": "zlib (1:1.2.13.dfsg-1)",
                   "maintainer": "Mark Brown <broonie@debian.org>", "section": "libs",
                   "priority": "optional"}
    # Missing Source/Maintainer/Section are '' (osquery's empty strings);
    # a missing Installed-Size is NULL (an empty BIGINT).
    assert z32["arch"] == "i386"
    assert (z32["section"], z32["source"], z32["maintainer"]) == ("", "", "")
    assert trunc["size"] is None


def test_deb_packages_admindir_and_garbage(conn, root, tmp_path):
    write(tmp_path / "a/status", "Package: one\nStatus: install ok installed\nVersion: 0:1\n")
    write(tmp_path / "b/status", bytes(range(256)) * 1000)
    write(tmp_path / "c/status", b"")
    root(tmp_path)
    got = rows(conn, "SELECT name, version, admindir FROM deb_packages "
                     "WHERE admindir IN ('/a', '/b', '/c', '/missing')")
    assert got == [{"name": "one", "version": "1", "admindir": "/a"}]
    assert rows(conn, "SELECT * FROM deb_packages") == []     # no /var/lib/dpkg


# ----------------------------------------------------------------- apt_sources

def py_release_fields(path: str) -> dict:
    out = {}
    for line in Path(path).read_text(errors="replace").split("\n"):
        line = line.strip()
        if not line:
            continue
        if line == "-----BEGIN PGP SIGNATURE-----":
            break
        parts = [p.strip() for p in line.split(":") if p != ""]
        if len(parts) != 2:
            continue
        key = {"Codename": "release", "Version": "version", "Origin": "maintainer",
               "Components": "components", "Architectures": "architectures"}.get(parts[0])
        if key:
            out[key] = parts[1]
    return out


def test_apt_sources_live(conn):
    if not os.path.isdir("/etc/apt"):
        pytest.skip("no apt")
    got = rows(conn, "SELECT * FROM apt_sources")
    for r in got:
        assert r["base_uri"].split("://", 1)[1] == r["name"].split(" ")[0]
        cache = r["name"].split(" ")[0].replace("/", "_")
        suite = r["name"].split(" ", 1)[1]
        cache += "_dists_" + suite if "/" not in suite.strip("/") else ""
        rel = sorted(glob.glob("/var/lib/apt/lists/" + glob.escape(cache) + "_*Release"))
        if rel:
            fields = py_release_fields(rel[0])
            for k, v in fields.items():
                assert r[k] == v
    # Every deb entry of the deb822 files that has a Release file shows up.
    for src in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for block in Path(src).read_text().split("\n\n"):
            kv = {}
            for line in block.split("\n"):
                line = line.split("#", 1)[0]
                if ":" in line:
                    k, v = line.split(":", 1)
                    kv[k.strip().lower()] = v.strip()
            if "deb" not in kv.get("types", "").split():
                continue
            for uri in kv.get("uris", "").split():
                for suite in kv.get("suites", "").split():
                    name = uri.rstrip("/").split("://", 1)[1]
                    rel = glob.glob("/var/lib/apt/lists/" + glob.escape(
                        (name + "_dists_" + suite).replace("/", "_")) + "_*Release")
                    if rel:
                        assert any(r["name"] == name + " " + suite and r["source"] == src
                                   for r in got)


RELEASE = """-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Example
Label: Example
Codename: stable-ish
Version: 3.1
Date: Sat, 11 Jul 2026 10:16:37 UTC
Architectures: amd64 arm64
Components: main extra
Description: the: colon line is ignored
-----BEGIN PGP SIGNATURE-----
Origin: After-Signature
"""


def test_apt_sources_fixture(conn, root, tmp_path):
    lists = tmp_path / "var/lib/apt/lists"
    write(lists / "repo.example.com_debian_dists_stable_InRelease", RELEASE)
    write(lists / "repo.example.com_debian_dists_stable_Release", "Origin: Other\n")
    write(lists / "flat.example.org_repo_sub_dir_Release", "Origin: Flat\nCodename: flat\n")
    # apt names a "./" flat repository's file like this, but osquery looks for
    # "..._dists_._*Release" (its split drops the empty part), so no row.
    write(lists / "flat.example.org_repo_._Release", "Origin: Dot\n")
    write(lists / "deb822.example.net_dists_bookworm_Release", "Origin: D822\n")
    write(lists / "deb822.example.net_dists_bookworm-updates_Release", "Origin: D822u\n")
    write(tmp_path / "etc/apt/sources.list",
          "# comment\n"
          "deb [arch=amd64 signed-by=/k.gpg] http://repo.example.com/debian/ stable main  # c\n"
          "deb-src http://repo.example.com/debian stable main\n"
          "deb http://no-release.example.com/x stable main\n"
          "deb\n"
          "deb [broken\n"
          "deb notauri stable\n"
          + "deb http://" + "h" * 100000 + " s\n")
    write(tmp_path / "etc/apt/sources.list.d/flat.list", "deb https://flat.example.org/repo ./\ndeb https://flat.example.org/repo sub/dir/\n")
    write(tmp_path / "etc/apt/sources.list.d/garbage.list", bytes(range(256)) * 100)
    write(tmp_path / "etc/apt/sources.list.d/skip.list.disabled", "deb http://repo.example.com/debian stable\n")
    write(tmp_path / "etc/apt/sources.list.d/a.sources",
          "Types: deb deb-src\nURIs: http://deb822.example.net/ ftp://other.example.net\n"
          "Suites: bookworm bookworm-updates\nComponents: main\n\n"
          "Types: deb-src\nURIs: http://deb822.example.net\nSuites: bookworm\n\n"
          "Types: deb\nEnabled: no\nURIs: http://deb822.example.net\nSuites: bookworm\n\n"
          "Types: deb\nEnabled: yes\nURIs: http://deb822.example.net\nSuites: bookworm\n\n"
          "Types: deb\nURIs: http://deb822.example.net\n\n")
    root(tmp_path)
    got = rows(conn, "SELECT * FROM apt_sources")
    assert got == [
        {"name": "repo.example.com/debian stable", "source": "/etc/apt/sources.list",
         "base_uri": "http://repo.example.com/debian", "release": "stable-ish",
         "version": "3.1", "maintainer": "Example", "components": "main extra",
         "architectures": "amd64 arm64"},
        {"name": "flat.example.org/repo sub/dir/", "source": "/etc/apt/sources.list.d/flat.list",
         "base_uri": "https://flat.example.org/repo", "release": "flat", "version": None,
         "maintainer": "Flat", "components": None, "architectures": None},
        {"name": "deb822.example.net bookworm", "source": "/etc/apt/sources.list.d/a.sources",
         "base_uri": "http://deb822.example.net", "release": None, "version": None,
         "maintainer": "D822", "components": None, "architectures": None},
        {"name": "deb822.example.net bookworm-updates",
         "source": "/etc/apt/sources.list.d/a.sources",
         "base_uri": "http://deb822.example.net", "release": None, "version": None,
         "maintainer": "D822u", "components": None, "architectures": None},
    ]


# ------------------------------------------------------------- python_packages

def osquery_metadata(path: Path) -> dict:
    """osquery's METADATA reading: trimmed lines with exactly two ':' parts."""
    out = {}
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").split("\n"):
        line = line.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(":") if p != ""]
        if len(parts) != 2:
            continue
        col = {"Name": "name", "Version": "version", "Summary": "summary",
               "Author": "author", "License": "license"}.get(parts[0])
        if col:
            out[col] = parts[1]
        if col == "license":
            break
    return out


def test_python_packages_vs_importlib(conn, root, tmp_path):
    site = tmp_path / "usr/lib/python3/dist-packages"
    site.mkdir(parents=True)
    copied = []
    for dist in importlib.metadata.distributions():
        p = Path(str(dist._path)) if hasattr(dist, "_path") else None
        if p and p.is_dir() and p.name.endswith(".dist-info") and len(copied) < 5:
            shutil.copytree(p, site / p.name)
            copied.append(p.name)
    assert copied
    write(site / "weird-1.0.dist-info/METADATA",
          "Metadata-Version: 2.1\nName: weird\nVersion: 1.0\n"
          "Summary: has: a colon\nAuthor: A. Person\nLicense: MIT\nName: after-license\n")
    (site / "nometa-2.0.dist-info").mkdir()
    write(site / "old.egg-info/PKG-INFO", "Name: old\nVersion: 0.1\n")
    write(site / "vendored/deep/inner-3.0.dist-info/METADATA", "Name: inner\nVersion: 3.0\n")
    write(site / ".hidden-1.0.dist-info/METADATA", "Name: hidden\n")
    root(tmp_path)
    got = rows(conn, "SELECT * FROM python_packages")
    by_path = {r["path"]: r for r in got}
    base = "/usr/lib/python3/dist-packages/"
    assert {r["directory"] for r in got} == {base}
    assert {r["uid"] for r in got} == {0}
    for name in copied:
        r = by_path[base + name]
        md = importlib.metadata.Distribution.at(site / name).metadata
        assert r["name"] == md["Name"] and r["version"] == md["Version"]
        exp = osquery_metadata(site / name / "METADATA")
        assert {k: r[k] for k in exp} == exp
    w = by_path[base + "weird-1.0.dist-info"]
    assert (w["name"], w["version"], w["summary"], w["author"], w["license"]) == \
        ("weird", "1.0", None, "A. Person", "MIT")
    assert by_path[base + "nometa-2.0.dist-info"]["name"] is None
    assert by_path[base + "old.egg-info"]["version"] == "0.1"
    assert by_path[base + "vendored/deep/inner-3.0.dist-info"]["name"] == "inner"
    assert base + ".hidden-1.0.dist-info" not in by_path
    # directory constraint: exactly that site, as given.
    got = rows(conn, "SELECT path, directory FROM python_packages WHERE directory = ?",
               "/usr/lib/python3/dist-packages")
    assert len(got) == len(by_path) and {r["directory"] for r in got} == {base[:-1]}


def test_python_packages_user_dirs(conn, root, tmp_path):
    uid = os.getuid()
    write(tmp_path / "etc/passwd", f"me:x:{uid}:{uid}::/home/me:/bin/sh\n"
                                   "other:x:1000:1000::/home/other:/bin/sh\n")
    write(tmp_path / "home/me/.local/lib/python3.11/site-packages/a-1.dist-info/METADATA",
          "Name: a\nVersion: 1\n")
    write(tmp_path / "home/me/.virtualenvs/env1/lib/python3.12/site-packages/b-2.dist-info/METADATA",
          "Name: b\nVersion: 2\n")
    write(tmp_path / "home/other/.pyenv/versions/3.9.1/lib/python3.9/site-packages/c-3.dist-info/METADATA",
          "Name: c\nVersion: 3\n")
    root(tmp_path)
    got = rows(conn, "SELECT name, uid, directory FROM python_packages ORDER BY name")
    assert got == [
        {"name": "a", "uid": uid, "directory": "/home/me/.local/lib/python3.11/"},
        {"name": "b", "uid": uid,
         "directory": "/home/me/.virtualenvs/env1/lib/python3.12/site-packages/"},
    ]
    got = rows(conn, "SELECT name, uid, directory FROM python_packages WHERE uid = 1000")
    assert got == [{"name": "c", "uid": 1000,
                    "directory": "/home/other/.pyenv/versions/3.9.1/lib/python3.9/site-packages/"}]


def test_python_packages_symlink_loop(conn, root, tmp_path):
    site = tmp_path / "usr/local/lib/python3.11/site-packages"
    write(site / "p-1.dist-info/METADATA", "Name: p\n")
    os.symlink("..", site / "p-1.dist-info/loop")
    root(tmp_path)
    got = rows(conn, "SELECT name, path FROM python_packages")
    # The loop is walked until a directory repeats: p is found again once
    # through the link (site-packages itself is not marked as visited).
    assert got[0] == {"name": "p", "path": "/usr/local/lib/python3.11/site-packages/p-1.dist-info"}
    assert len(got) <= 3


# ---------------------------------------------------------------- rpm_packages

RPM_STRING, RPM_INT32, RPM_BIN, RPM_I18N, RPM_STRING_ARRAY = 6, 4, 7, 9, 8


def rpm_header(tags: list[tuple[int, int, object]]) -> bytes:
    """Serialise a header blob as rpm stores it in rpmdb.sqlite."""
    data = bytearray()
    entries = []
    for tag, typ, value in tags:
        if typ == RPM_INT32:
            while len(data) % 4:
                data.append(0)
            off, count = len(data), len(value)
            for v in value:
                data += struct.pack(">I", v)
        elif typ in (RPM_STRING,):
            off, count = len(data), 1
            data += value.encode() + b"\0"
        elif typ in (RPM_I18N, RPM_STRING_ARRAY):
            off, count = len(data), len(value)
            for v in value:
                data += v.encode() + b"\0"
        else:
            off, count = len(data), len(value)
            data += value
        entries.append((tag, typ, off, count))
    # The immutable region tag and its trailer, like real headers.
    il = len(entries) + 1
    trailer_off = len(data)
    data += struct.pack(">iiii", 63, RPM_BIN, -(il * 16), 16)
    entries.insert(0, (63, RPM_BIN, trailer_off, 16))
    blob = struct.pack(">II", il, len(data))
    for e in entries:
        blob += struct.pack(">IIII", *e)
    return blob + bytes(data)


def make_rpmdb(path: Path, headers: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = pysqlite.connect(path)
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    db.execute("CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL)")
    for h in headers:
        db.execute("INSERT INTO Packages (blob) VALUES (?)", (h,))
    db.commit()
    db.close()


def test_rpm_packages_fixture(conn, root, tmp_path):
    bash = rpm_header([
        (269, RPM_STRING, "0123456789abcdef0123456789abcdef01234567"),
        (1000, RPM_STRING, "bash"), (1001, RPM_STRING, "5.2.26"),
        (1002, RPM_STRING, "3.fc40"), (1003, RPM_INT32, [2]),
        (1008, RPM_INT32, [1700000000]), (1009, RPM_INT32, [8202834]),
        (1011, RPM_STRING, "Fedora Project"), (1016, RPM_I18N, ["System/Shells", "Sistema"]),
        (1022, RPM_STRING, "x86_64"), (1044, RPM_STRING, "bash-5.2.26-3.fc40.src.rpm"),
    ])
    gpg = rpm_header([(1000, RPM_STRING, "gpg-pubkey"), (1001, RPM_STRING, "abcd"),
                      (1002, RPM_STRING, "1234"), (1009, RPM_INT32, [0])])
    truncated = bash[:40]
    garbage = bytes(range(256)) * 4
    lying = struct.pack(">II", 1, 5) + struct.pack(">IIII", 1000, RPM_STRING, 0, 1) + b"abcde"
    make_rpmdb(tmp_path / "var/lib/rpm/rpmdb.sqlite", [bash, truncated, garbage, lying, gpg])
    root(tmp_path)
    got = rows(conn, "SELECT * FROM rpm_packages")
    assert got == [
        {"name": "bash", "version": "5.2.26", "release": "3.fc40",
         "source": "bash-5.2.26-3.fc40.src.rpm", "size": 8202834,
         "sha1": "0123456789abcdef0123456789abcdef01234567", "arch": "x86_64", "epoch": 2,
         "install_time": 1700000000, "vendor": "Fedora Project", "package_group": "System/Shells"},
        # 'lying': NAME is not NUL-terminated inside the data: '' like a missing tag
        {"name": "", "version": "", "release": "", "source": "", "size": None, "sha1": "",
         "arch": "", "epoch": None, "install_time": None, "vendor": "", "package_group": ""},
        {"name": "gpg-pubkey", "version": "abcd", "release": "1234", "source": "", "size": 0,
         "sha1": "", "arch": "", "epoch": None, "install_time": None, "vendor": "",
         "package_group": ""},
    ]
    assert rows(conn, "SELECT name FROM rpm_packages WHERE name = 'bash'") == [{"name": "bash"}]


def test_rpm_packages_absent_or_broken(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM rpm_packages") == []
    write(tmp_path / "var/lib/rpm/Packages", b"\0" * 4096)     # BerkeleyDB: not read
    assert rows(conn, "SELECT * FROM rpm_packages") == []
    write(tmp_path / "var/lib/rpm/rpmdb.sqlite", b"not a database" * 100)
    with pytest.raises(Exception, match="rpm_packages"):
        rows(conn, "SELECT * FROM rpm_packages")


# ------------------------------------------------------------ portage_packages

def test_portage_packages(conn, root, tmp_path):
    pkg = tmp_path / "var/db/pkg"
    for cat, name, files in [
        ("app-shells", "bash-5.1_p16-r2", {"SLOT": "0\n", "SIZE": "7000000\n", "EAPI": "8\n",
                                           "BUILD_TIME": "1650000000\n", "repository": "gentoo\n"}),
        ("dev-lang", "python-3.11.4", {"SLOT": "3.11\n"}),
        ("dev-lang-x", "foo-1.0-r1", {}),
        ("sys-libs", "glibc-2.37-r3", {"SIZE": "garbage\n"}),
    ]:
        (pkg / cat / name).mkdir(parents=True)
        for f, text in files.items():
            write(pkg / cat / name / f, text)
    write(pkg / "not-a-category", "x")
    write(tmp_path / "var/lib/portage/world", "app-shells/bash\n# dev-lang/python\n>=sys-libs/glibc-2.0\n")
    root(tmp_path)
    got = rows(conn, "SELECT * FROM portage_packages")
    assert got == [
        {"package": "app-shells/bash", "version": "5.1_p16-r2", "slot": "0",
         "build_time": 1650000000, "repository": "gentoo", "eapi": 8, "size": 7000000, "world": 1},
        {"package": "dev-lang-x/foo", "version": "1.0-r1", "slot": None, "build_time": None,
         "repository": None, "eapi": None, "size": None, "world": 0},
        {"package": "dev-lang/python", "version": "3.11.4", "slot": "3.11", "build_time": None,
         "repository": None, "eapi": None, "size": None, "world": 0},
        {"package": "sys-libs/glibc", "version": "2.37-r3", "slot": None, "build_time": None,
         "repository": None, "eapi": None, "size": None, "world": 1},
    ]
    os.remove(tmp_path / "var/lib/portage/world")    # osquery needs the world file
    assert rows(conn, "SELECT * FROM portage_packages") == []


def test_portage_empty_world(conn, root, tmp_path, asan_driver):
    """An empty world file: no package is in the world set, and no NULL
    array reaches qsort/bsearch (a UBSan report before)."""
    from asan_helper import run_asan

    (tmp_path / "var/db/pkg/app-misc/hello-1.0").mkdir(parents=True)
    write(tmp_path / "var/lib/portage/world", "")
    root(tmp_path)
    assert rows(conn, "SELECT package, world FROM portage_packages") == [
        {"package": "app-misc/hello", "world": 0}]
    write(tmp_path / "var/lib/portage/world", "# only a comment\n\n")
    assert rows(conn, "SELECT package, world FROM portage_packages") == [
        {"package": "app-misc/hello", "world": 0}]
    run_asan(tmp_path, "SELECT * FROM portage_packages")
    write(tmp_path / "var/lib/portage/world", "")
    run_asan(tmp_path, "SELECT * FROM portage_packages")


def test_portage_absent(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM portage_packages") == []


def test_deb_packages_updates_journal(conn, root, tmp_path):
    """dpkg's updates/ journal overrides status (dpkg-query reads it too)."""
    write(tmp_path / "var/lib/dpkg/status",
          "Package: a\nStatus: install ok unpacked\nVersion: 1\nArchitecture: all\n\n"
          "Package: b\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n")
    write(tmp_path / "var/lib/dpkg/updates/0001",
          "Package: a\nStatus: install ok installed\nVersion: 2\nArchitecture: all\n")
    write(tmp_path / "var/lib/dpkg/updates/0002",
          "Package: b\nStatus: purge ok not-installed\nArchitecture: all\n")
    write(tmp_path / "var/lib/dpkg/updates/tmp.i", "Package: c\nStatus: install ok installed\n")
    root(tmp_path)
    got = rows(conn, "SELECT name, version, status FROM deb_packages")
    assert got == [{"name": "a", "version": "2", "status": "install ok installed"}]


def test_python_packages_canonical(conn, root, tmp_path):
    """osquery canonicalises the text before a glob wildcard (fs::canonical)."""
    uid = os.getuid()
    write(tmp_path / "etc/passwd", f"me:x:{uid}:{uid}::/home/me:/bin/sh\n")
    write(tmp_path / "data/me/.virtualenvs/e/lib/python3.12/site-packages/d-4.dist-info/METADATA",
          "Name: d\n")
    (tmp_path / "home").mkdir()
    os.symlink("../data/me", tmp_path / "home/me")
    write(tmp_path / "srv/site/x-1.dist-info/METADATA", "Name: x\n")
    os.symlink("srv/site", tmp_path / "opt-site")
    root(tmp_path)
    assert rows(conn, "SELECT name, directory, path FROM python_packages") == [
        {"name": "d", "directory": "/data/me/.virtualenvs/e/lib/python3.12/site-packages/",
         "path": "/data/me/.virtualenvs/e/lib/python3.12/site-packages/d-4.dist-info"}]
    assert rows(conn, "SELECT name, directory, path FROM python_packages WHERE directory = '/opt-site'") == [
        {"name": "x", "directory": "/opt-site", "path": "/srv/site/x-1.dist-info"}]


def test_portage_use_and_keywords(conn, root, tmp_path):
    pkg = tmp_path / "var/db/pkg"
    write(pkg / "app-shells/bash-5.1_p16-r2/USE", "  readline  nls \t net\n")
    write(pkg / "dev-libs/openssl-3.0.9/USE", b"asm ssl\xff\n")
    write(pkg / "dev-libs/empty-1.0/USE", "   \n")
    (pkg / "dev-libs/nouse-2").mkdir(parents=True)
    (pkg / "dev-libs/fifo-1").mkdir(parents=True)
    os.mkfifo(pkg / "dev-libs/fifo-1/USE")
    root(tmp_path)
    got = conn.execute("SELECT package, version, CAST(use AS BLOB) FROM portage_use").fetchall()
    # osquery splits on ' ' only, drops empty pieces, then trims each: the
    # lone tab between two spaces is a piece that trims to ''.
    assert got == [
        ("app-shells/bash", "5.1_p16-r2", b"readline"),
        ("app-shells/bash", "5.1_p16-r2", b"nls"),
        ("app-shells/bash", "5.1_p16-r2", b""),
        ("app-shells/bash", "5.1_p16-r2", b"net"),
        ("dev-libs/openssl", "3.0.9", b"asm"),
        ("dev-libs/openssl", "3.0.9", b"ssl\xff"),
    ]
    etc = tmp_path / "etc/portage"
    write(etc / "package.keywords", "# comment\n=dev-lang/rust-1.70.0 ~amd64\n"
          "dev-util/cmake ~amd64 # trailing\n>=sys-apps/foo-2.0 **\n"
          "dev-util/cmake ~x86\ngames/bar #only-comment\n\n   \n")
    write(etc / "package.mask", ">=sys-apps/foo-2.0\nnet-misc/masked\n")
    (etc / "package.unmask").mkdir()
    got = rows(conn, "SELECT * FROM portage_keywords")
    assert got == [
        {"package": "dev-lang/rust", "version": "1.70.0", "keyword": "~amd64", "mask": 0,
         "unmask": 0},
        {"package": "dev-util/cmake", "version": "", "keyword": "~amd64", "mask": 0,
         "unmask": 0},
        {"package": "sys-apps/foo", "version": ">=2.0", "keyword": "**", "mask": 1,
         "unmask": 0},
        {"package": "net-misc/masked", "version": "", "keyword": "", "mask": 1, "unmask": 0},
    ]
    (etc / "package.unmask").rmdir()
    write(etc / "package.unmask", "net-misc/masked\n<app-misc/baz-3\n")
    got = rows(conn, "SELECT package, version, mask, unmask FROM portage_keywords "
                     "WHERE unmask = 1")
    assert got == [{"package": "net-misc/masked", "version": "", "mask": 1, "unmask": 1},
                   {"package": "app-misc/baz", "version": "<3", "mask": 0, "unmask": 1}]
