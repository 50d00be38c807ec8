"""Unit tests of the event pipeline: the extension's audit, inotify and
syslog readers (fed the bytes the kernel or rsyslogd would deliver, through
osqlite_events_feed), the store, the C readers of the evented tables, and
osquery's events counter rules.  No daemon, no kernel state is changed here
(see test_events_e2e.py for that)."""
from __future__ import annotations

import binascii
import hashlib
import json
import logging
import os
import struct
import time

import pytest
from conftest import rows

import osqlite
from osqlite._sqlite import sqlite3
from osqlite.events import EventManager, is_event_query, published_tables
from osqlite.events import audit as A
from osqlite.events import inotify as I
from osqlite.events import store as S

# -- readers fed by hand -------------------------------------------------------


def reader(tmp_path, kind, **options):
    """A connection to a fresh store with a reader of `kind` (no kernel
    source) and its options set."""
    db = tmp_path / f"{kind}.db"
    if not db.exists():
        S.EventStore(str(db)).stop()
    c = osqlite.connect(str(db), isolation_level=None)
    c.text_factory = bytes
    c.execute("SELECT osqlite_events_open(?)", (kind,))
    for k, v in options.items():
        c.execute("SELECT osqlite_events_set(?, ?)", (k, v))
    return c


def feed(c, data: bytes) -> dict:
    return json.loads(c.execute("SELECT osqlite_events_feed(?)", (data,)).fetchone()[0])


def stored(c, table, cols="*"):
    """Rows of the store's table as dicts of text (bytes decoded with
    surrogateescape, the daemon's own decoding)."""
    cur = c.execute(f'SELECT {cols} FROM "osqlite_data_{table}" ORDER BY eid')
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        out.append({n: v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v
                    for n, v in zip(names, r)})
    return out


def nl(mtype: int, text) -> bytes:
    """One audit record as a netlink message (the feed's framing)."""
    body = (text.encode() if isinstance(text, str) else text) + b"\0"
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


NR = {"execve": 59, "connect": 42, "bind": 49, "accept4": 288, "openat": 257, "write": 1,
      "read": 0, "close": 3, "clone": 56, "rename": 82, "unlink": 87, "dup": 32}
IDS = ("ppid={ppid} pid={pid} auid=1000 uid=1001 gid=1002 euid=1003 suid=1004 fsuid=1005 "
       "egid=1006 sgid=1007 fsgid=1008")


def syscall(serial, name, extra="", success="yes", exit_="0", pid=11, ppid=10,
            exe='"/bin/ls"', key='"osqlite"'):
    return nl(1300, f"audit(1700000000.100:{serial}): arch=c000003e syscall={NR[name]} "
                    f"success={success} exit={exit_} {extra} items=2 "
                    + IDS.format(pid=pid, ppid=ppid)
                    + f' tty=pts0 ses=3 comm="ls" exe={exe} key={key}')


def rec(serial, mtype, text):
    return nl(mtype, f"audit(1700000000.100:{serial}): {text}")


def eoe(serial):
    return rec(serial, 1320, "")


@pytest.fixture
def audit(tmp_path):
    c = reader(tmp_path, "audit", process=1, sockets=1)
    yield c
    c.close()


# -- audit: process_events -----------------------------------------------------

def test_execve_args_plain_hex_and_split(audit):
    feed(audit, syscall(1, "execve") + rec(1, 1309, 'argc=4 a0="ls" a1=2D6C20 a2_len=6 '
                                                    'a2[0]=616263 a2[1]=646566')
         + rec(1, 1309, 'a3="tail"') + eoe(1))
    feed(audit, syscall(2, "execve") + rec(2, 1309, "argc=garbage a0=\"x\"") + eoe(2))
    feed(audit, syscall(3, "execve") + rec(3, 1309, 'argc=3 a0="x"') + eoe(3))
    got = [r["cmdline"] for r in stored(audit, "process_events")]
    assert got == ["ls -l  abcdef tail", "", "x"]


def test_process_row_columns(audit):
    cwd = binascii.hexlify(b"/tmp/a b/\xff").decode().upper()    # not UTF-8
    feed(audit, syscall(7, "execve") + rec(7, 1309, 'argc=2 a0="ls" a1="-la"')
         + rec(7, 1307, f"cwd={cwd}")
         + rec(7, 1302, 'item=0 name="/bin/ls" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=7')
         + rec(7, 1302, 'item=1 name="/lib64/ld.so" inode=2 mode=0100644 ouid=5 ogid=5')
         + eoe(7))
    [row] = stored(audit, "process_events")
    assert row["pid"] == 11 and row["parent"] == 10
    assert row["path"] == "/bin/ls" and row["cmdline"] == "ls -la"
    assert row["cmdline_size"] == 6 and row["cwd"] == "/tmp/a b/\udcff"
    assert (row["auid"], row["uid"], row["gid"], row["euid"], row["suid"], row["fsuid"],
            row["egid"], row["sgid"], row["fsgid"]) == (
        1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008)
    assert row["mode"] == "0100755" and row["owner_uid"] == 0 and row["owner_gid"] == 7
    assert row["syscall"] == "execve" and row["env"] == "" and row["env_count"] == 0
    st = os.stat("/bin/ls")
    assert row["mtime"] == int(st.st_mtime) and row["btime"] == 0
    with open("/proc/uptime") as f:
        assert abs(row["uptime"] - float(f.read().split()[0])) < 5
    # The aliases of osquery's schema read the same cells.
    conn = osqlite.connect()
    conn.execute("ATTACH DATABASE ? AS osqlite_events",
                 (audit.execute("PRAGMA database_list").fetchone()[2].decode(),))
    [r] = rows(conn, "SELECT env_count, environment_count, mtime, modify_time, eid "
                     "FROM process_events")
    assert r == {"env_count": 0, "environment_count": 0, "mtime": row["mtime"],
                 "modify_time": row["mtime"], "eid": "0000000001"}
    conn.close()


def test_decode_values_as_osquery(audit):
    # "quoted" loses its quotes, hex is decoded, anything else is kept
    # (osquery's DecodeAuditPathValues: "(null)" stays "(null)").
    feed(audit, syscall(1, "execve", exe="(null)") + rec(1, 1309, 'argc=3 a0="a b" a1=41 a2=zz')
         + rec(1, 1307, "cwd=(null)") + eoe(1))
    [row] = stored(audit, "process_events")
    assert (row["path"], row["cmdline"], row["cwd"]) == ("(null)", "a b A zz", "(null)")


def test_assembly_by_serial_and_key(audit):
    hdr = 77
    s = feed(audit, syscall(hdr, "execve", exe='"/bin/true"') + rec(hdr, 1309, 'argc=2 a0="true" '
                                                                    'a1="marker"')
             + rec(hdr, 1307, 'cwd="/"') + rec(hdr, 1302, 'item=0 name="/bin/true" mode=0100755 '
                                                           'ouid=0 ogid=0'))
    assert s["rows"] == {} and s["pending_events"] == 1
    s = feed(audit, eoe(hdr))
    assert s["rows"] == {"process_events": 1}
    [row] = stored(audit, "process_events")
    assert row["cmdline"] == "true marker" and row["cwd"] == "/"
    # Another rule's records (no osqlite key) are ignored; so are failed
    # execs, as osquery drops them.
    feed(audit, syscall(78, "execve", key="(null)") + rec(78, 1309, 'argc=1 a0="x"') + eoe(78))
    feed(audit, syscall(79, "execve", success="no", exit_="-2") + rec(79, 1309, 'argc=1 a0="y"')
         + eoe(79))
    assert len(stored(audit, "process_events")) == 1
    # Records of two events interleaved.
    feed(audit, syscall(80, "execve") + syscall(81, "execve") + rec(81, 1309, 'argc=1 a0="b"')
         + rec(80, 1309, 'argc=1 a0="a"') + eoe(81) + eoe(80))
    assert [r["cmdline"] for r in stored(audit, "process_events")][1:] == ["b", "a"]


def test_event_without_eoe_completes_on_close(audit):
    feed(audit, syscall(5, "execve") + rec(5, 1309, 'argc=1 a0="late"'))
    assert stored(audit, "process_events") == []
    s = json.loads(audit.execute("SELECT osqlite_events_close()").fetchone()[0])
    assert s["rows"] == {"process_events": 1}
    assert [r["cmdline"] for r in stored(audit, "process_events")] == ["late"]


def test_malformed_syscall_records_are_dropped(audit):
    # osquery drops a syscall event without a numeric pid, uid, ... or exe.
    bad = nl(1300, "audit(1700000000.100:9): arch=c000003e syscall=59 success=yes exit=0 "
                   'ppid=1 pid=x auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 '
                   'fsgid=0 exe="/bin/x" key="osqlite"')
    s = feed(audit, bad + rec(9, 1309, 'argc=1 a0="x"') + eoe(9))
    assert s["rows"] == {} and s["malformed"] == 1


# -- audit: socket_events ------------------------------------------------------

def test_sockaddr_parsing(tmp_path):
    c = reader(tmp_path, "audit", sockets=1, allow_unix=1)

    def ev(serial, name, saddr):
        feed(c, syscall(serial, name, extra="a0=5") + rec(serial, 1306, f"saddr={saddr}")
             + eoe(serial))
    ev(1, "connect", "02000050C0A80001" + "0" * 16)
    ev(2, "bind", "0A00" + "1F90" + "00000000" + "0" * 31 + "1" + "00000000")
    ev(3, "connect", "0100" + binascii.hexlify(b"/run/x.sock").decode().upper() + "00")
    ev(4, "connect", "FFFF")
    got = stored(c, "socket_events")
    assert len(got) == 3
    assert (got[0]["family"], got[0]["remote_address"], got[0]["remote_port"],
            got[0]["local_address"]) == (2, "192.168.0.1", 80, "0")
    assert got[1]["family"] == 10 and got[1]["local_port"] == 8080
    assert got[1]["local_address"] == "0000:0000:0000:0000:0000:0000:0000:0001"
    assert got[1]["remote_address"] == "0"
    assert got[2]["family"] == 1 and got[2]["socket"] == "/run/x.sock"
    c.close()


def test_socket_events_filters(audit):
    def event(serial, name, success, exit_, saddr):
        feed(audit, syscall(serial, name, extra="a0=5", success=success, exit_=exit_,
                            exe='"/usr/bin/curl"') + rec(serial, 1306, f"saddr={saddr}")
             + eoe(serial))

    event(1, "connect", "yes", 0, "02000050" + "7F000001")
    event(2, "connect", "no", -115, "02000050" + "7F000001")   # EINPROGRESS
    event(3, "connect", "no", -111, "02000050" + "7F000001")   # failed: dropped
    event(4, "bind", "yes", 0, "10000000")                     # NETLINK: dropped
    event(5, "accept4", "yes", 6, "02001234" + "7F000001")
    event(6, "connect", "yes", 0, "0100" + "2F7800")           # unix: dropped
    out = stored(audit, "socket_events")
    assert [(r["action"], r["status"]) for r in out] == [
        ("connect", "succeeded"), ("connect", "in_progress"), ("accept", "succeeded")]
    assert out[0]["remote_port"] == 80 and out[0]["fd"] == "5" and out[0]["pid"] == 11
    assert out[0]["path"] == "/usr/bin/curl" and out[0]["success"] == 1
    assert out[2]["remote_port"] == 0x1234


def test_audit_hostile_records_do_not_crash(audit):
    junk = [b"", b"\x00" * 5, b"\xff" * 40, nl(1300, "garbage"),
            nl(1300, "audit(1.2:3): " + "x" * 100000), nl(1309, "audit(x:y): a0=1"),
            struct.pack("=IHHII", 9999, 1300, 0, 0, 0) + b"audit(1.1:5): syscall=zz",
            nl(1300, 'audit(1.1:6): key="osqlite" a0="unterminated'),
            nl(1112, "audit(1.1:7): msg='"), nl(1326, "audit(1.1:8): arch=zz code=0x"),
            nl(1400, 'audit(1.1:9): apparmor= apparmor="" x=' + '"' * 50),
            nl(1302, "audit(1.1:6): item=99999999999999999999999 name=" + "0" * 3),
            nl(1320, "audit(1.1:6): ")]
    for data in junk:
        feed(audit, data)
    audit.execute("SELECT osqlite_events_close()")
    assert stored(audit, "process_events") == [] and stored(audit, "socket_events") == []


def test_audit_rule_covers_the_subscribers(tmp_path):
    def mask(**opts):
        c = reader(tmp_path, "audit", **opts)
        blob = c.execute("SELECT osqlite_audit_rule()").fetchone()[0]
        c.close()
        flags, action, count = struct.unpack_from("=III", blob)
        bits = struct.unpack_from("=64I", blob, 12)
        assert (flags, action, count) == (4, 2, 2)           # exit filter, always
        assert blob.endswith(b"osqlite")
        return {n for n in range(64 * 32) if bits[n // 32] >> (n % 32) & 1}
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers checked for x86_64")
    assert mask(process=1) == {59, 322}
    assert mask(sockets=1) == {42, 43, 49, 288}
    assert mask(sockets=1, allow_accept=0) == {42, 49}
    fim = mask(fim=1)
    assert {2, 257, 0, 1, 3, 56, 82, 87, 76, 77} <= fim and 59 not in fim
    assert mask(user=1, selinux=1, seccomp=1) == set()


def test_lost_counter_warns_with_count(caplog):
    pub = A.AuditPublisher(None, {})
    pub.lost_base = 5
    seq = iter([(0, 1, 1, 0, 0, 64, 5, 0, 0, 0, 0), (0, 1, 1, 0, 0, 64, 12, 0, 0, 0, 0),
                (0, 1, 1, 0, 0, 64, 12, 0, 0, 0, 0)])

    class Ctl:
        def get_status(self):
            return next(seq)
    pub.ctl = Ctl()
    with caplog.at_level(logging.WARNING, logger="osqlite.events"):
        assert pub.check_lost() == 0
        assert pub.check_lost() == 7
        assert pub.check_lost() == 7
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "lost 7 events" in msgs[0]


def test_rule_key_of_listed_rules():
    head = struct.pack("=III", 4, 2, 2) + struct.pack("=64I", *([0] * 64))
    fields = [11, 210] + [0] * 62
    values = [0xC000003E, 7] + [0] * 62
    rule = (head + struct.pack("=64I", *fields) + struct.pack("=64I", *values)
            + struct.pack("=64I", *([0] * 64)) + struct.pack("=I", 7) + b"osqlite")
    assert A.rule_key(rule) == b"osqlite"
    other = rule[:-7] + b"another"
    assert A.rule_key(other) == b"another"
    assert A.rule_key(b"short") is None


def test_proc_row_for_self():
    row = A.proc_row(os.getpid())
    assert row["pid"] == os.getpid() and row["parent"] == os.getppid()
    assert row["path"] == os.readlink("/proc/self/exe") and row["cwd"] == os.getcwd()
    assert row["uid"] == os.getuid() and row["egid"] == os.getegid()
    gone = A.proc_row(2 ** 22 + 12345)
    assert "cmdline" not in gone and gone["pid"] == 2 ** 22 + 12345


def test_descriptors_need_the_event_connection(tmp_path):
    """Only a connection opened as ...?osqlite_events=1 may hand a kernel
    descriptor to a reader: a scheduled query cannot take over audit."""
    db = tmp_path / "s.db"
    S.EventStore(str(db)).stop()
    c = osqlite.connect(str(db))
    with pytest.raises(sqlite3.OperationalError, match="descriptors can only be given"):
        c.execute("SELECT osqlite_events_open('audit', 0)")
    c.close()
    r, w = os.pipe()
    try:
        from osqlite.events.pump import reader_connection
        c = reader_connection(str(db))
        assert c.execute("SELECT osqlite_events_open('syslog', ?)", (r,)).fetchone() == (1,)
        with pytest.raises(sqlite3.OperationalError, match="already has an event reader"):
            c.execute("SELECT osqlite_events_open('audit')")
        c.close()
    finally:
        os.close(r)
        os.close(w)
    c = osqlite.connect()
    with pytest.raises(sqlite3.OperationalError, match="no event reader"):
        c.execute("SELECT osqlite_events_pump(1)")
    with pytest.raises(sqlite3.OperationalError, match="the kind is one of"):
        c.execute("SELECT osqlite_events_open('nope')")
    c.close()


# -- audit: the other subscribers ----------------------------------------------

def test_user_events(tmp_path):
    c = reader(tmp_path, "audit", user=1)
    feed(c, rec(8, 1112, "pid=4242 uid=0 auid=1000 ses=3 msg='op=login id=1000 "
                         'exe="/usr/sbin/sshd" hostname=host addr=10.0.0.1 '
                         "terminal=/dev/pts/0 res=success'"))
    feed(c, rec(9, 1100, "pid=1 uid=0 auid=4294967295 ses=4294967295 msg='x'"))
    # Outside 1100-1199, and with the subscriber off, nothing.
    feed(c, rec(10, 2100, "pid=1 uid=0 msg='x'"))
    got = stored(c, "user_events")
    assert len(got) == 2
    r = got[0]
    assert (r["type"], r["pid"], r["uid"], r["auid"]) == (1112, 4242, 0, 1000)
    # osquery's fields: message is the first token of msg without its quote.
    assert (r["message"], r["path"], r["address"], r["terminal"]) == (
        "op=login", "/usr/sbin/sshd", "10.0.0.1", "/dev/pts/0")
    # msg='x': osquery keeps "x'" (it drops the first character only).
    assert got[1]["message"] == "x'" and got[1]["auid"] == 4294967295
    c.close()
    c = reader(tmp_path, "audit", user=0)
    assert feed(c, rec(8, 1112, "pid=1 uid=0 msg='op=x'"))["rows"] == {}
    c.close()


AVC = ('avc:  denied  { read } for  pid=1 comm="x" name="y" dev="sda1" ino=2 '
       'scontext=system_u:system_r:a_t:s0 tcontext=b tclass=file permissive=0')
AA = ('apparmor="DENIED" operation="open" profile="/usr/sbin/cupsd" name="/etc/shadow" '
      'pid=1234 comm="cupsd" requested_mask="r" denied_mask="r" fsuid=0 ouid=7 '
      'parent=1 capability=12 capname="net_admin" info="x y" error=-13 '
      'namespace="root" label="cupsd"')


def test_selinux_events(tmp_path):
    c = reader(tmp_path, "audit", selinux=1)
    feed(c, rec(1, 1400, AVC) + rec(2, 1403, "auid=0 ses=1 lsm=selinux res=1")
         + rec(3, 1400, AA))                         # AppArmor's: not SELinux
    got = stored(c, "selinux_events")
    assert [r["type"] for r in got] == ["AVC", "MAC_POLICY_LOAD"]
    # The raw record, header included (osquery's raw_data).
    assert got[0]["message"] == "audit(1700000000.100:1): " + AVC
    assert stored(c, "apparmor_events") == []
    c.close()


def test_user_avc_is_a_user_event_gated_by_selinux(tmp_path):
    # USER_AVC (1107) is both an SELinux type and a user-space message:
    # osquery's ShouldHandle lets it through only with
    # audit_allow_selinux_events, and then it is a user_events row.
    msg = "pid=7 uid=0 auid=1000 msg='avc:  denied  { status } for x'"
    for user, selinux, want in ((1, 1, 1), (1, 0, 0), (0, 1, 0)):
        d = tmp_path / f"u{user}s{selinux}"
        d.mkdir()
        c = reader(d, "audit", user=user, selinux=selinux)
        feed(c, rec(1, 1107, msg))
        got = stored(c, "user_events")
        assert [(r["type"], r["pid"]) for r in got] == [(1107, 7)] * want, (user, selinux)
        assert stored(c, "selinux_events") == []
        c.close()


def test_apparmor_events(tmp_path):
    c = reader(tmp_path, "audit", apparmor=1)
    feed(c, rec(3, 1400, AA) + rec(4, 1400, AVC) + rec(5, 1400, 'apparmor= operation="x"'))
    [r] = stored(c, "apparmor_events")
    assert (r["type"], r["apparmor"], r["operation"], r["profile"], r["name"]) == (
        "AA", "DENIED", "open", "/usr/sbin/cupsd", "/etc/shadow")
    assert (r["pid"], r["comm"], r["requested_mask"], r["denied_mask"], r["fsuid"],
            r["ouid"], r["parent"], r["capability"], r["capname"]) == (
        1234, "cupsd", "r", "r", 0, 7, 1, 12, "net_admin")
    # A quoted value keeps its spaces; a negative number is not an integer
    # for osquery (0); text fields are unquoted.
    assert r["info"] == "x y" and r["error"] == "-13"
    assert r["namespace"] == "root" and r["label"] == "cupsd"
    assert r["message"] == "audit(1700000000.100:3): " + AA
    assert stored(c, "selinux_events") == []
    c.close()


SECCOMP = ('auid=1000 uid=0 gid=0 ses=162176 subj=unconfined pid=14970 comm="qemu-system-x86" '
           'exe="/usr/bin/qemu-system-x86_64" sig=0 arch=c000003e syscall={nr} compat=0 '
           'ip=0x7fe6aa0bf51d code={code}')


def test_seccomp_events(tmp_path):
    c = reader(tmp_path, "audit", seccomp=1)
    feed(c, rec(1, 1326, SECCOMP.format(nr=0, code="0x7ffc0000"))
         + rec(2, 1326, SECCOMP.format(nr=88, code="0x80000000"))
         + rec(3, 1326, SECCOMP.format(nr=1337, code="0x00000000"))
         + rec(4, 1326, SECCOMP.format(nr=13, code="0x12345").replace("c000003e", "80000008"))
         + rec(5, 1326, SECCOMP.format(nr=1, code="0x7fc00000").replace("c000003e", "1")))
    got = stored(c, "seccomp_events")
    assert [(r["syscall"], r["arch"], r["code"]) for r in got] == [
        ("read", "X86_64", "LOG"), ("symlink", "X86_64", "KILL_PROCESS"),
        ("1337(unknown)", "X86_64", "KILL_THREAD"), ("13", "MIPS64", "74565(unknown)"),
        ("1", "1(unknown)", "2143289344(unknown)")]
    r = got[0]
    assert (r["auid"], r["uid"], r["gid"], r["ses"], r["pid"], r["sig"], r["compat"]) == (
        1000, 0, 0, 162176, 14970, 0, 0)
    assert (r["comm"], r["exe"], r["ip"]) == ("qemu-system-x86", "/usr/bin/qemu-system-x86_64",
                                              "0x7fe6aa0bf51d")
    c.close()


# -- audit: process_file_events ------------------------------------------------

def fim_reader(tmp_path, paths, **opts):
    c = reader(tmp_path, "audit", fim=1, **opts)
    for p in paths:
        c.execute("SELECT osqlite_events_set('fim_path', ?)", (p,))
    return c


def fim_event(c, serial, name, records=(), extra="", exit_="0", pid=100, ppid=99,
              cwd="/home/u"):
    """One FIM syscall event of the process /bin/sh: SYSCALL, CWD, the
    records given, EOE."""
    return feed(c, syscall(serial, name, extra=extra, exit_=exit_, pid=pid, ppid=ppid,
                           exe='"/bin/sh"') + rec(serial, 1307, f'cwd="{cwd}"')
                + b"".join(records) + eoe(serial))


def path_rec(serial, item, name, inode, nametype="NORMAL"):
    return rec(serial, 1302, f'item={item} name="{name}" inode={inode} dev=fe:00 mode=0100644 '
                             f"ouid=0 ogid=0 rdev=00:00 nametype={nametype}")


def test_process_file_events_write_rename_unlink(tmp_path):
    c = fim_reader(tmp_path, ["/srv/x", "/srv/y", "/srv/z"])
    def ev(serial, name, records=(), extra="", exit_="0", pid=100, ppid=99):
        data = syscall(serial, name, extra=extra, exit_=exit_, pid=pid, ppid=ppid,
                       exe='"/bin/sh"')
        data += rec(serial, 1307, 'cwd="/home/u"')
        return feed(c, data + b"".join(records) + eoe(serial))
    # open(O_WRONLY|O_CREAT|O_TRUNC) returns fd 12 (osquery would read the
    # decimal exit= as hex): open+truncate
    ev(1, "openat", [path_rec(1, 0, "/srv/", 10, "PARENT"), path_rec(1, 1, "/srv/x", 20, "CREATE")],
       extra="a0=ffffff9c a1=55 a2=241 a3=1b6", exit_="12")
    ev(2, "write", extra="a0=c a1=0 a2=5")          # fd 12: state changes -> a row
    ev(3, "write", extra="a0=c a1=0 a2=5")          # no change: no row
    ev(4, "read", extra="a0=c")                     # a read after a write: nothing
    ev(5, "close", extra="a0=c")                    # not a write: hidden by default
    # a fd of an untracked process: partial, hidden
    ev(6, "write", extra="a0=3", pid=555)
    # rename(/srv/x, /srv/y): 4 PATH records
    ev(7, "rename", [path_rec(7, 0, "/srv/", 10, "PARENT"), path_rec(7, 1, "/srv/", 10, "PARENT"),
                     path_rec(7, 2, "/srv/x", 20, "DELETE"), path_rec(7, 3, "/srv/y", 20, "CREATE")])
    # fork: the child (pid 101) inherits fd 4 of /srv/z, opened before (not truncated)
    ev(8, "openat", [path_rec(8, 0, "/srv/z", 30)], extra="a0=ffffff9c a1=55 a2=2", exit_="4")
    ev(9, "clone", extra="a0=1200011", exit_="101")
    ev(10, "write", extra="a0=4", pid=101, ppid=100)
    ev(11, "unlink", [path_rec(11, 0, "/srv/", 10, "PARENT"), path_rec(11, 1, "y", 20, "DELETE")])
    got = [(r["operation"], r["path"], r["dest_path"], r["pid"], r["partial"])
           for r in stored(c, "process_file_events")]
    assert got == [("open+truncate", "/srv/x", None, 100, "false"),
                   ("write", "/srv/x", None, 100, "false"),
                   ("rename", "/srv/x", "/srv/y", 100, "false"),
                   ("write", "/srv/z", None, 101, "false"),
                   ("unlink", "/srv/y", None, 100, "false")]
    r = stored(c, "process_file_events")[0]
    assert (r["executable"], r["cwd"], r["ppid"], r["uid"], r["fsgid"]) == (
        "/bin/sh", "/home/u", 99, "1001", "1008")
    c.close()


def test_process_file_events_accesses_and_partial(tmp_path):
    c = fim_reader(tmp_path, ["/srv/a"], fim_show_accesses=1, fim_show_partial=1)
    feed(c, syscall(1, "openat", extra="a0=ffffff9c a1=1 a2=0", exit_="5", exe='"/bin/cat"')
         + rec(1, 1307, 'cwd="/srv"') + path_rec(1, 0, "a", 40) + eoe(1))
    feed(c, syscall(2, "read", extra="a0=5", exe='"/bin/cat"') + eoe(2))
    feed(c, syscall(3, "close", extra="a0=5", exe='"/bin/cat"') + eoe(3))
    # a relative name resolved against the cwd, ".." normalized
    feed(c, syscall(4, "openat", extra="a0=ffffff9c a1=1 a2=0", exit_="6", exe='"/bin/cat"')
         + rec(4, 1307, 'cwd="/srv/sub"') + path_rec(4, 0, "../a", 40) + eoe(4))
    got = [(r["operation"], r["path"]) for r in stored(c, "process_file_events")]
    assert got == [("open", "/srv/a"), ("read", "/srv/a"), ("close", "/srv/a"),
                   ("open", "/srv/a")]
    c.close()


def test_process_file_events_dup_link_truncate_mmap(tmp_path):
    NR.update(dup2=33, linkat=265, symlink=88, truncate=76, ftruncate=77, mmap=9)
    c = fim_reader(tmp_path, ["/srv/a", "/srv/l", "/srv/s", "/srv/t"])

    def ev(*a, **kw):
        return fim_event(c, *a, pid=7, ppid=1, cwd="/srv", **kw)
    ev(1, "openat", [path_rec(1, 0, "/srv/a", 50)], extra="a0=ffffff9c a1=0 a2=2", exit_="3")
    ev(2, "dup2", extra="a0=3 a1=9", exit_="9")              # fd 9 is fd 3
    ev(3, "write", extra="a0=9")                             # write through the copy
    ev(4, "linkat", [path_rec(4, 0, "a", 50), path_rec(4, 1, "/srv/", 10, "PARENT"),
                     path_rec(4, 2, "l", 50, "CREATE")])
    ev(5, "symlink", [path_rec(5, 0, "/srv/a", 0), path_rec(5, 1, "/srv/", 10, "PARENT"),
                      path_rec(5, 2, "s", 60, "CREATE")])
    ev(6, "truncate", [path_rec(6, 0, "t", 70)])
    # mmap of a new descriptor, writable (PROT_WRITE in the MMAP record's flags)
    ev(7, "openat", [path_rec(7, 0, "/srv/t", 70)], extra="a0=ffffff9c a1=0 a2=2", exit_="4")
    ev(8, "mmap", [rec(8, 1323, "fd=4 flags=0x3")], extra="a0=0 a1=1000 a2=3 a3=1")
    got = [(r["operation"], r["path"], r["dest_path"]) for r in stored(c, "process_file_events")]
    assert got == [("write", "/srv/a", None), ("link", "/srv/a", "/srv/l"),
                   ("symlink", "/srv/a", "/srv/s"), ("write", "/srv/t", None),
                   ("write", "/srv/t", None)]
    c.close()


def test_execve_huge_argc_and_repeated_arguments(audit):
    # A later EXECVE record's value wins, as merged fields; a whole a<i>
    # wins over pieces; pieces stop at the first gap; argc bounds them.
    feed(audit, syscall(1, "execve") + rec(1, 1309, 'argc=4294967295 a0="x" a3="y" '
                                                    "a3[0]=7A a5[0]=41 a5[1]=42 a5[3]=43")
         + rec(1, 1309, 'a0="z"') + eoe(1))
    feed(audit, syscall(2, "execve") + rec(2, 1309, 'argc=1 a0="one" a1="two"') + eoe(2))
    assert [r["cmdline"] for r in stored(audit, "process_events")] == ["z y AB", "one"]


def test_store_made_by_an_older_version_gains_columns(tmp_path):
    db = tmp_path / "old.db"
    c = sqlite3.connect(str(db))
    c.execute('CREATE TABLE "osqlite_data_process_events" (eid INTEGER PRIMARY KEY, '
              'time INTEGER NOT NULL, "pid", "cmdline")')
    c.execute("INSERT INTO osqlite_data_process_events(time, pid, cmdline) VALUES (1, 5, 'old')")
    c.commit()
    c.close()
    S.EventStore(str(db)).stop()
    c = reader(tmp_path, "audit", process=1)
    c.close()
    c = osqlite.connect(str(db), isolation_level=None)
    c.execute("SELECT osqlite_events_open('audit')")
    c.execute("SELECT osqlite_events_set('process', 1)")
    s = json.loads(c.execute("SELECT osqlite_events_feed(?)", (
        syscall(1, "execve") + rec(1, 1309, 'argc=1 a0="new"') + eoe(1),)).fetchone()[0])
    assert s["rows"] == {"process_events": 1} and "store_error" not in s
    got = c.execute("SELECT eid, cmdline, status, syscall FROM osqlite_data_process_events "
                    "ORDER BY eid").fetchall()
    assert got == [(1, "old", None, None), (2, "new", None, "execve")]
    c.close()


# -- inotify -------------------------------------------------------------------

IN = {"ACCESS": 0x1, "MODIFY": 0x2, "ATTRIB": 0x4, "CLOSE_WRITE": 0x8, "OPEN": 0x20,
      "MOVED_FROM": 0x40, "MOVED_TO": 0x80, "CREATE": 0x100, "DELETE": 0x200,
      "Q_OVERFLOW": 0x4000, "IGNORED": 0x8000, "ISDIR": 0x40000000}


def inev(wd, mask, name=b"", cookie=0) -> bytes:
    """One struct inotify_event, its name NUL-padded to 16 bytes."""
    if isinstance(name, str):
        name = name.encode()
    n = (len(name) + 16) // 16 * 16 if name else 0
    return struct.pack("iIII", wd, mask, cookie, n) + name.ljust(n, b"\0")


def ino_reader(tmp_path, category="c", access=0, **opts):
    c = reader(tmp_path, "inotify", **opts)
    mask = I.DEFAULT_MASK | (I.ACCESS_MASK if access else 0)
    wd = c.execute("SELECT osqlite_inotify_watch(?, ?, ?, 0, NULL, ?)",
                   (category, str(tmp_path) + "/", mask, access)).fetchone()[0]
    assert wd >= 1
    return c, wd


def test_action_order_is_osquerys(tmp_path):
    c, wd = ino_reader(tmp_path, access=1)
    for mask in (IN["MODIFY"] | IN["CLOSE_WRITE"], IN["ATTRIB"] | IN["CLOSE_WRITE"],
                 IN["CREATE"] | IN["ISDIR"], IN["MOVED_FROM"], IN["DELETE"],
                 IN["ACCESS"] | IN["OPEN"], IN["OPEN"], IN["MOVED_TO"]):
        feed(c, inev(wd, mask, "f"))
    feed(c, inev(wd, 0x10, "f"))                       # IN_CLOSE_NOWRITE: no action
    assert [r["action"] for r in stored(c, "file_events")] == [
        "UPDATED", "ATTRIBUTES_MODIFIED", "CREATED", "MOVED_FROM", "DELETED", "ACCESSED",
        "OPENED", "MOVED_TO"]
    c.close()


def test_exclusions(tmp_path):
    t = str(tmp_path)
    c, wd = ino_reader(tmp_path)
    for p in (f"{t}/a/", f"{t}/%/skip", "/var/log/%%", ""):
        c.execute("SELECT osqlite_inotify_exclude(?)", (p,))
    for name in ("a", "b", "skip", "keep"):
        feed(c, inev(wd, IN["DELETE"], name))
    # a: its own path matches "<t>/a/"; skip: "<t>/%/skip" matches <t>/skip
    # only when <t> has one more level... it does not: kept.
    got = [r["target_path"][len(t):] for r in stored(c, "file_events")]
    assert got == ["/b", "/skip", "/keep"]
    c.close()
    # The parent directory matching excludes its entries; % is one level.
    sub = tmp_path / "x" / "y"
    sub.mkdir(parents=True)
    (tmp_path / "db2").mkdir()
    c = reader(tmp_path / "db2", "inotify")
    c.execute("SELECT osqlite_inotify_exclude(?)", (f"{t}/%/y",))
    wd = c.execute("SELECT osqlite_inotify_watch('c', ?, ?, 0, NULL, 0)",
                   (str(sub) + "/", I.DEFAULT_MASK)).fetchone()[0]
    feed(c, inev(wd, IN["DELETE"], "f"))
    assert stored(c, "file_events") == []
    c.close()


def test_resolve_patterns(tmp_path):
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    t = str(tmp_path)
    [s] = I.resolve("c", t, False)
    assert s.path == t + "/" and not s.recursive and s.leaf is None
    [s] = I.resolve("c", I.to_glob(t + "/%%"), False)
    assert s.path == t + "/" and s.recursive
    [s] = I.resolve("c", I.to_glob(t + "/%.conf"), True)
    assert s.path == t + "/" and s.leaf == "*.conf" and s.mask & I.IN_OPEN
    # A wildcard in the stem is expanded once, to what exists now (as osquery).
    (tmp_path / "d1" / "x").write_text("")
    subs = I.resolve("c", I.to_glob(t + "/%/x"), False)
    assert [x.path for x in subs] == [t + "/d1/x"]
    subs = I.resolve("c", I.to_glob(t + "/%"), False)
    assert subs[0].path == t + "/" and subs[0].leaf == "*"


def test_file_row_hashes_and_stat(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"hello\x00world")
    c, wd = ino_reader(tmp_path)
    feed(c, inev(wd, IN["CREATE"], "f") + inev(wd, IN["ATTRIB"], "f")
         + inev(wd, IN["CREATE"], "gone"))
    r, attrib, gone = stored(c, "file_events")
    data = p.read_bytes()
    assert r["md5"] == hashlib.md5(data).hexdigest()
    assert r["sha1"] == hashlib.sha1(data).hexdigest()
    assert r["sha256"] == hashlib.sha256(data).hexdigest()
    st = os.lstat(p)
    assert (r["hashed"], r["inode"], r["size"], r["mode"], r["uid"], r["mtime"]) == (
        1, st.st_ino, 11, "%04o" % (st.st_mode & 0o7777), st.st_uid, int(st.st_mtime))
    assert attrib["hashed"] == 0 and attrib["md5"] is None and attrib["inode"] == st.st_ino
    assert gone["hashed"] == -1 and gone["inode"] is None
    c.close()
    # read_max smaller than the file: hashed -1
    c = reader(tmp_path, "inotify", read_max=4)
    wd = c.execute("SELECT osqlite_inotify_watch('c', ?, ?, 0, NULL, 0)",
                   (str(tmp_path) + "/", I.DEFAULT_MASK)).fetchone()[0]
    feed(c, inev(wd, IN["MODIFY"], "f"))
    assert stored(c, "file_events")[-1]["hashed"] == -1
    c.close()
    # access categories are neither stat'ed nor hashed
    c, wd = ino_reader(tmp_path, category="acc", access=1)
    feed(c, inev(wd, IN["CREATE"], "f"))
    acc = stored(c, "file_events")[-1]
    assert acc["hashed"] == 0 and acc["inode"] == 0 and acc["mode"] == "0" and acc["md5"] is None
    c.close()


def test_hashing_leaves_atime_and_follows_changes(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"one")
    os.utime(p, (1000000000, os.stat(p).st_mtime))     # an old atime
    c, wd = ino_reader(tmp_path)
    feed(c, inev(wd, IN["CREATE"], "f") + inev(wd, IN["MODIFY"], "f")
         + inev(wd, IN["CLOSE_WRITE"], "f"))
    assert os.stat(p).st_atime == 1000000000            # read with O_NOATIME
    p.write_bytes(b"two, longer")
    feed(c, inev(wd, IN["MODIFY"], "f"))
    got = [(r["action"], r["md5"], r["size"]) for r in stored(c, "file_events")]
    one, two = hashlib.md5(b"one").hexdigest(), hashlib.md5(b"two, longer").hexdigest()
    assert got == [("CREATED", one, 3), ("UPDATED", one, 3), ("UPDATED", one, 3),
                   ("UPDATED", two, 11)]
    c.close()


def test_hash_never_follows_a_symlink(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root only")
    os.symlink(secret, tmp_path / "link")
    c, wd = ino_reader(tmp_path)
    feed(c, inev(wd, IN["CREATE"], "link"))
    [r] = stored(c, "file_events")
    assert r["hashed"] == 0 and r["md5"] is None       # a symlink is not hashed
    assert r["mode"] == "%04o" % (os.lstat(tmp_path / "link").st_mode & 0o7777)
    c.close()


def test_inotify_overflow_and_garbage(tmp_path):
    c, wd = ino_reader(tmp_path)
    s = feed(c, inev(-1, IN["Q_OVERFLOW"]) + inev(-1, IN["Q_OVERFLOW"]))
    assert s["overflows"] == 2
    assert any("overflow count 2" in n["msg"] for n in s["notes"])
    # Unknown watch descriptors, truncated records and garbage are ignored.
    feed(c, inev(wd + 99, IN["CREATE"], "name"))
    feed(c, b"\x01\x02\x03")
    feed(c, struct.pack("iIII", wd, IN["CREATE"], 0, 4096))
    assert stored(c, "file_events") == []
    c.close()


def test_non_utf8_names_keep_their_bytes(tmp_path):
    """A file with a name that is not UTF-8 next to a good one: both events
    are stored, the bad name as its bytes."""
    bad = os.fsencode(str(tmp_path)) + b"/bad\xff\xfename"
    with open(bad, "wb") as f:
        f.write(b"x")
    (tmp_path / "good").write_text("y")
    c, wd = ino_reader(tmp_path)
    s = feed(c, inev(wd, IN["CREATE"], b"bad\xff\xfename") + inev(wd, IN["CREATE"], "good"))
    assert s["rows"] == {"file_events": 2}
    raw = c.execute("SELECT target_path, md5 FROM osqlite_data_file_events ORDER BY eid").fetchall()
    assert raw == [(bad, hashlib.md5(b"x").hexdigest().encode()),
                   (os.fsencode(str(tmp_path / "good")), hashlib.md5(b"y").hexdigest().encode())]
    c.close()


def test_store_keeps_a_batch_with_non_utf8_rows(tmp_path):
    """The Python publishers' rows (udev, proc connector) with text that is
    not UTF-8 (surrogate escapes) are stored with the rest of their batch,
    and read back by the event tables as the same bytes."""
    db = str(tmp_path / "s.db")
    st = S.EventStore(db)
    bad = os.fsdecode(b"/tmp/bad\xffname")
    st.write_batch([("process_events", 100, {"pid": 1, "cmdline": "good one"}),
                    ("process_events", 100, {"pid": 2, "cmdline": bad + " arg"}),
                    ("process_events", 100, {"pid": 3, "cmdline": "\ud800 lone"}),
                    ("process_events", 100, {"pid": 4, "cmdline": "good two"})])
    st.stop()
    conn = osqlite.connect()
    conn.text_factory = bytes
    conn.execute("ATTACH DATABASE ? AS osqlite_events", (db,))
    got = conn.execute("SELECT pid, cmdline FROM process_events").fetchall()
    assert [p for p, _ in got] == [1, 2, 3, 4]
    assert got[1][1] == b"/tmp/bad\xffname arg" and got[3][1] == b"good two"
    conn.close()


def test_store_failure_keeps_rows_and_retries(tmp_path):
    """While the database cannot be written the reader keeps its rows
    (pending) and stores them, in order, once it can."""
    c, wd = ino_reader(tmp_path)
    c.execute("PRAGMA busy_timeout=50")
    db = c.execute("PRAGMA database_list").fetchone()[2].decode()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    s = feed(c, inev(wd, IN["DELETE"], "one"))
    assert s["rows"] == {} and s["pending"] == 1 and "locked" in s["store_error"]
    s = feed(c, inev(wd, IN["DELETE"], "two"))
    assert s["pending"] == 2
    blocker.execute("ROLLBACK")
    blocker.close()
    s = feed(c, b"")
    assert s["rows"] == {"file_events": 2} and s["pending"] == 0 and "store_error" not in s
    assert [r["target_path"][-3:] for r in stored(c, "file_events")] == ["one", "two"]
    c.close()


def test_inotify_publisher_directly(tmp_path):
    store = S.EventStore(str(tmp_path / "s.db"))
    store.start()
    pub = I.INotifyPublisher(store)
    w = tmp_path / "w"
    w.mkdir()
    pub.setup()
    try:
        pub.configure({"c": [str(w) + "/%%"]}, {"x": [str(w) + "/skip"]})
        pub.start()
        (w / "a").write_text("1")
        (w / "skip").mkdir()
        (w / "skip" / "hidden").write_text("1")
        os.rename(w / "a", w / "b")
        os.unlink(w / "b")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and store.counts.get("file_events", 0) < 6:
            time.sleep(0.05)
    finally:
        pub.stop()
        store.stop()
    c = sqlite3.connect(str(tmp_path / "s.db"))
    out = c.execute("SELECT target_path, action, transaction_id FROM osqlite_data_file_events "
                    "ORDER BY eid").fetchall()
    c.close()
    got = [(p[len(str(w)):], a) for p, a, _ in out]
    assert got[:3] == [("/a", "CREATED"), ("/a", "UPDATED"), ("/a", "UPDATED")]
    assert ("/a", "MOVED_FROM") in got and ("/b", "MOVED_TO") in got
    assert got[-1] == ("/b", "DELETED")
    assert not any(p.startswith("/skip/") for p, _ in got)
    mv = [t for p, a, t in out if a in ("MOVED_FROM", "MOVED_TO")]
    assert mv[0] == mv[1] != 0


# -- syslog --------------------------------------------------------------------

def test_syslog_lines_as_osquery_parses_them(tmp_path):
    c = reader(tmp_path, "syslog")
    s = feed(c, b'2023-01-01T00:00:00.123+00:00,myhost,6,daemon,sshd[1]:,"hello, ""world"""\n'
                b"2023-01-01T00:00:01+00:00, host2 ,3,auth,su:, spaced \n"
                b"a,b,1,c,d,\n"
                b"too,few\n"
                b"1,2,3,4,5,6,7\n"
                b"no newline yet")
    got = stored(c, "syslog_events", "datetime, host, severity, facility, tag, message")
    assert got == [
        {"datetime": "2023-01-01T00:00:00.123+00:00", "host": "myhost", "severity": 6,
         "facility": "daemon", "tag": "sshd[1]", "message": 'hello, "world"'},
        {"datetime": "2023-01-01T00:00:01+00:00", "host": "host2", "severity": 3,
         "facility": "auth", "tag": "su", "message": "spaced"},
        {"datetime": "a", "host": "b", "severity": 1, "facility": "c", "tag": "d",
         "message": ""}]
    msgs = [n["msg"] for n in s["notes"]]
    assert msgs == ["Received fewer fields than expected in line: too,few",
                    "Received more fields than expected in line: 1,2,3,4,5,6,7"]
    feed(c, b" rest,h,1,f,t,m\n")
    assert stored(c, "syslog_events")[-1]["datetime"] == "no newline yet rest"
    c.close()


def test_syslog_too_many_errors_stop_the_reader(tmp_path):
    c = reader(tmp_path, "syslog")
    s = feed(c, b"bad\n" * 12)
    assert s["dead"] == 1
    assert s["notes"][-1]["msg"] == "Too many errors in syslog parsing."
    assert len([n for n in s["notes"] if "fewer fields" in n["msg"]]) == 10
    c.close()


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
            "try:\n    AuditPublisher(None, {'process': 1, 'sockets': 1}).setup()\n"
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



def test_real_inotify_overflow_is_a_warning_with_count(tmp_path):
    """Fill the kernel's queue (fs.inotify.max_queued_events) without
    reading: the overflow must be reported, not silently swallowed."""
    try:
        limit = int(open("/proc/sys/fs/inotify/max_queued_events").read())
    except (OSError, ValueError):
        pytest.skip("cannot read fs.inotify.max_queued_events")
    if limit > 100000:
        pytest.skip(f"max_queued_events is {limit}: too many files to overflow it")
    w = tmp_path / "w"
    w.mkdir()
    c = reader(tmp_path, "inotify")
    c.execute("SELECT osqlite_inotify_watch('c', ?, ?, 0, NULL, 0)",
              (str(w) + "/", I.DEFAULT_MASK))
    for i in range(limit // 3 + 10):       # 3 events per file
        with open(w / f"f{i}", "w") as f:
            f.write("x")
    notes, total, overflows = [], 0, 0
    while True:
        s = json.loads(c.execute("SELECT osqlite_events_pump(300)").fetchone()[0])
        notes += [n["msg"] for n in s["notes"]]
        total += sum(s["rows"].values())
        overflows = s["overflows"]
        if not s["rows"]:
            break
    c.close()
    assert overflows == 1
    assert any("overflow count 1" in m for m in notes)
    assert total == limit        # everything the kernel kept was reported


def test_watched_file_replaced_by_rename_stays_watched(tmp_path):
    store = S.EventStore(str(tmp_path / "s.db"))
    store.start()
    target = tmp_path / "conf"
    target.write_text("v1")
    pub = I.INotifyPublisher(store)
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
        while time.monotonic() < deadline and store.counts.get("file_events", 0) < 2:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        pub.stop()
        store.stop()
    c = sqlite3.connect(str(tmp_path / "s.db"))
    out = c.execute("SELECT target_path, action FROM osqlite_data_file_events "
                    "ORDER BY eid").fetchall()
    c.close()
    assert out[-2:] == [(str(target), "UPDATED"), (str(target), "UPDATED")]
