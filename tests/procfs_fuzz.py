"""Hostile filesystem trees for the sanitizer fuzz run (test_procfs_fuzz_e2e).

base_tree() writes one root with a plausible copy of everything the tables
read below OSQLITE_ROOT: /proc (processes, their fds, maps, environ, net,
sys), /sys (net, dmi, acpi, block, pci, usb), /etc (passwd, group, shadow,
hosts, services, sudoers, cron, apt, sysctl...), /var (dpkg, rpm, portage,
utmp/wtmp, cron spools), /usr (ids files, python packages, setuid files) and
homes (shell histories, ssh keys, browser profiles).  hostile_tree() copies
it and applies a seeded number of mutations to files picked at random:
truncation, binary junk, bytes that are not UTF-8, NUL bytes, huge lines,
dropped or extreme fields, repeated lines, and files replaced by FIFOs,
directories, symbolic link loops, dangling links and links to /dev/zero.

Everything is derived from the seed: the same seed gives the same trees.

    python3 tests/procfs_fuzz.py --seed 1 --trees 300   # run it by hand
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import smbios_build as sb  # noqa: E402
import test_hardware as th  # noqa: E402
import test_packages as tp  # noqa: E402
from test_processes import stat_line, status_text  # noqa: E402

PIDS = (1, 2, 77, 4242)
USERS = (("root", 0, "/root"), ("alice", 1000, "/home/alice"), ("bob", 1001, "/home/bob"))


def put(root: Path, rel: str, data: str | bytes) -> Path:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def link(root: Path, rel: str, target: str) -> None:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)


TCP = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
       "timeout inode\n"
       "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
       "        0 12345 1 0000000000000000 100 0 0 10 0\n"
       "   1: 0F02000A:0016 0102000A:D431 01 00000000:00000000 02:000A7214 00000000  1000"
       "        0 12346 4 0000000000000000 20 4 29 10 -1\n")
TCP6 = ("  sl  local_address                         remote_address                        st "
        "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 22345 1 0000000000000000 100 0 0 10 0\n")
UNIX = ("Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 32345 /run/systemd/private\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03 32346\n")
ROUTE = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
         "eth0\t00000000\t0102000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
         "eth0\t0002000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n")
IPV6_ROUTE = ("fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
              "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n")
DEV = ("Inter-|   Receive                                                |  Transmit\n"
       " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
       "drop fifo colls carrier compressed\n"
       "    lo:  123456     789    0    0    0     0          0         0   123456     789    0 "
       "   0    0     0       0          0\n"
       "  eth0: 9876543   12345    1    2    0     0          0        10  8765432   11111    0 "
       "   0    0     0       0          0\n")
MEMINFO = "".join(f"{k}:{v:>16} kB\n" for k, v in [
    ("MemTotal", 16303868), ("MemFree", 1234567), ("MemAvailable", 9876543), ("Buffers", 12345),
    ("Cached", 4567890), ("SwapCached", 0), ("Active", 555555), ("Inactive", 444444),
    ("SwapTotal", 2097148), ("SwapFree", 2097148), ("Dirty", 12), ("Shmem", 9999)])
CPUINFO = "".join(f"processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
                  f"model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nstepping\t: 7\ncpu MHz\t\t: 2200.000\n"
                  f"cache size\t: 39424 KB\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: {i}\n"
                  f"cpu cores\t: 2\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sse sse2\n\n"
                  for i in range(2))
STAT = ("cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\n"
        "cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0\n"
        "cpu1 1393280 32966 572056 13343292 6130 0 17875 0 0 0\n"
        "intr 199292721 30 0 0\nctxt 3542718963\nbtime 1700000000\nprocesses 3044016\n"
        "procs_running 2\nprocs_blocked 0\nsoftirq 1 2 3\n")
MOUNTS = ("proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
          "/dev/sda1 / ext4 rw,relatime,errors=remount-ro 0 0\n"
          "tmpfs /run tmpfs rw,nosuid,nodev,size=812396k,mode=755 0 0\n"
          "/dev/sda2 /home\\040dir ext4 rw 0 0\n")
MODULES = ("nf_tables 249856 0 - Live 0x0000000000000000\n"
           "ext4 737280 1 - Live 0x0000000000000000\n"
           "crc16 16384 1 ext4, Live 0x0000000000000000 (E)\n")
MAPS = ("55d0c0000000-55d0c0021000 r--p 00000000 08:01 131073                     /usr/bin/proc\n"
        "7f0000000000-7f0000100000 rw-p 00000000 00:00 0                          [heap]\n"
        "7f1000000000-7f1000200000 r-xp 00010000 08:01 262147                     /usr/lib/libc.so.6\n")
PASSWD = "".join(f"{n}:x:{u}:{u}:{n.title()}:{h}:/bin/bash\n" for n, u, h in USERS) + \
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\nsudo:x:27:alice,bob\nalice:x:1000:\nbob:x:1001:\n"
SHADOW = ("root:$6$salt$hash:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n"
          "bob:*:19000::::::\n")
DPKG_STATUS = ("Package: bash\nStatus: install ok installed\nPriority: required\nSection: shells\n"
               "Installed-Size: 6470\nMaintainer: Someone <a@b.c>\nArchitecture: amd64\n"
               "Version: 5.2.15-2+b2\nDescription: GNU Bourne Again SHell\n continued line\n\n"
               "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
               "Source: glibc (2.36-9)\nVersion: 2.36-9+deb12u4\nDescription: C library\n\n")
SOURCES = ("deb http://deb.debian.org/debian bookworm main contrib\n"
           "deb-src [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://x/debian bookworm main\n"
           "# comment\n")
SUDOERS = ("Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n"
           "#includedir /etc/sudoers.d\n@include /etc/sudoers.local\n")
CRONTAB = ("SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"
           "@reboot root /usr/local/bin/start\n")
HISTORY = "ls -la\n#1700000000\nmake\n: 1700000001:0;git status\n"
KEYS = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample alice@host\n"
KNOWN = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
CHROME_MANIFEST = json.dumps({"name": "__MSG_appName__", "version": "1.2", "manifest_version": 3,
                              "default_locale": "en", "permissions": ["tabs", "storage"],
                              "key": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
                              "background": {"persistent": True}})
CHROME_PREFS = json.dumps({"profile": {"name": "Person 1"}, "extensions": {"settings": {
    "abcdefghijklmnopabcdefghijklmnop": {"path": "abcdefghijklmnopabcdefghijklmnop/1.2_0",
                                         "state": 1, "from_webstore": True,
                                         "install_time": "13300000000000000"}}}})
FIREFOX = json.dumps({"addons": [{"id": "x@y", "defaultLocale": {"name": "X", "creator": "Y"},
                                  "version": "1.0", "type": "extension", "active": True,
                                  "visible": True, "userDisabled": False,
                                  "applyBackgroundUpdates": 1, "path": "/p", "location": "app"}]})


def ipt_blob() -> bytes:
    """struct ipt_getinfo and the entries of a filter table with the three
    built-in chains (policy ACCEPT), as the kernel returns them."""
    import struct

    def entry(target: bytes) -> bytes:
        head = bytes(84) + struct.pack("<IHHI", 0, 112, 112 + len(target), 0) + bytes(16)
        return head + target

    accept = struct.pack("<H29sB", 40, b"", 0) + struct.pack("<i", -2) + bytes(4)
    error = struct.pack("<H29sB", 64, b"ERROR", 0) + b"ERROR".ljust(32, b"\0")
    entries = entry(accept) * 3 + entry(error)
    hooks = [0, 0, 152, 304, 0]
    info = (b"filter".ljust(32, b"\0") + struct.pack("<I", 0xE) + struct.pack("<5I", *hooks)
            + struct.pack("<5I", *hooks) + struct.pack("<II", 4, len(entries)))
    return info + entries


def proc_tree(root: Path) -> None:
    for pid in PIDS:
        d = f"proc/{pid}"
        put(root, f"{d}/stat", stat_line(pid, "worker" if pid != 2 else "a) (b", ppid=1))
        put(root, f"{d}/status", status_text(f"proc{pid}", uids=(1000, 1000, 1000, 1000)))
        put(root, f"{d}/cmdline", f"/usr/bin/proc{pid}\0--flag\0value\0".encode())
        put(root, f"{d}/environ", b"PATH=/usr/bin\0HOME=/root\0LANG=C.UTF-8\0")
        put(root, f"{d}/io", "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\n"
                             "write_bytes: 8192\ncancelled_write_bytes: 0\n")
        put(root, f"{d}/cgroup", "0::/system.slice/x.service\n")
        put(root, f"{d}/comm", f"proc{pid}\n")
        put(root, f"{d}/maps", MAPS)
        put(root, f"{d}/mountinfo", "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n")
        link(root, f"{d}/exe", f"/usr/bin/proc{pid}" + (" (deleted)" if pid == 77 else ""))
        link(root, f"{d}/cwd", "/")
        link(root, f"{d}/root", "/")
        link(root, f"{d}/ns/mnt", "mnt:[4026531840]")
        link(root, f"{d}/ns/net", "net:[4026531992]")
        for fd, target in enumerate(["/dev/null", "socket:[12345]", "pipe:[777]",
                                     "/etc/passwd", "anon_inode:[eventfd]", "socket:[32345]"]):
            link(root, f"{d}/fd/{fd}", target)
        put(root, f"{d}/task/{pid}/stat", stat_line(pid))
        for name, text in [("tcp", TCP), ("udp", TCP), ("tcp6", TCP6), ("udp6", TCP6),
                           ("raw", TCP), ("raw6", TCP6), ("udplite", TCP), ("icmp", TCP),
                           ("unix", UNIX), ("packet", "sk RefCnt Type Proto Iface R Rmem User "
                                                      "Inode\n0 3 3 0003 1 1 0 0 32346\n")]:
            put(root, f"{d}/net/{name}", text)
    put(root, "proc/stat", STAT)
    put(root, "proc/meminfo", MEMINFO)
    put(root, "proc/cpuinfo", CPUINFO)
    put(root, "proc/uptime", "350735.47 234388.90\n")
    put(root, "proc/loadavg", "0.52 0.58 0.59 2/1089 3044016\n")
    put(root, "proc/version", "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) "
                              "(gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC\n")
    put(root, "proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0d7a6c4e ro quiet\n")
    put(root, "proc/modules", MODULES)
    put(root, "proc/mounts", MOUNTS)
    put(root, "proc/swaps", "Filename Type Size Used Priority\n/dev/sda3 partition 2097148 0 -2\n")
    for name, text in [("tcp", TCP), ("udp", TCP), ("tcp6", TCP6), ("udp6", TCP6), ("raw", TCP),
                       ("unix", UNIX), ("route", ROUTE), ("ipv6_route", IPV6_ROUTE), ("dev", DEV),
                       ("arp", "IP address       HW type     Flags       HW address            "
                               "Mask     Device\n10.0.2.2         0x1         0x2         "
                               "52:54:00:12:35:02     *        eth0\n"),
                       ("if_inet6", "00000000000000000000000000000001 01 80 10 80       lo\n"),
                       ("ip_tables_names", "filter\nnat\n"),
                       ("packet", "sk RefCnt Type Proto Iface R Rmem User Inode\n")]:
        put(root, f"proc/net/{name}", text)
    for rel, value in [("kernel/hostname", "fuzzhost"), ("kernel/osrelease", "6.1.0-18-amd64"),
                       ("kernel/random/boot_id", "0d7a6c4e-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
                       ("net/ipv4/ip_forward", "1"), ("vm/swappiness", "60"),
                       ("fs/file-max", "9223372036854775807"), ("kernel/pid_max", "4194304")]:
        put(root, f"proc/sys/{rel}", value + "\n")
    link(root, "proc/self", "1")
    put(root, "proc/net/ip_tables_names", "filter\n")
    put(root, "proc/net/osqlite_ipt/filter", ipt_blob())


def sys_tree(root: Path) -> None:
    for iface, addr, flags in [("lo", "00:00:00:00:00:00", "0x9"), ("eth0", "52:54:00:12:34:56",
                                                                   "0x1003")]:
        d = f"sys/class/net/{iface}"
        for k, v in [("address", addr), ("flags", flags), ("mtu", "1500"), ("type", "1"),
                     ("operstate", "up"), ("speed", "1000"), ("duplex", "full"),
                     ("ifindex", "2"), ("carrier", "1"), ("tx_queue_len", "1000"),
                     ("statistics/rx_bytes", "123"), ("statistics/tx_bytes", "456")]:
            put(root, f"{d}/{k}", v + "\n")
    for k, v in [("product_uuid", "0d7a6c4e-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
                 ("sys_vendor", "QEMU"), ("product_name", "Standard PC"), ("bios_vendor", "SeaBIOS"),
                 ("bios_version", "1.16"), ("board_vendor", "Board"), ("chassis_type", "1")]:
        put(root, f"sys/class/dmi/id/{k}", v + "\n")
    table = th.full_table()
    sb.write_tree(root, table, sb.entry_point_v3(len(table)))
    put(root, "sys/firmware/acpi/tables/APIC", b"APIC" + bytes(68))
    put(root, "sys/firmware/acpi/tables/DSDT", bytes(range(256)) * 20)
    imgs = {k: v for k, v in th.fs_images().items() if k not in ("garbage",)}
    sda = th.make_block_tree(root, imgs)
    (root / "dev/sda").write_bytes(bytes(4096))
    for i, (_name, (_img, _fs, uuid, label)) in enumerate(sorted(imgs.items()), 1):
        for kind, value in (("uuid", uuid), ("label", label)):
            if value and not (root / f"dev/disk/by-{kind}/{value}").is_symlink():
                link(root, f"dev/disk/by-{kind}/{value}", f"../../sda{i}")
    (sda / "dm").mkdir()
    (sda / "dm/uuid").write_text("CRYPT-LUKS2-0d7a6c4e1b2c4d5e8f90a1b2c3d4e5f6-x\n")
    (sda / "dm/name").write_text("x\n")
    th.make_pci_tree(root)
    th.make_usb_tree(root)


def etc_tree(root: Path) -> None:
    for rel, text in [
        ("etc/passwd", PASSWD), ("etc/group", GROUP), ("etc/shadow", SHADOW),
        ("etc/hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.0.0.5 db db.lan # c\n"),
        ("etc/services", "ssh\t\t22/tcp\t\t\t\t# SSH\nhttp\t\t80/tcp\t\twww\n"),
        ("etc/protocols", "ip\t0\tIP\t\t# internet protocol\ntcp\t6\tTCP\n"),
        ("etc/machine-id", "0d7a6c4e1b2c4d5e8f90a1b2c3d4e5f6\n"), ("etc/hostname", "fuzzhost\n"),
        ("etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                           'VERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n'),
        ("etc/lsb-release", "DISTRIB_ID=Debian\nDISTRIB_RELEASE=12\n"),
        ("etc/debian_version", "12.5\n"),
        ("etc/resolv.conf", "nameserver 10.0.0.1\nsearch lan example.com\noptions ndots:2\n"),
        ("etc/sysctl.conf", "net.ipv4.ip_forward = 1\n# c\nvm.swappiness=10\n"),
        ("etc/sysctl.d/99-x.conf", "kernel.pid_max = 65536\n"),
        ("etc/sudoers", SUDOERS), ("etc/sudoers.d/alice", "alice ALL=(ALL) NOPASSWD: ALL\n"),
        ("etc/crontab", CRONTAB), ("etc/cron.d/job", "*/5 * * * * root /bin/true\n"),
        ("etc/apt/sources.list", SOURCES), ("etc/apt/sources.list.d/x.list", SOURCES),
        ("etc/apt/sources.list.d/y.sources", "Types: deb\nURIs: http://x/\nSuites: bookworm\n"
                                             "Components: main\n"),
        ("etc/sudoers.local", "bob ALL=(root) /usr/bin/apt\n"),
        ("etc/redhat-release", "Fedora release 40 (Forty)\n"),
        ("usr/lib/sysctl.d/50-default.conf", "kernel.sysrq = 16\n-net.ipv4.x = 1\n"),
        ("run/sysctl.d/x.conf", "vm.overcommit_memory = 1\n"),
        ("var/at/tabs/alice", "* * * * * /bin/true\n"),
    ]:
        put(root, rel, text)


def var_tree(root: Path) -> None:
    put(root, "var/lib/dpkg/status", DPKG_STATUS)
    put(root, "var/lib/dpkg/updates/0001", "Package: bash\nStatus: install ok installed\n"
                                           "Version: 5.2.15-3\n\n")
    put(root, "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_Release",
        "Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\n")
    put(root, "var/lib/portage/world", "app-shells/bash\n>=sys-libs/glibc-2.0\n")
    for f, v in [("SLOT", "0"), ("SIZE", "7000000"), ("EAPI", "8"), ("BUILD_TIME", "1650000000"),
                 ("repository", "gentoo")]:
        put(root, f"var/db/pkg/app-shells/bash-5.1_p16-r2/{f}", v + "\n")
    put(root, "var/spool/cron/crontabs/alice", "0 3 * * * /home/alice/backup\n")
    rec = bytearray(384)
    rec[0:2] = (7).to_bytes(2, "little")
    rec[4:8] = (4242).to_bytes(4, "little")
    rec[8:13] = b"pts/0"
    rec[44:49] = b"alice"
    rec[76:86] = b"10.0.0.99\0"
    rec[340:344] = (1700000000).to_bytes(4, "little")
    put(root, "var/run/utmp", bytes(rec) * 3)
    put(root, "run/utmp", bytes(rec))
    put(root, "var/log/wtmp", bytes(rec) * 5)
    bash = tp.rpm_header([(1000, tp.RPM_STRING, "bash"), (1001, tp.RPM_STRING, "5.2.26"),
                          (1002, tp.RPM_STRING, "3.fc40"), (1009, tp.RPM_INT32, [8202834]),
                          (1022, tp.RPM_STRING, "x86_64"), (1008, tp.RPM_INT32, [1700000000])])
    tp.make_rpmdb(root / "var/lib/rpm/rpmdb.sqlite", [bash, bash[:40]])


def usr_tree(root: Path) -> None:
    for d in ("tmp", "sbin", "usr/sbin", "usr/local/bin", "usr/local/sbin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(put(root, "tmp/dropper", "#!/bin/sh\n"), 0o6755)
    for site in ("usr/lib/python3/dist-packages", "usr/local/lib/python3.11/dist-packages",
                 "opt/conda/lib/python3.11/site-packages"):
        put(root, f"{site}/requests-2.31.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: HTTP\n"
            "Author: K\nLicense: Apache 2.0\n")
        put(root, f"{site}/six-1.16.0.egg-info/PKG-INFO", "Name: six\nVersion: 1.16.0\n")
    for rel, mode in [("usr/bin/su", 0o4755), ("usr/bin/chage", 0o2755), ("bin/mount", 0o4755)]:
        os.chmod(put(root, rel, "#!/bin/sh\n"), mode)
    put(root, "usr/lib/os-release", 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\n')


def home_tree(root: Path) -> None:
    for _name, _uid, home in USERS:
        h = home.lstrip("/")
        put(root, f"{h}/.bash_history", HISTORY)
        put(root, f"{h}/.zsh_history", ": 1700000000:0;echo hi\n")
        put(root, f"{h}/.bash_sessions/a.history", "sess\n")
        put(root, f"{h}/.ssh/authorized_keys", KEYS + 'command="x",no-pty ' + KEYS)
        put(root, f"{h}/.ssh/known_hosts", KNOWN)
        put(root, f"{h}/.ssh/config", "Host *\n  ServerAliveInterval 30\n")
        put(root, f"{h}/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"
                                          "-----END OPENSSH PRIVATE KEY-----\n")
        prof = f"{h}/.config/google-chrome/Default"
        put(root, f"{prof}/Preferences", CHROME_PREFS)
        put(root, f"{prof}/Secure Preferences", "{}")
        ext = f"{prof}/Extensions/abcdefghijklmnopabcdefghijklmnop/1.2_0"
        put(root, f"{ext}/manifest.json", CHROME_MANIFEST)
        put(root, f"{ext}/_locales/en/messages.json", json.dumps({"appName": {"message": "App"}}))
        put(root, f"{h}/.mozilla/firefox/abc.default/extensions.json", FIREFOX)
        put(root, f"{h}/.local/lib/python3.11/site-packages/flask-3.0.dist-info/METADATA",
            "Name: flask\nVersion: 3.0\n")
        put(root, f"{h}/.pyenv/versions/3.11.0/lib/python3.11/site-packages/"
                  "pip-24.0.dist-info/METADATA", "Name: pip\nVersion: 24.0\n")
        put(root, f"{h}/.vscode/extensions/extensions.json",
            json.dumps([{"identifier": {"id": "ms-python.python"}, "version": "2024.1.0"}]))


def base_tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for part in (proc_tree, sys_tree, etc_tree, var_tree, usr_tree, home_tree):
        part(root)
    return root


# -- mutations -------------------------------------------------------------------------

def _files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(filenames):
            p = Path(dirpath) / n
            if p.is_file() and not p.is_symlink():
                out.append(p)
    return out


def _replace(p: Path, data: bytes) -> None:
    if p.is_symlink() or p.exists():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    p.write_bytes(data)


def m_truncate(rng: random.Random, p: Path) -> str:
    data = p.read_bytes()
    _replace(p, data[:rng.randrange(len(data) + 1)])
    return "truncate"


def m_junk(rng: random.Random, p: Path) -> str:
    _replace(p, rng.randbytes(rng.choice([1, 7, 100, 4095, 4096, 4097, 70000])))
    return "junk"


def m_non_utf8(rng: random.Random, p: Path) -> str:
    data = bytearray(p.read_bytes())
    for _ in range(rng.randrange(1, 8)):
        i = rng.randrange(len(data) + 1)
        data[i:i] = rng.choice([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80",
                                b"\xf4\x90\x80\x80", b"\x00", b"\x1b[31m"])
    _replace(p, bytes(data))
    return "non-utf8"


def m_huge_line(rng: random.Random, p: Path) -> str:
    data = p.read_bytes()
    n = rng.choice([4095, 4096, 65537, 1 << 20, 3 << 20])
    filler = rng.choice([b"A", b" ", b"\t", b":", b"(", b")", b"0", b"9", b"\x00", b"/", b"%"])
    at = rng.randrange(len(data) + 1)
    _replace(p, data[:at] + filler * n + (b"\n" if rng.random() < 0.5 else b"") + data[at:])
    return "huge-line"


def m_fields(rng: random.Random, p: Path) -> str:
    """Drop tokens, or swap numbers for extreme ones."""
    lines = p.read_bytes().split(b"\n")
    extreme = [b"-1", b"0", b"99999999999999999999999", b"-9223372036854775808",
               b"18446744073709551616", b"0x", b"1e308", b"nan", b"", b"-", b"+", b"4294967296"]
    for _ in range(rng.randrange(1, 6)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        toks = lines[i].split(b" ") if b" " in lines[i] else lines[i].split(b"\t")
        if not toks:
            continue
        j = rng.randrange(len(toks))
        if rng.random() < 0.5:
            del toks[j]
        else:
            toks[j] = rng.choice(extreme)
        lines[i] = b" ".join(toks)
    if lines and rng.random() < 0.3:
        del lines[rng.randrange(len(lines))]
    _replace(p, b"\n".join(lines))
    return "fields"


def m_repeat(rng: random.Random, p: Path) -> str:
    lines = p.read_bytes().split(b"\n")
    line = rng.choice(lines) if lines else b"x"
    _replace(p, b"\n".join(lines + [line] * rng.choice([100, 5000, 60000])))
    return "repeat"


def m_fifo(rng: random.Random, p: Path) -> str:
    p.unlink()
    os.mkfifo(p)
    return "fifo"


def m_dir(rng: random.Random, p: Path) -> str:
    p.unlink()
    p.mkdir()
    (p / "inner").write_bytes(b"x\n")
    return "directory"


def m_loop(rng: random.Random, p: Path) -> str:
    p.unlink()
    if rng.random() < 0.5:
        os.symlink(p.name, p)                       # a link to itself
    else:
        other = p.with_name(p.name + ".loop")
        if other.exists() or other.is_symlink():
            other.unlink()
        os.symlink(other.name, p)
        os.symlink(p.name, other)
    return "symlink-loop"


def m_link(rng: random.Random, p: Path) -> str:
    p.unlink()
    os.symlink(rng.choice(["/dev/zero", "/dev/null", "/nonexistent/x", "..", "/proc/self/mem"]), p)
    return "link"


def m_empty_dir(rng: random.Random, p: Path) -> str:
    """Remove the file's whole parent directory (a missing subtree)."""
    parent = p.parent
    if parent.name in ("", "proc", "sys", "etc", "var", "usr"):
        return m_truncate(rng, p)
    shutil.rmtree(parent)
    return "missing-dir"


MUTATIONS = [(m_truncate, 5), (m_junk, 4), (m_non_utf8, 5), (m_huge_line, 2), (m_fields, 6),
             (m_repeat, 2), (m_fifo, 2), (m_dir, 2), (m_loop, 2), (m_link, 2), (m_empty_dir, 1)]


def hostile_tree(base: Path, dest: Path, seed: int, index: int) -> list[str]:
    """Copy base to dest and mutate it; returns what was done, for the report."""
    rng = random.Random(f"{seed}/{index}")
    # Hard links: every mutation replaces a file (unlink, then write), so
    # the base stays intact and a copy costs no data.
    shutil.copytree(base, dest, symlinks=True, copy_function=os.link)
    done = []
    fns, weights = zip(*MUTATIONS)
    files = _files(dest)
    for _ in range(rng.randrange(3, 40)):
        if not files:
            break
        p = files.pop(rng.randrange(len(files)))
        if p.is_symlink() or not p.is_file():
            continue                # gone with a removed directory
        fn = rng.choices(fns, weights)[0]
        done.append(f"{fn(rng, p)} {p.relative_to(dest)}")
    return done


# -- running ----------------------------------------------------------------------------

def statements(user_tables: list[str]) -> list[str]:
    """Beyond SELECT * of every table (-a): the paths that constraints reach."""
    out = [f'SELECT * FROM users JOIN "{t}" USING (uid)' for t in user_tables]
    out += ["SELECT * FROM processes WHERE pid IN (1, 2, 77, 4242, 999999)",
            "SELECT * FROM process_open_files WHERE pid = 1",
            "SELECT * FROM process_open_sockets WHERE pid = 1",
            "SELECT * FROM python_packages WHERE directory = '/usr/lib/python3/dist-packages/'",
            "SELECT * FROM deb_packages WHERE admindir = '/var/lib/dpkg'",
            "SELECT * FROM processes JOIN process_memory_map USING (pid)",
            "SELECT * FROM users JOIN user_groups USING (uid)"]
    return out


#: A statement still running after this many seconds is interrupted, as the
#: daemon's schedule_timeout would (a passwd of 60,000 lines sharing one uid
#: makes users JOIN shell_history quadratic by its very output, in osquery
#: too): the interrupt paths then run under the sanitizers as well.
STATEMENT_LIMIT = 3


#: Tables backed by a library that parses the files itself and costs
#: seconds per run (libaugeas loads its lenses): every SLOW_EVERY-th tree.
SLOW_TABLES = {"augeas", "configurations"}
SLOW_EVERY = 50


@functools.lru_cache(maxsize=1)
def table_names() -> tuple[str, ...]:
    """Every table of this build (the same C code as the driver)."""
    import osqlite
    conn = osqlite.connect()
    try:
        return tuple(r[0] for r in conn.execute("SELECT name FROM osqlite_tables ORDER BY name"))
    finally:
        conn.close()


def table_statements(index: int) -> list[str]:
    return [f'SELECT * FROM "{t}"' for t in table_names()
            if t not in SLOW_TABLES or index % SLOW_EVERY == 0]


def run_driver(driver: Path, roots: list[Path], stmts: list[str],
               timeout: float, first: int = 0) -> subprocess.CompletedProcess:
    args = [str(driver), "-q", "-t", str(STATEMENT_LIMIT)]
    for i, r in enumerate(roots):
        args += ["-r", str(r), *table_statements(first + i), *stmts]
    env = dict(os.environ)
    env.pop("OSQLITE_ROOT", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env["OSQLITE_DBUS_TIMEOUT_MS"] = "200"
    # The cloud metadata tables would wait for 169.254.169.254 on every tree:
    # their test hook points them at a closed local port.
    env["OSQLITE_METADATA_ENDPOINT"] = "127.0.0.1:9"
    return subprocess.run(args, capture_output=True, text=True, errors="replace", env=env,
                          timeout=timeout)


def sanitizer_report(text: str) -> str | None:
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer"):
        if marker in text:
            i = text.index(marker)
            return text[max(0, i - 200):i + 4000]
    return None


def fuzz(driver: Path, work: Path, seed: int, trees: int, batch: int = 10,
         timeout: float = 600, budget: float | None = None, log=print) -> dict:
    """Build and run `trees` hostile trees in batches; returns the figures.
    Raises AssertionError with the report and the mutations on a finding,
    or when the run takes longer than `budget` seconds in all."""
    base = base_tree(work / "base")
    user_tables = ["shell_history", "authorized_keys", "known_hosts", "chrome_extensions",
                   "firefox_addons", "python_packages", "ssh_configs", "user_ssh_keys",
                   "vscode_extensions", "jetbrains_plugins", "chrome_extension_content_scripts"]
    stmts = statements(user_tables)
    t0 = time.monotonic()
    n_mut = n_err = n_int = 0
    # One driver per core: the next batch's trees are built while drivers
    # run, and batches are checked in order, so a finding names its batch.
    workers = max(1, os.cpu_count() or 1)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    running: collections.deque = collections.deque()

    def check(start: int, roots: list[Path], plans: dict, fut) -> None:
        nonlocal n_err, n_int
        r = fut.result()
        out = r.stdout + r.stderr
        report = sanitizer_report(out)
        if report or r.returncode != 0:
            detail = "\n".join(f"{p.name}: " + "; ".join(m) for p, m in plans.items())
            raise AssertionError(f"seed {seed}, trees {start}..{start + len(roots) - 1}, "
                                 f"exit {r.returncode}\n{report or out[-4000:]}\n"
                                 f"mutations:\n{detail}")
        n_err += out.count("error: ")
        n_int += sum(int(x.split()[0]) for x in out.splitlines()
                     if x.endswith(f"interrupted after {STATEMENT_LIMIT} s"))
        for d in roots:
            shutil.rmtree(d, ignore_errors=True)
        log(f"trees {start + len(roots)}/{trees} clean ({time.monotonic() - t0:.0f} s)")

    try:
        for start in range(0, trees, batch):
            if budget is not None and time.monotonic() - t0 > budget:
                raise AssertionError(f"the fuzz run went over its {budget:.0f} s budget after "
                                     f"{start} of {trees} trees")
            roots, plans = [], {}
            for i in range(start, min(trees, start + batch)):
                dest = work / f"t{i}"
                plans[dest] = hostile_tree(base, dest, seed, i)
                n_mut += len(plans[dest])
                roots.append(dest)
            fut = pool.submit(run_driver, driver, [base] + roots if start == 0 else roots,
                              stmts, timeout, start)
            running.append((start, roots, plans, fut))
            while len(running) >= workers:
                check(*running.popleft())
        while running:
            check(*running.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return {"trees": trees, "mutations": n_mut, "sql_errors": n_err,
            "interrupted": n_int, "seconds": round(time.monotonic() - t0, 1)}


def scratch_dir() -> str | None:
    """tmpfs when there is one: thousands of small files are written and
    removed per tree, which a disk file system with discard makes slow."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--driver", default=str(HERE.parent / "build" / "osqlite-asan"))
    ap.add_argument("--keep", help="build the trees here and keep the base")
    args = ap.parse_args()
    import tempfile
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="osqlite-fuzz-",
                                                                   dir=scratch_dir()))
    try:
        print(fuzz(Path(args.driver), work, args.seed, args.trees))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
