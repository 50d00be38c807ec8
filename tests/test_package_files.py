"""deb_package_files and rpm_package_files.  Oracles: dpkg-query -L for
every installed package, and the real rpm (rpmbuild + rpm --justdb into a
fixture root, then rpm -q --dump); plus fixture databases with hostile
input (FIFOs, binary and non-UTF-8 lines, symlink loops, lying headers).
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from asan_helper import run_asan
from conftest import rows
from test_packages import (
    RPM_BIN,
    RPM_I18N,
    RPM_INT32,
    RPM_STRING,
    RPM_STRING_ARRAY,
    make_rpmdb,
    rpm_header,
    write,
)

# ------------------------------------------------------------ deb_package_files


def dpkg_lists() -> set[tuple[str, str]]:
    """(package, path) for every package dpkg knows, from one dpkg-query -L."""
    names = subprocess.run(["dpkg-query", "-W", "-f", "${binary:Package}\\n"],
                           capture_output=True, text=True, check=True).stdout.split()
    out = subprocess.run(["dpkg-query", "-L", *names], capture_output=True,
                         check=False).stdout.decode("utf-8", "surrogateescape")
    # One block per package, in argument order, separated by a blank line.
    blocks = out.split("\n\n")
    got: set[tuple[str, str]] = set()
    assert len(blocks) >= len(names)
    for name, block in zip(names, blocks):
        for line in block.splitlines():
            # dpkg -L adds diversion notes after a diverted file.
            if line.startswith("/"):
                got.add((name.split(":")[0], line))
    return got


def test_deb_package_files_vs_dpkg_query(conn):
    if not shutil.which("dpkg-query") or not os.path.exists("/var/lib/dpkg/status"):
        pytest.skip("no dpkg database on this machine")
    before = dpkg_lists()
    got = rows(conn, "SELECT package, path, admindir FROM deb_package_files")
    after = dpkg_lists()
    if before != after:
        pytest.skip("a package was installed or removed during the test")
    assert {r["admindir"] for r in got} == {"/var/lib/dpkg"}
    mine = {(r["package"], r["path"]) for r in got}
    assert mine == before
    # Rows come package by package, names in order.
    names = [r["package"] for r in got]
    assert names == sorted(names, key=lambda s: s.encode())


def test_deb_package_files_constraint_and_multiarch(conn):
    if not shutil.which("dpkg-query") or not os.path.exists("/var/lib/dpkg/status"):
        pytest.skip("no dpkg database on this machine")
    out = subprocess.run(["dpkg-query", "-L", "dpkg"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    got = rows(conn, "SELECT path FROM deb_package_files WHERE package = 'dpkg'")
    assert [r["path"] for r in got] == [l for l in out if l.startswith("/")]


DEB_STATUS = """\
Package: alpha
Status: install ok installed
Architecture: amd64
Version: 1.0

Package: libmulti
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.0

Package: libmulti
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 2.0

Package: gone
Status: purge ok not-installed
Architecture: all
Version: 1

Package: configonly
Status: deinstall ok config-files
Architecture: all
Version: 3

Package: fifo
Status: install ok installed
Architecture: all
Version: 1

Package: loop
Status: install ok installed
Architecture: all
Version: 1

Package: nolist
Status: install ok installed
Architecture: all
Version: 1
"""


def deb_fixture(tmp_path: Path) -> Path:
    dpkg = tmp_path / "var/lib/dpkg"
    write(dpkg / "status", DEB_STATUS)
    info = dpkg / "info"
    write(info / "alpha.list", b"/.\n/usr\n\n/usr/bin/alpha\r\n/usr/share/\xff\xfe-latin1\n/no-newline")
    write(info / "libmulti:amd64.list", "/.\n/usr/lib/x86_64-linux-gnu/libmulti.so.2\n")
    write(info / "libmulti:i386.list", "/.\n/usr/lib/i386-linux-gnu/libmulti.so.2\n")
    write(info / "configonly.list", "/etc/configonly.conf\n")
    write(info / "gone.list", "/should/not/appear\n")
    os.mkfifo(info / "fifo.list")
    os.symlink("loop.list", info / "loop.list")
    write(info / "alpha.md5sums", "not a list\n")
    write(tmp_path / "etc/secret.list", "/etc/shadow\n")
    return dpkg


def test_deb_package_files_fixture(conn, root, tmp_path):
    deb_fixture(tmp_path)
    root(tmp_path)
    # CAST: one line is not UTF-8, and is kept byte for byte.
    got = conn.execute("SELECT package, CAST(path AS BLOB) FROM deb_package_files").fetchall()
    assert got == [
        ("alpha", b"/."), ("alpha", b"/usr"), ("alpha", b"/usr/bin/alpha\r"),
        ("alpha", b"/usr/share/\xff\xfe-latin1"), ("alpha", b"/no-newline"),
        ("configonly", b"/etc/configonly.conf"),
        ("libmulti", b"/."), ("libmulti", b"/usr/lib/x86_64-linux-gnu/libmulti.so.2"),
        ("libmulti", b"/."), ("libmulti", b"/usr/lib/i386-linux-gnu/libmulti.so.2"),
    ]


def test_deb_package_files_named_packages(conn, root, tmp_path):
    deb_fixture(tmp_path)
    root(tmp_path)
    # Named packages are read whether installed or not, as osquery does.
    got = rows(conn, "SELECT package, path FROM deb_package_files "
                     "WHERE package IN ('gone', 'libmulti:i386', 'missing', '../../../etc/secret')")
    assert got == [{"package": "gone", "path": "/should/not/appear"},
                   {"package": "libmulti:i386", "path": "/."},
                   {"package": "libmulti:i386", "path": "/usr/lib/i386-linux-gnu/libmulti.so.2"}]
    assert rows(conn, "SELECT count(*) AS n FROM deb_package_files WHERE package = 'libmulti'") \
        == [{"n": 4}]


def test_deb_package_files_admindir(conn, root, tmp_path):
    deb_fixture(tmp_path / "chroot")
    root(tmp_path)
    assert rows(conn, "SELECT * FROM deb_package_files") == []
    got = rows(conn, "SELECT DISTINCT package, admindir FROM deb_package_files "
                     "WHERE admindir = '/chroot/var/lib/dpkg'")
    assert [r["package"] for r in got] == ["alpha", "configonly", "libmulti"]
    assert {r["admindir"] for r in got} == {"/chroot/var/lib/dpkg"}


# ------------------------------------------------------------ rpm_package_files

RPM_INT16, RPM_INT64 = 3, 5


def rpm_dump(root: Path) -> list[tuple]:
    out = subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-qa", "--dump"],
                         capture_output=True, text=True, check=True).stdout
    got = []
    for line in out.splitlines():
        # path size mtime digest mode owner group isconfig isdoc rdev symlink;
        # the path may hold spaces.
        path, size, _mtime, digest, mode, user, group = line.rsplit(" ", 10)[:7]
        got.append((path, int(size), digest, "%04o" % (int(mode, 8) & 0o7777), user, group))
    return got


SPEC = """\
Name: osqtest
Version: 1.2
Release: 3
Summary: fixture
License: MIT
BuildArch: noarch
%description
fixture
%install
mkdir -p %{buildroot}/opt/osqtest/sub
printf 'hello\\n' > %{buildroot}/opt/osqtest/hello.txt
printf '#!/bin/sh\\n' > %{buildroot}/opt/osqtest/run.sh
printf 'caf\\xc3\\xa9' > "%{buildroot}/opt/osqtest/caf\xc3\xa9 space"
ln -s hello.txt %{buildroot}/opt/osqtest/link
%files
%attr(4755,root,root) /opt/osqtest/run.sh
%attr(0640,nobody,nogroup) /opt/osqtest/hello.txt
"/opt/osqtest/caf\xc3\xa9 space"
/opt/osqtest/link
%dir /opt/osqtest/sub
%dir /opt/osqtest
"""


def test_rpm_package_files_vs_rpm(conn, root, tmp_path):
    if not shutil.which("rpmbuild") or not shutil.which("rpm"):
        pytest.skip("rpm and rpmbuild are not installed (Debian package rpm; CI installs it)")
    (tmp_path / "t.spec").write_text(SPEC)
    subprocess.run(["rpmbuild", "--quiet", "--define", f"_topdir {tmp_path}/top", "-bb",
                    str(tmp_path / "t.spec")], check=True, capture_output=True)
    rpm = next((tmp_path / "top/RPMS").rglob("*.rpm"))
    fsroot = tmp_path / "root"
    fsroot.mkdir()
    subprocess.run(["rpm", "--root", str(fsroot), "--dbpath", "/var/lib/rpm", "-i", "--nodeps",
                    "--justdb", "--noscripts", str(rpm)], check=True, capture_output=True)
    expect = rpm_dump(fsroot)
    root(fsroot)
    got = rows(conn, "SELECT * FROM rpm_package_files")
    assert {r["package"] for r in got} == {"osqtest"}
    assert [(r["path"], r["size"], r["sha256"], r["mode"], r["username"], r["groupname"])
            for r in got] == expect
    # Fleet's last-opened query shape: filter on the mode, join the file table.
    assert rows(conn, "SELECT count(*) AS n FROM rpm_package_files "
                      "WHERE regex_match(mode, '[1357]', 0)") == [{"n": 4}]
    assert rows(conn, "SELECT path FROM rpm_package_files WHERE package = 'nope'") == []


def test_rpm_package_files_fixture_headers(conn, root, tmp_path):
    files = rpm_header([
        (1000, RPM_STRING, "pkg"),
        (1116, RPM_INT32, [0, 1, 1, 7]),
        (1117, RPM_STRING_ARRAY, ["etc", "a.conf", "b\xe9", "bad-index"]),
        (1118, RPM_STRING_ARRAY, ["/", "/etc/"]),
        (1030, RPM_INT16, struct.pack(">HHHH", 0o40755, 0o100644, 0o104711, 0o120777)),
        (1028, RPM_INT32, [0, 12, 34, 5]),
        (1039, RPM_STRING_ARRAY, ["root", "root", "daemon"]),       # one short
        (1040, RPM_STRING_ARRAY, ["root", "wheel", "daemon", "x"]),
        (1035, RPM_STRING_ARRAY, ["", "ab" * 32, "cd" * 32, ""]),
        (5011, RPM_INT32, [8]),
    ])
    md5 = rpm_header([
        (1000, RPM_STRING, "old-md5"),
        (1027, RPM_STRING_ARRAY, ["/usr/bin/tool"]),
        (5008, RPM_INT64, struct.pack(">Q", 5 * 2**32)),
        (1035, RPM_STRING_ARRAY, ["0" * 32]),
    ])
    nofiles = rpm_header([(1000, RPM_STRING, "meta")])
    huge = rpm_header([(1000, RPM_STRING, "huge"),
                       (1117, RPM_STRING_ARRAY, ["f"] * 65537)])
    lying = rpm_header([(1000, RPM_STRING, "lying")])[:-4]
    arr = bytearray(rpm_header([(1000, RPM_STRING, "trunc"),
                                (1117, RPM_STRING_ARRAY, ["x", "y"])]))
    # The BASENAMES entry claims 100000 strings: more than the data holds,
    # and more than osquery's 65536-file limit.
    struct.pack_into(">I", arr, 8 + 2 * 16 + 12, 100000)
    arr2 = bytearray(arr)
    struct.pack_into(">I", arr2, 8 + 2 * 16 + 12, 50)
    make_rpmdb(tmp_path / "var/lib/rpm/rpmdb.sqlite",
               [files, md5, nofiles, huge, lying, bytes(arr), bytes(arr2), b"\0" * 3])
    root(tmp_path)
    got = rows(conn, "SELECT * FROM rpm_package_files")
    zeros = "0" * 64
    assert got == [
        {"package": "pkg", "path": "/etc", "username": "root", "groupname": "root",
         "mode": "0755", "size": 0, "sha256": zeros},
        {"package": "pkg", "path": "/etc/a.conf", "username": "root", "groupname": "wheel",
         "mode": "0644", "size": 12, "sha256": "ab" * 32},
        {"package": "pkg", "path": "/etc/b\xe9", "username": "daemon", "groupname": "daemon",
         "mode": "4711", "size": 34, "sha256": "cd" * 32},
        {"package": "pkg", "path": "", "username": "", "groupname": "x",
         "mode": "0777", "size": 5, "sha256": zeros},
        # MD5 digests: no sha256 (NULL), as osquery; 64-bit sizes.
        {"package": "old-md5", "path": "/usr/bin/tool", "username": "", "groupname": "",
         "mode": "0000", "size": 5 * 2**32, "sha256": None},
    ] + [{"package": "trunc", "path": "", "username": "", "groupname": "",
          "mode": "0000", "size": 0, "sha256": None}] * (len(got) - 5)
    # 50 claimed: only the strings that are really there (up to the end of
    # the data); 100000 claimed: skipped like a package over the limit.
    assert 2 <= len(got) - 5 < 50
    assert [r["package"] for r in rows(conn, "SELECT package FROM rpm_package_files "
                                             "WHERE package IN ('old-md5', 'pkg')")] \
        == ["pkg"] * 4 + ["old-md5"]


def test_package_files_under_sanitizers(tmp_path):
    deb_fixture(tmp_path)
    make_rpmdb(tmp_path / "var/lib/rpm/rpmdb.sqlite", [
        rpm_header([(1000, RPM_STRING, "p"), (1116, RPM_INT32, [3]),
                    (1117, RPM_STRING_ARRAY, ["f"]), (1118, RPM_STRING_ARRAY, ["/"]),
                    (1030, RPM_BIN, b"\1"), (1035, RPM_I18N, ["x"])]),
        bytes(range(256)) * 8])
    run_asan(tmp_path, "SELECT * FROM deb_package_files",
             "SELECT * FROM deb_package_files WHERE package IN ('alpha', 'libmulti', 'x/y')",
             "SELECT * FROM rpm_package_files")


def test_deb_package_files_last_opened_query_shape(conn):
    """The shape of Fleet's deb last-opened query: package files joined with
    the file table, regular files with an execute bit, newest atime."""
    if not shutil.which("dpkg-query") or not os.path.exists("/var/lib/dpkg/status"):
        pytest.skip("no dpkg database on this machine")
    def newest() -> dict:
        want = {}
        for pkg in ("bash", "dpkg"):
            for line in subprocess.run(["dpkg-query", "-L", pkg], capture_output=True,
                                       text=True, check=True).stdout.splitlines():
                try:
                    st = os.stat(line)
                except OSError:
                    continue
                mode = "%04o" % (st.st_mode & 0o7777)
                if os.path.isfile(line) and any(c in "1357" for c in mode):
                    want[pkg] = max(want.get(pkg, 0), int(st.st_atime))
        return want

    # An atime may move while the test runs (someone starts bash): the
    # result must match the files as they were just before or just after.
    before = newest()
    got = rows(conn, "SELECT package, MAX(atime) AS last FROM deb_package_files "
                     "CROSS JOIN file USING (path) WHERE package IN ('dpkg', 'bash') "
                     "AND type = 'regular' AND regex_match(file.mode, '[1357]', 0) "
                     "GROUP BY package")
    after = newest()
    assert {r["package"]: r["last"] for r in got} in (before, after)
