"""Run inside `unshare -n` (a fresh network namespace, so the host's
firewall is never touched): add legacy iptables rules, then print JSON
with osqlite's iptables rows, `iptables-legacy -S` and the raw kernel blob
of the filter table (struct ipt_getinfo + entries) for fixture tests."""
import ctypes
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import osqlite  # noqa: E402

RULES = [
    "-N OSQTEST", "-N AAA",
    "-A OSQTEST -s 10.1.0.0/16 -i eth+ -p tcp --sport 1000:2000 --dport 22 -j ACCEPT",
    "-A OSQTEST -p udp ! -d 1.2.3.4 -o lo -j DROP",
    "-A INPUT -j OSQTEST",
    "-A INPUT -p icmp -m comment --comment hi -j LOG",
    "-A INPUT ! -p tcp -j RETURN",
    "-A INPUT -j AAA",
    "-A INPUT -i eth0",
    "-P FORWARD DROP",
]


def blob(table="filter"):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    info = ctypes.create_string_buffer(84)          # sizeof(struct ipt_getinfo)
    info.raw = table.encode().ljust(84, b"\0")
    n = ctypes.c_uint(84)
    assert libc.getsockopt(fd.fileno(), 0, 64, info, ctypes.byref(n)) == 0
    size = int.from_bytes(info.raw[80:84], "little")
    ent = ctypes.create_string_buffer(40 + size)    # ipt_get_entries header
    ent.raw = table.encode().ljust(32, b"\0") + size.to_bytes(4, "little") + b"\0" * (4 + size)
    n = ctypes.c_uint(40 + size)
    assert libc.getsockopt(fd.fileno(), 0, 65, ent, ctypes.byref(n)) == 0
    return info.raw + ent.raw[40:40 + size]


def main():
    for r in RULES:
        subprocess.run(["iptables-legacy"] + r.split(), check=True)
    c = osqlite.connect()
    cur = c.execute("SELECT * FROM iptables")
    names = [d[0] for d in cur.description]
    out = {"rows": [dict(zip(names, r)) for r in cur.fetchall()],
           "save": subprocess.run(["iptables-legacy", "-S"], capture_output=True,
                                  text=True, check=True).stdout,
           "blob": blob().hex()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
