#!/usr/bin/env python3
"""device_hash throughput: `SELECT sha256 FROM device_hash` on a file inside
an ext4 partition of a disk image, against the same bytes read by TSK's own
icat and hashed by Python's hashlib (OpenSSL; the best peer: same library,
same reads), and against hashlib over the plain source file (the limit: no
filesystem parsing at all).

Builds a DOS-partitioned image with one ext4 partition holding a file of
--size-mb MiB (mkfs.ext4 -d), then alternates the three runs --repeat times
(default 3), checks the digests agree, and prints medians, MB/s and ratios.
The image is in the page cache after the first run, so all three measure
reading through the filesystem layer and hashing, not the disk.

    python3 bench/bench_device_hash.py [--size-mb 256] [--repeat 3]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import osqlite  # noqa: E402

START = 2048


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for tool in ("sfdisk", "mkfs.ext4", "icat", "fls"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (fdisk, e2fsprogs, sleuthkit)")
            return 1
    d = Path(tempfile.mkdtemp(prefix="osq-bench-devhash-", dir="/tmp"))
    try:
        src = d / "src"
        src.mkdir()
        block = os.urandom(4 << 20)
        with open(src / "big.bin", "wb") as f:
            for _ in range(args.size_mb // 4):
                f.write(block)
        part_mb = args.size_mb + args.size_mb // 8 + 16
        part, img = d / "p.img", d / "disk.img"
        with open(part, "wb") as f:
            f.truncate(part_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(src), str(part)], check=True)
        with open(img, "wb") as f:
            f.truncate((part_mb + 2) << 20)
        subprocess.run(["sfdisk", "-q", str(img)], input=f"label: dos\nstart={START}, type=83\n",
                       text=True, check=True)
        with open(img, "r+b") as out, open(part, "rb") as p:
            out.seek(START * 512)
            shutil.copyfileobj(p, out, 16 << 20)
        part.unlink()
        fls = subprocess.run(["fls", "-o", str(START), str(img)], capture_output=True,
                             text=True, check=True).stdout
        inode = int(re.search(r"r/r (\d+):\tbig\.bin", fls)[1])
        conn = osqlite.connect()
        part_no = next(r[0] for r in conn.execute(
            "SELECT partition FROM device_partitions WHERE device = ? AND type = 'ext4'",
            (str(img),)))
        size = (src / "big.bin").stat().st_size

        def osq() -> str:
            return conn.execute("SELECT sha256 FROM device_hash WHERE device = ? AND "
                                "partition = ? AND inode = ?",
                                (str(img), str(part_no), inode)).fetchone()[0]

        def digest(stream) -> str:
            h = hashlib.sha256()
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                h.update(chunk)
            return h.hexdigest()

        def icat() -> str:
            p1 = subprocess.Popen(["icat", "-o", str(START), str(img), str(inode)],
                                  stdout=subprocess.PIPE)
            out = digest(p1.stdout)
            p1.wait()
            return out

        def plain() -> str:
            with open(src / "big.bin", "rb") as f:
                return digest(f)

        runs: dict[str, list[float]] = {"osqlite device_hash": [], "icat | hashlib": [],
                                        "hashlib (plain file)": []}
        digests = set()
        for _ in range(args.repeat):
            for name, fn in zip(runs, (osq, icat, plain)):
                t0 = time.perf_counter()
                digests.add(fn())
                runs[name].append(time.perf_counter() - t0)
        if len(digests) != 1:
            print(f"digests differ: {digests}")
            return 1
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"{size >> 20} MiB file in ext4 on a DOS-partitioned image, "
              f"{args.repeat} runs each, medians:")
        for k, v in med.items():
            print(f"  {k:24s} {v:7.3f} s  {size / v / 1e6:8.1f} MB/s  "
                  f"x{v / med['icat | hashlib']:.2f} of icat")
        return 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
