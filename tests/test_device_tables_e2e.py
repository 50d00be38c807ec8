"""Corrupt and truncated disk images through the sanitizer driver: random
bytes in the partition table, the ext4 superblock, group descriptors and
inode table and the FAT; images cut inside each structure; a partition that
runs past the end of the disk.  Every device_* query must finish without a
sanitizer report (TSK's own checks reject most of it; what it accepts must
still be read safely).  The images are those of test_device_tables.py."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from asan_helper import run_asan
from disk_images import (
    P_EXT,
    P_FAT,
    REPO,
    SECTOR,
    build_disk,
    pytestmark,  # noqa: F401  (the skip reasons)
)


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    return build_disk(tmp_path_factory.mktemp("disk"))

def hostile_images(img: Path, d: Path) -> list[Path]:
    base = img.read_bytes()
    rnd = random.Random(13)
    out = []
    regions = [(0, 512), (P_EXT * SECTOR, P_EXT * SECTOR + 8192),
               (P_EXT * SECTOR + 8192, P_EXT * SECTOR + 400_000),
               (P_FAT * SECTOR, P_FAT * SECTOR + 60_000)]
    for i in range(5):
        b = bytearray(base)
        for lo, hi in regions:
            for _ in range(rnd.randrange(0, 80)):
                b[rnd.randrange(lo, hi)] = rnd.randrange(256)
        p = d / f"corrupt{i}.img"
        p.write_bytes(bytes(b))
        out.append(p)
    # Truncated inside the ext4 inode table, inside the FAT, and after the MBR.
    for n, cut in (("cut_ext", P_EXT * SECTOR + 300_000), ("cut_fat", P_FAT * SECTOR + 9000),
                   ("cut_mbr", 600)):
        p = d / f"{n}.img"
        p.write_bytes(base[:cut])
        out.append(p)
    # A partition entry that runs past the end of the disk and one at LBA 2^32-1.
    b = bytearray(base[:P_FAT * SECTOR])
    b[446 + 16 + 8:446 + 16 + 16] = (0xFFFFFF00).to_bytes(4, "little") + (0x7FFFFFFF).to_bytes(4, "little")
    p = d / "past_end.img"
    p.write_bytes(bytes(b))
    out.append(p)
    return out


def test_hostile_images_under_sanitizers(disk, tmp_path, monkeypatch):
    img, _ = disk
    # Full malloc stacks (libtsk has no frame pointers) so the one TSK leak
    # of tests/lsan-libtsk.supp is matched by its function and no other.
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:fast_unwind_on_malloc=0")
    monkeypatch.setenv("LSAN_OPTIONS", f"suppressions={REPO / 'tests/lsan-libtsk.supp'}")
    sqls = []
    for p in hostile_images(img, tmp_path) + [img]:
        sqls += [f"SELECT * FROM device_partitions WHERE device = '{p}'",
                 f"SELECT * FROM device_file WHERE device = '{p}' AND partition IN ('2', '3')",
                 f"SELECT * FROM device_file WHERE device = '{p}' AND partition IN ('2', '3') "
                 "AND inode IN (2, 4, 5, 11, 12, 15, 581, 0, -1, 4294967297)",
                 f"SELECT * FROM device_file WHERE device = '{p}' AND partition IN ('2', '3') "
                 "AND path IN ('/sub', '/A.TXT', '', '////', '/a.txt/..')",
                 f"SELECT * FROM device_hash WHERE device = '{p}' AND partition IN ('2', '3') "
                 "AND inode IN (2, 4, 5, 11, 12, 13, 14, 15, 581, 'x', 1000000)"]
    out = run_asan(None, *sqls)
    assert "error:" not in out, out[-2000:]


