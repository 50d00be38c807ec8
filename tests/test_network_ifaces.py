"""interface_addresses and interface_details against psutil, socket, an
SIOCGIFFLAGS ioctl and /sys/class/net (the tables read the live kernel;
OSQLITE_ROOT only applies to the sysfs flags file)."""
from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

import psutil
from conftest import rows

SYSFS_FLAGS = 0x1 | 0x4 | 0x20 | 0x80 | 0x100 | 0x200 | 0x1000 | 0x2000 | 0x4000 | 0x8000


def _ioctl_flags(name: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        res = fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sH14x", name.encode(), 0))
    return struct.unpack("16sH14x", res)[1]


def _sys(name: str, rel: str):
    try:
        with open(f"/sys/class/net/{name}/{rel}") as f:
            return f.read().strip()
    except OSError:
        return None


def test_interface_addresses_live(conn):
    got = rows(conn, "SELECT * FROM interface_addresses")
    want = set()
    bcast = {}
    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                want.add((name, a.address, a.netmask))
                bcast[(name, a.address)] = a.broadcast
    assert {(r["interface"], r["address"], r["mask"]) for r in got} == want
    names = {n for _, n in socket.if_nameindex()}
    for r in got:
        assert r["interface"] in names
        assert r["type"] == "unknown"
        assert r["friendly_name"] == "" if "friendly_name" in r else True
        ipaddress.ip_address(r["address"].split("%")[0])
        if r["broadcast"] is not None:
            assert r["point_to_point"] is None
            assert r["broadcast"] == bcast[(r["interface"], r["address"])]
        if r["address"].lower().startswith("fe80:"):
            assert r["address"].endswith("%" + r["interface"])
    hidden = rows(conn, "SELECT friendly_name FROM interface_addresses")
    # Windows' TEXT column: '' as in osquery (engine.c, OSQ_FOREIGN).
    assert all(h["friendly_name"] == "" for h in hidden)


def test_interface_details_live(conn):
    got = {r["interface"]: r for r in rows(conn, "SELECT * FROM interface_details")}
    assert set(got) == {n for _, n in socket.if_nameindex()}
    stats = psutil.net_if_stats()
    addrs = psutil.net_if_addrs()
    io = psutil.net_io_counters(pernic=True)
    for name, r in got.items():
        assert r["mtu"] == stats[name].mtu
        assert r["metric"] == 0
        assert r["last_change"] == -1
        mac = [a.address for a in addrs.get(name, []) if a.family == psutil.AF_LINK]
        if mac and len(mac[0]) == 17:
            assert r["mac"] == mac[0].lower()
        t = _sys(name, "type")
        if t is not None:
            assert r["type"] == int(t) & 0xff
        sysflags = _sys(name, "flags")
        if sysflags is not None:
            assert r["flags"] & SYSFS_FLAGS == int(sysflags, 16) & SYSFS_FLAGS
        assert (r["flags"] & 0xffff) & ~SYSFS_FLAGS == _ioctl_flags(name) & ~SYSFS_FLAGS
        # 32-bit rtnl_link_stats counters, read before psutil's /proc/net/dev.
        n = io[name]
        for col, now in (("ibytes", n.bytes_recv), ("obytes", n.bytes_sent),
                         ("ipackets", n.packets_recv), ("opackets", n.packets_sent),
                         ("ierrors", n.errin), ("oerrors", n.errout),
                         ("idrops", n.dropin), ("odrops", n.dropout)):
            assert 0 <= r[col] < 2**32
            assert (now - r[col]) % 2**32 < 50_000_000, (name, col)
        coll = _sys(name, "statistics/collisions")
        if coll is not None:
            assert r["collisions"] == int(coll) % 2**32
        speed = stats[name].speed
        assert r["link_speed"] == (speed if speed > 0 else 0)
    if "lo" in got:
        assert got["lo"]["pci_slot"] == "-1"
        assert got["lo"]["mac"] == "00:00:00:00:00:00"
        assert got["lo"]["type"] == 772 & 0xff       # ARPHRD_LOOPBACK via uchar


def test_interface_details_sysfs_flags_from_root(conn, root, tmp_path):
    live = {r["interface"]: r["flags"] for r in rows(conn, "SELECT interface, flags FROM interface_details")}
    name = sorted(live)[0]
    d = tmp_path / "sys/class/net" / name
    d.mkdir(parents=True)
    root(tmp_path)
    # No flags file: sysfs bits are cleared from the getifaddrs flags.
    r = rows(conn, "SELECT flags FROM interface_details WHERE interface = ?", name)
    assert r[0]["flags"] & SYSFS_FLAGS == 0
    (d / "flags").write_text("0x1\n")            # only UP
    r = rows(conn, "SELECT flags FROM interface_details WHERE interface = ?", name)
    assert r[0]["flags"] & SYSFS_FLAGS == 0x1
    for junk in (b"0x\n", b"garbage\n", b"\x00\xff\xfe\xfd", b"0x" + b"f" * 5000):
        (d / "flags").write_bytes(junk)
        r = rows(conn, "SELECT flags FROM interface_details WHERE interface = ?", name)
        assert r[0]["flags"] & SYSFS_FLAGS == 0
    (d / "flags").write_text("0xffffffff\n")
    r = rows(conn, "SELECT flags FROM interface_details WHERE interface = ?", name)
    assert r[0]["flags"] & SYSFS_FLAGS == SYSFS_FLAGS
