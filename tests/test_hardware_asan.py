"""Run the hardware tables under AddressSanitizer/UBSan (build/osqlite-asan,
from `make asan`) against every hostile fixture tree the other tests build.
The driver is (re)built by the asan_driver fixture."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import smbios_build as sb  # noqa: E402
import test_hardware as th  # noqa: E402
import test_systemd_units as tsu  # noqa: E402

ASAN = HERE.parent / "build" / "osqlite-asan"
TABLES = ["system_info", "smbios_tables", "cpu_info", "cpuid", "acpi_tables",
          "block_devices", "pci_devices", "usb_devices", "disk_encryption",
          "systemd_units"]



@pytest.fixture(autouse=True)
def _built_driver(asan_driver):
    return asan_driver


def run(root: Path | None, tables=TABLES):
    env = dict(os.environ)
    env["OSQLITE_DBUS_TIMEOUT_MS"] = "1500"
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    if root is not None:
        env["OSQLITE_ROOT"] = str(root)
    else:
        env.pop("OSQLITE_ROOT", None)
    p = subprocess.run([str(ASAN)] + [f"SELECT * FROM {t}" for t in tables],
                       env=env, capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out, out
    assert "LeakSanitizer" not in out, out
    return out


def test_live():
    out = run(None)
    assert "1 rows: SELECT * FROM system_info" in out


@pytest.mark.parametrize("name,blob", list(th.hostile_blobs()), ids=[n for n, _ in th.hostile_blobs()])
def test_smbios_hostile(tmp_path, name, blob):
    sb.write_tree(tmp_path, blob, sb.entry_point_v3(len(blob) // 2 or 1))
    run(tmp_path, ["system_info", "smbios_tables", "cpu_info"])


def test_fixture_trees(tmp_path):
    sb.write_tree(tmp_path, th.full_table())
    th.make_block_tree(tmp_path, th.fs_images())
    th.make_pci_tree(tmp_path, ids=os.urandom(20000) + th.PCI_IDS.encode())
    th.make_usb_tree(tmp_path)
    acpi = tmp_path / "sys/firmware/acpi/tables"
    acpi.mkdir(parents=True)
    (acpi / "DSDT").write_bytes(os.urandom(3000))
    os.mkfifo(acpi / "FIFO")
    run(tmp_path)


def test_dm_tree(tmp_path):
    th.make_dm_tree(tmp_path)
    run(tmp_path, ["block_devices", "disk_encryption"])
    virt = tmp_path / "sys/devices/virtual/block"
    (virt / "dm-1/dm/uuid").write_bytes(b"CRYPT-" + os.urandom(5000))
    (virt / "dm-1/dm/name").write_bytes(b"x" * 100000)
    run(tmp_path, ["block_devices", "disk_encryption"])


@pytest.mark.parametrize("mode", ["ok", "empty", "error", "wrong-sig", "truncated",
                                  "bogus-array", "bogus-string", "no-nul", "nonzero-pad",
                                  "huge-body", "garbage", "wrong-serial", "reject-auth"])
def test_dbus_hostile(tmp_path, mode):
    bus = tsu.FakeBus(tmp_path / "run/dbus/system_bus_socket", mode)
    try:
        out = run(tmp_path, ["systemd_units"])
    finally:
        bus.close()
    if mode == "ok":
        assert f"{len(tsu.UNITS)} rows" in out


def test_no_usable_block_device(tmp_path):
    """Entries in /sys/class/block but none usable (no uevent): the device
    list must not leak (found by the hostile-tree fuzz run)."""
    (tmp_path / "sys/class/block/sda").mkdir(parents=True)
    (tmp_path / "sys/class/block/sdb").symlink_to("/nonexistent")
    run(tmp_path, ["block_devices", "disk_encryption"])
