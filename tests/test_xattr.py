"""extended_attributes against Python's os.listxattr/os.getxattr on the
same files, and security.capability against getcap (libcap's own text).
Hostile paths: FIFOs, devices, link loops, non-UTF-8 names and values,
values at the 64 KiB limit.
"""
from __future__ import annotations

import base64
import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from asan_helper import run_asan
from conftest import rows


def osquery_value(raw: bytes) -> tuple[str | bytes, int]:
    """osquery's rule: printable text when NUL-terminated, else base64."""
    if not raw:
        return "", 1
    if raw.endswith(b"\0"):
        body = raw[:-1]
        if all(0x20 <= b <= 0x7e for b in body):
            return body.decode(), 0
        raw = body
    return base64.b64encode(raw).decode(), 1


def python_rows(path: str, directory: str) -> list[dict]:
    out = []
    for key in os.listxattr(path):
        value, b64 = osquery_value(os.getxattr(path, key))
        out.append({"path": path, "directory": directory, "key": key, "value": value,
                    "base64": b64})
    return out


def make_files(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    try:
        os.setxattr(d, "user.probe", b"1")
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            pytest.skip(f"{d} does not support user extended attributes")
        raise
    f = d / "plain"
    f.write_text("x")
    os.setxattr(f, "user.text", b"hello world\0")
    os.setxattr(f, "user.no_nul", b"hello")
    os.setxattr(f, "user.binary", bytes(range(256)))
    os.setxattr(f, "user.empty", b"")
    os.setxattr(f, "user.two_nuls", b"hi\0\0")
    os.setxattr(f, "user.latin1", b"caf\xe9\0")
    os.setxattr(f, b"user.caf\xe9".decode("utf-8", "surrogateescape"), b"name\0")
    big = d / "big"
    big.write_text("")
    try:
        os.setxattr(big, "user.big", b"A" * 65535 + b"\0")
    except OSError:
        os.setxattr(big, "user.big", b"A" * 4000 + b"\0")   # file systems with a block limit
    os.symlink("plain", d / "link")
    os.symlink("loop", d / "loop")
    os.mkfifo(d / "fifo")


def test_extended_attributes_vs_os(conn, tmp_path):
    d = tmp_path / "x"
    make_files(d)
    for name in ("plain", "big", "link"):
        p = str(d / name)
        got = rows(conn, "SELECT * FROM extended_attributes WHERE path = ? "
                         "AND key NOT LIKE 'user.caf%'", p)
        want = [r for r in python_rows(p, str(d)) if not r["key"].startswith("user.caf")]
        assert got == want, name
    raw = conn.execute("SELECT CAST(key AS BLOB), value FROM extended_attributes "
                       "WHERE path = ? AND key LIKE 'user.caf%'", (str(d / "plain"),)).fetchall()
    assert raw == [(b"user.caf\xe9", "name")]
    # Values osquery's rule turns into base64.
    by_key = {r["key"]: r for r in rows(conn, "SELECT key, value, base64 FROM extended_attributes"
                                              " WHERE path = ? AND key NOT LIKE 'user.caf%'",
                                        str(d / "plain"))}
    assert by_key["user.text"] == {"key": "user.text", "value": "hello world", "base64": 0}
    assert by_key["user.no_nul"]["value"] == base64.b64encode(b"hello").decode()
    assert by_key["user.two_nuls"]["value"] == base64.b64encode(b"hi\0").decode()
    assert by_key["user.empty"] == {"key": "user.empty", "value": "", "base64": 1}


def test_extended_attributes_hostile_paths(conn, tmp_path):
    d = tmp_path / "x"
    make_files(d)
    paths = [str(d / n) for n in ("fifo", "loop", "missing")] + ["/dev/null", "/dev/zero"]
    got = rows(conn, "SELECT path, key FROM extended_attributes WHERE path IN (%s)"
               % ",".join("?" * len(paths)), *paths)
    want = []
    for p in sorted(paths):
        try:
            want += [{"path": p, "key": k} for k in os.listxattr(p)]
        except OSError:
            pass
    assert got == want


def test_extended_attributes_like_and_directory(conn, tmp_path):
    d = tmp_path / "x"
    make_files(d)
    (d / "sub").mkdir()
    os.setxattr(d / "sub", "user.dir", b"d\0")
    got = rows(conn, "SELECT path, key FROM extended_attributes WHERE path LIKE ? "
                     "AND key = 'user.dir'", str(d) + "/%")
    # glob marks a directory with '/', as osquery's resolveFilePattern does.
    assert got == [{"path": str(d / "sub") + "/", "key": "user.dir"}]
    listing = rows(conn, "SELECT path, directory, key FROM extended_attributes "
                         "WHERE directory = ? AND key NOT LIKE 'user.caf%'", str(d))
    want = []
    for name in os.listdir(d):
        p = str(d / name)
        try:
            want += [{"path": p, "directory": str(d), "key": k} for k in os.listxattr(p)
                     if not k.startswith("user.caf")]
        except OSError:
            pass
    assert sorted(listing, key=repr) == sorted(want, key=repr)
    deep = rows(conn, "SELECT DISTINCT path FROM extended_attributes WHERE path LIKE ?",
                str(tmp_path) + "/%%")
    assert {r["path"].rstrip("/") for r in deep} >= {str(d / "sub"), str(d / "plain")}


def test_extended_attributes_capability_vs_getcap(conn, tmp_path):
    if not shutil.which("setcap") or not shutil.which("getcap"):
        pytest.skip("setcap/getcap are not installed (Debian package libcap2-bin)")
    if os.geteuid() != 0:
        pytest.skip("setting file capabilities needs root")
    f = tmp_path / "capbin"
    shutil.copy("/bin/true", f)
    cases = ["cap_net_raw+ep", "cap_net_admin,cap_net_raw+ep", "cap_sys_admin+i",
             "cap_chown+ip cap_kill+p", "cap_chown,cap_kill+eip", "all+ep"]
    for text in cases:
        subprocess.run(["setcap", text, str(f)], check=True)
        out = subprocess.run(["getcap", str(f)], capture_output=True, text=True,
                             check=True).stdout.strip()
        # getcap prints "<path> <cap_to_text()>" (older versions "<path> = ...").
        want = out[len(str(f)):].strip()
        if want.startswith("= "):
            want = want[2:]
        got = rows(conn, "SELECT key, value, base64 FROM extended_attributes WHERE path = ?",
                   str(f))
        assert got[0] == {"key": "security.capability", "value": want, "base64": 0}, text
        assert [r["key"] for r in got].count("security.capability") == 1


def test_extended_attributes_required_constraint(conn):
    with pytest.raises(Exception, match="required"):
        conn.execute("SELECT * FROM extended_attributes").fetchall()


def test_extended_attributes_under_sanitizers(tmp_path):
    d = tmp_path / "x"
    make_files(d)
    run_asan(None, f"SELECT * FROM extended_attributes WHERE path LIKE '{d}/%'",
             f"SELECT * FROM extended_attributes WHERE directory = '{d}'",
             "SELECT * FROM extended_attributes WHERE path IN ('/dev/null', '/proc/self/mem')")
