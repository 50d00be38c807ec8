"""processes: compared with psutil and /proc parsed in Python on the live
system, and run against hostile /proc trees built in tmp_path.

osquery's rules are in csrc/tables/processes.c and tables.md 4.2.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import rows

CLK_TCK = os.sysconf("SC_CLK_TCK")
MS_PER_TICK = 1000 // CLK_TCK


def stat_line(pid: int, comm: str | bytes = "proc", *, state="S", ppid=1, pgrp=None,
              utime=0, stime=0, nice=0, threads=1, start=0) -> bytes:
    """A well-formed /proc/PID/stat line (proc(5) field order)."""
    if isinstance(comm, str):
        comm = comm.encode()
    pgrp = pid if pgrp is None else pgrp
    tail = (f" {state} {ppid} {pgrp} {pgrp} 0 -1 4194304 10 0 0 0 {utime} {stime}"
            f" 0 0 20 {nice} {threads} 0 {start} 1000000 100 18446744073709551615"
            " 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
    return str(pid).encode() + b" (" + comm + b")" + tail.encode()


def status_text(name: str | bytes = "proc", uids=(0, 0, 0, 0), gids=(0, 0, 0, 0),
                rss_kb: int | None = 100, size_kb: int | None = 1000) -> bytes:
    if isinstance(name, str):
        name = name.encode()
    out = [b"Name:\t" + name, b"Umask:\t0022", b"State:\tS (sleeping)",
           b"Uid:\t" + "\t".join(map(str, uids)).encode(),
           b"Gid:\t" + "\t".join(map(str, gids)).encode()]
    if size_kb is not None:
        out.append(f"VmSize:\t{size_kb:8d} kB".encode())
    if rss_kb is not None:
        out.append(f"VmRSS:\t{rss_kb:8d} kB".encode())
    out.append(b"Threads:\t1")
    return b"\n".join(out) + b"\n"


def make_proc(root: Path, pid: int, files: dict[str, bytes | None] | None = None,
              links: dict[str, str] | None = None, *, btime: int | None = 1000) -> Path:
    """root/proc/PID with the given files (None: leave out); defaults make a
    complete, plausible process."""
    d = root / "proc" / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    base: dict[str, bytes | None] = {
        "stat": stat_line(pid),
        "status": status_text(),
        "cmdline": b"/bin/proc\0--flag\0",
        "io": b"rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\n"
              b"write_bytes: 8192\ncancelled_write_bytes: 0\n",
        "cgroup": b"0::/user.slice/proc.scope\n",
    }
    base.update(files or {})
    for name, data in base.items():
        if data is not None:
            (d / name).write_bytes(data)
    for name, target in (links or {}).items():
        os.symlink(target, d / name)
    if btime is not None and not (root / "proc" / "stat").exists():
        (root / "proc" / "stat").write_text(f"cpu  1 2 3 4\nintr 5\nbtime {btime}\nprocesses 9\n")
    return d


def bytes_conn(conn):
    conn.text_factory = bytes
    return conn


# ---------------------------------------------------------------------------
# Live system, against psutil


def test_pid_set_matches_psutil(conn):
    before = set(psutil.pids())
    got = [r["pid"] for r in rows(conn, "SELECT pid FROM processes")]
    after = set(psutil.pids())
    stable = before & after
    assert stable <= set(got)
    # Only processes that started during the scan may be extra.
    assert len(set(got) - before - after) <= 20
    assert len(got) == len(set(got))


def test_pids_sorted_as_strings(conn):
    got = [r["pid"] for r in rows(conn, "SELECT pid FROM processes")]
    assert got == sorted(got, key=str)


def _stable_psutil_view() -> dict[int, dict]:
    view = {}
    for p in psutil.process_iter(["pid", "ppid", "name", "uids", "gids",
                                  "memory_info", "create_time", "nice"]):
        view[p.info["pid"]] = p.info
    return view


def _worker_base(name: str) -> str:
    """kworker/u8:3+flush-254:0 -> kworker/u8:3 (the kernel appends the
    worker's current workqueue to its name); other names unchanged."""
    if name.startswith("kworker/"):
        return name.split("+", 1)[0].split("-", 1)[0]
    return name


def test_columns_match_psutil(conn):
    view = _stable_psutil_view()
    got = {r["pid"]: r for r in rows(conn, "SELECT * FROM processes")}
    later = _stable_psutil_view()
    checked = 0
    for pid, ps in view.items():
        r = got.get(pid)
        again = later.get(pid)
        if r is None or again is None or again["create_time"] != ps["create_time"]:
            continue        # exited, or the pid was reused
        # A process may exec or change ids while we look: our value must be
        # psutil's before or after the scan.
        snaps = (ps, again)
        checked += 1
        assert r["parent"] in {s["ppid"] for s in snaps}, pid
        # psutil may extend a 15-char comm from argv[0]; osquery never does.
        # A kernel worker's name carries the work it does at that instant
        # (kworker/u8:3+flush-254:0), which changes between any two reads.
        name = _worker_base(r["name"])
        assert any(_worker_base(s["name"]).startswith(name) for s in snaps), (pid, r["name"])
        if len(r["name"]) < 15:
            assert name in {_worker_base(s["name"]) for s in snaps}
        assert (r["uid"], r["euid"], r["suid"]) in {tuple(s["uids"]) for s in snaps}
        assert (r["gid"], r["egid"], r["sgid"]) in {tuple(s["gids"]) for s in snaps}
        assert abs(r["start_time"] - ps["create_time"]) < 2
        assert r["nice"] in {s["nice"] for s in snaps}
        assert r["wired_size"] == 0
        if ps["memory_info"].vms == 0 and again["memory_info"].vms == 0:
            # kernel thread: no Vm lines
            assert r["resident_size"] is None and r["total_size"] is None
            assert r["cmdline"] == "" and r["path"] == "" and r["on_disk"] == -1
        elif r["resident_size"] is not None:
            lo = min(s["memory_info"].rss for s in snaps)
            hi = max(s["memory_info"].rss for s in snaps)
            slack = max(2 << 20, hi // 5)
            assert lo - slack <= r["resident_size"] <= hi + slack, pid
    assert checked >= 3


def test_own_process_detail(conn):
    me = psutil.Process()
    r = rows(conn, "SELECT * FROM processes WHERE pid = ?", os.getpid())[0]
    assert r["path"] == os.path.realpath(sys.executable)
    assert r["on_disk"] == 1
    assert r["cwd"] == os.getcwd()
    assert r["root"] == "/"
    assert r["state"] == "R"
    assert r["cmdline"] == " ".join(me.cmdline()).strip()
    t = me.cpu_times()
    assert r["user_time"] <= t.user * 1000 + 50 and r["user_time"] % MS_PER_TICK == 0
    assert r["threads"] == me.num_threads()
    io = me.io_counters()
    assert r["disk_bytes_read"] <= io.read_bytes + (1 << 20)
    # start_time = btime of /proc/stat + starttime (stat field 22) / CLK_TCK
    btime = next(int(x.split()[1]) for x in Path("/proc/stat").read_text().splitlines()
                 if x.startswith("btime "))
    start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    assert r["start_time"] == btime + start // CLK_TCK
    cg = Path("/proc/self/cgroup").read_text().split("\n")[0]
    assert r["cgroup_path"] == cg.split(":", 2)[2]


@pytest.fixture
def child(tmp_path):
    args = [sys.executable, "-c", "import time; time.sleep(60)", "arg one", "ünï", "  x  "]
    p = subprocess.Popen(args, cwd=tmp_path)
    # Wait until the child has exec'd (its cmdline shows the script).
    for _ in range(200):
        try:
            if psutil.Process(p.pid).cmdline() == args:
                break
        except psutil.Error:
            pass
        time.sleep(0.01)
    yield p, args, tmp_path
    p.kill()
    p.wait()


def test_child_cmdline_cwd_and_ids(conn, child):
    p, args, cwd = child
    r = rows(conn, "SELECT * FROM processes WHERE pid = ?", p.pid)
    assert len(r) == 1
    r = r[0]
    # NULs become spaces, then both ends are trimmed ("  x  " loses its tail).
    assert r["cmdline"] == " ".join(args).strip()
    assert r["cwd"] == os.path.realpath(cwd)
    assert r["parent"] == os.getpid()
    assert r["uid"] == os.getuid() and r["euid"] == os.geteuid()
    assert r["gid"] == os.getgid() and r["egid"] == os.getegid()
    assert r["path"] == os.path.realpath(sys.executable)
    assert r["on_disk"] == 1
    assert r["name"] == psutil.Process(p.pid).name()[:15]
    assert r["threads"] == 1
    assert abs(r["start_time"] - psutil.Process(p.pid).create_time()) < 2


def test_pid_eq_and_in(conn, child):
    p = child[0]
    assert [r["pid"] for r in rows(conn, "SELECT pid FROM processes WHERE pid = ?", p.pid)] == [p.pid]
    got = [r["pid"] for r in rows(
        conn, f"SELECT pid FROM processes WHERE pid IN (1, {p.pid}, {os.getpid()}, "
              f"999999999, -5, 0, {p.pid})")]
    assert got == sorted({1, p.pid, os.getpid()}, key=str)
    assert rows(conn, "SELECT pid FROM processes WHERE pid = 999999999") == []
    assert rows(conn, "SELECT pid FROM processes WHERE pid = 'abc'") == []


def test_join_on_pid(conn, child):
    p = child[0]
    got = rows(conn, "SELECT p.pid, q.name AS pname FROM processes p "
                     "JOIN processes q ON q.pid = p.parent WHERE p.pid = ?", p.pid)
    assert got == [{"pid": p.pid, "pname": psutil.Process().name()[:15]}]


def test_thread_id_reachable_not_listed(conn):
    ready = threading.Event()
    stop = threading.Event()
    tid = []

    def run():
        tid.append(threading.get_native_id())
        ready.set()
        stop.wait(10)

    t = threading.Thread(target=run)
    t.start()
    try:
        ready.wait(5)
        assert tid[0] != os.getpid()
        r = rows(conn, "SELECT pid, name, parent FROM processes WHERE pid = ?", tid[0])
        assert len(r) == 1 and r[0]["pid"] == tid[0]
        assert r[0]["parent"] == os.getppid()
        listed = {x["pid"] for x in rows(conn, "SELECT pid FROM processes")}
        assert tid[0] not in listed
    finally:
        stop.set()
        t.join()


def _syscr() -> int:
    fd = os.open("/proc/self/io", os.O_RDONLY)
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    for line in data.decode().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    raise AssertionError("no syscr")


def _reads(conn, sql, *params) -> int:
    """read(2) calls made by this process while running sql, net of the
    reads that sample the counter itself."""
    s0 = _syscr()
    s1 = _syscr()
    base = s1 - s0
    conn.execute(sql, params).fetchall()
    s2 = _syscr()
    return s2 - s1 - base


def test_unused_columns_are_not_read(conn):
    if threading.active_count() > 1:
        pytest.skip("other threads would disturb the read counter")
    me = os.getpid()
    # status only.
    assert _reads(conn, "SELECT pid, name FROM processes WHERE pid = ?", me) == 1
    assert _reads(conn, "SELECT pid, uid, resident_size FROM processes WHERE pid = ?", me) == 1
    # + stat
    assert _reads(conn, "SELECT pid, parent, state FROM processes WHERE pid = ?", me) == 2
    # + cmdline
    assert _reads(conn, "SELECT cmdline FROM processes WHERE pid = ?", me) == 2
    # readlink is not a read: path adds none
    assert _reads(conn, "SELECT path, cwd, root FROM processes WHERE pid = ?", me) == 1
    # status, stat, cmdline, io, cgroup (btime comes from the clocks)
    assert _reads(conn, "SELECT * FROM processes WHERE pid = ?", me) == 5


def test_unused_files_may_be_absent(tmp_path, root, conn):
    make_proc(tmp_path, 10, {"stat": None, "cmdline": None, "io": None, "cgroup": None})
    root(tmp_path)
    assert rows(conn, "SELECT pid, name, uid FROM processes") == [
        {"pid": 10, "name": "proc", "uid": 0}]
    r = rows(conn, "SELECT cmdline, path, cwd, disk_bytes_read, cgroup_path, on_disk "
                   "FROM processes")[0]
    assert r == {"cmdline": "", "path": "", "cwd": "", "disk_bytes_read": None,
                 "cgroup_path": "", "on_disk": -1}


# ---------------------------------------------------------------------------
# Fixture trees


def test_fixture_full_row(tmp_path, root, conn):
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "tool").write_text("")
    make_proc(tmp_path, 42,
              {"stat": stat_line(42, "tool", state="S", ppid=7, pgrp=40, utime=123,
                                 stime=45, nice=-5, threads=3, start=500),
               "status": status_text("tool", uids=(1000, 1001, 1002, 1003),
                                     gids=(2000, 2001, 2002, 2003), rss_kb=4, size_kb=8),
               "cmdline": b"/usr/bin/tool\0-v\0\0",
               "io": b"read_bytes: 100\nwrite_bytes: 100\ncancelled_write_bytes: 300\n",
               "cgroup": b"12:cpu,cpuacct:/a:b\n0::/other\n"},
              {"exe": "/usr/bin/tool", "cwd": "/home/x", "root": "/"}, btime=1000)
    root(tmp_path)
    r = rows(conn, "SELECT * FROM processes")
    assert r == [{
        "pid": 42, "name": "tool", "path": "/usr/bin/tool", "cmdline": "/usr/bin/tool -v",
        "state": "S", "cwd": "/home/x", "root": "/", "uid": 1000, "gid": 2000,
        "euid": 1001, "egid": 2001, "suid": 1002, "sgid": 2002, "on_disk": 1,
        "wired_size": 0, "resident_size": 4096, "total_size": 8192,
        "user_time": 123 * MS_PER_TICK, "system_time": 45 * MS_PER_TICK,
        "disk_bytes_read": 100, "disk_bytes_written": -200,
        "start_time": 1000 + 500 // CLK_TCK, "parent": 7, "pgroup": 40,
        "threads": 3, "nice": -5, "cgroup_path": "/a:b"}]


def test_fixture_comm_with_parens_and_spaces(tmp_path, root, conn):
    make_proc(tmp_path, 5, {"stat": stat_line(5, "a) (b", state="D", ppid=3, threads=9),
                            "status": status_text("a) (b")})
    root(tmp_path)
    r = rows(conn, "SELECT name, state, parent, threads FROM processes")
    assert r == [{"name": "a) (b", "state": "D", "parent": 3, "threads": 9}]


def test_fixture_truncated_and_unreadable_stat(tmp_path, root, conn):
    make_proc(tmp_path, 1, {"stat": b"1 (x) S 1 2 3"})             # truncated
    make_proc(tmp_path, 2, {"stat": b"2 (no close paren S 1 1 1 1 1 1 1 1 1 1 1 1"})
    d = make_proc(tmp_path, 3, {"stat": None})
    (d / "stat").mkdir()                                           # read() fails: EISDIR
    root(tmp_path)
    # A malformed stat drops the row (osquery), when stat is read at all.
    r = rows(conn, "SELECT pid, state, parent, user_time, start_time FROM processes")
    assert r == [{"pid": 3, "state": "", "parent": None, "user_time": 0, "start_time": -1}]
    assert [x["pid"] for x in rows(conn, "SELECT pid, name FROM processes")] == [1, 2, 3]


def test_fixture_stat_and_io_over_one_page(tmp_path, root, conn, asan_driver):
    """A stat (or io) longer than the 4 KiB first read spills to the heap: it
    is parsed there in full, not as the stack buffer with the heap's length
    (an ASan stack over-read before)."""
    from asan_helper import run_asan

    comm = "c" * 5000 + ") ("
    io = b"rchar: 1\n" + b"x: 0\n" * 1000 + b"read_bytes: 77\nwrite_bytes: 9\n"
    make_proc(tmp_path, 7, {"stat": stat_line(7, comm, state="R", ppid=4, threads=3, nice=-5),
                            "status": status_text("big"), "io": io})
    root(tmp_path)
    r = rows(conn, "SELECT state, parent, threads, nice, disk_bytes_read, disk_bytes_written "
                   "FROM processes")
    assert r == [{"state": "R", "parent": 4, "threads": 3, "nice": -5,
                  "disk_bytes_read": 77, "disk_bytes_written": 9}]
    assert len(stat_line(7, comm)) > 4095 and len(io) > 4095
    run_asan(tmp_path, "SELECT * FROM processes")


def test_fixture_missing_io_and_status(tmp_path, root, conn):
    make_proc(tmp_path, 7, {"io": None})
    make_proc(tmp_path, 8, {"status": None})                       # no status: no row
    make_proc(tmp_path, 9, {"io": b"garbage\n:::\nread_bytes:\n"})
    root(tmp_path)
    r = rows(conn, "SELECT pid, disk_bytes_read, disk_bytes_written FROM processes")
    assert r == [{"pid": 7, "disk_bytes_read": None, "disk_bytes_written": None},
                 {"pid": 9, "disk_bytes_read": None, "disk_bytes_written": 0}]


def test_fixture_huge_cmdline(tmp_path, root, conn):
    big = b"x" * (1 << 20)
    make_proc(tmp_path, 11, {"cmdline": big + b"\0arg\0"})
    make_proc(tmp_path, 12, {"cmdline": b"y" * (9 << 20)})      # beyond the 8 MiB bound
    root(tmp_path)
    r = rows(conn, "SELECT pid, length(cmdline) AS n, substr(cmdline, -4) AS tail "
                   "FROM processes")
    assert r[0] == {"pid": 11, "n": (1 << 20) + 4, "tail": " arg"}
    assert r[1]["pid"] == 12 and r[1]["n"] == 8 << 20


def test_fixture_binary_bytes(tmp_path, root, conn):
    make_proc(tmp_path, 13, {"cmdline": b"\xff\xfe\0\xc3(\0\x01\x02\0",
                             "status": status_text(b"\xff\xc3(x"),
                             "stat": stat_line(13, b"\xff\xc3(x")})
    root(tmp_path)
    bytes_conn(conn)
    r = conn.execute("SELECT name, cmdline, state FROM processes").fetchall()
    assert r == [(b"\xff\xc3(x", b"\xff\xfe \xc3( \x01\x02", b"S")]


def test_fixture_garbage_status(tmp_path, root, conn):
    make_proc(tmp_path, 14, {"status": b"Name:\nUid: 1 2\n:::\n\x00\x01garbage\nVmRSS: kB\n"
                                       b"VmSize:\t12\nGid:\t1\t2\t3\t4\nUid:\t5\t6\t7\n"
                                       + b"Z" * 100000 + b"\n"})
    make_proc(tmp_path, 15, {"status": b"Name:\ta: b\nUid:\t0x10\t010\t9\t9\n"})
    make_proc(tmp_path, 16, {"status": b""})
    root(tmp_path)
    r = rows(conn, "SELECT pid, name, uid, euid, gid, egid, sgid, resident_size, total_size "
                   "FROM processes")
    assert r[0] == {"pid": 14, "name": "", "uid": None, "euid": None, "gid": 1, "egid": 2,
                    "sgid": 3, "resident_size": None, "total_size": None}
    # osquery's split on ':' drops the blank around a colon in the name, and
    # ids are read as base-0 integers.
    assert r[1]["name"] == "a:b" and r[1]["uid"] == 16 and r[1]["euid"] == 8
    assert r[2] == {"pid": 16, "name": "", "uid": None, "euid": None, "gid": None,
                    "egid": None, "sgid": None, "resident_size": None, "total_size": None}


def test_fixture_on_disk_rules(tmp_path, root, conn):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "weird (deleted)").write_text("")
    (bin_ / "other (deleted)").write_text("")
    ino = (bin_ / "weird (deleted)").stat().st_ino
    make_proc(tmp_path, 21, links={"exe": "/bin/gone (deleted)"})
    make_proc(tmp_path, 22, {"maps": f"00400000-00401000 r-xp 00000000 08:01 {ino}   "
                                     "/bin/weird (deleted)\n".encode()},
              links={"exe": "/bin/weird (deleted)"})
    make_proc(tmp_path, 23, {"maps": b"00400000-00401000 r-xp 00000000 08:01 1   "
                                     b"/bin/other (deleted)\n"},
              links={"exe": "/bin/other (deleted)"})
    make_proc(tmp_path, 24, links={"exe": "/bin/other (deleted)"})   # no maps
    make_proc(tmp_path, 25, links={"exe": "/bin/missing"})
    make_proc(tmp_path, 26, links={"exe": "/bin/weird (deleted)", "cwd": "/bin"})
    root(tmp_path)
    r = rows(conn, "SELECT pid, path, on_disk FROM processes")
    assert r == [
        {"pid": 21, "path": "/bin/gone", "on_disk": 0},
        {"pid": 22, "path": "/bin/weird (deleted)", "on_disk": 1},
        {"pid": 23, "path": "/bin/other", "on_disk": 0},
        {"pid": 24, "path": "/bin/other (deleted)", "on_disk": -1},
        {"pid": 25, "path": "/bin/missing", "on_disk": 0},
        {"pid": 26, "path": "/bin/weird (deleted)", "on_disk": -1},
    ]
    # path alone applies the same stripping
    assert rows(conn, "SELECT path FROM processes WHERE pid = 21") == [{"path": "/bin/gone"}]


def test_fixture_no_btime(tmp_path, root, conn):
    make_proc(tmp_path, 30, btime=None)
    root(tmp_path)
    assert rows(conn, "SELECT start_time FROM processes") == [{"start_time": -1}]


def test_fixture_pid_constraint_reads_only_that_dir(tmp_path, root, conn):
    make_proc(tmp_path, 100)
    make_proc(tmp_path, 2000)
    (tmp_path / "proc" / "300").write_text("not a directory")
    (tmp_path / "proc" / "self").mkdir()
    root(tmp_path)
    assert [r["pid"] for r in rows(conn, "SELECT pid FROM processes")] == [100, 2000]
    assert [r["pid"] for r in rows(conn, "SELECT pid FROM processes WHERE pid IN (2000, 300, 5)")] == [2000]


def test_empty_and_missing_proc(tmp_path, root, conn):
    (tmp_path / "empty" / "proc").mkdir(parents=True)
    root(tmp_path / "empty")
    assert rows(conn, "SELECT * FROM processes") == []
    root(tmp_path / "nothing")
    assert rows(conn, "SELECT * FROM processes") == []
    assert rows(conn, "SELECT * FROM processes WHERE pid = 1") == []


def test_vanishing_processes_do_not_fail(conn):
    """Processes exiting during scans: no error, no half rows."""
    procs = [subprocess.Popen(["sleep", "0.05"]) for _ in range(20)]
    try:
        for _ in range(5):
            for r in rows(conn, "SELECT pid, name, cmdline, path FROM processes"):
                assert r["name"] is not None and r["cmdline"] is not None
    finally:
        for p in procs:
            p.wait()


def test_asan_driver(tmp_path, asan_driver):
    """The sanitizer build on the live system and on a hostile tree."""
    exe = asan_driver
    make_proc(tmp_path, 1, {"stat": b"1 (x) S 1"})
    make_proc(tmp_path, 2, {"stat": stat_line(2, "a) (b"), "cmdline": b"z" * (3 << 20),
                            "status": b"Name:\nUid:\nVmRSS: 1\n\xff\xfe"})
    make_proc(tmp_path, 3, {"status": b"", "io": b"\x00" * 10000},
              links={"exe": "/x (deleted)"})
    for env in ({}, {"OSQLITE_ROOT": str(tmp_path)}):
        out = subprocess.run([str(exe), "-q", "SELECT * FROM processes",
                              "SELECT pid, name FROM processes WHERE pid IN (1, 2, 3)"],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, **env})
        assert out.returncode == 0, out.stderr[-3000:]
        assert "0 statement(s) failed" in out.stdout


def test_fixture_string_order(tmp_path, root, conn):
    pids = [1, 10, 100, 2, 20, 3, 9, 99, 1000000, 999, 1000, 2147483647, 21474836]
    for pid in pids:
        make_proc(tmp_path, pid)
    root(tmp_path)
    want = sorted(pids, key=str)
    assert [r["pid"] for r in rows(conn, "SELECT pid FROM processes")] == want
    got = rows(conn, "SELECT pid FROM processes WHERE pid IN (%s)" % ",".join(map(str, pids[::-1])))
    assert [r["pid"] for r in got] == want


def test_unused_files_are_not_touched(tmp_path, root, conn):
    """Which files a query opens, seen through atime: every file and link of
    a fixture process gets an old atime; reading it (read, readlink) moves
    the atime forward under relatime."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "x (deleted)").write_text("")
    d = make_proc(tmp_path, 77, {"maps": b"00400000-00401000 r-xp 0 08:01 1 /bin/x (deleted)\n"},
                  links={"exe": "/bin/x (deleted)", "cwd": "/", "root": "/"})
    names = ["status", "stat", "cmdline", "io", "cgroup", "maps", "exe", "cwd", "root"]

    def touched(sql: str) -> set[str]:
        for n in names:
            os.utime(d / n, (1000, 1000), follow_symlinks=False)
        conn.execute(sql).fetchall()
        return {n for n in names if os.lstat(d / n).st_atime != 1000}

    root(tmp_path)
    if "status" not in touched("SELECT name FROM processes"):
        pytest.skip("this filesystem does not update atime")
    assert touched("SELECT pid, name FROM processes") == {"status"}
    assert touched("SELECT uid, gid, resident_size FROM processes") == {"status"}
    assert touched("SELECT parent, nice, start_time FROM processes") == {"status", "stat"}
    assert touched("SELECT cmdline FROM processes") == {"status", "cmdline"}
    assert touched("SELECT disk_bytes_read FROM processes") == {"status", "io"}
    assert touched("SELECT cwd FROM processes") == {"status", "cwd"}
    assert touched("SELECT on_disk FROM processes") == {"status", "exe", "maps"}
    assert touched("SELECT * FROM processes") == set(names)
