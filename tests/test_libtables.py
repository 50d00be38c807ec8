"""Tables over system libraries loaded on first use: magic (libmagic),
augeas (libaugeas), and what happens where a library is absent: the
extension still loads, the other tables work, and that table's query fails
with a message naming the Debian package.  Oracles: the `file` and
`augtool` commands."""
from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import rows


def _lib(name: str) -> str | None:
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return os.path.realpath(p)
    return None


needs_magic = pytest.mark.skipif(_lib("libmagic.so.1") is None,
                                 reason="libmagic is absent (Debian package libmagic1)")
needs_augeas = pytest.mark.skipif(_lib("libaugeas.so.0") is None or not os.path.isdir(
    "/usr/share/augeas/lenses/dist"), reason="libaugeas/lenses absent (Debian packages libaugeas0, "
                                              "augeas-lenses)")


@needs_magic
def test_magic_against_file_command(conn, tmp_path):
    if shutil.which("file") is None:
        pytest.skip("the file command is the oracle (Debian package file)")
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "b.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)
    (tmp_path / "c.bin").write_bytes(b"\xff\xfe\x00\x01" * 100)
    os.mkfifo(tmp_path / "fifo")
    paths = [str(tmp_path / n) for n in ("a.txt", "b.gz", "c.bin", "fifo")] + ["/bin/sh"]
    got = {r["path"]: r for r in rows(conn, "SELECT * FROM magic WHERE path IN (%s)"
                                      % ",".join("?" * len(paths)), *paths)}
    def file_(p: str, *a: str) -> str:
        return subprocess.run(["file", "-b", *a, p], capture_output=True, text=True).stdout.strip()

    for p in paths:
        assert got[p]["data"] == file_(p), p
        assert got[p]["mime_type"] == file_(p, "--mime-type"), p
        assert got[p]["mime_encoding"] == file_(p, "--mime-encoding"), p
        assert got[p]["magic_db_files"] == "/usr/share/file/magic.mgc:/usr/share/misc/magic.mgc"
    assert rows(conn, "SELECT * FROM magic WHERE path = '/etc/hosts' AND magic_db_files = ?",
                str(tmp_path / "a.txt")) == []  # not a magic database: no rows, as osquery
    with pytest.raises(Exception, match="required"):
        conn.execute("SELECT * FROM magic").fetchall()


@needs_augeas
def test_augeas_against_augtool(conn, root, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_text("127.0.0.1 localhost loopback\n::1 ip6-localhost\n"
                                        "# comment\n10.0.0.1 \xe9t\xe9.example\n")
    (tmp_path / "etc/resolv.conf").write_text("nameserver 127.0.0.53\noptions edns0\n")
    (tmp_path / "etc/fstab").write_bytes(b"\xff\xfe garbage \x00 line\n")
    root(tmp_path)
    got = rows(conn, "SELECT node, value, label, path FROM augeas WHERE path = '/etc/hosts'")
    assert {"node": "/files/etc/hosts/1/canonical", "value": "localhost", "label": "canonical",
            "path": "/etc/hosts"} in got
    assert {"node": "/files/etc/hosts/2/ipaddr", "value": "::1", "label": "ipaddr",
            "path": "/etc/hosts"} in got
    if shutil.which("augtool"):
        out = subprocess.run(["augtool", "-r", str(tmp_path), "-S", "-I", "/usr/share/augeas/lenses/dist",
                              "match", "/files/etc/hosts//*"], capture_output=True, text=True).stdout
        want = {line.split(" = ")[0] for line in out.splitlines() if line.startswith("/files")}
        assert {r["node"] for r in got} - {"/files/etc/hosts"} == want
    like = rows(conn, "SELECT node, value FROM augeas WHERE node LIKE '/files/etc/resolv.conf/%'")
    assert {"node": "/files/etc/resolv.conf/nameserver", "value": "127.0.0.53"} in like
    everything = rows(conn, "SELECT DISTINCT path FROM augeas")
    assert {"/etc/hosts", "/etc/resolv.conf"} <= {r["path"] for r in everything}


SNIPPET = textwrap.dedent("""
    import osqlite
    c = osqlite.connect()
    print("hosts rows:", len(c.execute("SELECT * FROM etc_hosts").fetchall()))
    for sql in {queries!r}:
        try:
            c.execute(sql).fetchall()
            print("ok:", sql)
        except Exception as e:
            print("error:", e)
""")


def test_absent_library_fails_only_that_table(tmp_path):
    """Hide each library behind an empty file in a private mount namespace:
    dlopen fails as on a host without the package."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    cases = [("libmagic.so.1", "SELECT * FROM magic WHERE path = '/etc/hosts'", "libmagic1"),
             ("libaugeas.so.0", "SELECT * FROM augeas WHERE path = '/etc/hosts'", "libaugeas0"),
             ("libcrypto.so.3", "SELECT * FROM certificates", "libssl3")]
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    script = tmp_path / "s.py"
    for lib, sql, pkg in cases:
        real = _lib(lib)
        if real is None:
            continue
        script.write_text(SNIPPET.format(queries=[sql]))
        r = subprocess.run(["unshare", "-m", "sh", "-c",
                            f"mount --make-rprivate / && mount --bind {empty} {real} && "
                            f"exec {sys.executable} {script}"],
                           capture_output=True, text=True, timeout=60)
        if "Operation not permitted" in r.stderr or "cannot" in r.stderr and r.returncode:
            pytest.skip("mount namespaces are not available here: " + r.stderr.strip()[-200:])
        assert "hosts rows:" in r.stdout, r.stdout + r.stderr
        assert f"error: {sql.split()[3]}: needs {lib} (install the Debian package {pkg}" in r.stdout, \
            r.stdout + r.stderr


def test_asan(tmp_path, asan_driver):
    from asan_helper import run_asan
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_bytes(os.urandom(2000))
    (tmp_path / "etc/sudoers").write_bytes(b"Defaults \xff\n" * 100)
    os.mkfifo(tmp_path / "etc/fifo")
    queries = []
    if ctypes.util.find_library("magic"):
        queries += ["SELECT * FROM magic WHERE path IN ('/etc/hosts', '/etc/fifo', '/none', '')",
                    "SELECT * FROM magic WHERE path = '/etc/hosts' AND magic_db_files = '/etc/hosts'"]
    if ctypes.util.find_library("augeas"):
        queries += ["SELECT * FROM augeas", "SELECT * FROM augeas WHERE path LIKE '/etc/%%'",
                    "SELECT * FROM augeas WHERE node = '/files/etc/hosts[' "]
    if not queries:
        pytest.skip("neither libmagic nor libaugeas is installed")
    out = run_asan(tmp_path, *queries)
    assert "error" not in out.replace("0 statement(s) failed with a SQL error", "")
