"""Hardware tables: smbios_tables, cpu_info, cpuid, acpi_tables,
block_devices, pci_devices, usb_devices, disk_encryption.

Oracles: Python walks of /sys and /proc, hashlib, struct-built SMBIOS tables
and filesystem superblocks, and fixture sysfs trees built in tmp_path.
"""
from __future__ import annotations

import hashlib
import os
import platform
import random
import stat
import struct
import sys
import uuid as uuidlib
from pathlib import Path

import pytest
from conftest import rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
import smbios_build as sb  # noqa: E402

NAMES = sb.TYPE_NAMES


# ---- smbios_tables / cpu_info ------------------------------------------------

def full_table() -> bytes:
    return (sb.structure(0, 0, bytes(14), ["BIOS Vendor", "1.2.3", "01/01/2020"])
            + sb.system() + sb.board()
            + sb.processor(handle=0x400)
            + sb.processor(socket="CPU 1", handle=0x401, cores=4, threads=4, chars=0)
            + sb.processor(socket="GPU slot", ptype=6, handle=0x402)
            + sb.processor(socket="odd", ptype=9, handle=0x403)
            + sb.structure(200, 0x900, b"\x01\x02", ["oem"])
            + sb.structure(126, 0x901, b"")
            + sb.end_of_table())


def test_smbios_tables_fixture(conn, root, tmp_path):
    blob = full_table()
    root(sb.write_tree(tmp_path, blob))
    got = rows(conn, "SELECT * FROM smbios_tables")
    want = sb.expected_rows(blob, NAMES)
    assert got == want
    assert [r["type"] for r in got] == [0, 1, 2, 4, 4, 4, 4, 200, 126, 127]
    assert got[7]["description"] == "Unknown"


def test_cpu_info_fixture(conn, root, tmp_path):
    root(sb.write_tree(tmp_path, full_table()))
    got = rows(conn, "SELECT * FROM cpu_info")
    assert [r["device_id"] for r in got] == ["CPU0", "CPU1", "GPU2", None]
    r = got[0]
    assert r["socket_designation"] == "CPU 0"
    assert r["manufacturer"] == "GenuineIntel"
    assert r["model"] == "Xeon Fake"
    assert r["processor_type"] == "3"
    assert r["cpu_status"] == 0x41
    assert r["number_of_cores"] == "8"
    assert r["logical_processors"] == 16
    assert r["address_width"] == "64"
    assert (r["current_clock_speed"], r["max_clock_speed"]) == (2400, 3600)
    assert got[1]["address_width"] == "32"
    assert got[1]["number_of_cores"] == "4"


def test_entry_point_clamps_the_table(conn, root, tmp_path):
    blob = full_table()
    keep = len(sb.system()) + len(sb.structure(0, 0, bytes(14), ["BIOS Vendor", "1.2.3", "01/01/2020"]))
    for ep in (sb.entry_point_v3(keep), sb.entry_point_v2(keep)):
        root(sb.write_tree(tmp_path, blob, ep))
        got = rows(conn, "SELECT * FROM smbios_tables")
        assert got == sb.expected_rows(blob[:keep], NAMES)
    # An invalid entry point is ignored.
    root(sb.write_tree(tmp_path, blob, b"_SM_garbage"))
    assert len(rows(conn, "SELECT * FROM smbios_tables")) == 10


def hostile_blobs():
    rnd = random.Random(1234)
    good = sb.system() + sb.end_of_table()
    yield "empty", b""
    yield "one-byte", b"\x01"
    yield "header-only", b"\x01\x1b\x00\x01"
    yield "length-past-end", b"\x01\xff\x00\x01" + b"A" * 40
    yield "truncated-structure", good[:30]
    yield "no-string-terminators", sb.system()[:-2].replace(b"\0", b"X") + b"\x7f" * 9
    yield "zero-length", b"\x05\x00\x07\x00" + b"\x00\x00" + good
    for n in (1, 2, 3):
        yield f"length-{n}", bytes([4, n, 1, 0]) + b"xyz\0\0" + sb.processor() + sb.end_of_table()
    yield "short-processor", sb.structure(4, 1, bytes(20), ["a"]) + sb.end_of_table()
    yield "string-index-255", sb.structure(1, 1, bytes([255, 255, 255, 255]) + bytes(23), ["only"]) + sb.end_of_table()
    yield "all-zero", bytes(4096)
    yield "all-ff", b"\xff" * 4096
    yield "random", bytes(rnd.getrandbits(8) for _ in range(65536))
    yield "many-structures", (sb.processor() * 5000) + sb.end_of_table()
    yield "huge-string-set", sb.structure(1, 1, bytes([1, 2, 3, 4]) + bytes(23), ["x" * 300000, "y"]) + sb.end_of_table()


@pytest.mark.parametrize("name,blob", list(hostile_blobs()), ids=[n for n, _ in hostile_blobs()])
def test_hostile_smbios(conn, root, tmp_path, name, blob):
    root(sb.write_tree(tmp_path, blob))
    got = rows(conn, "SELECT * FROM smbios_tables")
    assert got == sb.expected_rows(blob[:4 * 1024 * 1024], NAMES)
    # The string lookups agree with osquery's guards too.
    cpus = rows(conn, "SELECT socket_designation, model FROM cpu_info")
    want = []
    for _, t, hlen, _, start, size in sb.walk(blob):
        if t == 4 and size >= 0x30:
            sock_i = blob[start + 4]
            model_i = blob[start + 0x10]
            want.append({"socket_designation": sb.dmi_string(blob, start, hlen, size, sock_i),
                         "model": sb.dmi_string(blob, start, hlen, size, model_i)})
    assert cpus == want
    r = rows(conn, "SELECT hardware_vendor, hardware_model FROM system_info")
    assert len(r) == 1


def test_smbios_directory_instead_of_file(conn, root, tmp_path):
    (tmp_path / "sys/firmware/dmi/tables/DMI").mkdir(parents=True)
    root(tmp_path)
    assert rows(conn, "SELECT * FROM smbios_tables") == []
    assert rows(conn, "SELECT * FROM cpu_info") == []


def test_smbios_live(conn):
    p = Path("/sys/firmware/dmi/tables/DMI")
    try:
        blob = p.read_bytes()
    except OSError:
        assert rows(conn, "SELECT * FROM smbios_tables") == []
        pytest.skip("no readable DMI table on this host")
    assert rows(conn, "SELECT number, type, handle, size, md5 FROM smbios_tables") == [
        {k: r[k] for k in ("number", "type", "handle", "size", "md5")}
        for r in sb.expected_rows(blob, NAMES)]


# ---- cpuid -------------------------------------------------------------------

X86 = platform.machine() in ("x86_64", "i686", "i386")


def test_cpuid_live(conn):
    got = rows(conn, "SELECT * FROM cpuid")
    if not X86:
        assert got == []
        return
    by = {r["feature"]: r for r in got}
    info = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    kv = {}
    for line in info.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            kv.setdefault(k.strip(), v.strip())
    flags = set(kv["flags"].split())
    assert by["vendor"]["value"] == kv["vendor_id"]
    assert by["product_name"]["value"].strip() == kv["model name"]
    assert int(by["family"]["value"], 16) >> 8 == min(int(kv["cpu family"]), 15)
    # Bits vs the kernel's view of the same CPUID leaves.
    pairs = {"sse": "sse", "sse2": "sse2", "pae": "pae", "msr": "msr", "lm": "lm",
             "ssse3": "ssse3", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "aes": "aes",
             "avx": "avx", "avx2": "avx2", "sse3": "pni", "hypervisor": "hypervisor"}
    for feat, flag in pairs.items():
        assert by[feat]["value"] == ("1" if flag in flags else "0"), feat
    assert by["sse2"]["output_register"] == "edx" and by["sse2"]["output_bit"] == 26
    assert by["avx2"]["input_eax"] == "7"
    assert by["lm"]["input_eax"] == str(0x80000001)
    # osquery's order: strings, family, leaf 1, 7, 0x80000001, sgx rows.
    feats = [r["feature"] for r in got]
    assert feats[:2] == ["vendor", "product_name"]
    assert feats[-2:] == ["sgx0", "sgx1"]
    assert feats.index("pae") < feats.index("sgx") < feats.index("lahfsahf")
    assert len([f for f in feats if f not in ("vendor", "product_name", "hypervisor_id",
                                              "serial", "family", "sgx0", "sgx1")]) == 62


# ---- acpi_tables -------------------------------------------------------------

def test_acpi_fixture(conn, root, tmp_path):
    d = tmp_path / "sys/firmware/acpi/tables"
    (d / "dynamic").mkdir(parents=True)
    (d / "data").mkdir()
    files = {"DSDT": os.urandom(5000), "APIC": b"APIC" + bytes(68), "EMPTY": b"",
             "SSDT1": os.urandom(1 << 20)}
    for k, v in files.items():
        (d / k).write_bytes(v)
    (d / "dynamic/SSDT2").write_bytes(b"nested")       # not listed, as osquery
    os.mkfifo(d / "FIFO")                              # not a regular file: skipped
    (d / "LINK").symlink_to("DSDT")                    # followed
    (d / "DANGLING").symlink_to("nowhere")
    root(tmp_path)
    got = rows(conn, "SELECT * FROM acpi_tables")
    want = sorted(list(files) + ["LINK"])
    assert [r["name"] for r in got] == want
    for r in got:
        data = files[r["name"] if r["name"] != "LINK" else "DSDT"]
        assert r["size"] == len(data)
        assert r["md5"] == hashlib.md5(data).hexdigest()


def test_acpi_missing_dir(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM acpi_tables") == []


def test_acpi_live(conn):
    d = Path("/sys/firmware/acpi/tables")
    if not d.is_dir():
        pytest.skip("no ACPI tables exposed")
    want = []
    for p in sorted(d.iterdir(), key=lambda p: p.name):
        if not p.is_file():
            continue
        try:
            data = p.read_bytes()
            want.append({"name": p.name, "size": len(data), "md5": hashlib.md5(data).hexdigest()})
        except OSError:
            want.append({"name": p.name, "size": -1, "md5": None})
    assert rows(conn, "SELECT * FROM acpi_tables") == want


# ---- block_devices -----------------------------------------------------------

def sys_attr(path: Path):
    """A sysfs file as block_devices reads it: whole (4095 bytes at most, up
    to a NUL), trimmed of blanks, tabs and newlines; None when missing or
    empty."""
    try:
        with open(path, "rb") as f:
            data = f.read(4095)
    except OSError:
        return None
    v = data.split(b"\0")[0].decode("latin-1").strip("\n\t ")
    return v or None


def osq_block_devices(root: Path) -> list[dict]:
    """Current osquery's enumeration (block_device_enumeration.cpp) over a
    sysfs tree, probe columns left out."""
    base = root / "sys/class/block"
    devs = {}
    for entry in os.listdir(base):
        link = base / entry
        if not link.is_symlink():
            continue
        real = Path(os.path.realpath(link))
        if not real.exists() or not (real / "uevent").exists():
            continue
        parent = real.parent.name
        if parent == "block":
            parent = ""
            try:
                kids = os.listdir(real / "slaves")
            except OSError:
                kids = []
            if kids:
                parent = kids[0]
        devs["/dev/" + real.name] = {"path": real, "parent": "/dev/" + parent if parent else ""}
    out, meta = [], {}

    def fill(name, stack=()):
        if name in meta:
            return meta[name]
        d = devs[name]
        par = d["parent"] if d["parent"] in devs and d["parent"] not in stack else None
        if par:
            fill(par, stack + (name,))
        m = {"model": sys_attr(d["path"] / "device/model"),
             "serial": sys_attr(d["path"] / "device/wwid") or sys_attr(d["path"] / "device/serial"),
             "vendor": sys_attr(d["path"] / "device/vendor")
             or sys_attr(d["path"] / "device/device/vendor"),
             "size": sys_attr(d["path"] / "size"),
             "block_size": sys_attr(d["path"] / "queue/logical_block_size")}
        if d["parent"] in devs:
            p = meta.get(d["parent"], {})
            m.update({k: p.get(k) for k in ("model", "serial", "vendor")})
        meta[name] = m
        return m

    def num(v):
        try:
            return int(v.split()[0], 0) if v else None
        except (ValueError, IndexError):
            return None
    for name in sorted(devs):
        m = fill(name)
        out.append({"name": name, "parent": devs[name]["parent"], "vendor": m["vendor"] or "",
                    "model": m["model"] or "", "serial": m["serial"] or "",
                    "size": num(m["size"]), "block_size": num(m["block_size"])})
    return out


NOPROBE = "name, parent, vendor, model, serial, size, block_size"


def test_block_devices_live(conn):
    # Other work on this machine attaches loop devices: compare with a
    # sysfs snapshot that held still around the query.
    for _ in range(5):
        before = osq_block_devices(Path("/"))
        got = rows(conn, f"SELECT {NOPROBE} FROM block_devices")
        if osq_block_devices(Path("/")) == before:
            break
    assert got == before
    assert got
    base = Path("/sys/class/block")
    for r in got:
        node = Path(r["name"])
        if node.exists():
            st = node.stat()
            assert stat.S_ISBLK(st.st_mode)
            major, minor = (int(x) for x in (base / node.name / "dev").read_text().split(":"))
            assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)
        # A virtio disk's vendor is the virtio vendor id, as osquery reports it.
        drv = base / node.name / "device/subsystem"
        if drv.exists() and os.path.basename(os.readlink(drv)) == "virtio":
            assert r["vendor"] == "0x1af4"
    probed = rows(conn, "SELECT uuid, type, label FROM block_devices")
    assert all(None not in r.values() for r in probed)        # '' when unknown


def ext4_image(uuid: bytes, label: bytes, incompat=0x2C2, compat=0x3C, rocompat=0x7B) -> bytes:
    img = bytearray(8192)
    sbk = 1024
    struct.pack_into("<H", img, sbk + 0x38, 0xEF53)
    struct.pack_into("<III", img, sbk + 0x5C, compat, incompat, rocompat)
    img[sbk + 0x68:sbk + 0x78] = uuid
    img[sbk + 0x78:sbk + 0x78 + len(label)] = label
    return bytes(img)


def fs_images():
    u = uuidlib.UUID("0d7a6c4e-1b2c-4d5e-8f90-a1b2c3d4e5f6")
    imgs = {}
    imgs["ext4"] = (ext4_image(u.bytes, b"rootfs"), "ext4", str(u), "rootfs")
    imgs["ext3"] = (ext4_image(u.bytes, b"", incompat=0x2, compat=0x4, rocompat=0x3), "ext3", str(u), None)
    imgs["ext2"] = (ext4_image(u.bytes, b"old", incompat=0x2, compat=0, rocompat=0x1), "ext2", str(u), "old")
    x = bytearray(8192); x[0:4] = b"XFSB"; x[32:48] = u.bytes; x[108:112] = b"data"
    imgs["xfs"] = (bytes(x), "xfs", str(u), "data")
    b = bytearray(65536 + 8192); b[65536 + 0x40:65536 + 0x48] = b"_BHRfS_M"
    b[65536 + 0x20:65536 + 0x30] = u.bytes; b[65536 + 0x12b:65536 + 0x12b + 4] = b"home"
    imgs["btrfs"] = (bytes(b), "btrfs", str(u), "home")
    v = bytearray(4096); v[510:512] = b"\x55\xaa"; v[0x52:0x5a] = b"FAT32   "
    struct.pack_into("<I", v, 0x43, 0x1234ABCD); v[0x47:0x52] = b"EFI        "
    imgs["vfat"] = (bytes(v), "vfat", "1234-ABCD", "EFI")
    s = bytearray(8192); s[4086:4096] = b"SWAPSPACE2"; s[0x40c:0x41c] = u.bytes; s[0x41c:0x420] = b"swap"
    imgs["swap"] = (bytes(s), "swap", str(u), "swap")
    luks = bytearray(8192); luks[0:6] = b"LUKS\xba\xbe"; luks[6:8] = b"\x00\x02"
    luks[168:168 + 36] = str(u).encode(); luks[24:29] = b"vault"
    imgs["luks"] = (bytes(luks), "crypto_LUKS", str(u), "vault")
    iso = bytearray(40000); iso[32768] = 1; iso[32769:32774] = b"CD001"
    iso[32768 + 40:32768 + 72] = b"UBUNTU_24".ljust(32); iso[32768 + 813:32768 + 829] = b"2024042312000000"
    imgs["iso"] = (bytes(iso), "iso9660", "2024-04-23-12-00-00-00", "UBUNTU_24")
    q = bytearray(8192); q[0:4] = b"hsqs"
    imgs["squash"] = (bytes(q), "squashfs", None, None)
    imgs["garbage"] = (os.urandom(70000), None, None, None)
    imgs["tiny"] = (b"\x53\xef" * 10, None, None, None)
    return imgs


def make_block_tree(tmp_path: Path, imgs: dict):
    sysb = tmp_path / "sys/class/block"
    sysb.mkdir(parents=True)
    dev = tmp_path / "dev"
    dev.mkdir()
    disk = tmp_path / "sys/devices/pci0000:00/0000:00:10.0/host0/target0:0:0/0:0:0:0"
    (disk / "block/sda").mkdir(parents=True)
    (disk / "model").write_text("QEMU HARDDISK   \n")
    (disk / "vendor").write_text("ATA     \n")
    (tmp_path / "sys/bus/scsi").mkdir(parents=True)
    (disk / "subsystem").symlink_to(tmp_path / "sys/bus/scsi")
    sda = disk / "block/sda"
    (sda / "device").symlink_to(disk)
    (sda / "uevent").write_text("MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n")
    (sda / "size").write_text("2097152\n")
    (sda / "queue").mkdir()
    (sda / "queue/logical_block_size").write_text("512\n")
    (sysb / "sda").symlink_to(os.path.relpath(sda, sysb))
    for i, (_name, (img, *_)) in enumerate(sorted(imgs.items()), 1):
        part = sda / f"sda{i}"
        part.mkdir()
        (part / "uevent").write_text(f"MAJOR=8\nMINOR={i}\nDEVNAME=sda{i}\nDEVTYPE=partition\n")
        (part / "size").write_text(f"{len(img) // 512}\n")
        (sysb / f"sda{i}").symlink_to(os.path.relpath(part, sysb))
        (dev / f"sda{i}").write_bytes(img)
    return sda


def test_block_devices_fixture_probe(conn, root, tmp_path):
    imgs = fs_images()
    make_block_tree(tmp_path, imgs)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM block_devices")
    assert [{k: r[k] for k in NOPROBE.split(", ")} for r in got] == osq_block_devices(tmp_path)
    assert got[0]["name"] == "/dev/sda"
    assert (got[0]["vendor"], got[0]["model"]) == ("ATA", "QEMU HARDDISK")
    assert got[0]["size"] == 2097152 and got[0]["block_size"] == 512
    assert got[0]["parent"] == ""
    # Partitions sorted by name (sda1, sda10, sda11, sda2...).
    names = [f"sda{i}" for i in range(1, len(imgs) + 1)]
    assert [r["name"] for r in got[1:]] == ["/dev/" + n for n in sorted(names)]
    by = {r["name"]: r for r in got}
    for i, (name, (_img, ftype, fuuid, flabel)) in enumerate(sorted(imgs.items()), 1):
        r = by[f"/dev/sda{i}"]
        assert (r["type"], r["uuid"], r["label"]) == (ftype or "", fuuid or "", flabel or ""), name
        assert r["parent"] == "/dev/sda"
        assert r["block_size"] is None            # partitions have no queue/
        assert (r["vendor"], r["model"]) == ("ATA", "QEMU HARDDISK")


def test_block_devices_virtio_and_slaves(conn, root, tmp_path):
    """A virtio disk (vendor 0x1af4 from the virtio device), a dm device on
    one of its partitions (parent = its slave, inheriting vendor), loop
    devices with nothing set, a serial from wwid."""
    sysb = tmp_path / "sys/class/block"
    sysb.mkdir(parents=True)
    virtio = tmp_path / "sys/devices/pci0000:00/0000:00:04.0/virtio1"
    vda = virtio / "block/vda"
    (vda / "vda2").mkdir(parents=True)
    (virtio / "vendor").write_text("0x1af4\n")
    (virtio / "wwid").write_text("  wwid-123\t\n")
    os.symlink(os.path.relpath(virtio, vda), vda / "device")
    for d, size in ((vda, "41943040"), (vda / "vda2", "41940992")):
        (d / "uevent").write_text("MAJOR=254\n")
        (d / "size").write_text(size + "\n")
    (vda / "queue").mkdir()
    (vda / "queue/logical_block_size").write_text("512\n")
    dm = tmp_path / "sys/devices/virtual/block/dm-0"
    (dm / "slaves").mkdir(parents=True)
    (dm / "uevent").write_text("MAJOR=253\n")
    (dm / "size").write_text("100\n")
    os.symlink(os.path.relpath(vda / "vda2", dm / "slaves"), dm / "slaves/vda2")
    loop = tmp_path / "sys/devices/virtual/block/loop0"
    loop.mkdir()
    (loop / "uevent").write_text("")
    (loop / "size").write_text("0\n")
    for name, d in (("vda", vda), ("vda2", vda / "vda2"), ("dm-0", dm), ("loop0", loop)):
        os.symlink(os.path.relpath(d, sysb), sysb / name)
    root(tmp_path)
    got = rows(conn, f"SELECT {NOPROBE}, uuid, type, label FROM block_devices")
    assert [{k: r[k] for k in NOPROBE.split(", ")} for r in got] == osq_block_devices(tmp_path)
    assert [r["name"] for r in got] == ["/dev/dm-0", "/dev/loop0", "/dev/vda", "/dev/vda2"]
    dm0, loop0, vda_r, vda2 = got
    assert (vda_r["vendor"], vda_r["serial"], vda_r["model"], vda_r["parent"]) == (
        "0x1af4", "wwid-123", "", "")
    assert (vda2["parent"], vda2["vendor"], vda2["serial"]) == ("/dev/vda", "0x1af4", "wwid-123")
    assert (dm0["parent"], dm0["vendor"]) == ("/dev/vda2", "0x1af4")
    assert loop0 == {"name": "/dev/loop0", "parent": "", "vendor": "", "model": "", "serial": "",
                     "size": 0, "block_size": None, "uuid": "", "type": "", "label": ""}
    assert rows(conn, "SELECT name FROM block_devices WHERE name IN ('/dev/vda2', '/dev/x')") \
        == [{"name": "/dev/vda2"}]


def test_block_devices_by_links_fallback(conn, root, tmp_path):
    make_block_tree(tmp_path, {"a": (b"", None, None, None)})
    os.remove(tmp_path / "dev/sda1")                  # node not readable: links
    (tmp_path / "dev/disk/by-uuid").mkdir(parents=True)
    (tmp_path / "dev/disk/by-label").mkdir(parents=True)
    (tmp_path / "dev/disk/by-uuid/AAAA-BBBB").symlink_to("../../sda1")
    (tmp_path / "dev/disk/by-label/My\\x20Disk").symlink_to("../../sda1")
    (tmp_path / "dev/disk/by-label/other").symlink_to("../../sdz9")
    root(tmp_path)
    r = rows(conn, "SELECT * FROM block_devices WHERE name = '/dev/sda1'")
    assert r[0]["uuid"] == "AAAA-BBBB"
    assert r[0]["label"] == "My Disk"
    assert r[0]["type"] == ""


def test_block_devices_hostile_sysfs(conn, root, tmp_path):
    sysb = tmp_path / "sys/class/block"
    sysb.mkdir(parents=True)
    dev = tmp_path / "sys/devices/virtual/block"
    (sysb / "plaindir").mkdir()                        # not a link: skipped
    (sysb / "plaindir/uevent").write_text("MAJOR=1\n")
    for name in ("noevent", "bin", "long", "loopy1", "loopy2"):
        (dev / name).mkdir(parents=True)
        os.symlink(os.path.relpath(dev / name, sysb), sysb / name)
    for name in ("bin", "long", "loopy1", "loopy2"):
        (dev / name / "uevent").write_bytes(b"DEVNAME=\xff\xfe\x00junk\n")
    (dev / "bin/size").write_bytes(b"\xff\xfe\x00\x01")
    (dev / "long/size").write_text("not a number\n")
    (dev / "long/queue").mkdir()
    (dev / "long/queue/logical_block_size").write_bytes(os.urandom(100))
    (dev / "long/device").mkdir()
    (dev / "long/device/model").write_bytes(b"m" * 100000)
    # Two dm devices that are each other's slave: the parent chain loops.
    for a, b in (("loopy1", "loopy2"), ("loopy2", "loopy1")):
        (dev / a / "slaves").mkdir()
        os.symlink(os.path.relpath(dev / b, dev / a / "slaves"), dev / a / "slaves" / b)
    (sysb / "dangling").symlink_to("nowhere")
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    got = rows(conn, "SELECT * FROM block_devices")
    assert [r["name"] for r in got] == ["/dev/bin", "/dev/long", "/dev/loopy1", "/dev/loopy2"]
    assert got[1]["model"] == "m" * 4095 and got[1]["size"] is None
    assert (got[2]["parent"], got[3]["parent"]) == ("/dev/loopy2", "/dev/loopy1")


# ---- pci_devices --------------------------------------------------------------

PCI_IDS = """\
# comment line
8086  Intel Corporation
\t1237  440FX - 82441FX PMC [Natoma]
\t2922  82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]
\t\t1af4 1100  QEMU Virtual Machine
1af4  Red Hat, Inc.
\t1041  Virtio 1.0 network device
\t\t1af4 1100  QEMU Virtual Machine
1AB0  Weird Case Vendor
ffff  Illegal Vendor ID
C 01  Mass storage controller
\t06  SATA controller
\t\t01  AHCI 1.0
C 02  Network controller
\t00  Ethernet controller
C 06  Bridge
\t00  Host bridge
"""


def pci_dev(base: Path, slot: str, uevent: str, driver: str | None = None):
    d = base / slot
    d.mkdir(parents=True)
    (d / "uevent").write_text(uevent)
    if driver:
        drv = base.parent.parent / "drivers" / driver
        drv.mkdir(parents=True, exist_ok=True)
        (d / "driver").symlink_to(drv)
    return d


def make_pci_tree(tmp_path: Path, ids: str | bytes | None = PCI_IDS):
    base = tmp_path / "sys/bus/pci/devices"
    base.mkdir(parents=True)
    pci_dev(base, "0000:00:00.0", "PCI_CLASS=60000\nPCI_ID=8086:1237\nPCI_SUBSYS_ID=1AF4:1100\nPCI_SLOT_NAME=0000:00:00.0\n")
    pci_dev(base, "0000:00:1f.2", "DRIVER=ahci\nPCI_CLASS=10601\nPCI_ID=8086:2922\nPCI_SUBSYS_ID=1AF4:1100\nPCI_SLOT_NAME=0000:00:1f.2\n", "ahci")
    pci_dev(base, "0000:00:03.0", "DRIVER=virtio-pci\nPCI_CLASS=20000\nPCI_ID=1AF4:1041\nPCI_SUBSYS_ID=1AF4:1100\nPCI_SLOT_NAME=0000:00:03.0\n")
    pci_dev(base, "0000:00:04.0", "PCI_CLASS=ff\nPCI_ID=1ab0:0001\nPCI_SUBSYS_ID=dead:beef\nPCI_SLOT_NAME=0000:00:04.0\n")
    pci_dev(base, "0000:00:05.0", "PCI_CLASS=0c03300\nPCI_ID=12345\nPCI_SUBSYS_ID=1:2:3\n")
    (base / "0000:00:06.0").mkdir()    # no uevent: skipped
    if ids is not None:
        p = tmp_path / "usr/share/misc"
        p.mkdir(parents=True, exist_ok=True)
        (p / "pci.ids").write_bytes(ids.encode() if isinstance(ids, str) else ids)


def test_pci_fixture(conn, root, tmp_path):
    make_pci_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM pci_devices")
    by = {r["pci_slot"]: r for r in got}
    # Directory-name order; 05.0 has no PCI_SLOT_NAME.
    assert [r["pci_slot"] for r in got] == ["0000:00:00.0", "0000:00:03.0", "0000:00:04.0",
                                            "", "0000:00:1f.2"]
    a = by["0000:00:1f.2"]
    assert a == {
        "pci_slot": "0000:00:1f.2", "pci_class": "Mass storage controller", "driver": "ahci",
        "vendor": "Intel Corporation", "vendor_id": "0x8086",
        "model": "82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]",
        "model_id": "0x2922", "pci_class_id": "0x01", "pci_subclass_id": "0x06",
        "pci_subclass": "SATA controller", "subsystem_vendor_id": "0x1af4",
        "subsystem_vendor": "Red Hat, Inc.", "subsystem_model_id": "0x1100",
        "subsystem_model": "QEMU Virtual Machine"}
    h = by["0000:00:00.0"]
    assert (h["pci_class_id"], h["pci_subclass_id"], h["pci_class"], h["pci_subclass"]) == \
        ("0x06", "0x00", "Bridge", "Host bridge")
    assert h["driver"] == ""
    assert h["subsystem_model"] is None       # no subsystem entry under 1237
    w = by["0000:00:04.0"]
    assert w["vendor"] == "Weird Case Vendor" and w["model"] == ""
    assert w["pci_class_id"] is None           # PCI_CLASS of length 2
    assert w["subsystem_vendor"] is None
    bad = by[""]                               # no slot name, malformed ids
    assert (bad["vendor_id"], bad["model_id"]) == ("0", "0")
    assert bad["subsystem_vendor_id"] is None
    assert len(got) == 5


def test_pci_without_ids_file(conn, root, tmp_path):
    make_pci_tree(tmp_path, ids=None)
    root(tmp_path)
    got = rows(conn, "SELECT vendor, model, pci_class, vendor_id FROM pci_devices")
    assert len(got) == 5
    assert all(r["vendor"] == "" and r["model"] == "" and r["pci_class"] == "" for r in got)
    assert "0x8086" in [r["vendor_id"] for r in got]


@pytest.mark.parametrize("ids", [
    b"", b"\x00" * 1000, os.urandom(100000), b"8086" + b"x" * (2 * 1024 * 1024),
    b"8086  Intel\n\t", b"\t\t\t\n8086\n\t1237\n", b"C \nC 0\n\t\n",
])
def test_pci_hostile_ids(conn, root, tmp_path, ids):
    make_pci_tree(tmp_path, ids=ids)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM pci_devices")
    assert len(got) == 5


def test_pci_live(conn):
    base = Path("/sys/bus/pci/devices")
    if not base.is_dir():
        pytest.skip("no PCI bus")
    got = rows(conn, "SELECT * FROM pci_devices")
    # udev's order: by device path (a bridge's children follow it).
    assert [r["pci_slot"] for r in got] == sorted(os.listdir(base),
                                                  key=lambda n: os.readlink(base / n))
    for r in got:
        d = base / r["pci_slot"]
        assert r["vendor_id"] == (d / "vendor").read_text().strip().lower()
        assert r["model_id"] == (d / "device").read_text().strip().lower()
        assert r["subsystem_vendor_id"] == (d / "subsystem_vendor").read_text().strip().lower()
        cls = int((d / "class").read_text(), 16)
        assert int(r["pci_class_id"], 16) == cls >> 16
        assert int(r["pci_subclass_id"], 16) == (cls >> 8) & 0xff
        drv = d / "driver"
        assert r["driver"] == (os.path.basename(os.readlink(drv)) if drv.exists() else "")


# ---- usb_devices --------------------------------------------------------------

USB_IDS = """\
1d6b  Linux Foundation
\t0002  2.0 root hub
046d  Logitech, Inc.
\tc52b  Unifying Receiver
"""


def usb_dev(base: Path, name: str, uevent: str, attrs: dict):
    d = base / name
    d.mkdir(parents=True)
    (d / "uevent").write_text(uevent)
    for k, v in attrs.items():
        (d / k).write_text(v + "\n")


def make_usb_tree(tmp_path: Path, ids: bytes | None = USB_IDS.encode()):
    base = tmp_path / "sys/bus/usb/devices"
    base.mkdir(parents=True)
    usb_dev(base, "usb1", "BUSNUM=001\nDEVNUM=001\nTYPE=9/0/1\nDEVTYPE=usb_device\n",
            {"idVendor": "1d6b", "idProduct": "0002", "bcdDevice": "0608", "product": "EHCI Host Controller",
             "serial": "0000:00:1d.0", "removable": "unknown"})
    usb_dev(base, "1-1", "BUSNUM=001\nDEVNUM=008\nTYPE=0/0/0\nDEVTYPE=usb_device\n",
            {"idVendor": "046d", "idProduct": "c52b", "bcdDevice": "1211", "product": "USB Receiver",
             "removable": "removable"})
    usb_dev(base, "1-2", "BUSNUM=001\nDEVNUM=010\nTYPE=3//1\n",
            {"idVendor": "abcd", "idProduct": "1234", "product": "  My   Gadget \t",
             "serial": "A B", "removable": "fixed"})
    usb_dev(base, "1-1:1.0", "DEVTYPE=usb_interface\nINTERFACE=3/1/2\n", {})
    if ids is not None:
        p = tmp_path / "usr/share/misc"
        p.mkdir(parents=True, exist_ok=True)
        (p / "usb.ids").write_bytes(ids)


def test_usb_fixture(conn, root, tmp_path):
    make_usb_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM usb_devices")
    assert [r["vendor_id"] for r in got] == ["046d", "abcd", "1d6b"]  # names 1-1, 1-2, usb1
    logi, gadget, hub = got
    assert hub == {"usb_address": 1, "usb_port": 1, "vendor": "Linux Foundation", "vendor_id": "1d6b",
                   "version": "0608", "model": "2.0 root hub", "model_id": "0002",
                   "serial": "0000:00:1d.0", "class": "9", "subclass": "0", "protocol": "1",
                   "removable": -1}
    # osquery's base-0 integer rule: "008" is invalid octal -> 0, "010" -> 8.
    assert (logi["usb_address"], logi["usb_port"]) == (1, 0)
    assert gadget["usb_port"] == 8
    assert logi["vendor"] == "Logitech, Inc." and logi["model"] == "Unifying Receiver"
    assert logi["removable"] == 1 and logi["serial"] == ""
    assert gadget["vendor"] == "" and gadget["model"] == "My_Gadget"
    assert gadget["serial"] == "A_B"
    assert gadget["removable"] == 1                    # "fixed" is 1 in osquery
    assert (gadget["class"], gadget["subclass"], gadget["protocol"]) == ("", "", "")


def test_usb_order_follows_device_paths(conn, root, tmp_path):
    # Real sysfs: /sys/bus/usb/devices entries are links into the device
    # tree, and udev lists a hub before the devices behind it.
    dev = tmp_path / "sys/devices/pci0000:00/0000:00:14.0/usb2"
    (dev / "2-1").mkdir(parents=True)
    (dev / "uevent").write_text("BUSNUM=002\nDEVNUM=001\nTYPE=9/0/3\n")
    (dev / "idVendor").write_text("1d6b\n")
    (dev / "2-1/uevent").write_text("BUSNUM=002\nDEVNUM=002\nTYPE=0/0/0\n")
    (dev / "2-1/idVendor").write_text("0781\n")
    base = tmp_path / "sys/bus/usb/devices"
    base.mkdir(parents=True)
    (base / "usb2").symlink_to(os.path.relpath(dev, base))
    (base / "2-1").symlink_to(os.path.relpath(dev / "2-1", base))
    root(tmp_path)
    got = rows(conn, "SELECT vendor_id, usb_port FROM usb_devices")
    assert got == [{"vendor_id": "1d6b", "usb_port": 1}, {"vendor_id": "0781", "usb_port": 2}]


def test_usb_hostile(conn, root, tmp_path):
    make_usb_tree(tmp_path, ids=os.urandom(50000))
    base = tmp_path / "sys/bus/usb/devices"
    usb_dev(base, "2-1", "BUSNUM=" + "9" * 5000 + "\nDEVNUM=x\n", {"idVendor": "\xff" * 10})
    (base / "2-2").mkdir()
    (base / "2-2/uevent").write_bytes(os.urandom(9000))
    root(tmp_path)
    got = rows(conn, "SELECT * FROM usb_devices")
    assert len(got) >= 4
    r = [x for x in got if x["vendor_id"] not in ("046d", "abcd", "1d6b")]
    assert r and r[0]["usb_port"] is None


def test_usb_live(conn):
    base = Path("/sys/bus/usb/devices")
    got = rows(conn, "SELECT * FROM usb_devices")
    if not base.is_dir():
        assert got == []
        pytest.skip("no USB bus on this host")
    want = []
    for name in sorted(os.listdir(base)):
        ue = (base / name / "uevent").read_text()
        if "BUSNUM=" in ue and "DEVNUM=" in ue:
            want.append((base / name / "idVendor").read_text().strip())
    assert [r["vendor_id"] for r in got] == want


# ---- disk_encryption ----------------------------------------------------------

def make_dm_tree(tmp_path: Path):
    sysb = tmp_path / "sys/class/block"
    sysb.mkdir(parents=True)
    virt = tmp_path / "sys/devices/virtual/block"

    def dm(name, dmname, dmuuid):
        d = virt / name
        (d / "dm").mkdir(parents=True)
        (d / "dm/name").write_text(dmname + "\n")
        (d / "dm/uuid").write_text(dmuuid + "\n")
        (d / "uevent").write_text(f"DEVNAME={name}\nDEVTYPE=disk\n")
        (d / "size").write_text("100\n")
        (sysb / name).symlink_to(os.path.relpath(d, sysb))
        return d

    d0 = dm("dm-0", "cryptroot", "CRYPT-LUKS2-0d7a6c4e1b2c4d5e8f90a1b2c3d4e5f6-cryptroot")
    dm("dm-1", "vg-root", "LVM-abcdefghijklmnop")
    dm("dm-2", "junk", "CRYPT")
    loop = virt / "loop0"
    loop.mkdir()
    (loop / "uevent").write_text("DEVNAME=loop0\nDEVTYPE=disk\n")
    (sysb / "loop0").symlink_to(os.path.relpath(loop, sysb))
    p = d0 / "dm-0p1"
    p.mkdir()
    (p / "uevent").write_text("DEVNAME=dm-0p1\nDEVTYPE=partition\n")
    (sysb / "dm-0p1").symlink_to(os.path.relpath(p, sysb))
    sda = tmp_path / "sys/devices/pci0000:00/block/sda"
    sda.mkdir(parents=True)
    (sda / "uevent").write_text("DEVNAME=sda\nDEVTYPE=disk\n")
    (sysb / "sda").symlink_to(os.path.relpath(sda, sysb))
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "sda").write_bytes(ext4_image(uuidlib.UUID(int=7).bytes, b"x"))


def test_disk_encryption_fixture(conn, root, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("osquery's disk_encryption needs root")
    make_dm_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM disk_encryption")
    # block_devices' order: by name.
    assert [r["name"] for r in got] == ["/dev/dm-0", "/dev/dm-0p1", "/dev/dm-1", "/dev/dm-2",
                                        "/dev/loop0", "/dev/sda"]
    by = {r["name"]: r for r in got}
    assert (by["/dev/dm-0"]["encrypted"], by["/dev/dm-0"]["encryption_status"]) == (1, "encrypted")
    # No /dev/mapper/control under the fixture root: the DM table is not
    # readable, so the cipher (and with it type) is '', as osquery's row.
    assert by["/dev/dm-0"]["type"] == ""
    assert by["/dev/dm-0p1"]["encrypted"] == 1         # inherits from its parent
    assert (by["/dev/dm-1"]["encrypted"], by["/dev/dm-1"]["encryption_status"]) == (0, "not encrypted")
    assert by["/dev/dm-2"]["encrypted"] == 0          # "CRYPT" without the dash
    assert by["/dev/sda"]["uuid"] == str(uuidlib.UUID(int=7))
    assert by["/dev/dm-1"]["uuid"] == ""
    hidden = rows(conn, "SELECT uid, user_uuid, filevault_status FROM disk_encryption")
    # macOS' TEXT columns: '' as in osquery (engine.c, OSQ_FOREIGN).
    assert all(r == {"uid": "", "user_uuid": "", "filevault_status": ""} for r in hidden)


def test_disk_encryption_inherits_through_slaves(conn, root, tmp_path):
    """LVM on LUKS: dm-1 sits on the crypt mapping dm-0 (its slave), so it
    takes dm-0's status, as osquery's parent recursion gives."""
    if os.geteuid() != 0:
        pytest.skip("osquery's disk_encryption needs root")
    make_dm_tree(tmp_path)
    virt = tmp_path / "sys/devices/virtual/block"
    (virt / "dm-1/slaves").mkdir()
    os.symlink("../../dm-0", virt / "dm-1/slaves/dm-0")
    root(tmp_path)
    by = {r["name"]: r for r in rows(conn, "SELECT name, encrypted, encryption_status "
                                           "FROM disk_encryption")}
    assert (by["/dev/dm-1"]["encrypted"], by["/dev/dm-1"]["encryption_status"]) == (
        1, "encrypted")
    assert by["/dev/sda"]["encrypted"] == 0


def test_disk_encryption_hostile_dm(conn, root, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("osquery's disk_encryption needs root")
    make_dm_tree(tmp_path)
    virt = tmp_path / "sys/devices/virtual/block"
    # Deterministic binary junk: random bytes could start with the NUL or
    # newline that ends the attribute, which is a different case.
    (virt / "dm-1/dm/uuid").write_bytes(
        b"CRYPT-LUKS2-" + bytes((i * 7 + 1) % 256 for i in range(5000)))
    (virt / "dm-1/dm/name").write_bytes(b"x" * 100000)
    (virt / "dm-2/dm/uuid").unlink()
    (virt / "dm-0/dm/name").write_bytes(b"")
    root(tmp_path)
    got = {r["name"]: r for r in rows(conn, "SELECT name, encrypted, type FROM disk_encryption")}
    assert got["/dev/dm-1"]["encrypted"] == 1 and got["/dev/dm-1"]["type"] == ""
    assert got["/dev/dm-0"]["encrypted"] == 1
    assert got["/dev/dm-2"]["encrypted"] == 0


def test_disk_encryption_live(conn):
    if os.geteuid() != 0:
        assert rows(conn, "SELECT * FROM disk_encryption") == []
        return
    got = rows(conn, "SELECT * FROM disk_encryption")
    blk = rows(conn, "SELECT name FROM block_devices")
    assert [r["name"] for r in got] == [r["name"] for r in blk]
    for r in got:
        name = r["name"][5:]
        u = Path("/sys/class/block") / name / "dm/uuid"
        crypt = u.exists() and u.read_text().startswith("CRYPT-")
        if crypt:
            assert r["encrypted"] == 1
        elif r["encrypted"] == 0:
            assert r["encryption_status"] == "not encrypted"
