"""The socket tables read through NETLINK_SOCK_DIAG give the same rows as the
/proc/net fallback (OSQLITE_SOCK_DIAG=0) on the same snapshot, in this
network namespace and in a private one; the reply parser survives hostile
netlink messages under ASan/UBSan."""
from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
import sys

import pytest
from asan_helper import driver, run_asan
from conftest import rows

# A child holding one socket of every kind the tables read; in "netns" mode
# it first moves into a network namespace of its own (nobody else's sockets
# there, so the snapshot cannot change under the test) and brings lo up.
CHILD = r"""
import ctypes, fcntl, os, socket, struct, sys
mode, tmp = sys.argv[1], sys.argv[2]
if mode == "netns":
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:                   # CLONE_NEWNET
        print("skip", os.strerror(ctypes.get_errno()), flush=True)
        sys.exit(0)
    s = socket.socket()
    fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", 0x41))  # SIOCSIFFLAGS up
    s.close()
held = []
def keep(make):
    try:
        held.append(make())
    except OSError:
        pass
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(8); held.append(lst)
cli = socket.create_connection(lst.getsockname()); srv, _ = lst.accept()
held += [cli, srv]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
held.append(u)
uc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); uc.connect(u.getsockname())
held.append(uc)
def v6listen():
    s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); s.listen(1); return s
def v6mapped():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::ffff:127.0.0.1", 0)); return s
def lite():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136); s.bind(("127.0.0.1", 0))
    return s
def raw():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 17); s.connect(("127.0.0.1", 9))
    return s
keep(v6listen); keep(v6mapped); keep(lite); keep(raw)
keep(lambda: socket.socket(socket.AF_INET6, socket.SOCK_RAW, 58))
keep(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88cc)))
un = socket.socket(socket.AF_UNIX); un.bind(os.path.join(tmp, "with space.sock"))
un.listen(1); held.append(un)
ab = socket.socket(socket.AF_UNIX); ab.bind(b"\0osqlite\0abstract"); held.append(ab)
auto = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); auto.bind(""); held.append(auto)
held += list(socket.socketpair())
held.append(socket.socket(socket.AF_UNIX))                         # unbound
print("ready", os.stat("/proc/self/ns/net").st_ino, len(held), flush=True)
sys.stdin.read()
"""


@pytest.fixture(params=["hostns", "netns"])
def holder(request, tmp_path):
    p = subprocess.Popen([sys.executable, "-c", CHILD, request.param, str(tmp_path)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        if not line or line[0] != "ready":
            pytest.skip(f"no private network namespace here: {' '.join(line[1:])}")
        yield p.pid, line[1], int(line[2])
    finally:
        p.stdin.close()
        p.kill()
        p.wait()


def _sorted(rs):
    return sorted(rs, key=lambda r: tuple(str(v) for v in r.values()))


def _both(conn, monkeypatch, sql, *params):
    monkeypatch.delenv("OSQLITE_SOCK_DIAG", raising=False)
    a = rows(conn, sql, *params)
    monkeypatch.setenv("OSQLITE_SOCK_DIAG", "0")
    b = rows(conn, sql, *params)
    monkeypatch.delenv("OSQLITE_SOCK_DIAG")
    return _sorted(a), _sorted(b)


def test_netlink_and_proc_files_give_the_same_rows(conn, monkeypatch, holder):
    pid, ns, held = holder
    diag, files = _both(conn, monkeypatch,
                        "SELECT * FROM process_open_sockets WHERE pid = ?", pid)
    assert diag == files
    assert len(diag) == held
    assert {r["net_namespace"] for r in diag} == {ns}
    kinds = {(r["family"], r["protocol"]) for r in diag}
    assert {(2, 6), (2, 17), (1, 0)} <= kinds
    states = {r["state"] for r in diag if r["protocol"] == 6}
    assert {"LISTEN", "ESTABLISHED"} <= states
    paths = {r["path"] for r in diag if r["family"] == 1}
    assert "@osqlite@abstract" in paths and any(p.endswith("/with") for p in paths)

    # The whole namespace, owners or not (the private one holds only ours).
    diag, files = _both(conn, monkeypatch,
                        "SELECT * FROM process_open_sockets WHERE net_namespace = ?", ns)
    mine = [r for r in diag if r["pid"] == pid]
    assert len(mine) == held
    if ns != str(os.stat("/proc/self/ns/net").st_ino):
        assert diag == files
    else:                       # the host's: compare what is stable (ours)
        assert mine == [r for r in files if r["pid"] == pid]

    diag, files = _both(conn, monkeypatch,
                        "SELECT * FROM listening_ports WHERE pid = ?", pid)
    assert diag == files
    ports = {(r["family"], r["protocol"]) for r in diag}
    assert (2, 6) in ports and (2, 17) in ports
    assert all(r["port"] == 0 and r["socket"] == 0 for r in diag if r["family"] == 1)


def test_netlink_reads_unix_names_as_names(conn, monkeypatch, tmp_path):
    """A UNIX socket name holding a newline splits its /proc/net/unix line:
    what follows parses as a socket of its own.  The dump carries the name
    as bytes, so no such row appears (and the path is cut at the newline,
    as the file shows it)."""
    fake = "0000000000000000: 00000002 00000000 00010000 0001 01 77777777 /fake"
    s = socket.socket(socket.AF_UNIX)
    s.bind(b"\0osq\n" + fake.encode())
    try:
        got = rows(conn, "SELECT socket, path FROM process_open_sockets WHERE pid = ?",
                   os.getpid())
        mine = [r for r in got if r["socket"] == os.fstat(s.fileno()).st_ino]
        assert [r["path"] for r in mine] == ["@osq"]
        assert 77777777 not in {r["socket"] for r in got}
        monkeypatch.setenv("OSQLITE_SOCK_DIAG", "0")
        got = rows(conn, "SELECT socket FROM process_open_sockets")
        assert 77777777 in {r["socket"] for r in got}     # the file's weakness
    finally:
        s.close()


# ----------------------------------------------------------------- hostile
# Replies built as the kernel lays them out (linux/netlink.h, inet_diag.h,
# unix_diag.h, packet_diag.h), then cut and garbled.

SEQ = 7
TCP, UDP, UNIX, PACKET = 1, 2, 5, 6


def _nlmsg(typ, payload, seq=SEQ, length=None):
    n = 16 + len(payload) if length is None else length
    msg = struct.pack("=IHHII", n, typ, 2, seq, 0) + payload
    return msg + b"\0" * (-len(msg) % 4)


def _inet(family, state, sport, dport, src, dst, inode):
    sockid = struct.pack("!HH", sport, dport) + src.ljust(16, b"\0") + \
        dst.ljust(16, b"\0") + struct.pack("=III", 0, 0, 0)
    return struct.pack("=BBBB", family, state, 0, 0) + sockid + \
        struct.pack("=IIIII", 0, 0, 0, 0, inode)


def _unix(inode, name):
    attr = struct.pack("=HH", 4 + len(name), 0) + name
    attr += b"\0" * (-len(attr) % 4)
    return struct.pack("=BBBBIII", 1, 1, 10, 0, inode, 0, 0) + attr


def _done():
    return _nlmsg(3, struct.pack("=i", 0))


def _good():
    return {
        TCP: _nlmsg(20, _inet(2, 10, 8080, 0, b"\x7f\0\0\x01", b"", 4242))
        + _nlmsg(20, _inet(10, 1, 443, 5555, b"\0" * 15 + b"\x01", b"\0" * 15 + b"\x01", 4243))
        + _done(),
        UDP: _nlmsg(20, _inet(2, 7, 53, 0, b"\0\0\0\0", b"", 99)) + _done(),
        UNIX: _nlmsg(20, _unix(555, b"/run/x.sock\0")) + _nlmsg(20, _unix(556, b""))
        + _done(),
        PACKET: _nlmsg(20, struct.pack("=BBHIII", 17, 3, 0x88CC, 777, 0, 0)) + _done(),
    }


def _run(files):
    args = []
    for kind, path in files:
        args += ["-d", str(kind), str(path)]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
    r = subprocess.run([str(driver()), "-q", *args], capture_output=True, text=True,
                       env=env, timeout=600)
    report = r.stdout + r.stderr
    assert r.returncode == 0, report[-4000:]
    assert "AddressSanitizer" not in report and "runtime error" not in report, report[-4000:]
    return r.stdout


def test_parser_reads_good_replies(tmp_path):
    files = []
    for kind, data in _good().items():
        p = tmp_path / f"good{kind}"
        p.write_bytes(data)
        files.append((kind, p))
    out = _run(files)
    assert "sock family=2 state=10 inode=4242 sport=8080 dport=0 num=0 src=7f000001" in out
    assert "family=10 state=1 inode=4243 sport=443 dport=5555" in out
    assert "inode=555" in out and "name=2f72756e2f782e736f636b00" in out
    assert "family=17 state=0 inode=777 sport=0 dport=0 num=35020" in out
    assert out.count("diag rc=0 done=1") == 4


def test_parser_survives_hostile_replies(tmp_path):
    rnd = random.Random(14)
    cases = []
    for kind, good in _good().items():
        for cut in range(len(good)):                    # every truncation
            cases.append((kind, good[:cut]))
        for _ in range(150):                            # random bytes changed
            b = bytearray(good)
            for _ in range(rnd.randint(1, 6)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            cases.append((kind, bytes(b)))
        for n in (0, 1, 15, 16, 17, 0x7FFFFFFF, 0xFFFFFFFF):   # lying lengths
            cases.append((kind, struct.pack("=I", n) + good[4:]))
        cases.append((kind, _nlmsg(20, b"\x02")))        # short payload
        cases.append((kind, _nlmsg(2, b"\x01")))         # short error
        cases.append((kind, _nlmsg(2, struct.pack("=i", -95))))
        cases.append((kind, _nlmsg(20, b"x" * 8, seq=99) + _done()))   # not ours
        cases.append((kind, _nlmsg(3, struct.pack("=i", -2))))  # dump failed
    # UNIX attributes with bad lengths: zero, past the message, oversized name.
    for alen in (0, 3, 5, 200, 0xFFFF):
        body = struct.pack("=BBBBIII", 1, 1, 10, 0, 1, 0, 0) + struct.pack("=HH", alen, 0) + b"a" * 8
        cases.append((UNIX, _nlmsg(20, body) + _done()))
    cases.append((UNIX, _nlmsg(20, _unix(9, b"n" * 300)) + _done()))
    files = []
    for i, (kind, data) in enumerate(cases):
        p = tmp_path / f"h{i}"
        p.write_bytes(data)
        files.append((kind, p))
    out = _run(files)
    results = [line for line in out.splitlines() if line.startswith("diag rc=")]
    assert len(results) == len(files)
    # A malformed reply is reported as one (never as a finished dump with
    # rows made up from bytes outside a message).
    assert any(line.startswith("diag rc=-74 ") for line in results)      # EBADMSG
    assert "diag rc=-95 done=1" in results                              # the error code
    assert "diag rc=-2 done=1" in results                   # DONE with an error
    oversized = [line for line in out.splitlines() if "inode=9 " in line]
    assert oversized and all(len(line.split("name=")[1]) == 2 * 108 for line in oversized)


def test_dumps_under_asan(holder):
    """The whole netlink path (a second namespace entered by the helper
    thread in netns mode) and the /proc fallback, under the sanitizers."""
    pid, _, _ = holder
    queries = ["SELECT * FROM process_open_sockets", "SELECT * FROM listening_ports",
               f"SELECT * FROM process_open_sockets WHERE pid = {pid}",
               "SELECT * FROM processes JOIN process_open_sockets USING (pid)",
               "SELECT * FROM process_envs e JOIN processes p USING (pid) "
               "WHERE p.name = 'python3'"]
    run_asan(None, *queries)
    env = dict(os.environ, OSQLITE_SOCK_DIAG="0")
    r = subprocess.run([str(driver()), *queries], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0 and "AddressSanitizer" not in r.stderr \
        and "runtime error" not in r.stderr, r.stderr[-4000:]
    assert "rows: SELECT * FROM listening_ports" in r.stdout
