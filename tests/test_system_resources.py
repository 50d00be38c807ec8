"""kernel_keys, shared_memory, memory_map, ulimit_info, interface_ipv6.

Oracles: /proc/keys, /proc/sysvipc/shm, /proc/iomem and /proc/sys/net/ipv6
read by the test at the same moment; a key and a System V segment the test
creates itself through libc (ctypes), so known values are checked; Python's
resource module for the limits; socket.if_nameindex() for the interfaces;
fixture trees under OSQLITE_ROOT for the parsers' hostile input.
"""
from __future__ import annotations

import ctypes
import os
import platform
import resource
import socket
import time
from pathlib import Path

import pytest
from conftest import rows
from osquery_oracle import osq_split, to_bigint

LIBC = ctypes.CDLL(None, use_errno=True)


def read_text(path) -> str:
    data = Path(path).read_bytes()
    # A NUL byte ends its own line for the C parsers (fgets semantics).
    lines = [ln.split(b"\0", 1)[0] for ln in data.split(b"\n")]
    return b"\n".join(lines).decode("utf-8", "surrogateescape")


# ---- kernel_keys ---------------------------------------------------------------

def want_keys(text: str) -> list[dict]:
    out = []
    for line in osq_split(text, "\n"):
        d = osq_split(line, " ")
        if len(d) != 10:
            continue
        out.append({"serial_number": d[0], "flags": d[1], "usage": to_bigint(d[2]),
                    "timeout": d[3], "permissions": d[4], "uid": to_bigint(d[5]),
                    "gid": to_bigint(d[6]), "type": d[7], "description": d[8] + d[9]})
    return out


SYS_ADD_KEY = {"x86_64": 248, "aarch64": 217}.get(platform.machine())
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
KEY_SPEC_PROCESS_KEYRING = -2
KEYCTL_INVALIDATE = 21


def add_key(description: bytes, payload: bytes = b"x") -> int:
    if SYS_ADD_KEY is None:
        pytest.skip(f"add_key syscall number unknown on {platform.machine()}")
    LIBC.syscall.restype = ctypes.c_long
    serial = LIBC.syscall(ctypes.c_long(SYS_ADD_KEY), b"user", description, payload,
                          ctypes.c_size_t(len(payload)), ctypes.c_int(KEY_SPEC_PROCESS_KEYRING))
    if serial < 0:
        pytest.skip(f"add_key failed: {os.strerror(ctypes.get_errno())}")
    return serial


@pytest.fixture
def keys():
    """Keys added to this process's keyring, invalidated afterwards."""
    made: list[int] = []

    def make(description: bytes) -> int:
        made.append(add_key(description))
        return made[-1]

    yield make
    for k in made:
        LIBC.syscall(ctypes.c_long(SYS_KEYCTL), ctypes.c_long(KEYCTL_INVALIDATE),
                     ctypes.c_long(k))


def test_kernel_keys_live(conn, keys):
    if not Path("/proc/keys").exists():
        assert rows(conn, "SELECT * FROM kernel_keys") == []
        pytest.skip("this kernel has no /proc/keys")
    serial = keys(b"osqlite-test-key")
    spaced = keys(b"osqlite key with spaces")
    for _ in range(5):
        before = Path("/proc/keys").read_text()
        got = rows(conn, "SELECT * FROM kernel_keys")
        if Path("/proc/keys").read_text() == before:
            break
    assert got == want_keys(before)
    mine = [r for r in got if r["serial_number"] == format(serial, "08x")]
    assert len(mine) == 1
    assert (mine[0]["type"], mine[0]["description"]) == ("user", "osqlite-test-key:1")
    assert (mine[0]["uid"], mine[0]["gid"]) == (os.getuid(), os.getgid())
    # A description with spaces splits into more than ten fields: dropped.
    assert format(spaced, "08x") in before
    assert not [r for r in got if r["serial_number"] == format(spaced, "08x")]


def test_kernel_keys_spec_example(conn):
    # osquery's specs/linux/kernel_keys.table example.
    got = rows(conn, "select * from kernel_keys")
    assert all(len(r["permissions"]) == 8 for r in got)


def test_kernel_keys_fixture(conn, root, tmp_path):
    text = ("0474cb99 I------     1 perm 1f030000     0     0 keyring   .dns_resolver: empty\n"
            "\n   \t\n"
            "2a3ff9a6 I--Q---     2 perm 3f010000  1000  1000 user      my: key: 5\n"
            "1f00a1b2 I--Q---     1 2w3d 3f010000  1000  1000 logon     svc: 12\n"
            "00000001 short line\n"
            "  3d87fa83 I--Q---   1 perm 0c030000 0 65534 keyring .user_reg: 2  \n"
            "ffffffff I--Q--- x perm 0c030000 a b keyring tab\tsep: 2\n")
    keys = tmp_path / "proc/keys"
    keys.parent.mkdir(parents=True)
    keys.write_bytes(text.encode() + b"0badc0de I------ 1 perm 1f030000 0 0 \xff\xfe d\x80: 1\n"
                     + b"12345678 I------ 1 perm 1f030000 0 0 nul\0 here: 1\n")
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    got = rows(conn, "SELECT * FROM kernel_keys")
    assert got == want_keys(read_text(keys))
    assert [r["description"] for r in got] == [".dns_resolver:empty", "svc:12", ".user_reg:2",
                                               "tab\tsep:2", "d\udc80:1"]
    assert got[4]["type"] == "\udcff\udcfe"
    assert got[1]["timeout"] == "2w3d"
    assert got[3]["usage"] is None and got[3]["uid"] is None   # not numbers: NULL


# ---- shared_memory ---------------------------------------------------------------

IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0


def proc_shm() -> dict[int, dict]:
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()
    head = lines[0].split()
    out = {}
    for ln in lines[1:]:
        v = dict(zip(head, ln.split()))
        out[int(v["shmid"])] = v
    return out


def known_uids() -> set[int]:
    import pwd
    return {p.pw_uid for p in pwd.getpwall()}


def want_shm(v: dict, uids: set[int]) -> dict:
    perms = int(v["perms"], 8)
    uid, cuid = int(v["uid"]), int(v["cuid"])
    return {"shmid": int(v["shmid"]), "owner_uid": uid if uid in uids else None,
            "creator_uid": cuid if cuid in uids else None, "pid": int(v["lpid"]),
            "creator_pid": int(v["cpid"]), "atime": int(v["atime"]),
            "dtime": int(v["dtime"]), "ctime": int(v["ctime"]),
            "permissions": "%04o" % (perms & 0o7777), "size": int(v["size"]),
            "attached": int(v["nattch"]), "status": "dest" if perms & 0o1000 else "",
            "locked": 1 if perms & 0o2000 else 0}


@pytest.fixture
def segment():
    LIBC.shmget.restype = ctypes.c_int
    LIBC.shmat.restype = ctypes.c_void_p
    shmid = LIBC.shmget(IPC_PRIVATE, ctypes.c_size_t(12345), IPC_CREAT | 0o640)
    if shmid < 0:
        pytest.skip(f"shmget failed: {os.strerror(ctypes.get_errno())}")
    addr = LIBC.shmat(shmid, None, 0)
    try:
        yield shmid
    finally:
        if addr not in (None, ctypes.c_void_p(-1).value):
            LIBC.shmdt(ctypes.c_void_p(addr))
        LIBC.shmctl(shmid, IPC_RMID, None)


def test_shared_memory_live(conn, segment):
    uids = known_uids()
    for _ in range(5):
        before = proc_shm()
        got = rows(conn, "SELECT * FROM shared_memory")
        if proc_shm() == before:
            break
    assert got == [want_shm(before[k], uids) for k in before]
    mine = [r for r in got if r["shmid"] == segment]
    assert len(mine) == 1
    r = mine[0]
    assert (r["size"], r["permissions"], r["attached"], r["status"], r["locked"]) == (
        12345, "0640", 1, "", 0)
    assert r["creator_pid"] == os.getpid() == r["pid"]
    assert r["owner_uid"] == os.getuid() and abs(r["ctime"] - time.time()) < 3600
    # Marked for destruction while attached: it stays, with status 'dest'.
    LIBC.shmctl(segment, IPC_RMID, None)
    r = rows(conn, "SELECT permissions, status FROM shared_memory WHERE shmid = ?", segment)
    assert r == [{"permissions": "1640", "status": "dest"}]


def test_shared_memory_unknown_owner(conn, segment, root, tmp_path):
    # The owner has no entry in this (fixture) passwd file: NULL, as
    # osquery's getpwuid() check gives.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("nobody:x:65534:65534::/:/bin/false\n")
    root(tmp_path)
    r = rows(conn, "SELECT owner_uid, creator_uid, size FROM shared_memory WHERE shmid = ?",
             segment)
    assert r == [{"owner_uid": None, "creator_uid": None, "size": 12345}]


# ---- memory_map ------------------------------------------------------------------

def want_iomem(text: str) -> list[dict]:
    out = []
    for line in osq_split(text, "\n"):
        b1 = line.find("-")
        b2 = min((i for i in (line.find(" "), line.find(":")) if i >= 0), default=-1)
        if b1 < 0 or b2 < 0 or len(line) <= b2 + 3:
            continue
        end = line[b1 + 1:b1 + 1 + (b2 - b1)] if b2 >= b1 else line[b1 + 1:]
        out.append({"name": line[b2 + 3:], "start": "0x" + line[:b1], "end": "0x" + end})
    return out


def test_memory_map_live(conn):
    for _ in range(5):
        before = read_text("/proc/iomem")
        got = rows(conn, "SELECT * FROM memory_map")
        if read_text("/proc/iomem") == before:
            break
    assert got == want_iomem(before)
    assert got
    # osquery's off-by-one: end keeps the blank before " : ".
    for r in got:
        assert r["end"].endswith(" ")
        assert int(r["start"], 16) <= int(r["end"], 16)
    names = [ln.split(" : ", 1)[1] for ln in before.splitlines() if " : " in ln]
    assert [r["name"] for r in got] == names


def test_memory_map_fixture(conn, root, tmp_path):
    p = tmp_path / "proc/iomem"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"00000000-00000fff : Reserved\n"
                  b"  000a0000-000bffff : PCI Bus 0000:00\n"
                  b"no dash here : x\n"
                  b"a-b\n"
                  b"1-2 :\n"
                  b"1-2 : \n"
                  b"x y-z : blank first\n"
                  b"1:2-3 : colon first\n"
                  b"\xff\xfe-\x80 : \xc3\x28 bad utf8\n"
                  b"00-11 : nul\0cut\n"
                  b"0-" + b"f" * 100000 + b" : long\n")
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    got = rows(conn, "SELECT * FROM memory_map")
    assert got == want_iomem(read_text(p))
    assert got[0] == {"name": "Reserved", "start": "0x00000000", "end": "0x00000fff "}
    assert got[1]["name"] == "PCI Bus 0000:00"
    # The blank comes before the dash: end runs to the end of the line.
    assert {"name": "z : blank first", "start": "0xx y", "end": "0xz : blank first"} in got


# ---- ulimit_info -----------------------------------------------------------------

LIMITS = ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
          "nofile", "nproc", "rss", "rtprio", "sigpending", "stack"]
# Linux's resource numbers, for the ones Python's resource module lacks.
RLIMIT_NUMBER = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5,
                 "nproc": 6, "nofile": 7, "memlock": 8, "as": 9, "locks": 10,
                 "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14}


def fmt_limit(v: int) -> str:
    return "unlimited" if v == resource.RLIM_INFINITY else str(v)


def test_ulimit_info_live(conn):
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    new = 4096 if hard == resource.RLIM_INFINITY or hard >= 4096 else hard
    resource.setrlimit(resource.RLIMIT_CORE, (new, hard))
    try:
        got = rows(conn, "SELECT * FROM ulimit_info")
        want = []
        for name in LIMITS:
            s, h = resource.getrlimit(getattr(resource, "RLIMIT_" + name.upper(),
                                              RLIMIT_NUMBER[name]))
            want.append({"type": name, "soft_limit": fmt_limit(s), "hard_limit": fmt_limit(h)})
        assert got == want
        assert got[1]["soft_limit"] == str(new)
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def test_ulimit_info_spec_example(conn):
    # osquery's specs/posix/ulimit_info.table example.
    assert [r["type"] for r in rows(conn, "select * from ulimit_info")] == LIMITS


# ---- interface_ipv6 --------------------------------------------------------------

def ipv6_cfg(base: Path, iface: str, name: str) -> int:
    try:
        s = (base / iface / name).read_text().strip()
    except OSError:
        return -1
    digits = ""
    for i, ch in enumerate(s):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        v = int(digits)
    except ValueError:
        return -1
    return v if -2**31 <= v < 2**31 else -1


def want_ipv6(base: Path, iface: str) -> dict:
    fwd = ipv6_cfg(base, iface, "forwarding")
    ra_all, ra = ipv6_cfg(base, "all", "accept_redirects"), ipv6_cfg(base, iface, "accept_redirects")
    ra_adv = ipv6_cfg(base, iface, "accept_ra")
    return {"interface": iface, "hop_limit": ipv6_cfg(base, iface, "hop_limit"),
            "forwarding_enabled": fwd,
            "redirect_accept": int(bool(ra_all and ra) if fwd else bool(ra_all or ra)),
            "rtadv_accept": 1 if ra_adv == 2 else int(bool(ra_adv) and not fwd)}


def test_interface_ipv6_live(conn):
    # Other work on this machine changes sysctls and interfaces: compare
    # with a snapshot that held still around the query.
    base = Path("/proc/sys/net/ipv6/conf")

    def snap():
        names = [n for _, n in socket.if_nameindex()]
        return names, {n: want_ipv6(base, n) for n in names}
    for _ in range(5):
        before = snap()
        got = rows(conn, "SELECT * FROM interface_ipv6")
        if snap() == before:
            break
    names, want = before
    assert sorted(r["interface"] for r in got) == sorted(names)
    for r in got:
        assert r == want[r["interface"]]


LOGIC = [
    # forwarding, accept_ra, all.accept_redirects, accept_redirects
    ("0", "1", "1", "1"), ("1", "1", "1", "1"), ("1", "2", "1", "0"), ("0", "0", "0", "1"),
    ("1", "0", "0", "1"), (None, "1", "1", "0"), ("junk", "2", None, None), ("0", "x", "1", "1"),
    ("99999999999", "1", "1", "0"), (" 1\n", "0\n", "0", "0"),
]


@pytest.mark.parametrize("fwd,ra,redir_all,redir", LOGIC)
def test_interface_ipv6_fixture_logic(conn, root, tmp_path, fwd, ra, redir_all, redir):
    base = tmp_path / "proc/sys/net/ipv6/conf"
    for iface, name, value in (("lo", "forwarding", fwd), ("lo", "accept_ra", ra),
                               ("all", "accept_redirects", redir_all),
                               ("lo", "accept_redirects", redir), ("lo", "hop_limit", "255")):
        (base / iface).mkdir(parents=True, exist_ok=True)
        if value is not None:
            (base / iface / name).write_text(value)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM interface_ipv6 WHERE interface = 'lo'")
    assert got == [want_ipv6(base, "lo")]
    assert got[0]["hop_limit"] == 255


def test_interface_ipv6_no_files(conn, root, tmp_path):
    root(tmp_path)
    got = rows(conn, "SELECT * FROM interface_ipv6")
    assert got and all(r == {"interface": r["interface"], "hop_limit": -1,
                             "forwarding_enabled": -1, "redirect_accept": 1,
                             "rtadv_accept": 0} for r in got)
