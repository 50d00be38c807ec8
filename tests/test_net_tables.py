"""routes, arp_cache, dns_resolvers and iptables against independent
oracles: `ip -j route`, /proc/net/arp parsed in Python, glibc's res_init()
under a private mount namespace, and iptables-legacy."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from asan_helper import run_asan
from conftest import FIXTURES, rows

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- routes

def _ip_routes(fam):
    out = subprocess.run(["ip", "-j", fam, "route", "show", "table", "all"],
                         capture_output=True, text=True, check=True).stdout
    res = set()
    for r in json.loads(out):
        dst = r["dst"]
        if dst == "default":
            dst, plen = ("0.0.0.0" if fam == "-4" else "::"), 0
        elif "/" in dst:
            dst, plen = dst.split("/")
            plen = int(plen)
        else:
            plen = 0                                # host route: osquery shows 0
        typ = r.get("type", "unicast")
        typ = {"unicast": "gateway", "local": "local", "broadcast": "broadcast",
               "anycast": "anycast"}.get(typ, "other")
        res.add((dst, plen, r.get("dev"), typ, r.get("gateway"),
                 r.get("prefsrc"), r.get("metric", 0)))
    return res


def test_live_under_asan():
    run_asan(None, "SELECT * FROM routes", "SELECT * FROM arp_cache",
             "SELECT * FROM dns_resolvers",
             f"SELECT * FROM dns_resolvers WHERE pid_with_namespace = {os.getpid()}",
             "SELECT * FROM iptables")


def test_routes_match_ip(conn):
    if not shutil.which("ip"):
        pytest.skip("no ip command")
    # Other work (another interpreter's run of this suite) may add routes
    # meanwhile: compare with an `ip` snapshot that did not change around the read.
    for _ in range(10):
        before = _ip_routes("-4") | _ip_routes("-6")
        got = rows(conn, "SELECT * FROM routes")
        if before == _ip_routes("-4") | _ip_routes("-6"):
            break
    have = {(r["destination"], r["netmask"], r["interface"], r["type"], r["gateway"],
             r["source"], r["metric"]) for r in got}
    assert have == before
    assert all(r["mtu"] == 0 or r["mtu"] > 0 for r in got)
    assert rows(conn, "SELECT count(*) AS n FROM routes WHERE type = 'gateway'")[0]["n"] \
        == len([r for r in got if r["type"] == "gateway"])


@pytest.fixture
def route_table():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and ip to add test routes")
    # A routing table of this process's own: CI runs the suite on several
    # interpreters at once, and each adds and flushes its own table.
    table = str(10000 + os.getpid())
    cmds = [["ip", "route", "add", "198.51.100.0/24", "dev", "lo", "table", table,
             "metric", "7", "mtu", "1400", "hoplimit", "9"],
            ["ip", "route", "add", "blackhole", "203.0.113.7", "table", table],
            ["ip", "route", "add", "198.51.100.128/25", "via", "127.0.0.1", "dev", "lo",
             "src", "127.0.0.1", "table", table]]
    try:
        for c in cmds:
            r = subprocess.run(c, capture_output=True, text=True)
            if r.returncode:
                pytest.skip(f"cannot add test route: {r.stderr.strip()}")
        yield
    finally:
        subprocess.run(["ip", "route", "flush", "table", table], capture_output=True)


def test_routes_added_by_test(conn, route_table):
    got = rows(conn, "SELECT * FROM routes WHERE destination IN "
               "('198.51.100.0', '203.0.113.7', '198.51.100.128')")
    by = {r["destination"]: r for r in got}
    r = by["198.51.100.0"]
    assert (r["netmask"], r["interface"], r["metric"], r["mtu"], r["hopcount"],
            r["type"], r["gateway"]) == (24, "lo", 7, 1400, 9, "gateway", None)
    r = by["203.0.113.7"]
    assert (r["netmask"], r["interface"], r["type"]) == (0, None, "other")
    r = by["198.51.100.128"]
    assert (r["netmask"], r["gateway"], r["source"], r["interface"]) == (
        25, "127.0.0.1", "127.0.0.1", "lo")


# ------------------------------------------------------------- arp_cache

def test_arp_cache_live(conn):
    want = []
    with open("/proc/net/arp") as f:
        next(f)
        for line in f:
            p = line.split()
            want.append({"address": p[0], "mac": p[3], "interface": p[5],
                         "permanent": "1" if p[2] == "0x6" else "0"})
    assert rows(conn, "SELECT * FROM arp_cache") == want


def test_arp_cache_fixture(conn, root, tmp_path):
    net = tmp_path / "proc" / "net"
    net.mkdir(parents=True)
    (net / "arp").write_bytes(
        b"IP address       HW type     Flags       HW address            Mask     Device\n"
        b"10.0.0.1         0x1         0x2         52:54:00:12:34:56     *        eth0\n"
        b"10.0.0.2         0x1         0x6         52:54:00:AB:CD:EF     *        eth1\n"
        b"10.0.0.3         0x1         0xe         52:54:00:00:00:03     *        eth1\n"
        b"10.0.0.4         0x1         0x0         00:00:00:00:00:00     *        eth0\n"
        b"10.0.0.5 0x1 0x2\n"                                    # truncated
        b" 10.0.0.6 0x1 0x6 aa:bb:cc:dd:ee:ff * eth2\n"          # leading blank: 7 fields
        b"10.0.0.7 0x1 0x6 aa:bb:cc:dd:ee:ff * eth2 extra\n"
        + b"\xff" * (1 << 20) + b"\n"
        b"10.0.0.8 0x1 0x6 aa:bb:cc:dd:ee:08 * eth3")            # no final newline
    root(tmp_path)
    run_asan(tmp_path, "SELECT * FROM arp_cache")
    got = rows(conn, "SELECT * FROM arp_cache")
    assert [(r["address"], r["mac"], r["interface"], r["permanent"]) for r in got] == [
        ("10.0.0.1", "52:54:00:12:34:56", "eth0", "0"),
        ("10.0.0.2", "52:54:00:AB:CD:EF", "eth1", "1"),
        ("10.0.0.3", "52:54:00:00:00:03", "eth1", "0"),
        ("10.0.0.4", "00:00:00:00:00:00", "eth0", "0"),
        ("10.0.0.8", "aa:bb:cc:dd:ee:08", "eth3", "1")]
    # mac is COLLATE NOCASE
    assert len(rows(conn, "SELECT * FROM arp_cache WHERE mac = '52:54:00:ab:cd:ef'")) == 1
    (net / "arp").unlink()
    assert rows(conn, "SELECT * FROM arp_cache") == []


# --------------------------------------------------------- dns_resolvers

def _oracle(conf: Path | None):
    """glibc's res_init() state for a resolv.conf, or None if a private
    mount namespace is not available."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return None
    env = {k: v for k, v in os.environ.items() if k not in ("LOCALDOMAIN", "RES_OPTIONS")}
    src = str(conf) if conf is not None else "/dev/null"
    script = (f"mount --bind {src} /etc/resolv.conf && "
              f"exec {sys.executable} {HERE / 'resolv_oracle.py'}")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                       text=True, env=env, timeout=30)
    if r.returncode:
        return None
    return json.loads(r.stdout)


def _ours(conn):
    got = rows(conn, "SELECT *, pid_with_namespace FROM dns_resolvers")
    ns = [r["address"] for r in got if r["type"] == "nameserver"]
    sort = [[r["address"], int(r["netmask"])] for r in got if r["type"] == "sortlist"]
    search = [r["address"] for r in got if r["type"] == "search"]
    for t in ("nameserver", "sortlist", "search"):
        assert [r["id"] for r in got if r["type"] == t] == list(
            range(len([r for r in got if r["type"] == t])))
    assert len({r["options"] for r in got}) == 1
    assert all(r["netmask"] == "32" for r in got if r["type"] == "nameserver")
    assert all(r["netmask"] is None for r in got if r["type"] == "search")
    assert all(r["pid_with_namespace"] == 0 for r in got)
    return {"options": got[0]["options"], "ns": ns, "sort": sort, "search": search}


def _normalise(o):
    # The oracle marks IPv6 servers (osquery would print '' for them).
    o = dict(o)
    o["ns"] = [a[3:] if a.startswith("v6:") else a for a in o["ns"]]
    return o


CONFS = sorted(p.name for p in (FIXTURES / "net" / "resolv").glob("*.conf"))


@pytest.mark.parametrize("name", CONFS)
def test_dns_resolvers_vs_glibc(conn, root, tmp_path, monkeypatch, name):
    monkeypatch.delenv("LOCALDOMAIN", raising=False)
    monkeypatch.delenv("RES_OPTIONS", raising=False)
    src = FIXTURES / "net" / "resolv" / name
    (tmp_path / "etc").mkdir()
    shutil.copy(src, tmp_path / "etc" / "resolv.conf")
    root(tmp_path)
    run_asan(tmp_path, "SELECT * FROM dns_resolvers")
    ours = _ours(conn)
    want = _oracle(src)
    if want is None:
        pytest.skip("no private mount namespace for the glibc oracle")
    assert ours == _normalise(want)


def test_dns_resolvers_hand_checked(conn, root, tmp_path, monkeypatch):
    """Values verified once against glibc 2.36, for hosts without unshare."""
    monkeypatch.delenv("LOCALDOMAIN", raising=False)
    monkeypatch.delenv("RES_OPTIONS", raising=False)
    (tmp_path / "etc").mkdir()
    shutil.copy(FIXTURES / "net" / "resolv" / "sortlist.conf",
                tmp_path / "etc" / "resolv.conf")
    root(tmp_path)
    got = rows(conn, "SELECT id, type, address, netmask, options FROM dns_resolvers")
    assert got[0] == {"id": 0, "type": "nameserver", "address": "127.0.0.1",
                      "netmask": "32", "options": 705}
    assert [(r["address"], r["netmask"]) for r in got if r["type"] == "sortlist"] == [
        ("130.155.160.0", "15794175"), ("130.155.0.0", "65535"), ("10.1.2.3", "65535"),
        ("1.2.3.4", "402653184"), ("5.5.5.5", "255"), ("1.1.1.1", "255"),
        ("2.2.2.2", "255"), ("3.3.3.3", "255"), ("4.4.4.4", "255"), ("5.5.5.5", "255")]


def test_dns_resolvers_hostile(conn, root, tmp_path, monkeypatch):
    monkeypatch.delenv("LOCALDOMAIN", raising=False)
    monkeypatch.delenv("RES_OPTIONS", raising=False)
    etc = tmp_path / "etc"
    etc.mkdir()
    conf = etc / "resolv.conf"
    root(tmp_path)
    cases = [
        b"nameserver 7.7.7.7\0nameserver 8.8.8.8\nnameserver 9.9.9.9\n",
        b"search " + b"x" * (1 << 20) + b"\nnameserver 1.1.1.1\n",
        b"sortlist 1.2.3.4\r 5.6.7.8\nsortlist \xc3\xa9 9.9.9.9\nnameserver 2.2.2.2",
        os.urandom(8192),
        b"nameserver " + b"1" * 5000 + b"\nsearch a\tb  c\n",
    ]
    for data in cases:
        conf.write_bytes(data)
        run_asan(tmp_path, "SELECT * FROM dns_resolvers")
        got = rows(conn, "SELECT type, address FROM dns_resolvers WHERE type != 'search'")
        assert got and got[0]["type"] == "nameserver"
        want = _oracle(conf) if not data.startswith(b"sortlist") else None
        if want is not None:
            assert _ours(conn) == _normalise(want)
    conf.write_bytes(cases[0])
    assert [r["address"] for r in rows(conn, "SELECT address FROM dns_resolvers "
                                       "WHERE type = 'nameserver'")] == ["7.7.7.7", "9.9.9.9"]
    conf.unlink()
    got = rows(conn, "SELECT type, address FROM dns_resolvers")
    assert got[0] == {"type": "nameserver", "address": "127.0.0.1"}


def test_dns_resolvers_env_and_namespace(conn, monkeypatch):
    monkeypatch.setenv("LOCALDOMAIN", "l1.example l2.example")
    monkeypatch.setenv("RES_OPTIONS", "rotate")
    got = rows(conn, "SELECT type, address, options FROM dns_resolvers")
    assert [r["address"] for r in got if r["type"] == "search"] == ["l1.example", "l2.example"]
    assert all(r["options"] & 0x4000 for r in got)
    monkeypatch.delenv("LOCALDOMAIN")
    monkeypatch.delenv("RES_OPTIONS")
    live = _ours(conn)
    pid = os.getpid()
    ns = rows(conn, "SELECT *, pid_with_namespace FROM dns_resolvers "
              "WHERE pid_with_namespace = ?", pid)
    assert ns and all(r["pid_with_namespace"] == pid for r in ns)
    assert [r["address"] for r in ns if r["type"] == "nameserver"] == live["ns"]
    want = _oracle(Path("/etc/resolv.conf"))
    if want is not None:
        assert live == _normalise(want)


# -------------------------------------------------------------- iptables

def _legacy_run():
    """Rules added by ipt_helper.py in a private network namespace."""
    if os.geteuid() != 0:
        pytest.skip("iptables needs root")
    if not shutil.which("iptables-legacy") or not shutil.which("unshare"):
        pytest.skip("iptables-legacy or unshare not installed")
    r = subprocess.run(["unshare", "-n", sys.executable, str(HERE / "ipt_helper.py")],
                       capture_output=True, text=True, timeout=60)
    if r.returncode:
        pytest.skip(f"legacy iptables not usable here: {r.stderr.strip()[-200:]}")
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def legacy():
    return _legacy_run()


def _save_model(save):
    """iptables-legacy -S parsed: policies, chain order, (chain, target)."""
    pol, user, rules = {}, [], []
    for line in save.splitlines():
        w = line.split()
        if w[0] == "-P":
            pol[w[1]] = w[2]
        elif w[0] == "-N":
            user.append(w[1])
        elif w[0] == "-A":
            tgt = w[w.index("-j") + 1] if "-j" in w else ""
            rules.append((w[1], tgt))
    return pol, user, rules


def test_iptables_vs_iptables_save(legacy):
    got = legacy["rows"]
    pol, user, rules = _save_model(legacy["save"])
    chain_rows = [r for r in got if r["target"] is None]
    assert [r["chain"] for r in chain_rows] == list(pol) + sorted(user)
    assert {r["chain"]: r["policy"] for r in chain_rows} == {**pol, **{u: "" for u in user}}
    assert [(r["chain"], r["target"]) for r in got if r["target"] is not None] == [
        x for c in list(pol) + sorted(user) for x in rules if x[0] == c]
    # Rows of a chain come before the chain row and repeat its policy.
    assert all(r["policy"] == pol.get(r["chain"], "") for r in got)


def test_iptables_rule_fields(legacy):
    got = legacy["rows"]
    acc = [r for r in got if r["chain"] == "OSQTEST" and r["target"] == "ACCEPT"][0]
    assert acc == {"filter_name": "filter", "chain": "OSQTEST", "policy": "",
                   "target": "ACCEPT", "protocol": 6, "src_port": "1000:2000",
                   "dst_port": "22:22", "src_ip": "10.1.0.0", "src_mask": "255.255.0.0",
                   "iniface": "eth+", "iniface_mask": "FFFFFF", "dst_ip": "0.0.0.0",
                   "dst_mask": "0.0.0.0", "outiface": "all", "outiface_mask": "",
                   "match": "yes", "packets": 0, "bytes": 0}
    drop = [r for r in got if r["target"] == "DROP"][0]
    assert (drop["protocol"], drop["dst_ip"], drop["dst_mask"], drop["outiface"],
            drop["src_port"]) == (17, "!1.2.3.4", "255.255.255.255", "lo", "")
    ret = [r for r in got if r["target"] == "RETURN"][0]
    assert ret["protocol"] is None          # "!6" is not an integer (osquery)
    fall = [r for r in got if r["chain"] == "INPUT" and r["target"] == ""][0]
    assert (fall["iniface"], fall["iniface_mask"]) == ("eth0", "FFFFFFFFFF")


def test_iptables_host_namespace(conn):
    """In this namespace: rows only if legacy tables are loaded here.  With
    iptables-nft (the default) ip_tables_names is empty, so no rows - even
    though `iptables -L` would show nft rules; osquery behaves the same."""
    try:
        names = Path("/proc/net/ip_tables_names").read_text().split()
    except OSError:
        names = []
    got = rows(conn, "SELECT DISTINCT filter_name FROM iptables")
    if not names or os.geteuid() != 0:
        assert got == [] or os.geteuid() == 0
    else:
        assert {r["filter_name"] for r in got} <= set(names)


def _blob_root(tmp_path, data: bytes, names=b"filter\n"):
    d = tmp_path / "proc" / "net" / "osqlite_ipt"
    d.mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc" / "net" / "ip_tables_names").write_bytes(names)
    (d / "filter").write_bytes(data)


def test_iptables_fixture_blob_and_hostile(conn, root, tmp_path, legacy):
    data = bytes.fromhex(legacy["blob"])
    _blob_root(tmp_path, data)
    root(tmp_path)
    assert rows(conn, "SELECT * FROM iptables") == legacy["rows"]
    # Truncations at every 8 bytes, random corruption, garbage: no crash,
    # never more chains than the real blob.
    import random
    rnd = random.Random(1234)
    cases = [data[:n] for n in range(0, len(data), 8)]
    for _ in range(300):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            b[rnd.randrange(84, len(b))] = rnd.randrange(256)
        cases.append(bytes(b))
    cases.append(data[:84] + os.urandom(4096))
    cases.append(b"\xff" * 84 + data[84:])
    n_real = len(legacy["rows"])
    for i, c in enumerate(cases):
        _blob_root(tmp_path, c)
        if i % 10 == 0 or i >= len(cases) - 2:
            run_asan(tmp_path, "SELECT * FROM iptables")
        # (corrupted names need not be UTF-8: count instead of decoding)
        n, = conn.execute("SELECT count(*) FROM iptables WHERE "
                          "length(chain) >= 0 AND length(target) >= 0 "
                          "OR target IS NULL").fetchone()
        assert n <= n_real + 64
    # Table names that are not readable tables, or no names file at all.
    _blob_root(tmp_path, data, names=b"nat\n../../etc\n" + b"x" * 5000 + b"\n")
    assert rows(conn, "SELECT * FROM iptables") == []
    (tmp_path / "proc" / "net" / "ip_tables_names").unlink()
    assert rows(conn, "SELECT * FROM iptables") == []
