"""suid_bin against fixture roots built in tmp_path and a Python walk."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from conftest import rows

DIRS = ["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin",
        "/usr/local/sbin", "/tmp"]


def make_root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    for d in DIRS + ["/etc", "/opt"]:
        (r / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (r / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "# comment\n"
        "garbage line without colons\n"
        "alice:x:1000:1000::/home/alice:/bin/sh\n")
    (r / "etc/group").write_text(
        "root:x:0:\n"
        "shadow:x:42:\n"
        "bad::notanumber:\n"
        "alice:x:1000:\n")

    def f(rel, mode, uid=0, gid=0):
        p = r / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\n")
        os.chown(p, uid, gid)
        os.chmod(p, mode)
        return p

    f("usr/bin/su", 0o4755)
    f("usr/bin/chage", 0o2755, 0, 42)
    f("usr/bin/both", 0o6755, 1000, 1000)
    f("usr/bin/plain", 0o755)
    f("usr/sbin/deep/er/nested", 0o4711)
    f("usr/local/bin/orphan", 0o4755, 4242, 4343)   # no such user/group
    f("tmp/dropped", 0o4777)
    f("opt/outside", 0o4755)                         # not a scanned dir
    os.mkfifo(r / "tmp/fifo")
    os.chmod(r / "tmp/fifo", 0o4666 & 0o7777)
    (r / "usr/bin/sgdir").mkdir()
    os.chmod(r / "usr/bin/sgdir", 0o2755)            # setgid directory: not listed
    os.symlink("su", r / "usr/bin/su-link")          # link to a suid file: listed
    os.symlink("../../opt", r / "usr/sbin/optlink")  # dir link: not followed
    os.symlink("/nonexistent", r / "usr/sbin/broken")
    # merged /usr: /bin is a link to usr/bin, followed as a start directory
    (r / "bin").rmdir()
    os.symlink("usr/bin", r / "bin")
    return r


def expected(r: Path) -> set[tuple]:
    users = {0: "root", 1000: "alice"}
    groups = {0: "root", 42: "shadow", 1000: "alice"}
    out = set()
    for d in DIRS:
        start = r / d.lstrip("/")
        if not start.is_dir():
            continue
        for root, dirs, files in os.walk(start, followlinks=False):
            # os.walk lists links to directories in dirs and skips them
            for name in files + [x for x in dirs if os.path.islink(os.path.join(root, x))]:
                full = os.path.join(root, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                perm = ("S" if st.st_mode & stat.S_ISUID else "") + \
                       ("G" if st.st_mode & stat.S_ISGID else "")
                if not perm:
                    continue
                rel = "/" + os.path.relpath(full, r)
                # the start directory's own name is kept (e.g. /bin/su)
                rel = d + full[len(str(start)):]
                out.add((rel, users.get(st.st_uid, str(st.st_uid)),
                         groups.get(st.st_gid, str(st.st_gid)), perm))
    return out


def test_suid_bin_fixture_root(conn, root, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown fixture files")
    r = make_root(tmp_path)
    root(r)
    got = rows(conn, "SELECT path, username, groupname, permissions FROM suid_bin")
    got_set = {(g["path"], g["username"], g["groupname"], g["permissions"]) for g in got}
    assert len(got) == len(got_set)
    assert got_set == expected(r)
    # spot checks of osquery's semantics
    assert ("/usr/bin/su", "root", "root", "S") in got_set
    assert ("/bin/su", "root", "root", "S") in got_set            # via /bin link
    assert ("/usr/bin/chage", "root", "shadow", "G") in got_set
    assert ("/usr/bin/both", "alice", "alice", "SG") in got_set
    assert ("/usr/sbin/deep/er/nested", "root", "root", "S") in got_set
    assert ("/usr/local/bin/orphan", "4242", "4343", "S") in got_set
    assert ("/usr/bin/su-link", "root", "root", "S") in got_set
    assert ("/tmp/dropped", "root", "root", "S") in got_set
    paths = {g[0] for g in got_set}
    assert not any("outside" in p or "optlink" in p or "fifo" in p or "sgdir" in p
                   for p in paths)


def test_suid_bin_missing_files(conn, root, tmp_path):
    # no passwd/group, no directories at all: no rows, no error
    root(tmp_path)
    assert rows(conn, "SELECT * FROM suid_bin") == []
    (tmp_path / "usr/bin").mkdir(parents=True)
    p = tmp_path / "usr/bin/x"
    p.write_text("")
    os.chmod(p, 0o4755)
    got = rows(conn, "SELECT * FROM suid_bin")
    st = os.stat(p)
    assert got == [{"path": "/usr/bin/x", "username": str(st.st_uid),
                    "groupname": str(st.st_gid), "permissions": "S"}]


def test_suid_bin_hostile_group_file(conn, root, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_bytes(os.urandom(4096).replace(b":", b"x") + b"\n" + b":" * 100000 +
                                         b"\nroot:x:0:\n" + b"a" * (1 << 20))
    (tmp_path / "etc/passwd").write_bytes(b"\0\0\0:::\n" + b"x" * (1 << 20))
    (tmp_path / "tmp").mkdir()
    p = tmp_path / "tmp/x"
    p.write_text("")
    os.chmod(p, 0o2755)
    root(tmp_path)
    got = rows(conn, "SELECT path, groupname, permissions FROM suid_bin")
    exp_group = "root" if os.stat(p).st_gid == 0 else str(os.stat(p).st_gid)
    assert got == [{"path": "/tmp/x", "groupname": exp_group, "permissions": "G"}]


def test_suid_bin_real_tmp(conn, monkeypatch):
    """A file chmod u+s in the real /tmp shows up with the real root."""
    monkeypatch.delenv("OSQLITE_ROOT", raising=False)
    fd, name = tempfile.mkstemp(prefix="osq-suid-", dir="/tmp")
    os.close(fd)
    try:
        os.chmod(name, 0o4755)
        got = rows(conn, "SELECT path, permissions FROM suid_bin WHERE path = ?", name)
        assert got == [{"path": name, "permissions": "S"}]
    finally:
        os.unlink(name)
