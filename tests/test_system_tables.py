"""logged_in_users, last, memory_info, load_average, cpu_time, mounts,
system_controls, etc_services, etc_protocols, sudoers.

Live values are compared with files parsed independently in Python (and
os.getloadavg / os.statvfs); fixture trees in tmp_path hold hostile input.
"""
from __future__ import annotations

import os
import struct

import pytest
from conftest import rows


def _tree(base, files):
    for rel, data in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return base


# ---- utmp / wtmp --------------------------------------------------------

def utmp_record(type_, pid, line=b"", id_=b"", user=b"", host=b"", sec=0, usec=0):
    """A 384-byte glibc struct utmp (x86_64/aarch64 layout)."""
    return struct.pack("<hxxi32s4s32s256shhiii4i20x", type_, pid, line, id_, user, host,
                       0, 0, 0, sec, usec, 0, 0, 0, 0)


def test_utmp_record_size():
    assert len(utmp_record(7, 1)) == 384


def _utmp(tmp_path, rel, recs):
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"".join(recs))
    return p


RECS = [
    utmp_record(2, 0, b"~", b"~~", b"reboot", b"6.1.0", 1700000000),   # boot_time
    utmp_record(1, 0, b"~", b"~~", b"runlevel", b"6.1.0", 1700000001),  # runlevel
    utmp_record(5, 1, b"", b"si", b"", b"", 1700000002),                # init, pid 1: dropped
    utmp_record(6, 812, b"tty1", b"tty1", b"LOGIN", b"", 1700000003),    # login
    utmp_record(7, 900, b"pts/0", b"ts/0", b"alice", b"192.0.2.7", 1700000004, 5),
    utmp_record(8, 901, b"pts/1", b"ts/1", b"", b"", 1700000005),       # dead
    # Fields filling their whole size, without a NUL terminator.
    utmp_record(7, 902, b"L" * 32, b"abcd", b"U" * 32, b"H" * 256, 1700000006),
    utmp_record(42, 903, b"x", b"", b"weird", b"", -5),                  # unknown type
    utmp_record(0, 0, sec=0),                                            # empty
    utmp_record(9, 904, user=b"acct"),                                   # accounting
]


def test_logged_in_users_fixture(conn, root, tmp_path):
    _utmp(tmp_path, "var/run/utmp", RECS)
    root(tmp_path)
    got = rows(conn, "SELECT type, user, tty, host, time, pid FROM logged_in_users")
    assert [r["type"] for r in got] == [
        "boot_time", "runlevel", "login", "user", "dead", "user", "unknown",
        "empty", "accounting"]
    alice = got[3]
    assert alice == {"type": "user", "user": "alice", "tty": "pts/0",
                     "host": "192.0.2.7", "time": 1700000004, "pid": 900}
    full = got[5]
    assert full["user"] == "U" * 32 and full["tty"] == "L" * 32
    assert full["host"] == "H" * 256
    assert got[6]["time"] == -5
    assert all(r["pid"] != 1 for r in got)


def test_logged_in_users_run_utmp_fallback_and_truncation(conn, root, tmp_path):
    # Only /run/utmp exists; the final record is cut short and ignored.
    p = _utmp(tmp_path, "run/utmp", RECS[3:5])
    with open(p, "ab") as f:
        f.write(utmp_record(7, 999, user=b"partial")[:200])
    root(tmp_path)
    got = rows(conn, "SELECT user, pid FROM logged_in_users")
    assert got == [{"user": "LOGIN", "pid": 812}, {"user": "alice", "pid": 900}]


def test_logged_in_users_empty_missing_garbage(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM logged_in_users") == []
    _utmp(tmp_path, "var/run/utmp", [])
    assert rows(conn, "SELECT * FROM logged_in_users") == []
    (tmp_path / "var/run/utmp").write_bytes(b"\xff" * 383)
    assert rows(conn, "SELECT * FROM logged_in_users") == []
    (tmp_path / "var/run/utmp").unlink()
    (tmp_path / "var/run/utmp").mkdir()          # not a regular file
    assert rows(conn, "SELECT * FROM logged_in_users") == []
    # Random bytes: any number of rows, never a crash.
    (tmp_path / "var/run/utmp").rmdir()
    (tmp_path / "var/run/utmp").write_bytes(os.urandom(384 * 50 + 17))
    rows(conn, "SELECT type, time, pid, length(user), length(host) FROM logged_in_users")


def test_last_fixture(conn, root, tmp_path):
    _utmp(tmp_path, "var/log/wtmp", RECS)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM last")
    assert [(r["type"], r["type_name"], r["pid"]) for r in got] == [
        (7, "user-process", 900), (8, "dead-process", 901), (7, "user-process", 902)]
    assert got[0]["username"] == "alice" and got[0]["tty"] == "pts/0"
    assert got[0]["host"] == "192.0.2.7" and got[0]["time"] == 1700000004
    assert got[2]["host"] == "H" * 256


def test_last_missing_and_empty(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM last") == []
    _utmp(tmp_path, "var/log/wtmp", [])
    assert rows(conn, "SELECT * FROM last") == []


def _read_utmp(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    for off in range(0, len(data) - len(data) % 384, 384):
        t, pid, line, _id, user, host = struct.unpack_from("<hxxi32s4s32s256s", data, off)
        sec = struct.unpack_from("<i", data, off + 340)[0]
        out.append((t, pid, line.split(b"\0")[0], user.split(b"\0")[0], host.split(b"\0")[0], sec))
    return out


def test_logged_in_users_and_last_live(conn):
    for path in ("/var/run/utmp", "/run/utmp"):
        if os.path.isfile(path):
            want = [r for r in _read_utmp(path) if r[1] != 1]
            break
    else:
        want = []
    got = rows(conn, "SELECT pid, time FROM logged_in_users")
    assert [(r["pid"], r["time"]) for r in got] == [(w[1], w[5]) for w in want]
    wt = _read_utmp("/var/log/wtmp") if os.path.isfile("/var/log/wtmp") else []
    got = rows(conn, "SELECT pid, type FROM last")
    assert [(r["pid"], r["type"]) for r in got] == [(w[1], w[0]) for w in wt if w[0] in (7, 8)]


# ---- memory_info / load_average / cpu_time ------------------------------

def _meminfo(text):
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = int(parts[1]) * 1024
    return out


MEMKEYS = {"memory_total": "MemTotal:", "memory_free": "MemFree:",
           "memory_available": "MemAvailable:", "buffers": "Buffers:",
           "cached": "Cached:", "swap_cached": "SwapCached:", "active": "Active:",
           "inactive": "Inactive:", "swap_total": "SwapTotal:", "swap_free": "SwapFree:"}


def test_memory_info_live(conn):
    got = rows(conn, "SELECT * FROM memory_info")
    assert len(got) == 1
    with open("/proc/meminfo") as f:
        want = _meminfo(f.read())
    r = got[0]
    # Static values are exact; the moving ones within 5% of total.
    assert r["memory_total"] == want["MemTotal:"]
    assert r["swap_total"] == want["SwapTotal:"]
    for col, key in MEMKEYS.items():
        assert r[col] is not None and r[col] % 1024 == 0
        assert abs(r[col] - want[key]) <= want["MemTotal:"] // 20, col


def test_memory_info_fixture(conn, root, tmp_path):
    _tree(tmp_path, {"proc/meminfo": (
        "MemTotal:       1000 kB\n"
        "MemFree:\t  20 kB\n"
        "Active(anon):   999 kB\n"
        "Active:         30 kB\n"
        "Inactive:       abc kB\n"
        "Buffers:        12x kB\n"
        "Cached:\n"
        "SwapTotal:      0 kB\n"
        "SwapFree:       9999999999999999999 kB\n"
        + "Junk: " + "9" * 100000 + "\n")})
    root(tmp_path)
    r = rows(conn, "SELECT * FROM memory_info")[0]
    assert r["memory_total"] == 1024000 and r["memory_free"] == 20480
    assert r["active"] == 30720
    assert r["inactive"] is None and r["buffers"] is None and r["cached"] is None
    assert r["swap_total"] == 0 and r["swap_free"] is None
    assert r["memory_available"] is None
    (tmp_path / "proc/meminfo").unlink()
    assert rows(conn, "SELECT memory_total FROM memory_info") == [{"memory_total": None}]


def test_load_average_live(conn):
    got = rows(conn, "SELECT period, average FROM load_average")
    assert [r["period"] for r in got] == ["1m", "5m", "15m"]
    want = os.getloadavg()
    for r, w in zip(got, want):
        assert len(r["average"].split(".")[1]) == 6
        assert abs(float(r["average"]) - w) < 1.0


def test_load_average_fixture(conn, root, tmp_path):
    _tree(tmp_path, {"proc/loadavg": "0.52 1.5 12.25 1/234 5678\n"})
    root(tmp_path)
    assert rows(conn, "SELECT * FROM load_average") == [
        {"period": "1m", "average": "0.520000"},
        {"period": "5m", "average": "1.500000"},
        {"period": "15m", "average": "12.250000"}]
    # Unparsable or missing: three all-NULL rows, as osquery's QueryData(3).
    (tmp_path / "proc/loadavg").write_bytes(b"0.1 garbage\n")
    assert rows(conn, "SELECT * FROM load_average") == [{"period": None, "average": None}] * 3
    (tmp_path / "proc/loadavg").unlink()
    assert len(rows(conn, "SELECT * FROM load_average")) == 3


def _cpu_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("cpu") and not line.startswith("cpu "):
            f = line.split()
            out.append([int(f[0][3:])] + [int(x) for x in f[1:11]])
    return out


def test_cpu_time_live(conn):
    got = rows(conn, "SELECT * FROM cpu_time")
    with open("/proc/stat") as f:
        want = _cpu_lines(f.read())
    assert [r["core"] for r in got] == [w[0] for w in want] == list(range(os.cpu_count()))
    cols = ["user", "nice", "system", "idle", "iowait", "irq", "softirq",
            "steal", "guest", "guest_nice"]
    for r, w in zip(got, want):
        for i, c in enumerate(cols):
            # Ticks only grow; allow a few seconds of progress.
            assert 0 <= w[i + 1] - r[c] <= 2000 or r[c] <= w[i + 1] + 2000, c


def test_cpu_time_fixture(conn, root, tmp_path):
    _tree(tmp_path, {"proc/stat": (
        "cpu  1 2 3 4 5 6 7 8 9 10\n"
        "cpu0 10 20 30 40 50 60 70 80 90 100\n"
        "  cpu1 1 2 3 4 5 6 7\n"            # 8 fields: steal/guest default 0
        "cpu2 1 2 3\n"                      # too short: skipped
        "cpux 1 2 3 4 5 6 7\n"              # core not a number: NULL
        "cpu3  5  6 7 8 9 10 11 12 13 14 15 16\n"
        "intr 1 2 3\n"
        "cpu 9 9 9 9 9 9 9\n")})            # an aggregate later: core NULL
    root(tmp_path)
    got = rows(conn, "SELECT * FROM cpu_time")
    # The later bare "cpu" line has no core digits: skipped, as osquery.
    assert [r["core"] for r in got] == [0, 1, None, 3]
    assert got[0]["guest_nice"] == 100 and got[0]["user"] == 10
    assert (got[1]["steal"], got[1]["guest"], got[1]["guest_nice"]) == (0, 0, 0)
    assert got[3]["user"] == 5 and got[3]["guest_nice"] == 14
    (tmp_path / "proc/stat").write_bytes(b"cpu0 " + b"1 " * 500000 + b"\n\x00\xff")
    assert len(rows(conn, "SELECT * FROM cpu_time")) == 1


# ---- mounts -------------------------------------------------------------

def _unescape(s):
    return (s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def test_mounts_live(conn):
    with open("/proc/mounts") as f:
        want = [line.split() for line in f if line.strip()]
    got = rows(conn, "SELECT * FROM mounts")
    assert [(r["device"], r["path"], r["type"], r["flags"]) for r in got] == [
        (_unescape(w[0]), _unescape(w[1]), w[2], _unescape(w[3])) for w in want]
    root_fs = [r for r in got if r["path"] == "/"][-1]
    st = os.statvfs("/")
    assert root_fs["blocks_size"] == st.f_bsize
    assert root_fs["blocks"] == st.f_blocks
    assert abs(root_fs["blocks_free"] - st.f_bfree) < 100000
    assert root_fs["inodes"] == st.f_files
    proc = [r for r in got if r["path"] == "/proc"][0]
    assert proc["device_alias"] == ("/proc" if os.path.exists("/proc") else "proc")
    for r in got:
        dev = r["device"]
        real = os.path.realpath(os.path.join("/", dev)) if os.path.exists(os.path.join("/", dev)) else dev
        assert r["device_alias"] == real


def test_mounts_fixture(conn, root, tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/sda1").write_text("")
    os.symlink("sda1", tmp_path / "dev/link")
    _tree(tmp_path, {"proc/mounts": (
        "/dev/link /mnt/with\\040space ext4 rw,relatime 0 0\n"
        "\n"
        "# comment\n"
        "   \t  \n"
        "tab\\011dev /a\\134b\\\\c\\999 xfs ro 0 0\n"
        "auto /net autofs rw 0 0\n"
        "onlydev\n"
        "dev2 /p\n"
        + "long " + "/" * 200000 + " tmpfs rw 0 0\n")})
    root(tmp_path)
    got = rows(conn, "SELECT * FROM mounts")
    assert got[0]["device"] == "/dev/link" and got[0]["device_alias"] == "/dev/sda1"
    assert got[0]["path"] == "/mnt/with space" and got[0]["flags"] == "rw,relatime"
    assert got[1]["device"] == "tab\tdev" and got[1]["path"] == "/a\\b\\c\\999"
    assert got[2]["type"] == "autofs" and got[2]["blocks"] == 0
    assert got[3] ["device"] == "onlydev" and got[3]["path"] == "" and got[3]["type"] == ""
    assert got[4]["path"] == "/p" and got[4]["flags"] == ""
    assert len(got[5]["path"]) == 200000
    # statfs fails under a fixture root: zeros.
    assert all(r["blocks_size"] == 0 for r in got if r["path"] != "")
    (tmp_path / "proc/mounts").write_bytes(os.urandom(10000).replace(b"\0", b"x"))
    rows(conn, "SELECT length(device), length(path), blocks FROM mounts")
    (tmp_path / "proc/mounts").unlink()
    assert rows(conn, "SELECT * FROM mounts") == []


# ---- system_controls ----------------------------------------------------

def test_system_controls_live(conn):
    got = {r["name"]: r for r in rows(conn, "SELECT *, field_name FROM system_controls")}
    want = {}
    for d, _dirs, files in os.walk("/proc/sys"):
        for f in files:
            p = os.path.join(d, f)
            name = p[len("/proc/sys/"):].replace("/", ".")
            if not os.access(p, os.R_OK):
                want[name] = None
                continue
            try:
                with open(p, "rb") as fh:
                    want[name] = fh.read().strip().decode(errors="replace")
            except OSError:
                want[name] = ""
    assert set(got) == set(want)
    volatile = ("random", "inode", "dentry", "file-nr", "ns_last_pid", "state",
                "entropy", "uuid", "boot_id", "perf", "stat", "nr_", "count", "max_")
    for name, r in got.items():
        # field_name is macOS' TEXT column: '' as in osquery.
        assert r["type"] == "string" and r["oid"] is None and r["field_name"] == ""
        assert r["subsystem"] == name.split(".")[0]
        if any(v in name for v in volatile):
            continue
        assert r["current_value"] == want[name], name
    assert got["kernel.ostype"]["current_value"] == "Linux"


def test_system_controls_pushdown(conn):
    r = rows(conn, "SELECT * FROM system_controls WHERE name = 'net.ipv4.ip_forward'")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert r[0]["current_value"] == f.read().strip()
    assert len(r) == 1 and r[0]["subsystem"] == "net"
    assert rows(conn, "SELECT * FROM system_controls WHERE name = 'net.ipv4'") == []
    assert rows(conn, "SELECT * FROM system_controls WHERE name = 'no.such.thing'") == []
    vm = rows(conn, "SELECT name FROM system_controls WHERE subsystem = 'vm'")
    assert len(vm) == len([f for _, _, fs in os.walk("/proc/sys/vm") for f in fs])
    assert rows(conn, "SELECT name FROM system_controls WHERE oid = '1.2'") == []


def test_system_controls_fixture(conn, root, tmp_path):
    _tree(tmp_path, {
        "proc/sys/toplevel": "not a control\n",
        "proc/sys/kernel/hostname": "box\n",
        "proc/sys/kernel/printk": "4\t4\t1\t7\n",
        "proc/sys/kernel/empty": "",
        "proc/sys/kernel/binary": b"\x00\x01\xff  \n",
        "proc/sys/kernel/huge": "y" * 200000,
        "proc/sys/net/ipv4/ip_forward": "1\n",
        "proc/sys/net/ipv4/conf/eth0.100/rp_filter": "2\n",
        "proc/sys/vm/swappiness": "  60  \n",
        "etc/sysctl.conf": ("# comment\n; also\n"
                            "kernel.hostname = fromconf\n"
                            "net.ipv4.ip_forward=0\n"
                            "vm.swappiness = 1 = 2\n"
                            "kernel.printk==3\n"
                            "kernel.empty =   \n"
                            "novalue\n"),
        "etc/sysctl.d/10-a.conf": "net.ipv4.ip_forward = 1\n",
        "etc/sysctl.d/20-b.conf": "net.ipv4.ip_forward = 2\n",
        "etc/sysctl.d/ignored.txt": "kernel.hostname = nope\n",
        "usr/lib/sysctl.d/99-z.conf": "kernel.hostname = last\n" + "x" * 300000 + "\n",
        "run/sysctl.d/00.conf": "vm.swappiness = 5\n",
    })
    os.chmod(tmp_path / "proc/sys/kernel/empty", 0o200)
    os.mkfifo(tmp_path / "proc/sys/kernel/fifo")
    os.symlink("..", tmp_path / "proc/sys/kernel/loop")
    root(tmp_path)
    got = {r["name"]: r for r in rows(conn, "SELECT * FROM system_controls")}
    assert set(got) == {"kernel.hostname", "kernel.printk", "kernel.empty", "kernel.binary",
                        "kernel.huge", "net.ipv4.ip_forward", "net.ipv4.conf.eth0.100.rp_filter",
                        "vm.swappiness"}
    assert got["kernel.hostname"]["current_value"] == "box"
    assert got["kernel.hostname"]["config_value"] == "last"
    assert got["kernel.printk"]["current_value"] == "4\t4\t1\t7"
    assert got["kernel.printk"]["config_value"] == "3"
    assert got["net.ipv4.ip_forward"]["config_value"] == "2"
    assert got["vm.swappiness"]["current_value"] == "60"
    assert got["vm.swappiness"]["config_value"] == "5"
    # Lines are trimmed before the '=' split: "kernel.empty =" has one part.
    assert got["kernel.empty"]["config_value"] is None
    if os.geteuid() != 0:
        assert got["kernel.empty"]["current_value"] is None
    assert len(got["kernel.huge"]["current_value"]) < 65536
    assert got["net.ipv4.conf.eth0.100.rp_filter"]["subsystem"] == "net"
    # Order: subdirectories first, then files, each by name.
    names = [r["name"] for r in rows(conn, "SELECT name FROM system_controls")]
    assert names[:2] == ["kernel.binary", "kernel.empty"]
    assert names.index("net.ipv4.conf.eth0.100.rp_filter") < names.index("net.ipv4.ip_forward")
    r = rows(conn, "SELECT current_value, config_value FROM system_controls "
                   "WHERE name = 'net.ipv4.ip_forward'")
    assert r == [{"current_value": "1", "config_value": "2"}]


def test_system_controls_missing(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM system_controls") == []


# ---- etc_services / etc_protocols ----------------------------------------

def _py_etc_entries(text):
    """(fields, comment) of each entry line of /etc/services or
    /etc/protocols, split the way osquery splits them."""
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("#") if p]
        fields = parts[0].split()
        if len(fields) < 2:
            continue
        yield fields, " # ".join(parts[1:]) if len(parts) > 1 else None


def _py_services(text):
    out = []
    for fields, comment in _py_etc_entries(text):
        pp = [p for p in fields[1].split("/") if p]
        if len(pp) != 2:
            continue
        out.append({"name": fields[0], "port": int(pp[0]), "protocol": pp[1],
                    "aliases": " ".join(fields[2:]), "comment": comment})
    return out


def test_etc_services_live(conn):
    if not os.path.exists("/etc/services"):
        pytest.skip("no /etc/services")
    with open("/etc/services") as f:
        want = _py_services(f.read())
    assert rows(conn, "SELECT * FROM etc_services") == want


def test_etc_services_fixture(conn, root, tmp_path):
    _tree(tmp_path, {"etc/services": (
        "# header\n"
        "ssh\t\t22/tcp\t\t\t# SSH Remote Login Protocol\n"
        "  http 80/tcp www www-http   # World # Wide  Web\n"
        "odd 010/udp\n"
        "noproto 99\n"
        "three 1/tcp/x\n"
        "dbl 53//udp #\n"
        "lonely\n"
        "blank 7/tcp # \n"
        "blank2 7/udp # #x\n"
        "\xff\xfe 1/tcp\n"
        + "big 1/tcp " + "a " * 100000 + "\n")})
    root(tmp_path)
    got = rows(conn, "SELECT name, port, protocol, aliases, comment FROM etc_services "
                     "WHERE name NOT LIKE 'big' AND length(name) < 3 OR name IN "
                     "('ssh','http','odd','dbl','blank')")
    by = {r["name"]: r for r in got}
    assert by["ssh"] == {"name": "ssh", "port": 22, "protocol": "tcp", "aliases": "",
                         "comment": "SSH Remote Login Protocol"}
    assert by["http"]["aliases"] == "www www-http"
    assert by["http"]["comment"] == "World # Wide  Web"
    assert by["odd"]["port"] == 8          # base-0 integer rule
    assert by["dbl"]["protocol"] == "udp" and by["dbl"]["comment"] is None
    assert by["blank"]["comment"] is None   # the line is trimmed first
    b2 = rows(conn, "SELECT comment FROM etc_services WHERE name = 'blank2'")
    assert b2 == [{"comment": " # x"}]      # a blank part survives as
    names = [r["n"] for r in rows(conn, "SELECT hex(name) AS n FROM etc_services")]
    assert "6E6F70726F746F" not in names and "7468726565" not in names
    big = rows(conn, "SELECT length(aliases) AS n FROM etc_services WHERE name = 'big'")
    assert big == [{"n": 2 * 100000 - 1}]


def test_etc_protocols_live(conn):
    if not os.path.exists("/etc/protocols"):
        pytest.skip("no /etc/protocols")
    with open("/etc/protocols") as f:
        want = [{"name": fields[0], "number": int(fields[1]),
                 "alias": fields[2] if len(fields) > 2 else None, "comment": comment}
                for fields, comment in _py_etc_entries(f.read())]
    assert rows(conn, "SELECT * FROM etc_protocols") == want


def test_etc_protocols_fixture_and_missing(conn, root, tmp_path):
    _tree(tmp_path, {"etc/protocols": (
        "ip 0 IP # internet protocol\n"
        "tcp\t6\tTCP EXTRA\n"
        "solo\n"
        "hex 0x11\n"
        "bad x\n")})
    root(tmp_path)
    got = rows(conn, "SELECT * FROM etc_protocols")
    assert got == [
        {"name": "ip", "number": 0, "alias": "IP", "comment": "internet protocol"},
        {"name": "tcp", "number": 6, "alias": "TCP", "comment": None},
        {"name": "hex", "number": 17, "alias": None, "comment": None},
        {"name": "bad", "number": None, "alias": None, "comment": None}]
    (tmp_path / "etc/protocols").unlink()
    assert rows(conn, "SELECT * FROM etc_protocols") == []
    assert rows(conn, "SELECT * FROM etc_services") == []


# ---- sudoers ------------------------------------------------------------

def test_sudoers_fixture(conn, root, tmp_path):
    _tree(tmp_path, {
        "etc/sudoers": (
            "# comment\n"
            "Defaults\tenv_reset\n"
            "Defaults   secure_path=\"/usr/bin:/bin\"\n"
            "\n"
            "root ALL=(ALL:ALL) ALL\n"
            "Cmnd_Alias SHUT = /sbin/halt, \\\n"
            "    /sbin/reboot, \\\n"
            "  /sbin/poweroff\n"
            "%sudo\tALL=(ALL) ALL\n"
            "#include\n"                      # no target: skipped
            "#includedir /etc/sudoers.d\n"
            "@include extra\n"                # relative to /etc
            "lonely\\\n"
            "next line\n"),
        "etc/sudoers.d/alice": "alice ALL=(ALL) NOPASSWD: ALL\n",
        "etc/sudoers.d/README.txt": "ignored ALL\n",   # contains '.'
        "etc/sudoers.d/backup~": "ignored ALL\n",
        "etc/sudoers.d/bob": "bob ALL=/usr/bin/true\n#include /etc/sudoers\n",
        "etc/extra": "@includedir sudoers.d\nextra ALL\n",
    })
    root(tmp_path)
    got = [(r["source"], r["header"], r["rule_details"])
           for r in rows(conn, "SELECT * FROM sudoers")]
    S, D = "/etc/sudoers", "/etc/sudoers.d"
    assert got[:8] == [
        (S, "Defaults", "env_reset"),
        (S, "Defaults", 'secure_path="/usr/bin:/bin"'),
        (S, "root", "ALL=(ALL:ALL) ALL"),
        (S, "Cmnd_Alias", "SHUT = /sbin/halt, /sbin/reboot, /sbin/poweroff"),
        (S, "%sudo", "ALL=(ALL) ALL"),
        (S, "#includedir", "/etc/sudoers.d"),
        (D + "/alice", "alice", "ALL=(ALL) NOPASSWD: ALL"),
        (D + "/bob", "bob", "ALL=/usr/bin/true"),
    ]
    # bob includes /etc/sudoers, which is already being read: not again.
    assert got[8] == (D + "/bob", "#include", "/etc/sudoers")
    assert got[9] == (S, "@include", "extra")
    assert got[10] == ("/etc/extra", "@includedir", "sudoers.d")
    assert got[11] == ("/etc/sudoers.d/alice", "alice", "ALL=(ALL) NOPASSWD: ALL")
    assert got[-2] == ("/etc/extra", "extra", "ALL")
    assert got[-1] == (S, "lonely", "next line")
    assert not any("ignored" in g[1] for g in got)


def test_sudoers_self_loop_and_depth(conn, root, tmp_path):
    _tree(tmp_path, {
        "etc/sudoers": "#include /etc/a\n",
        "etc/a": "a ALL\n#include /etc/b\n",
        "etc/b": "b ALL\n#include a\n#include b\n",
    })
    root(tmp_path)
    got = [(r["source"], r["header"]) for r in rows(conn, "SELECT * FROM sudoers")]
    assert got == [("/etc/sudoers", "#include"), ("/etc/a", "a"), ("/etc/a", "#include"),
                   ("/etc/b", "b"), ("/etc/b", "#include"), ("/etc/b", "#include")]
    # A 200-file include chain stops at the depth bound (128).
    files = {"etc/sudoers": "#include /etc/c0\n"}
    for i in range(200):
        files[f"etc/c{i}"] = f"r{i} ALL\n#include /etc/c{i + 1}\n"
    _tree(tmp_path, files)
    got = rows(conn, "SELECT header FROM sudoers WHERE header LIKE 'r%'")
    assert len(got) == 127


def test_sudoers_hostile_and_missing(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM sudoers") == []
    _tree(tmp_path, {"etc/sudoers": b"\x00\xff\xfe\n" + b"A" * 300000 + b" \\\n\\\n\\"
                     + b"\n#includedir /nonexistent\n#include /dev/zero\n"
                     + b"#include /etc\n"})
    got = rows(conn, "SELECT source, length(header) AS h, length(rule_details) AS r FROM sudoers")
    # The backslash lines chain: "#includedir /nonexistent" is continuation
    # text of the huge rule, not an include (as in osquery).
    assert got[0] == {"source": "/etc/sudoers", "h": 300000,
                      "r": len("#includedir /nonexistent")}
    # /dev/zero and a directory are not regular files: not read.
    assert got[1:] == [{"source": "/etc/sudoers", "h": 8, "r": 9},
                       {"source": "/etc/sudoers", "h": 8, "r": 4}]


# ---- sanitizer driver over hostile trees -----------------------------------

SYS_TABLES = ["users", "groups", "user_groups", "shadow", "logged_in_users", "last",
              "memory_info", "load_average", "cpu_time", "mounts", "system_controls",
              "interface_addresses", "interface_details", "etc_services",
              "etc_protocols", "sudoers"]


def _hostile_tree(base, seed):
    import random
    rnd = random.Random(seed)

    def junk(n):
        return bytes(rnd.randrange(256) for _ in range(n))

    huge = b"z" * (1024 * 1024 + 7)
    files = {
        "etc/passwd": junk(3000) + b"\n" + huge + b"\nu:x:1:1:" + huge + b":/:/bin/sh",
        "etc/group": b"g:x:1:" + b"," * 100000 + b"\n" + junk(2000) + b"\ng2:x:2:u,u,u",
        "etc/shadow": junk(4000) + b"\nu:$6$:1:2:3:4:5:6:7:8:9:10\n" + huge,
        "var/run/utmp": junk(384 * 20 + 100),
        "var/log/wtmp": junk(384 * 7 + 383),
        "proc/meminfo": junk(5000) + b"\nMemTotal: " + b"9" * 5000 + b"\n",
        "proc/loadavg": junk(600),
        "proc/stat": b"cpu0" + junk(5000) + b"\ncpu1 " + b"1 " * 20000 + b"\n",
        "proc/mounts": junk(8000) + b"\n\\\\\\0\\04 \\ \\\n" + b"a " * 10000,
        "proc/sys/a/b/c": junk(100),
        "proc/sys/a/big": huge,
        "proc/sys/" + "d/" * 60 + "leaf": b"deep\n",
        "etc/sysctl.conf": junk(5000) + b"\n=\n==\na=b\n" + huge,
        "etc/sysctl.d/x.conf": junk(3000),
        "etc/services": junk(6000) + b"\n# # #\n a b/c/d # \n" + huge,
        "etc/protocols": junk(6000) + b"\n" + huge,
        "etc/sudoers": junk(3000) + b"\n#include sudoers\n#includedir .\n@include /etc/x\n\\\n",
        "etc/x": b"@include /etc/sudoers\n#includedir /etc\n" + junk(500),
        "sys/class/net/lo/flags": junk(50),
    }
    for rel, data in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    os.symlink("/dev/zero", base / "proc/sys/a/zero")
    os.symlink(".", base / "proc/sys/a/self")
    os.mkfifo(base / "proc/sys/a/fifo")
    return base


@pytest.mark.parametrize("seed", [1, 2])
def test_asan_driver_on_hostile_trees(tmp_path, seed, asan_driver):
    import subprocess
    _hostile_tree(tmp_path, seed)
    sql = [f"SELECT * FROM {t}" for t in SYS_TABLES]
    sql += ["SELECT * FROM system_controls WHERE name = 'a.b.c'",
            "SELECT * FROM system_controls WHERE subsystem = 'a'",
            "SELECT * FROM users WHERE uid = 1", "SELECT * FROM groups WHERE gid = 1",
            "SELECT * FROM shadow WHERE username = 'u'"]
    env = dict(os.environ, OSQLITE_ROOT=str(tmp_path))
    res = subprocess.run([str(asan_driver), "-q", *sql], env=env, capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-3000:]
    assert b"runtime error" not in res.stderr and b"AddressSanitizer" not in res.stderr
