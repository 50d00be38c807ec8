"""process_open_files, process_envs and process_memory_map against psutil,
Python's own view of /proc, and hostile fixture trees."""
from __future__ import annotations

import os
import subprocess
import sys

import psutil
from asan_helper import run_asan
from conftest import rows


def test_live_under_asan():
    run_asan(None, "SELECT * FROM process_open_files", "SELECT * FROM process_envs", "SELECT * FROM process_memory_map",
             f"SELECT * FROM process_envs WHERE pid IN (1, {os.getpid()})")


def test_open_files_sees_our_file(conn, tmp_path):
    p = tmp_path / "held.txt"
    p.write_text("x")
    with open(p) as f:
        got = rows(conn, "SELECT * FROM process_open_files WHERE pid = ?", os.getpid())
        assert {"pid": os.getpid(), "fd": f.fileno(), "path": str(p)} in got
        # psutil lists regular files only; all of them must be here.
        want = {(o.fd, o.path) for o in psutil.Process().open_files()}
        have = {(r["fd"], r["path"]) for r in got}
        assert want <= have
        assert not [r for r in got if "socket:" in r["path"] or "pipe:" in r["path"]]
        # fds come in string order within a pid.
        fds = [str(r["fd"]) for r in got]
        assert fds == sorted(fds)


def test_open_files_all_pids_and_in(conn, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time;time.sleep(60)"])
    try:
        got = rows(conn, "SELECT DISTINCT pid FROM process_open_files WHERE pid IN (?, ?)",
                   os.getpid(), child.pid)
        assert {r["pid"] for r in got} == {os.getpid(), child.pid}
        allp = {r["pid"] for r in rows(conn, "SELECT DISTINCT pid FROM process_open_files")}
        assert {os.getpid(), child.pid} <= allp
        assert rows(conn, "SELECT * FROM process_open_files WHERE pid = 99999999") == []
    finally:
        child.kill()
        child.wait()


def test_envs_of_child(conn):
    env = {"OSQLITE_MARK": "x y=z", "EMPTY": "", "PATH": os.environ.get("PATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-c", "import time;print('ready', flush=True);time.sleep(60)"],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        # Until the child has exec'd, /proc/PID/environ is still ours.
        assert child.stdout.readline().strip() == "ready"
        got = rows(conn, "SELECT pid, key, value FROM process_envs WHERE pid = ?", child.pid)
        kv = {r["key"]: r["value"] for r in got}
        assert kv["OSQLITE_MARK"] == "x y=z"
        assert kv["EMPTY"] == ""
        assert kv == psutil.Process(child.pid).environ()
        assert all(r["pid"] == child.pid for r in got)
        both = rows(conn, "SELECT DISTINCT pid FROM process_envs WHERE pid IN (?, ?)",
                    child.pid, os.getpid())
        assert {r["pid"] for r in both} == {child.pid, os.getpid()}
    finally:
        child.kill()
        child.wait()


def _py_maps(pid):
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            start, end = fields[0].split("-")
            out.append(("0x" + start, "0x" + end, fields[1], int(fields[2], 16),
                        fields[3], int(fields[4]), fields[5] if len(fields) > 5 else ""))
    return out


def test_memory_map_matches_proc(conn):
    child = subprocess.Popen([sys.executable, "-c",
                              "import time;print('ready',flush=True);time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"   # maps are stable now
        got = rows(conn, "SELECT * FROM process_memory_map WHERE pid = ?", child.pid)
        want = _py_maps(child.pid)
        assert [(r["start"], r["end"], r["permissions"], r["offset"], r["device"],
                 r["inode"], r["path"]) for r in got] == want
        for r in got:
            assert r["pseudo"] == (1 if r["inode"] == 0 and r["path"] else 0)
        assert any(r["path"] == "[stack]" and r["pseudo"] == 1 for r in got)
        # psutil (grouped=False) sees the same file-backed paths.
        ps = {m.path for m in psutil.Process(child.pid).memory_maps(grouped=False)
              if m.path.startswith("/") and " " not in m.path}
        assert ps <= {r["path"] for r in got}
    finally:
        child.kill()
        child.wait()


def _tree(tmp_path, pid, files=None, fds=None):
    d = tmp_path / "proc" / str(pid)
    d.mkdir(parents=True)
    for name, data in (files or {}).items():
        (d / name).write_bytes(data)
    if fds is not None:
        (d / "fd").mkdir()
        for fd, target in fds.items():
            os.symlink(target, d / "fd" / str(fd))
    return d


def test_fixture_envs_quirks(conn, root, tmp_path):
    _tree(tmp_path, 10, {"environ": b"A=1\0NOEQ\0=lead\0B=x=y\0\0AFTER=gone\0"})
    _tree(tmp_path, 11, {"environ": b"OK=1\0\xc3\xa9=high\0LATER=gone\0"})
    _tree(tmp_path, 12, {"environ": b"X=" + b"v" * (2 << 20)})   # no final NUL
    _tree(tmp_path, 13, {"environ": os.urandom(4096)})
    _tree(tmp_path, 14)                                            # missing file
    root(tmp_path)
    run_asan(tmp_path, "SELECT * FROM process_open_files", "SELECT * FROM process_envs", "SELECT * FROM process_memory_map")
    got = rows(conn, "SELECT pid, key, value FROM process_envs WHERE pid IN (10, 11, 12, 14)")
    # Random bytes: some rows or none, never a crash (not valid UTF-8 to print).
    conn.execute("SELECT count(*), sum(length(key)) FROM process_envs WHERE pid = 13").fetchall()
    by = {}
    for r in got:
        by.setdefault(r["pid"], []).append((r["key"], r["value"]))
    assert by[10] == [("A", "1"), ("NOEQ", "NOEQ"), ("", "lead"), ("B", "x=y")]
    assert by[11] == [("OK", "1")]
    assert by[12] == [("X", "v" * (2 << 20))]
    assert 14 not in by
    assert rows(conn, "SELECT key FROM process_envs WHERE pid = 10 AND key = 'B'") == [
        {"key": "B"}]
    assert rows(conn, "SELECT key FROM process_envs WHERE pid = 999") == []


def test_fixture_maps_hostile(conn, root, tmp_path):
    maps = (b"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
            b"7ffd1000-7ffd2000 rw-p 00000000 00:00 0          [stack]\n"
            b"7ff00000-7ff01000 rw-p 00000000 00:00 0\n"
            b"7ff01000-7ff02000 rw-s 00000000 00:01 0          /memfd:x (deleted)\n"
            b"7ff02000-7ff03000 r--p zzzz 08:02 12 /a path with spaces\n"
            b"truncated line\n"
            b"nodash r--p 0 0 0\n"
            + b"7ff03000-7ff04000 r--p 00000000 08:02 99 /" + b"L" * (1 << 20) + b"\n"
            + b"\xff\xfe garbage \x00 bytes\n"
            + b"A" * 300000 + b"-B r--p 0 0 0\n")
    _tree(tmp_path, 20, {"maps": maps})
    _tree(tmp_path, 21)
    root(tmp_path)
    run_asan(tmp_path, "SELECT * FROM process_open_files", "SELECT * FROM process_envs", "SELECT * FROM process_memory_map")
    got = rows(conn, "SELECT * FROM process_memory_map")
    assert [(r["start"], r["end"], r["permissions"], r["offset"], r["device"],
             r["inode"], r["pseudo"]) for r in got[:5]] == [
        ("0x00400000", "0x00452000", "r-xp", 0, "08:02", 173521, 0),
        ("0x7ffd1000", "0x7ffd2000", "rw-p", 0, "00:00", 0, 1),
        ("0x7ff00000", "0x7ff01000", "rw-p", 0, "00:00", 0, 0),
        ("0x7ff01000", "0x7ff02000", "rw-s", 0, "00:01", 0, 1),
        ("0x7ff02000", "0x7ff03000", "r--p", -1, "08:02", 12, 0)]
    assert [r["path"] for r in got[:5]] == [
        "/usr/bin/dbus-daemon", "[stack]", "", "/memfd:x", "/a"]
    assert got[5]["path"] == "/" + "L" * (1 << 20)
    assert all(r["pid"] == 20 for r in got)
    assert len(got) == 7
    assert (got[6]["start"], got[6]["end"], got[6]["path"]) == ("0x" + "A" * 300000, "0xB", "")


def test_fixture_open_files(conn, root, tmp_path):
    _tree(tmp_path, 30, fds={0: "/dev/null", 1: "pipe:[5]", 2: "socket:[6]",
                            3: "anon_inode:[eventfd]", 10: "/tmp/x (deleted)",
                            4: "/" + "p" * 3000})
    _tree(tmp_path, 31)                        # no fd directory
    root(tmp_path)
    run_asan(tmp_path, "SELECT * FROM process_open_files", "SELECT * FROM process_envs", "SELECT * FROM process_memory_map", "SELECT * FROM process_open_files WHERE pid IN (30, 31)")
    got = rows(conn, "SELECT pid, fd, path FROM process_open_files")
    assert [(r["fd"], r["path"]) for r in got] == [
        (0, "/dev/null"), (10, "/tmp/x (deleted)"), (4, "/" + "p" * 3000)]
    assert rows(conn, "SELECT fd FROM process_open_files WHERE pid = 31") == []
