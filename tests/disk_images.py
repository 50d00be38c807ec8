"""Disk images built on regular files for the device_* tests: a DOS
partition table (sfdisk) with an ext4 filesystem (mkfs.ext4 -d from a
source tree) and a FAT one (mkfs.vfat, files copied in with mtools)."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SECTOR = 512
P_EXT, P_FAT = 2048, 43008          # partition starts, in sectors


def _have(*tools: str) -> str | None:
    missing = [t for t in tools if shutil.which(t) is None]
    return ", ".join(missing) if missing else None


def _libtsk() -> bool:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    return "libtsk.so.19 " in out


TOOLS = ("sfdisk", "mkfs.ext4", "mkfs.vfat", "mcopy", "mmd", "debugfs",
         "mmls", "fls", "fsstat", "icat")
pytestmark = [
    pytest.mark.skipif(not _libtsk(), reason="libtsk.so.19 is absent (Debian package libtsk19)"),
    pytest.mark.skipif(_have(*TOOLS) is not None,
                       reason=f"image tools/oracles absent: {_have(*TOOLS)} (Debian packages "
                              "fdisk, e2fsprogs, dosfstools, mtools, sleuthkit)"),
]


def sh(*cmd: str, **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def put(img: Path, part: Path, start: int) -> None:
    with open(img, "r+b") as out, open(part, "rb") as src:
        out.seek(start * SECTOR)
        shutil.copyfileobj(src, out)


def build_disk(d: Path) -> tuple[Path, Path]:
    """d/disk.img: DOS label, p1 ext4 (20 MiB) at sector 2048, p2 FAT (10 MiB)
    at 43008; returns (image, source tree)."""
    src = d / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("hello\n")
    (src / "empty").write_bytes(b"")
    (src / "sub" / "big.bin").write_bytes(random.Random(1).randbytes(300_000))
    (src / "sub" / "deeper" / "x y.txt").write_text("spaces in the name\n")
    os.symlink("a.txt", src / "link")
    os.chmod(src / "a.txt", 0o4750)
    os.utime(src / "a.txt", (1_600_000_000, 1_600_000_100))
    os.link(src / "a.txt", src / "hard")
    img = d / "disk.img"
    with open(img, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    sh("sfdisk", "-q", str(img),
       input=f"label: dos\nstart={P_EXT}, size=40960, type=83\nstart={P_FAT}, size=20480, type=c\n")
    p1 = d / "p1.img"
    with open(p1, "wb") as f:
        f.truncate(20 * 1024 * 1024)
    sh("mkfs.ext4", "-q", "-F", "-I", "256", "-d", str(src), str(p1))
    put(img, p1, P_EXT)
    p2 = d / "p2.img"
    sh("mkfs.vfat", "-C", "-n", "OSQFAT", str(p2), "10240")
    sh("mcopy", "-i", str(p2), str(src / "a.txt"), "::A.TXT")
    sh("mmd", "-i", str(p2), "::DIR")
    sh("mcopy", "-i", str(p2), str(src / "sub" / "big.bin"), "::DIR/BIG.BIN")
    put(img, p2, P_FAT)
    return img, src
