"""Unit tests of osqlite.events: record parsers, the store, the C readers
of the evented tables, and osquery's events counter rules.  No daemon, no
kernel state is changed here (see test_events_e2e.py for that)."""
from __future__ import annotations

import binascii
import hashlib
import logging
import os
import struct

import pytest
from conftest import rows

import osqlite
from osqlite.events import EventManager, is_event_query, published_tables
from osqlite.events import audit as A
from osqlite.events import inotify as I
from osqlite.events import store as S
from osqlite.events import uevent as U

# -- audit record parsing ----------------------------------------------------

def test_decode_value_quoted_hex_null():
    assert A.decode_value('"/bin/ls"') == "/bin/ls"
    assert A.decode_value(binascii.hexlify(b"a b\nc").decode().upper()) == "a b\nc"
    assert A.decode_value("(null)") == ""
    assert A.decode_value(None) == ""
    assert A.decode_value("zz-not-hex") == "zz-not-hex"


def test_execve_args_plain_hex_and_split():
    recs = [A.parse_fields('argc=4 a0="ls" a1=2D6C20 a2_len=6 a2[0]=616263 a2[1]=646566'),
            A.parse_fields('a3="tail"')]
    assert A.execve_args(recs) == ["ls", "-l ", "abcdef", "tail"]
    assert A.execve_args([A.parse_fields("argc=garbage")]) == []
    assert A.execve_args([A.parse_fields("argc=3 a0=\"x\"")]) == ["x"]


def _records():
    syscall = A.parse_fields(
        'arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 items=2 ppid=10 pid=11 '
        'auid=1000 uid=1001 gid=1002 euid=1003 suid=1004 fsuid=1005 egid=1006 sgid=1007 '
        'fsgid=1008 tty=pts0 ses=3 comm="ls" exe="/bin/ls" key="osqlite"')
    execve = [A.parse_fields('argc=2 a0="ls" a1="-la"')]
    cwd = A.parse_fields('cwd=2F746D702F6120622F')
    paths = [A.parse_fields('item=0 name="/bin/ls" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=7')]
    return syscall, execve, cwd, paths


def test_process_row_columns():
    row = A.process_row(*_records(), "execve")
    assert row["pid"] == "11" and row["parent"] == "10"
    assert row["path"] == "/bin/ls" and row["cmdline"] == "ls -la"
    assert row["cmdline_size"] == 6 and row["cwd"] == "/tmp/a b/"
    assert (row["auid"], row["uid"], row["gid"], row["euid"], row["suid"], row["fsuid"],
            row["egid"], row["sgid"], row["fsgid"]) == (
        "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008")
    assert row["mode"] == "0100755" and row["owner_uid"] == "0" and row["owner_gid"] == "7"
    assert row["syscall"] == "execve" and row["env"] == "" and row["env_count"] == 0
    assert set(row) <= set(S.TABLE_COLUMNS["process_events"])
    st = os.stat("/bin/ls")
    assert row["mtime"] == int(st.st_mtime) and row["btime"] == 0


def test_sockaddr_parsing():
    r = {}
    assert A.parse_sockaddr("02000050C0A80001" + "0" * 16, "connect", r) == "inet"
    assert (r["family"], r["remote_address"], r["remote_port"], r["local_address"]) == (
        2, "192.168.0.1", 80, "0")
    r = {}
    sa6 = "0A00" + "1F90" + "00000000" + "0" * 31 + "1" + "00000000"
    assert A.parse_sockaddr(sa6, "bind", r)
    assert r["family"] == 10 and r["local_port"] == 8080
    assert r["local_address"] == "0000:0000:0000:0000:0000:0000:0000:0001"
    assert r["remote_address"] == "0"
    r = {}
    path = binascii.hexlify(b"/run/x.sock").decode().upper()
    assert A.parse_sockaddr("0100" + path + "00", "connect", r) == "unix"
    assert r["socket"] == "/run/x.sock"
    assert A.parse_sockaddr("FFFF", "connect", {}) is None


def _publisher(emitted, process=True, sockets=True, **kw):
    pub = A.AuditPublisher.__new__(A.AuditPublisher)
    A.AuditPublisher.__init__(pub, lambda t, r: emitted.append((t, r)), process, sockets, **kw)
    return pub


def _nl(mtype: int, text: str) -> bytes:
    body = text.encode() + b"\0"
    # The kernel's nlmsg_len for audit records counts the payload only.
    return struct.pack("=IHHII", len(body), mtype, 0, 0, 0) + body


def test_assembly_by_serial_and_key():
    out = []
    pub = _publisher(out)
    nr = pub.nr
    hdr = "audit(1700000000.100:77): "
    pub.handle(_nl(1300, hdr + f'arch=c000003e syscall={nr["execve"]} success=yes exit=0 '
                   'ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 '
                   'fsgid=0 exe="/bin/true" key="osqlite"'))
    pub.handle(_nl(1309, hdr + 'argc=2 a0="true" a1="marker"'))
    pub.handle(_nl(1307, hdr + 'cwd="/"'))
    pub.handle(_nl(1302, hdr + 'item=0 name="/bin/true" mode=0100755 ouid=0 ogid=0'))
    assert out == []
    pub.handle(_nl(1320, hdr))
    assert len(out) == 1 and out[0][0] == "process_events"
    assert out[0][1]["cmdline"] == "true marker" and out[0][1]["cwd"] == "/"
    # Another rule's records (no osqlite key) are ignored.
    h2 = "audit(1700000000.100:78): "
    pub.handle(_nl(1300, h2 + f'syscall={nr["execve"]} pid=3 key=(null)'))
    pub.handle(_nl(1309, h2 + 'argc=1 a0="x"'))
    pub.handle(_nl(1320, h2))
    assert len(out) == 1


def test_socket_events_filters():
    out = []
    pub = _publisher(out)
    nr = pub.nr

    def event(serial, name, success, exit_, saddr):
        h = f"audit(1700000000.1:{serial}): "
        pub.handle(_nl(1300, h + f'syscall={nr[name]} success={success} exit={exit_} a0=5 '
                       'pid=9 auid=0 exe="/usr/bin/curl" key="osqlite"'))
        pub.handle(_nl(1306, h + f"saddr={saddr}"))
        pub.handle(_nl(1320, h))

    event(1, "connect", "yes", 0, "02000050" + "7F000001")
    event(2, "connect", "no", -115, "02000050" + "7F000001")   # EINPROGRESS
    event(3, "connect", "no", -111, "02000050" + "7F000001")   # failed: dropped
    event(4, "bind", "yes", 0, "10000000")                     # NETLINK: dropped
    event(5, "accept4", "yes", 6, "02001234" + "7F000001")
    event(6, "connect", "yes", 0, "0100" + "2F7800")           # unix: dropped
    assert [(r["action"], r["status"]) for _, r in out] == [
        ("connect", "succeeded"), ("connect", "in_progress"), ("accept", "succeeded")]
    assert out[0][1]["remote_port"] == 80 and out[0][1]["fd"] == "5"
    assert out[2][1]["remote_port"] == 0x1234


def test_audit_hostile_records_do_not_crash():
    out = []
    pub = _publisher(out)
    for data in (b"", b"\x00" * 5, b"\xff" * 40, _nl(1300, "garbage"),
                 _nl(1300, "audit(1.2:3): " + "x" * 100000), _nl(1309, "audit(x:y): a0=1"),
                 struct.pack("=IHHII", 9999, 1300, 0, 0, 0) + b"audit(1.1:5): syscall=zz"):
        pub.handle(data)
    pub._flush(force=True)
    assert out == []


def test_lost_counter_warns_with_count(caplog):
    pub = _publisher([])
    pub.lost_base = 5
    seq = iter([(0, 1, 1, 0, 0, 64, 5, 0, 0, 0, 0), (0, 1, 1, 0, 0, 64, 12, 0, 0, 0, 0),
                (0, 1, 1, 0, 0, 64, 12, 0, 0, 0, 0)])
    pub.get_status = lambda sock=None: next(seq)
    with caplog.at_level(logging.WARNING, logger="osqlite.events"):
        assert pub.check_lost() == 0
        assert pub.check_lost() == 7
        assert pub.check_lost() == 7
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "lost 7 events" in msgs[0]


def test_proc_row_for_self():
    row = A.proc_row(os.getpid())
    assert row["pid"] == os.getpid() and row["parent"] == os.getppid()
    assert row["path"] == os.readlink("/proc/self/exe") and row["cwd"] == os.getcwd()
    assert row["uid"] == os.getuid() and row["egid"] == os.getegid()
    gone = A.proc_row(2 ** 22 + 12345)
    assert "cmdline" not in gone and gone["pid"] == 2 ** 22 + 12345


# -- inotify ---------------------------------------------------------------

def test_action_order_is_osquerys():
    assert I.action_of(I.IN_MODIFY | I.IN_CLOSE_WRITE) == "UPDATED"
    assert I.action_of(I.IN_ATTRIB | I.IN_CLOSE_WRITE) == "ATTRIBUTES_MODIFIED"
    assert I.action_of(I.IN_CREATE | I.IN_ISDIR) == "CREATED"
    assert I.action_of(I.IN_MOVED_FROM) == "MOVED_FROM"
    assert I.action_of(I.IN_DELETE) == "DELETED"
    assert I.action_of(I.IN_ACCESS | I.IN_OPEN) == "ACCESSED"
    assert I.action_of(0) == ""


def test_exclude_set():
    ex = I.ExcludeSet(["/tmp/a/", "/tmp/%/skip", "/var/log/%%", ""])
    assert ex.match("/tmp/a") and ex.match("/tmp/a/")
    assert not ex.match("/tmp/a/b")
    assert ex.match("/tmp/x/skip") and not ex.match("/tmp/x/y/skip")
    assert ex.match("/var/log") and ex.match("/var/log/a/b/c")
    assert not ex.match("/var/logs")
    assert not I.ExcludeSet([])


def test_resolve_patterns(tmp_path):
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    pub = I.INotifyPublisher.__new__(I.INotifyPublisher)
    t = str(tmp_path)
    [s] = pub._resolve("c", t, False)
    assert s.path == t + "/" and not s.recursive and s.leaf is None
    [s] = pub._resolve("c", I.to_glob(t + "/%%"), False)
    assert s.path == t + "/" and s.recursive
    [s] = pub._resolve("c", I.to_glob(t + "/%.conf"), True)
    assert s.path == t + "/" and s.leaf == "*.conf" and s.mask & I.IN_OPEN
    # A wildcard in the stem is expanded once, to what exists now (as osquery).
    (tmp_path / "d1" / "x").write_text("")
    subs = pub._resolve("c", I.to_glob(t + "/%/x"), False)
    assert [x.path for x in subs] == [t + "/d1/x"]
    subs = pub._resolve("c", I.to_glob(t + "/%"), False)
    assert subs[0].path == t + "/" and subs[0].leaf == "*"


def test_file_row_hashes_and_stat(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"hello\x00world")
    r = I.file_row(str(p), True, False)
    data = p.read_bytes()
    assert r["md5"] == hashlib.md5(data).hexdigest()
    assert r["sha1"] == hashlib.sha1(data).hexdigest()
    assert r["sha256"] == hashlib.sha256(data).hexdigest()
    st = os.lstat(p)
    assert (r["hashed"], r["inode"], r["size"], r["mode"]) == (1, st.st_ino, 11,
                                                              "%04o" % (st.st_mode & 0o7777))
    assert I.file_row(str(p), True, False, read_max=4)["hashed"] == -1
    assert I.file_row(str(p), False, False)["hashed"] == 0
    assert I.file_row(str(tmp_path / "gone"), True, False) == {"hashed": -1}
    assert I.file_row(str(tmp_path / "gone"), False, False) == {"hashed": 0}
    acc = I.file_row(str(p), True, True)
    assert acc["hashed"] == 0 and acc["inode"] == "0" and "md5" not in acc


def test_inotify_overflow_and_garbage(caplog):
    out = []
    pub = I.INotifyPublisher(lambda t, r: out.append(r))
    ev = I.EVENT_HEADER.pack(-1, I.IN_Q_OVERFLOW, 0, 0)
    with caplog.at_level(logging.WARNING, logger="osqlite.events"):
        pub._handle(ev + ev)
    assert pub.overflows == 2
    assert any("overflow count 2" in r.getMessage() for r in caplog.records)
    # Unknown watch descriptors, truncated records and garbage are ignored.
    pub._handle(I.EVENT_HEADER.pack(99, I.IN_CREATE, 0, 16) + b"name\0" + b"\0" * 11)
    pub._handle(b"\x01\x02\x03")
    pub._handle(I.EVENT_HEADER.pack(99, I.IN_CREATE, 0, 4096))
    assert out == []


def test_inotify_publisher_directly(tmp_path):
    out = []
    pub = I.INotifyPublisher(lambda t, r: out.append(r))
    pub.setup()
    try:
        pub.configure({"c": [str(tmp_path) + "/%%"]}, {"x": [str(tmp_path) + "/skip"]})
        pub.start()
        (tmp_path / "a").write_text("1")
        (tmp_path / "skip").mkdir()
        (tmp_path / "skip" / "hidden").write_text("1")
        os.rename(tmp_path / "a", tmp_path / "b")
        os.unlink(tmp_path / "b")
        import time
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(r["action"] == "DELETED" for r in out):
            time.sleep(0.05)
    finally:
        pub.stop()
    got = [(r["target_path"][len(str(tmp_path)):], r["action"]) for r in out]
    assert got[:3] == [("/a", "CREATED"), ("/a", "UPDATED"), ("/a", "UPDATED")]
    assert ("/a", "MOVED_FROM") in got and ("/b", "MOVED_TO") in got
    assert got[-1] == ("/b", "DELETED")
    assert not any(p.startswith("/skip/") for p, _ in got)
    mv = [r for r in out if r["action"] in ("MOVED_FROM", "MOVED_TO")]
    assert mv[0]["transaction_id"] == mv[1]["transaction_id"] != 0


# -- uevents -----------------------------------------------------------------

def test_uevent_parsing_and_rows():
    env = U.parse_uevent(b"add@/devices/virtual/net/osq0\0ACTION=add\0DEVPATH=/devices/"
                         b"virtual/net/osq0\0SUBSYSTEM=net\0INTERFACE=osq0\0IFINDEX=9\0SEQNUM=1\0")
    row = U.hardware_row(env)
    assert row["action"] == "add" and row["type"] == "net"
    assert row["path"] == "/sys/devices/virtual/net/osq0"
    env = U.parse_uevent(b"change@/devices/virtual/block/loop3\0ACTION=change\0DEVPATH=/devices/"
                         b"virtual/block/loop3\0SUBSYSTEM=block\0DEVTYPE=disk\0DEVNAME=loop3\0"
                         b"MAJOR=7\0MINOR=3\0")
    row = U.hardware_row(env)
    assert (row["action"], row["path"], row["type"]) == ("change", "/dev/loop3", "disk")
    # osquery skips events without a type, and without node and driver.
    assert U.hardware_row(U.parse_uevent(b"add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=cpu\0")) is None
    assert U.hardware_row(U.parse_uevent(
        b"add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=usb\0DEVTYPE=usb_interface\0")) is None
    for junk in (b"", b"libudev\0\0\0", b"\xff\xfe", b"noat\0A=1", b"a@b\0ACTION=add\0"):
        assert U.parse_uevent(junk) is None


# -- store and the C readers -------------------------------------------------

def _row(path, action="CREATED"):
    return {"target_path": path, "category": "c", "action": action}


def test_store_batches_and_eids_survive_restart(tmp_path):
    db = str(tmp_path / "state.db")
    st = S.EventStore(db)
    st.write_batch([("file_events", 100, _row("/a")), ("file_events", 100, _row("/b")),
                    ("process_events", 101, {"pid": 5, "cmdline": "x"})])
    st.stop()
    st = S.EventStore(db)
    st.write_batch([("file_events", 102, _row("/c"))])
    st.stop()
    conn = osqlite.connect()
    conn.execute("ATTACH DATABASE ? AS osqlite_events", (db,))
    got = rows(conn, "SELECT target_path, eid, time FROM file_events")
    assert got == [{"target_path": "/a", "eid": "0000000001", "time": 100},
                   {"target_path": "/b", "eid": "0000000002", "time": 100},
                   {"target_path": "/c", "eid": "0000000003", "time": 102}]
    assert rows(conn, "SELECT pid, cmdline FROM process_events") == [{"pid": 5, "cmdline": "x"}]
    # time constraints are pushed down and exact.
    assert [r["target_path"] for r in rows(conn, "SELECT * FROM file_events WHERE time > 100")] == ["/c"]
    assert [r["target_path"] for r in rows(conn, "SELECT * FROM file_events WHERE time = 100")] == ["/a", "/b"]
    assert [r["target_path"] for r in rows(conn, "SELECT * FROM file_events WHERE time <= 100.5")] == ["/a", "/b"]
    # The per-query window, and a time constraint disabling it.
    conn.execute("CREATE TEMP TABLE osqlite_events_window(tbl TEXT PRIMARY KEY, lo, hi)")
    conn.execute("INSERT INTO temp.osqlite_events_window VALUES ('file_events', 1, 2)")
    assert [r["target_path"] for r in rows(conn, "SELECT * FROM file_events")] == ["/b"]
    assert len(rows(conn, "SELECT * FROM file_events WHERE time >= 0")) == 3
    conn.close()


def test_plain_connection_has_empty_event_tables(conn):
    for t in ("file_events", "process_events", "socket_events", "hardware_events"):
        assert rows(conn, f"SELECT * FROM {t}") == []


def test_expiry_keeps_newest_batch(tmp_path):
    st = S.EventStore(str(tmp_path / "s.db"), events_expiry=60, events_max=50000)
    st.write_batch([("file_events", 1000, _row("/old")), ("file_events", 1100, _row("/mid"))])
    st.expire(now=1150)
    assert st.counts_in_db()["file_events"] == 1           # /old expired
    st.expire(now=99999)
    assert st.counts_in_db()["file_events"] == 1           # newest batch kept
    st.stop()


def test_events_max_counts_batches(tmp_path, caplog):
    st = S.EventStore(str(tmp_path / "s.db"), events_expiry=0, events_max=2)
    st.write_batch([("file_events", t, _row(f"/{t}-{i}")) for t in (1, 2, 3) for i in range(3)])
    with caplog.at_level(logging.WARNING, logger="osqlite.events"):
        st.expire(now=10)
    assert st.counts_in_db()["file_events"] == 6           # 2 batches of 3 kept
    assert any("Removed 1 event batches for subscriber: file_events" in r.getMessage()
               for r in caplog.records)
    st.stop()


def test_min_expiry():
    assert S.min_expiry(10) == 60 and S.min_expiry(20) == 120 and S.min_expiry(1200) == 3660


def test_min_expiry_adjusts(tmp_path, caplog):
    st = S.EventStore(str(tmp_path / "s.db"), events_expiry=100)
    with caplog.at_level(logging.INFO, logger="osqlite.events"):
        st.set_min_intervals({"file_events": 3600, "process_events": 10})
    assert st.expiry("file_events") == 10860 and st.expiry("process_events") == 100
    assert any("adjusted: 10860" in r.getMessage() for r in caplog.records)
    st.stop()


def test_manager_windows_exactly_once(tmp_path):
    mgr = EventManager(str(tmp_path / "s.db"), {"disable_hardware_events": True})
    mgr.start()
    conn = osqlite.connect()
    conn.isolation_level = None
    try:
        mgr.prepare_connection(conn)
        sql = "SELECT target_path FROM file_events"
        for p in ("/1", "/2"):
            mgr.emit("file_events", _row(p))
        mgr.flush()
        tok = mgr.begin_query(conn, "q", sql)
        assert [r[0] for r in conn.execute(sql)] == ["/1", "/2"]
        mgr.end_query("q", tok, True, conn)
        mgr.emit("file_events", _row("/3"))
        mgr.flush()
        # A failed run does not advance the query's position.
        tok = mgr.begin_query(conn, "q", sql)
        mgr.end_query("q", tok, False, conn)
        tok = mgr.begin_query(conn, "q", sql)
        assert [r[0] for r in conn.execute(sql)] == ["/3"]
        mgr.end_query("q", tok, True, conn)
        tok = mgr.begin_query(conn, "q", sql)
        assert conn.execute(sql).fetchall() == []
        mgr.end_query("q", tok, True, conn)
        # Another query, and unscheduled queries, see the whole buffer.
        tok = mgr.begin_query(conn, "other", sql)
        assert len(conn.execute(sql).fetchall()) == 3
        mgr.end_query("other", tok, True, conn)
        assert len(conn.execute(sql).fetchall()) == 3
        cols, evrows = mgr.osquery_events()
        sub = {r[0]: dict(zip(cols, r)) for r in evrows}
        assert sub["file_events"]["events"] == 3 and sub["file_events"]["type"] == "subscriber"
    finally:
        conn.close()
        mgr.stop()


def test_is_event_query():
    assert is_event_query("select * from FILE_EVENTS f join processes p")
    assert is_event_query("SELECT * FROM user_events")
    assert not is_event_query("SELECT * FROM my_file_events_x")
    assert published_tables("select * from socket_events, process_events") == {
        "socket_events", "process_events"}


def test_disable_events_starts_nothing(tmp_path):
    mgr = EventManager(str(tmp_path / "s.db"), {"disable_events": True,
                                                 "enable_file_events": True})
    mgr.start()
    assert mgr.store is None and mgr.publishers == {}
    mgr.stop()


def test_audit_without_capability_is_unavailable():
    """Without CAP_AUDIT_CONTROL setup() raises AuditUnavailable (and
    changes nothing); run in a child with the capability dropped."""
    import shutil
    import subprocess
    import sys
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to drop CAP_AUDIT_CONTROL")
    code = ("from osqlite.events.audit import AuditPublisher, AuditUnavailable\n"
            "try:\n    AuditPublisher(lambda t, r: None, True, True).setup()\n"
            "except AuditUnavailable as e:\n    print('unavailable:', e)\n")
    out = subprocess.run([setpriv, "--bounding-set", "-audit_control,-audit_read",
                          sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.startswith("unavailable: cannot open the audit netlink socket"), out


def test_time_pushdown_matches_sqlite_semantics(conn):
    """The C reader narrows its scan by time constraints; the results must
    equal SQLite's own comparison for ints, fractional and huge bounds."""
    conn.execute("CREATE TEMP TABLE osqlite_data_file_events(eid INTEGER PRIMARY KEY, time, "
                 "target_path)")
    conn.executemany("INSERT INTO osqlite_data_file_events(time, target_path) VALUES (?, ?)",
                     [(t, str(t)) for t in (-2, -1, 0, 1, 2, 3)])
    # The oracle has the vtab's BIGINT affinity, so '2' compares as 2 in both.
    conn.execute("CREATE TEMP TABLE plain(time BIGINT, target_path TEXT)")
    conn.execute("INSERT INTO plain SELECT time, target_path FROM osqlite_data_file_events")
    for where in ("time < 1.5", "time > 1.5", "time <= -1.5", "time >= -1.5", "time = 1.0",
                  "time = 1.5", "time > -1.5 AND time < 2.5", "time <= 9e18", "time > 1e300",
                  "time < -1e300", "time > 9223372036854775807", "time = '2'", "time > 'a'",
                  "time IN (1, 3)", "time >= 2 AND time <= 2"):
        got = [r[0] for r in conn.execute(f"SELECT target_path FROM file_events WHERE {where}")]
        want = [r[0] for r in conn.execute(f"SELECT target_path FROM plain WHERE {where}")]
        assert got == want, where


def test_real_inotify_overflow_is_a_warning_with_count(tmp_path, caplog):
    """Fill the kernel's queue (fs.inotify.max_queued_events) without
    reading: the overflow must be reported, not silently swallowed."""
    try:
        limit = int(open("/proc/sys/fs/inotify/max_queued_events").read())
    except (OSError, ValueError):
        pytest.skip("cannot read fs.inotify.max_queued_events")
    if limit > 100000:
        pytest.skip(f"max_queued_events is {limit}: too many files to overflow it")
    out = []
    pub = I.INotifyPublisher(lambda t, r: out.append(r))
    pub.setup()
    try:
        pub.configure({"c": [str(tmp_path) + "/"]})
        for i in range(limit // 3 + 10):       # 3 events per file
            with open(tmp_path / f"f{i}", "w") as f:
                f.write("x")
        with caplog.at_level(logging.WARNING, logger="osqlite.events"):
            while True:
                try:
                    data = os.read(pub.fd, 1 << 20)
                except BlockingIOError:
                    break
                pub._handle(data)
    finally:
        pub.stop()
    assert pub.overflows == 1
    assert any("overflow count 1" in r.getMessage() for r in caplog.records)
    assert len(out) == limit        # everything the kernel kept was reported


def test_watched_file_replaced_by_rename_stays_watched(tmp_path):
    import time
    out = []
    target = tmp_path / "conf"
    target.write_text("v1")
    pub = I.INotifyPublisher(lambda t, r: out.append((r["target_path"], r["action"])))
    pub.setup()
    try:
        pub.configure({"c": [str(target)]})
        pub.start()
        new = tmp_path / "conf.tmp"
        new.write_text("v2")
        os.rename(new, target)           # the old inode is gone: IN_IGNORED
        time.sleep(0.5)
        with open(target, "a") as f:     # the new file is watched again
            f.write("more")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(out) < 2:
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        pub.stop()
    assert out[-2:] == [(str(target), "UPDATED"), (str(target), "UPDATED")]
