"""process_open_sockets and listening_ports against psutil and against
hostile /proc trees built in tmp_path."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psutil
import pytest
from asan_helper import run_asan
from conftest import rows

TCP_STATES = {"CLOSE": "CLOSED", "NONE": ""}


def _inode(s: socket.socket) -> int:
    return os.fstat(s.fileno()).st_ino


@pytest.fixture
def my_sockets(tmp_path):
    """TCP listener, a connected TCP pair, UDP, an IPv6 listener if
    possible and a bound unix socket, all held by this process."""
    made = []
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    cli = socket.create_connection(lst.getsockname())
    srv, _ = lst.accept()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    made += [lst, cli, srv, udp]
    v6 = None
    if socket.has_ipv6:
        try:
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.bind(("::1", 0))
            v6.listen(1)
            made.append(v6)
        except OSError:
            v6 = None
    path = str(tmp_path / "u.sock")
    uni = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    uni.bind(path)
    uni.listen(1)
    made.append(uni)
    yield dict(lst=lst, cli=cli, srv=srv, udp=udp, v6=v6, uni=uni, path=path)
    for s in made:
        s.close()


def _psutil_inet(pid):
    out = set()
    for c in psutil.Process(pid).net_connections(kind="all"):
        if c.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        la = c.laddr
        ra = c.raddr or ("", 0)
        fam = int(c.family)
        zero = "0.0.0.0" if fam == 2 else "::"
        state = TCP_STATES.get(c.status, c.status)
        out.add((c.fd, fam, la[0], la[1], ra[0] or zero, ra[1], state))
    return out


def test_live_under_asan(my_sockets):
    run_asan(None, "SELECT * FROM process_open_sockets", "SELECT * FROM listening_ports",
             f"SELECT * FROM process_open_sockets WHERE pid = {os.getpid()}")


def test_pid_pushdown_matches_psutil(conn, my_sockets):
    pid = os.getpid()
    got = rows(conn, "SELECT * FROM process_open_sockets WHERE pid = ?", pid)
    assert got and all(r["pid"] == pid for r in got)
    inet = {(r["fd"], r["family"], r["local_address"], r["local_port"],
             r["remote_address"], r["remote_port"], r["state"])
            for r in got if r["family"] in (2, 10)}
    assert inet == _psutil_inet(pid)
    by_inode = {r["socket"]: r for r in got}
    for key in ("lst", "cli", "srv", "udp", "v6", "uni"):
        s = my_sockets[key]
        if s is None:
            continue
        r = by_inode[_inode(s)]
        assert r["fd"] == s.fileno()
        assert r["net_namespace"] == str(os.stat("/proc/self/ns/net").st_ino)
    lst = by_inode[_inode(my_sockets["lst"])]
    assert (lst["family"], lst["protocol"], lst["state"]) == (2, 6, "LISTEN")
    assert lst["local_address"] == "127.0.0.1"
    assert lst["local_port"] == my_sockets["lst"].getsockname()[1]
    cli = by_inode[_inode(my_sockets["cli"])]
    assert cli["state"] == "ESTABLISHED"
    assert cli["remote_port"] == my_sockets["lst"].getsockname()[1]
    udp = by_inode[_inode(my_sockets["udp"])]
    assert (udp["protocol"], udp["state"], udp["path"]) == (17, "", "")
    uni = by_inode[_inode(my_sockets["uni"])]
    assert (uni["family"], uni["path"], uni["local_address"],
            uni["local_port"], uni["state"]) == (1, my_sockets["path"], "", 0, "")
    if my_sockets["v6"] is not None:
        v6 = by_inode[_inode(my_sockets["v6"])]
        assert (v6["family"], v6["local_address"]) == (10, "::1")


def test_no_duplicate_sockets_live(conn, my_sockets):
    """Each socket inode once per namespace, even when some pids' ns links
    are unreadable (osquery would list those namespaces twice, as "0")."""
    got = rows(conn, "SELECT socket, net_namespace FROM process_open_sockets")
    got = [r for r in got if r["socket"] != 0]      # TIME_WAIT etc. have inode 0
    keys = [(r["socket"], r["net_namespace"]) for r in got]
    assert len(keys) == len(set(keys))
    assert len({r["socket"] for r in got}) == len(got)


def test_column_skipping_same_rows(conn, my_sockets):
    """Without pid/fd columns the fd scan is skipped; the rows are the same."""
    a = sorted(r[0] for r in conn.execute("SELECT socket FROM process_open_sockets"))
    b = sorted(r[0] for r in conn.execute("SELECT socket, pid FROM process_open_sockets"))
    n = conn.execute("SELECT count(*) FROM process_open_sockets").fetchone()[0]
    assert _inode(my_sockets["lst"]) in a
    assert abs(len(a) - len(b)) <= 4 and abs(n - len(b)) <= 4   # live churn only
    # Two reads agree unless a socket came or went between them (other work
    # on the host, another interpreter's run of this suite): read again.
    for _ in range(20):
        lp = conn.execute("SELECT count(*) FROM listening_ports").fetchone()[0]
        if lp == len(conn.execute("SELECT pid FROM listening_ports").fetchall()):
            break
    else:
        raise AssertionError(f"count(*) and the rows of listening_ports never agreed ({lp})")


def test_unfiltered_includes_ours_and_orphans(conn, my_sockets):
    pid = os.getpid()
    got = rows(conn, "SELECT pid, fd, socket FROM process_open_sockets")
    by_inode = {r["socket"]: r for r in got}
    for key in ("lst", "cli", "udp", "uni"):
        r = by_inode[_inode(my_sockets[key])]
        assert (r["pid"], r["fd"]) == (pid, my_sockets[key].fileno())
    assert all(r["pid"] == -1 and r["fd"] == -1 or r["pid"] > 0 for r in got)
    # pid = -1 inside the constraint means "everything" (osquery).
    # Sockets without a process (TIME_WAIT ones) come and go between two
    # reads: compare reads made back to back until none went in between.
    for _ in range(20):
        got = rows(conn, "SELECT pid, fd, socket FROM process_open_sockets")
        n_all = conn.execute("SELECT count(*) FROM process_open_sockets "
                             "WHERE pid IN (-1, ?)", (pid,)).fetchone()[0]
        if n_all >= len([r for r in got if r["pid"] in (-1, pid)]):
            break
    else:
        raise AssertionError(f"pid IN (-1, {pid}) gave {n_all} rows, fewer than its own sockets")


def test_pid_in_list_and_unknown_pid(conn, my_sockets):
    child = subprocess.Popen([sys.executable, "-c",
                              "import socket,time;s=socket.socket();"
                              "s.bind(('127.0.0.1',0));s.listen();"
                              "print(s.getsockname()[1],flush=True);time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        got = rows(conn, "SELECT pid, local_port, state FROM process_open_sockets"
                   " WHERE pid IN (?, ?)", os.getpid(), child.pid)
        assert {r["pid"] for r in got} == {os.getpid(), child.pid}
        assert {"pid": child.pid, "local_port": port, "state": "LISTEN"} in got
        assert rows(conn, "SELECT * FROM process_open_sockets WHERE pid = 0") == []
        assert rows(conn, "SELECT * FROM process_open_sockets WHERE pid = 99999999") == []
    finally:
        child.kill()
        child.wait()


def test_shared_inode_last_pid_in_string_order_wins(conn, my_sockets):
    s = my_sockets["udp"]
    child = subprocess.Popen([sys.executable, "-c", "import time;time.sleep(60)"],
                             pass_fds=[s.fileno()])
    try:
        time.sleep(0.2)
        pids = sorted([str(os.getpid()), str(child.pid)])
        got = rows(conn, "SELECT pid FROM process_open_sockets WHERE socket = ?",
                   _inode(s))
        assert [r["pid"] for r in got] == [int(pids[-1])]
    finally:
        child.kill()
        child.wait()


def test_listening_ports(conn, my_sockets):
    pid = os.getpid()
    ns = str(os.stat("/proc/self/ns/net").st_ino)
    got = rows(conn, "SELECT * FROM listening_ports WHERE pid = ? AND "
               "net_namespace = ?", pid, ns)
    by_sock = {r["socket"]: r for r in got}
    lst = by_sock[_inode(my_sockets["lst"])]
    assert (lst["port"], lst["address"], lst["protocol"], lst["family"],
            lst["fd"], lst["path"]) == (my_sockets["lst"].getsockname()[1],
                                        "127.0.0.1", 6, 2,
                                        my_sockets["lst"].fileno(), None)
    udp = by_sock[_inode(my_sockets["udp"])]
    assert udp["port"] == my_sockets["udp"].getsockname()[1]
    assert _inode(my_sockets["cli"]) not in by_sock
    assert _inode(my_sockets["srv"]) not in by_sock
    uni = [r for r in got if r["path"] == my_sockets["path"]]
    assert len(uni) == 1
    assert (uni[0]["port"], uni[0]["socket"], uni[0]["address"],
            uni[0]["family"]) == (0, 0, None, 1)
    # Compare with psutil: every bound inet socket of ours with no peer.
    want = {(c.laddr[1], int(c.family)) for c in
            psutil.Process(pid).net_connections(kind="inet") if not c.raddr}
    have = {(r["port"], r["family"]) for r in got if r["family"] in (2, 10)}
    assert have == want


def test_psutil_system_wide_listeners(conn, my_sockets):
    """Every TCP listener psutil sees system-wide is in listening_ports."""
    want = {(c.laddr[0], c.laddr[1]) for c in psutil.net_connections(kind="tcp")
            if c.status == "LISTEN"}
    have = {(r["address"], r["port"]) for r in
            rows(conn, "SELECT address, port FROM listening_ports WHERE protocol = 6")}
    assert want <= have


# ---------------------------------------------------------------------------
# Fixture trees

TCP_HDR = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
           "retrnsmt   uid  timeout inode\n")
TCP6_HDR = ("  sl  local_address                         remote_address"
            "                        st tx_queue rx_queue tr tm->when retrnsmt"
            "   uid  timeout inode\n")
UNIX_HDR = "Num       RefCount Protocol Flags    Type St Inode Path\n"
PACKET_HDR = "sk       RefCnt Type Proto  Iface R Rmem   User   Inode\n"


def _inet(sl, local, remote, st, inode):
    return (f"   {sl}: {local} {remote} {st} 00000000:00000000 00:00000000 "
            f"00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n")


def _proc(root, pid, ns, fds, net=None):
    d = root / "proc" / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "ns").mkdir()
    if ns is not None:
        os.symlink(f"net:[{ns}]", d / "ns" / "net")
    for fd, target in fds.items():
        os.symlink(target, d / "fd" / str(fd))
    if net is not None:
        (d / "net").mkdir()
        for name, text in net.items():
            p = d / "net" / name
            p.write_bytes(text if isinstance(text, bytes) else text.encode())


def test_fixture_decoding_and_namespaces(conn, root, tmp_path):
    tcp = (TCP_HDR
           + _inet(0, "0100007F:1F90", "00000000:0000", "0A", 1001)
           + _inet(1, "0100007F:1F90", "0200007F:C350", "01", 1002)
           + _inet(2, "0100007F:1F90", "0200007F:C350", "0C", 1003)   # NEW_SYN_RECV
           + _inet(3, "ZZZZZZZZ:GGGG", "0200007F:12", "zz", 1004)      # garbage
           + "   4: 0100007F:1F90 00000000:0000 0A\n"                 # truncated
           + "   5: 0100007F 00000000:0000 0A 0 0 0 0 0 0 1006\n"     # no port
           + "x" * (1 << 20) + "\n"                                   # huge line
           + _inet(6, "0100007F1F90:00", "00000000:0000", "07", 1007)   # bad length
           + "   7: 0100007F:0016 \0 NUL inside\n"
           + _inet(8, "0100007F:0017", "00000000:0000", "0A", 1008))    # after a NUL
    tcp6 = (TCP6_HDR
            + _inet(0, "00000000000000000000000001000000:0050",
                    "00000000000000000000000000000000:0000", "0A", 2001)
            + _inet(1, "0000000000000000FFFF00000100007F:0051",
                    "00000000000000000000000000000000:0000", "0A", 2002)
            + _inet(2, "000080FE00000000FF005450B7A5EE3F:0016",
                    "00000000000000000000000000000000:0000", "0A", 2003))
    udp = (TCP_HDR + _inet(0, "00000000:0035", "00000000:0000", "07", 3001)
           + _inet(1, "0100007F:0035", "0100007F:1234", "01", 3002))
    unix_ = (UNIX_HDR
             + "0000000000000000: 00000002 00000000 00010000 0001 01 4001 /run/a.sock\n"
             + "0000000000000000: 00000002 00000000 00010000 0001 01 4002\n"
             + "0000000000000000: 00000002 00000000 00010000 0001 01 4003 @abstract\n"
             + "0000000000000000: 00000002\n")
    packet = (PACKET_HDR
              + "0000000000000000 3      3    0003   2     1 0      0      5001\n"
              + "0000000000000000 3      3    88cc\n")
    net100 = {"tcp": tcp, "tcp6": tcp6, "udp": udp, "unix": unix_,
              "packet": packet, "raw": "garbage header\n" + _inet(0, "00000000:00FF",
                                                                  "00000000:0000", "07", 6001),
              "icmp": b"\x00\xff\xfe" * 1000}
    _proc(tmp_path, 100, 4026531999, {3: "socket:[1001]", 4: "socket:[1002]",
                                      5: "socket:[4001]", 6: "/etc/passwd",
                                      7: "socket:[", 8: "pipe:[1001]"}, net100)
    # Same namespace: its files must never be read.
    _proc(tmp_path, 200, 4026531999, {9: "socket:[2001]"},
          {"tcp": TCP_HDR + _inet(0, "0100007F:0001", "00000000:0000", "0A", 9999)})
    # Another namespace without net files; a pid without ns link (ns 0).
    _proc(tmp_path, 300, 4026532000, {1: "socket:[1001]"})
    _proc(tmp_path, 400, None, {}, {"udp": udp})
    # Unreadable ns link, same socket files as pid 100 (read first, as "0",
    # then relabelled when pid 100 names the namespace; never twice).
    _proc(tmp_path, 10, None, {})
    os.symlink("../100/net", tmp_path / "proc" / "10" / "net")
    root(tmp_path)
    run_asan(tmp_path, "SELECT * FROM process_open_sockets",
             "SELECT * FROM process_open_sockets WHERE pid IN (100, 300, -5)",
             "SELECT * FROM listening_ports")
    got = rows(conn, "SELECT * FROM process_open_sockets")
    by = {}
    for r in got:
        by.setdefault(r["socket"], []).append(r)
    assert 9999 not in by, "second pid of a namespace must not be read"
    assert all(len(v) == 1 for k, v in by.items() if k not in (3001, 3002)), "read twice"
    # 1001 is held by 100 and 300: "300" sorts last and wins.
    r = by[1001][0]
    assert (r["pid"], r["fd"], r["local_address"], r["local_port"],
            r["state"], r["net_namespace"]) == (300, 1, "127.0.0.1", 8080,
                                                "LISTEN", "4026531999")
    r = by[1002][0]
    assert (r["pid"], r["fd"], r["remote_address"], r["remote_port"],
            r["state"]) == (100, 4, "127.0.0.2", 50000, "ESTABLISHED")
    assert by[1003][0]["state"] == "UNKNOWN"
    r = by[1004][0]
    assert (r["pid"], r["local_address"], r["local_port"], r["remote_port"],
            r["state"]) == (-1, "", 0, 0, "UNKNOWN")
    assert 1006 not in by
    assert (by[1007][0]["local_address"], by[1007][0]["state"]) == ("", "CLOSED")
    assert by[1008][0]["local_port"] == 23
    assert [by[i][0]["local_address"] for i in (2001, 2002, 2003)] == [
        "::1", "::ffff:127.0.0.1", "fe80::5054:ff:3fee:a5b7"]
    assert by[2001][0]["family"] == 10 and by[2001][0]["local_port"] == 80
    assert (by[3001][0]["protocol"], by[3001][0]["state"]) == (17, "")
    assert (by[4001][0]["pid"], by[4001][0]["path"], by[4001][0]["family"]) == (
        100, "/run/a.sock", 1)
    assert by[4002][0]["path"] == "" and by[4003][0]["path"] == "@abstract"
    assert (by[5001][0]["family"], by[5001][0]["protocol"],
            by[5001][0]["state"], by[5001][0]["local_address"]) == (17, 3, "NONE", "")
    assert 6001 not in by                       # bad header: whole file ignored
    # pid 400 has no namespace link: namespace "0", read through pid 400.
    assert [r["net_namespace"] for r in by[3002]] == ["4026531999", "0"]
    # Row order: namespaces in pid order, files in osquery's order.
    order = [r["socket"] for r in got if r["net_namespace"] == "4026531999"]
    assert order[:2] == [1001, 1002] and order.index(2001) < order.index(3001) \
        < order.index(4001) < order.index(5001)

    # pid push-down: only pid 100's sockets, but all its namespace files read.
    got = rows(conn, "SELECT pid, fd, socket FROM process_open_sockets WHERE pid = 100")
    assert sorted((r["fd"], r["socket"]) for r in got) == [(3, 1001), (4, 1002), (5, 4001)]

    lp = rows(conn, "SELECT * FROM listening_ports")
    socks = {r["socket"] for r in lp}
    assert 1002 not in socks and 3002 not in socks   # have a remote port
    assert 4002 not in socks                          # anonymous unix
    unix_rows = [r for r in lp if r["family"] == 1]
    assert {r["path"] for r in unix_rows} == {"/run/a.sock", "@abstract"}
    assert all(r["socket"] == 0 and r["port"] == 0 and r["address"] is None
               for r in unix_rows)
    pk = [r for r in lp if r["family"] == 17]
    assert [(r["address"], r["port"], r["socket"]) for r in pk] == [("", 0, 5001)]
    l1001 = [r for r in lp if r["socket"] == 1001][0]
    assert (l1001["pid"], l1001["port"], l1001["address"], l1001["path"]) == (
        300, 8080, "127.0.0.1", None)


def test_fixture_missing_proc(conn, root, tmp_path):
    root(tmp_path)
    run_asan(tmp_path, "SELECT * FROM process_open_sockets", "SELECT * FROM listening_ports")
    assert rows(conn, "SELECT * FROM process_open_sockets") == []
    assert rows(conn, "SELECT * FROM listening_ports") == []
    (tmp_path / "proc" / "12").mkdir(parents=True)
    assert rows(conn, "SELECT * FROM process_open_sockets") == []
