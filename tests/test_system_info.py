"""system_info against Python's socket/os/psutil and /proc/cpuinfo parsed in
Python; SMBIOS-derived columns against fixture tables built with struct."""
from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path

import psutil
import pytest
from conftest import rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
import smbios_build as sb  # noqa: E402


def one(conn, sql="SELECT * FROM system_info"):
    r = rows(conn, sql)
    assert len(r) == 1
    return r[0]


def cpuinfo_first_block():
    text = Path("/proc/cpuinfo").read_text()
    block = text.split("\n\n")[0]
    kv = {}
    for line in block.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            kv.setdefault(k.strip(), v.strip())
    return kv, text


def physical_cores(text: str) -> int:
    pairs = set()
    phys = None
    for line in text.splitlines():
        if not line:
            continue
        if line.count(":") != 1:
            return os.sysconf("SC_NPROCESSORS_ONLN")
        k, v = (x.strip() for x in line.split(":"))
        if k == "physical id":
            phys = int(v)
        elif k == "core id":
            pairs.add((phys, int(v)))
    return len(pairs) or os.sysconf("SC_NPROCESSORS_ONLN")


def test_live_host_fields(conn):
    r = one(conn)
    host = socket.gethostname()
    assert r["computer_name"] == host
    try:
        canon = socket.getaddrinfo(host, None, flags=socket.AI_CANONNAME)[0][3] or host
    except socket.gaierror:
        canon = host
    assert r["hostname"] == canon
    assert r["local_hostname"] == canon
    assert r["cpu_type"] == os.uname().machine
    assert r["cpu_logical_cores"] == os.sysconf("SC_NPROCESSORS_ONLN")
    assert r["cpu_logical_cores"] == psutil.cpu_count(logical=True)
    assert r["physical_memory"] == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert abs(r["physical_memory"] - psutil.virtual_memory().total) < 64 * 1024 * 1024


def test_live_cpuinfo_fields(conn):
    r = one(conn)
    kv, text = cpuinfo_first_block()
    assert r["cpu_subtype"] == kv.get("model", "0")
    assert r["cpu_microcode"] == kv.get("microcode")
    assert r["cpu_physical_cores"] == physical_cores(text)
    pc = psutil.cpu_count(logical=False)
    if pc is not None and "core id" in text:
        assert r["cpu_physical_cores"] == pc
    if "siblings" in kv:
        assert r["cpu_sockets"] == r["cpu_logical_cores"] // int(kv["siblings"])
    if platform.machine() in ("x86_64", "i686"):
        # The kernel's "model name" is the same CPUID brand string.
        assert r["cpu_brand"] == kv["model name"].strip()
    else:
        assert r["cpu_brand"] is None


def test_live_uuid(conn):
    r = one(conn)
    p = Path("/sys/class/dmi/id/product_uuid")
    uuid = None
    if p.exists():
        try:
            uuid = p.read_text().strip().lower()
        except OSError:
            uuid = None
    placeholders = {"00000000-0000-0000-0000-000000000000",
                    "03000200-0400-0500-0006-000700080009",
                    "03020100-0504-0706-0809-0a0b0c0d0e0f",
                    "10000000-0000-8000-0040-000000000000"}
    if not uuid or uuid in placeholders:
        mid = Path("/etc/machine-id").read_text().strip()
        uuid = f"{mid[:8]}-{mid[8:12]}-{mid[12:16]}-{mid[16:20]}-{mid[20:32]}"
    assert r["uuid"] == uuid


def test_live_without_dmi_table(conn):
    if Path("/sys/firmware/dmi/tables/DMI").exists():
        pytest.skip("this host has a DMI table")
    r = one(conn)
    assert r["hardware_model"] == ""
    for c in ("hardware_vendor", "hardware_version", "hardware_serial",
              "board_vendor", "board_model", "board_version", "board_serial"):
        assert r[c] is None


def test_smbios_fixture_strings(conn, root, tmp_path):
    blob = (sb.structure(0, 0, bytes(14), ["BIOS Vendor", "1.2.3", "01/01/2020"])
            + sb.system() + sb.board() + sb.end_of_table())
    root(sb.write_tree(tmp_path, blob))
    r = one(conn)
    assert (r["hardware_vendor"], r["hardware_model"], r["hardware_version"],
            r["hardware_serial"]) == ("Acme Corp", "Roadrunner 9000", "Rev B", "SN-12345")
    assert (r["board_vendor"], r["board_model"], r["board_version"],
            r["board_serial"]) == ("Board Co", "BX-1", "1.0", "BSN-9")
    # No /proc/cpuinfo under this root: the defaults.
    assert r["cpu_subtype"] == "0"
    assert r["cpu_microcode"] is None


@pytest.mark.parametrize("vendor", ["LENOVO", "lenovo", "Lenovo"])
def test_lenovo_swaps_model_and_version(conn, root, tmp_path, vendor):
    blob = sb.system(vendor=vendor, product="20L8S02D00", version="ThinkPad T480s")
    blob += sb.end_of_table()
    root(sb.write_tree(tmp_path, blob))
    r = one(conn)
    assert r["hardware_vendor"] == vendor
    assert r["hardware_model"] == "ThinkPad T480s"
    assert r["hardware_version"] == "20L8S02D00"


def test_not_quite_lenovo_is_not_swapped(conn, root, tmp_path):
    blob = sb.system(vendor="Lenovo Group", product="P", version="V") + sb.end_of_table()
    root(sb.write_tree(tmp_path, blob))
    r = one(conn)
    assert (r["hardware_model"], r["hardware_version"]) == ("P", "V")


def test_no_board_and_zero_string_index(conn, root, tmp_path):
    f = bytes([1, 0, 9, 2]) + bytes(16) + bytes([6, 0, 0])   # model index 0, version index 9
    blob = sb.structure(1, 1, f, ["Vendor", "Serial"]) + sb.end_of_table()
    root(sb.write_tree(tmp_path, blob))
    r = one(conn)
    assert r["hardware_vendor"] == "Vendor"
    assert r["hardware_model"] == ""       # index 0
    assert r["hardware_version"] == ""     # past the string set
    assert r["hardware_serial"] == "Serial"
    assert r["board_vendor"] is None


def test_last_structure_without_trailer_loses_its_strings(conn, root, tmp_path):
    # osquery scans for the double NUL only while a whole 4-byte header still
    # fits behind it, so a table that ends right after a structure's strings
    # cuts that structure 3 bytes short and its string set is unterminated.
    blob = sb.system()
    root(sb.write_tree(tmp_path, blob))
    r = one(conn)
    walked = list(sb.walk(blob))
    assert walked[0][5] == len(blob) - 3
    assert r["hardware_vendor"] == sb.dmi_string(blob, 0, 0x1b, len(blob) - 3, 1) == ""


def test_short_structures_are_ignored(conn, root, tmp_path):
    # osquery skips structures smaller than 0x12 bytes in all.
    blob = sb.structure(1, 1, bytes([1, 1, 1, 1]), ["x"])
    root(sb.write_tree(tmp_path, blob))
    r = one(conn)
    assert r["hardware_vendor"] is None
    assert r["hardware_model"] is None


def test_empty_dmi_file_is_no_smbios(conn, root, tmp_path):
    root(sb.write_tree(tmp_path, b""))
    r = one(conn)
    assert r["hardware_model"] == ""
    assert r["hardware_vendor"] is None


def test_fixture_cpuinfo(conn, root, tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(
        "processor\t: 0\nmodel\t\t: 85\nmodel name\t: Fake\nmicrocode\t: 0x2006e05\n"
        "siblings\t: 2\nphysical id\t: 0\ncore id\t\t: 0\n\n"
        "processor\t: 1\nmodel\t\t: 99\nmicrocode\t: 0xbad\nphysical id\t: 0\ncore id\t\t: 0\n\n")
    root(tmp_path)
    r = one(conn)
    assert r["cpu_subtype"] == "85"
    assert r["cpu_microcode"] == "0x2006e05"
    assert r["cpu_physical_cores"] == 1
    assert r["cpu_sockets"] == r["cpu_logical_cores"] // 2


@pytest.mark.parametrize("content", [
    b"",
    b"model\t\t:\n",
    b"model\t: a : b\nphysical id : 0\ncore id : x\n",
    b"\x00\xff" * 5000,
    b"model\t: " + b"9" * (2 * 1024 * 1024) + b"\n",
    b"physical id: 0\ncore id: 1\nweird line without colon\n",
])
def test_hostile_cpuinfo(conn, root, tmp_path, content):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_bytes(content)
    root(tmp_path)
    r = one(conn)
    assert isinstance(r["cpu_subtype"], str)
    assert r["cpu_physical_cores"] >= 1
