"""The sanitizer pass (tests/asan_helper.py: the extension linked with
AddressSanitizer and UBSan) over the /proc, /sys and SMBIOS tables and the
parsers whose values were aligned with osquery, on the live system and on
every fixture and hostile tree their own tests build."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from asan_helper import run_asan

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import smbios_build as sb  # noqa: E402
import test_hardware as th  # noqa: E402
import test_md_tables as tmd  # noqa: E402
import test_osquery_values as tov  # noqa: E402
import test_process_links as tpl  # noqa: E402
import test_security_tables as tst  # noqa: E402
import test_smbios_memory as tsm  # noqa: E402

SMBIOS = ["memory_devices", "memory_arrays", "memory_array_mapped_addresses",
          "memory_device_mapped_addresses", "memory_error_info", "oem_strings",
          "platform_info"]
PROC = ["process_namespaces", "process_open_pipes", "kernel_keys", "shared_memory",
        "memory_map", "ulimit_info", "interface_ipv6"]
MD = ["md_devices", "md_drives", "md_personalities"]
SECURITY = ["msr", "secureboot", "selinux_settings", "apparmor_profiles"]
ALIGNED = ["deb_packages", "block_devices", "disk_encryption", "etc_hosts", "time", "users",
           "user_groups"]


def select_all(tables):
    return [f"SELECT * FROM {t}" for t in tables]


@pytest.fixture(autouse=True)
def _driver(asan_driver):
    return asan_driver


def test_live():
    out = run_asan(None, *select_all(SMBIOS + PROC + MD + SECURITY + ALIGNED),
                   "SELECT * FROM process_namespaces WHERE pid IN (1, 2, 999999999)",
                   "SELECT * FROM block_devices WHERE name = '/dev/vda'",
                   f"SELECT * FROM users WHERE uid IN (0, {os.getuid()}) OR username = 'root'",
                   "SELECT * FROM file WHERE path LIKE '/etc/%%'")
    assert "error:" not in out


@pytest.mark.parametrize("name,blob", [("server", tsm.server_table())] + list(tsm.hostile_blobs()),
                         ids=["server"] + [n for n, _ in tsm.hostile_blobs()])
def test_smbios_trees(tmp_path, name, blob):
    sb.write_tree(tmp_path, blob)
    (tmp_path / "sys/firmware/efi").mkdir(parents=True)
    run_asan(tmp_path, *select_all(SMBIOS))


def test_proc_trees(tmp_path):
    tpl.make_ns_tree(tmp_path)
    tpl.make_pipe_tree(tmp_path / "pipes")
    run_asan(tmp_path / "pipes", "SELECT * FROM process_open_pipes")
    (tmp_path / "proc/keys").write_bytes(b"0474cb99 I------ 1 perm 1f030000 0 0 keyring a: b\n"
                                         + os.urandom(20000) + b"\n" + b"x " * 50000)
    (tmp_path / "proc/iomem").write_bytes(b"00-11 : a\n-\n :\n" + os.urandom(20000)
                                          + b"\n0-" + b"f" * 100000)
    conf = tmp_path / "proc/sys/net/ipv6/conf"
    for iface in ("lo", "all", "eth0"):
        (conf / iface).mkdir(parents=True)
        for f in ("forwarding", "accept_ra", "accept_redirects", "hop_limit"):
            (conf / iface / f).write_bytes(os.urandom(64))
    os.mkfifo(conf / "lo/forwarding.fifo")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_bytes(tov.PASSWD)
    run_asan(tmp_path, *select_all(PROC),
             "SELECT * FROM process_namespaces WHERE pid IN (10, 11, 12, 13, 14)")


@pytest.mark.parametrize("name,text", [("normal", tmd.MDSTAT)] + list(tmd.hostile_mdstats()),
                         ids=["normal"] + [n for n, _ in tmd.hostile_mdstats()])
def test_md_trees(tmp_path, name, text):
    sysfs = dict(tmd.SYSFS)
    sysfs["md1"] = ({"level": "raid1", "raid_disks": "999999999999", "chunk_size": "x",
                     "array_state": "\xff"},
                    {"sdb2": ("in_sync", "-5", "sdb2"), "a": ("??", "9" * 40, None)})
    tmd.make_tree(tmp_path, text, sysfs)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/md0").write_bytes(b"not a block device")
    os.mkfifo(tmp_path / "dev/md1")
    run_asan(tmp_path, *select_all(MD))


def test_md_hostile_sysfs(tmp_path):
    tmd.make_tree(tmp_path)
    md = tmp_path / "sys/block/md0/md"
    (md / "level").write_bytes(os.urandom(3000))
    (md / "dev-sdd1/state").write_bytes(b"in_sync," * 5000)
    (md / "dev-sdc1/block/uevent").write_bytes(b"DEVNAME=" + b"y" * 10000 + b"\n")
    os.symlink("/dev/zero", md / "array_state.link")
    run_asan(tmp_path, *select_all(MD))


def test_security_trees(tmp_path):
    cpu = tmp_path / "dev/cpu"
    for n in ("0", "1", "2", "9x"):
        (cpu / n).mkdir(parents=True)
    (cpu / "0/msr").write_bytes(tst.msr_file({0x1A0: 1 << 38, 0xCE: 2**63 + 1}))
    (cpu / "1/msr").write_bytes(b"\x01" * 7)
    os.mkfifo(cpu / "2/msr")
    (cpu / "9x/msr").mkdir()
    tst.efivar(tmp_path, "SecureBoot", b"\x06\x00\x00\x00\x01")
    tst.efivar(tmp_path, "SetupMode", os.urandom(70000))
    fs = tst.selinux_tree(tmp_path)
    (fs / "enforce").write_bytes(os.urandom(70000))
    os.mkfifo(fs / "booleans/fifo")
    deep = fs / "class/deep"
    for _ in range(70):
        deep = deep / "d"
    deep.mkdir(parents=True)
    base = tst.apparmor_tree(tmp_path)
    loop = tst.profile(base / "loop.20", "loop", sha256="00" * 32)
    (loop / "profiles").mkdir()
    os.symlink("..", loop / "profiles/back")
    (base / "firefox.7/attach").write_bytes(os.urandom(100000))
    run_asan(tmp_path, *select_all(SECURITY + ["platform_info"]))


def test_aligned_value_trees(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_bytes(tov.HOSTS + os.urandom(30000) + b"\n1.2.3.4 " +
                                         b"#" * 100000)
    (tmp_path / "etc/passwd").write_bytes(tov.PASSWD + b"\n" + os.urandom(30000)
                                          + b"\nlong:x:1:1:" + b"g" * 5000 + b":/:/\n+\n")
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text("Package: a\nStatus: install ok installed\n"
                                                  "Version: 1\n\nPackage: b\nVersion: 2\n")
    th.make_block_tree(tmp_path, th.fs_images())
    th.make_dm_tree(tmp_path / "dm")
    run_asan(tmp_path, *select_all(ALIGNED),
             "SELECT * FROM users WHERE uid IN (0, 1007) OR username IN ('+', 'dup')")
    run_asan(tmp_path / "dm", "SELECT * FROM block_devices", "SELECT * FROM disk_encryption")


def test_block_device_loops(tmp_path):
    sysb = tmp_path / "sys/class/block"
    sysb.mkdir(parents=True)
    dev = tmp_path / "sys/devices/virtual/block"
    for a, b in (("dm-0", "dm-1"), ("dm-1", "dm-0")):
        (dev / a / "slaves").mkdir(parents=True)
        (dev / a / "uevent").write_text("")
        os.symlink(os.path.relpath(dev / b, dev / a / "slaves"), dev / a / "slaves" / b)
        os.symlink(os.path.relpath(dev / a, sysb), sysb / a)
    run_asan(tmp_path, "SELECT * FROM block_devices", "SELECT * FROM disk_encryption")


def test_file_link_loops(tmp_path):
    base = tmp_path / "base"
    (base / "a/b").mkdir(parents=True)
    os.symlink("..", base / "a/b/up")
    os.symlink(str(base), base / "a/abs")
    os.symlink("nowhere", base / "a/dangling")
    os.mkfifo(base / "a/fifo")
    run_asan(None, f"SELECT * FROM file WHERE path LIKE '{base}/%%'",
             f"SELECT * FROM hash WHERE path LIKE '{base}/%%'",
             f"SELECT * FROM file WHERE path LIKE '{base}/%/%%'")
