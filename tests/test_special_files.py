"""FIFOs, sockets and device nodes where files belong.

Every C reader of a file that users or packages control opens it through
one helper (osq_open_file, csrc/lib/procfs.c) that opens regular files and,
without ever waiting, FIFOs (empty without a writer, as osquery's
non-blocking readFile), and never opens a device node or socket at all.
Each query here runs in a child process with a time limit, so a reader that
blocked on a FIFO fails the test instead of hanging the suite.
"""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("osqlite")


def run_query(root: Path, sql: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run sql in a child; stderr carries the bytes the query read (rchar
    of /proc/self/io around it)."""
    code = textwrap.dedent(f"""
        import json, sys, osqlite
        def rchar():
            with open("/proc/self/io") as f:
                return int(f.readline().split()[1])
        c = osqlite.connect()
        before = rchar()
        try:
            rows = c.execute({sql!r}).fetchall()
            print(json.dumps(rows))
        except Exception as exc:
            print("ERROR", exc)
        print("read", rchar() - before, file=sys.stderr)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, "OSQLITE_ROOT": str(root)})
    return r.returncode, r.stdout.strip(), r.stderr


def bytes_read(err: str) -> int:
    return int(err.strip().splitlines()[-1].split()[1])


def test_rpmdb_fifo_does_not_block(tmp_path):
    rpm = tmp_path / "var/lib/rpm"
    rpm.mkdir(parents=True)
    os.mkfifo(rpm / "rpmdb.sqlite")
    rc, out, err = run_query(tmp_path, "SELECT name FROM rpm_packages")
    assert rc == 0, err
    assert out.startswith("ERROR") and "rpmdb.sqlite is not a regular file" in out


def test_rpmdb_wal_fifo_does_not_block(tmp_path):
    from osqlite._sqlite import sqlite3
    rpm = tmp_path / "var/lib/rpm"
    rpm.mkdir(parents=True)
    db = sqlite3.connect(rpm / "rpmdb.sqlite")
    db.execute("CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB)")
    db.commit()
    db.close()
    os.mkfifo(rpm / "rpmdb.sqlite-wal")
    rc, out, err = run_query(tmp_path, "SELECT name FROM rpm_packages")
    assert rc == 0, err
    assert "rpmdb.sqlite-wal is not a regular file" in out


def test_etc_files_as_fifo_device_socket(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    # A FIFO with a writer that never writes: a blocking read would wait for
    # ever; a FIFO without one; a link to a device that never ends.
    os.mkfifo(etc / "hosts")
    os.symlink("/dev/zero", etc / "passwd")
    os.mknod(etc / "group", 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(etc / "protocols"))
    os.mkfifo(etc / "services")
    writer = os.open(etc / "hosts", os.O_RDWR | os.O_NONBLOCK)
    try:
        for table in ("etc_hosts", "users", "groups", "etc_protocols", "etc_services",
                      "user_groups"):
            rc, out, err = run_query(tmp_path, f"SELECT * FROM {table}")
            assert rc == 0, err
            assert out == "[]", (table, out)
            # Nothing is read from /dev/zero: the device is never opened.
            assert bytes_read(err) < 1 << 20, (table, err)
    finally:
        os.close(writer)
        s.close()


def test_hash_and_file_of_special_files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        rc, out, err = run_query(tmp_path, f"SELECT path, md5 FROM hash WHERE path IN "
                                           f"('{fifo}', '/dev/zero', '/dev/urandom')")
        assert rc == 0, err
        assert out == "[]"
        assert bytes_read(err) < 1 << 20, err
        rc, out, err = run_query(tmp_path, f"SELECT type FROM file WHERE path = '{fifo}'")
        assert out == '[["fifo"]]'
    finally:
        os.close(writer)
