"""device_partitions, device_file and device_hash (The Sleuth Kit) on disk
images built here on regular files: a DOS partition table written by
sfdisk holding an ext4 filesystem (mkfs.ext4 -d from a source tree) and a
FAT filesystem (mkfs.vfat, files copied in with mtools), and a GPT image.
Oracles: TSK's own command-line tools (mmls, fls, fsstat, icat, from the
sleuthkit package), os.stat of the source files, and hashlib.  A directory
cycle and a FIFO as the device are here; corrupt and truncated images go
through the sanitizer driver in test_device_tables_e2e.py."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import rows
from disk_images import (
    P_EXT,
    P_FAT,
    REPO,
    SECTOR,
    build_disk,
    put,
    pytestmark,  # noqa: F401  (the skip reasons)
    sh,
)


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    return build_disk(tmp_path_factory.mktemp("disk"))


def mmls(img: Path) -> list[dict]:
    out = []
    for line in sh("mmls", str(img)).splitlines():
        m = re.match(r"(\d+):\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$", line)
        if m:
            out.append({"partition": int(m[1]), "slot": m[2], "start": int(m[3]),
                        "len": int(m[5]), "desc": m[6].strip()})
    return out


def fls_files(img: Path, start: int) -> dict[str, int]:
    """Regular files of the filesystem at sector start: path -> inode."""
    out = {}
    for line in sh("fls", "-r", "-p", "-o", str(start), str(img)).splitlines():
        m = re.match(r"(\S)/(\S)\s+(\*\s+)?(\d+)(?:-\d+-\d+)?(?:\(realloc\))?:\t(.*)$", line)
        if m and m[2] == "r":
            out["/" + m[5]] = int(m[4])
    return out


def fsstat(img: Path, start: int) -> str:
    return sh("fsstat", "-o", str(start), str(img))


def test_partitions_against_mmls_and_fsstat(conn, disk):
    img, _ = disk
    got = rows(conn, "SELECT * FROM device_partitions WHERE device = ?", str(img))
    want = mmls(img)
    assert [r["partition"] for r in got] == [w["partition"] for w in want]
    for r, w in zip(got, want):
        assert r["device"] == str(img) and r["label"] == w["desc"]
        if w["start"] == P_EXT or w["start"] == P_FAT:
            continue
        kind = "meta" if w["slot"] == "Meta" else ("unallocated" if w["slot"] == "-------"
                                                  else "normal")
        assert (r["type"], r["offset"], r["blocks_size"], r["blocks"], r["inodes"]) == \
            (kind, w["start"] * SECTOR, SECTOR, w["len"], -1), r
        assert r["flags"] == {"meta": 4, "unallocated": 2, "normal": 1}[kind]
    by_off = {r["offset"]: r for r in got}
    ext = by_off[P_EXT * SECTOR]
    st = fsstat(img, P_EXT)
    assert ext["type"] == "ext4"
    assert ext["blocks_size"] == int(re.search(r"Block Size: (\d+)", st)[1])
    lo, hi = map(int, re.search(r"Block Range: (\d+) - (\d+)", st).groups())
    assert ext["blocks"] == hi - lo + 1
    assert ext["inodes"] >= int(re.search(r"Inode Range: \d+ - (\d+)", st)[1])
    fat = by_off[P_FAT * SECTOR]
    assert fat["type"] == "fat16" and "FAT16" in fsstat(img, P_FAT)
    assert fat["blocks_size"] == int(re.search(r"Sector Size: (\d+)", fsstat(img, P_FAT))[1])


def test_gpt_partition_names(conn, tmp_path):
    img = tmp_path / "gpt.img"
    with open(img, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    sh("sfdisk", "-q", str(img), input='label: gpt\nstart=2048, size=4096, name="rootfs"\n'
                                       'start=6144, size=4096, name="data part"\n')
    got = rows(conn, "SELECT partition, label, type, offset, blocks FROM device_partitions "
                     "WHERE device = ?", str(img))
    want = mmls(img)
    assert [(r["partition"], r["label"]) for r in got] == \
        [(w["partition"], w["desc"]) for w in want]
    assert {"rootfs", "data part", "GPT Header"} <= {r["label"] for r in got}
    named = {r["label"]: r for r in got}
    assert (named["data part"]["offset"], named["data part"]["blocks"]) == (6144 * SECTOR, 4096)


def _ext_part(conn, img: Path) -> str:
    return str(next(r["partition"] for r in rows(
        conn, "SELECT * FROM device_partitions WHERE device = ?", str(img))
        if r["offset"] == P_EXT * SECTOR))


def test_ext4_walk_against_fls_and_stat(conn, disk):
    img, src = disk
    part = _ext_part(conn, img)
    got = rows(conn, "SELECT * FROM device_file WHERE device = ? AND partition = ?",
               str(img), part)
    want = fls_files(img, P_EXT)
    assert {r["path"]: r["inode"] for r in got} == want
    assert len(got) == len(want)
    for r in got:
        st = os.lstat(src / r["path"].lstrip("/"))
        assert r["device"] == str(img) and r["partition"] == part
        assert r["filename"] == r["path"].rsplit("/", 1)[1]
        # osquery's mode: TSK's permission bits printed in decimal.
        assert r["mode"] == str(st.st_mode & 0o7777), r
        assert (r["uid"], r["gid"], r["size"], r["mtime"], r["hard_links"], r["type"]) == \
            (st.st_uid, st.st_gid, st.st_size, int(st.st_mtime), st.st_nlink, "regular"), r
        assert r["block_size"] == 1024
    # The walk keeps osquery's order: a directory's files before its subdirectories.
    order = [r["path"] for r in got]
    assert order.index("/a.txt") < order.index("/sub/big.bin") < order.index("/sub/deeper/x y.txt")


def test_path_and_inode_lookups(conn, disk):
    img, src = disk
    part = _ext_part(conn, img)
    inodes = fls_files(img, P_EXT)
    got = rows(conn, "SELECT * FROM device_file WHERE device = ? AND partition = ? "
                     "AND path IN ('/sub/big.bin', '/link', '/sub', '/nope')", str(img), part)
    by = {r["path"]: r for r in got}
    assert set(by) == {"/sub/big.bin", "/link", "/sub"}
    assert by["/sub/big.bin"]["inode"] == inodes["/sub/big.bin"]
    assert by["/link"]["type"] == "symlink" and by["/link"]["size"] == len("a.txt")
    assert by["/sub"]["type"] == "directory" and by["/sub"]["filename"] == "sub"
    # An ext4 inode keeps no name: the row is there, with path '' (osquery
    # gives no row at all; see the README's differences).
    r = rows(conn, "SELECT * FROM device_file WHERE device = ? AND partition = ? AND inode = ?",
             str(img), part, inodes["/a.txt"])
    assert len(r) == 1 and r[0]["path"] == "" and r[0]["size"] == 6
    assert r[0]["mode"] == str(0o4750) and r[0]["hard_links"] == 2


def test_fat_walk_and_inode_names(conn, disk):
    img, _ = disk
    fat = str(next(r["partition"] for r in rows(
        conn, "SELECT * FROM device_partitions WHERE device = ?", str(img))
        if r["offset"] == P_FAT * SECTOR))
    got = rows(conn, "SELECT path, inode, size, type FROM device_file WHERE device = ? "
                     "AND partition = ?", str(img), fat)
    assert {r["path"]: r["inode"] for r in got} == fls_files(img, P_FAT)
    assert {"/A.TXT", "/DIR/BIG.BIN"} <= {r["path"] for r in got}
    ino = {r["path"]: r["inode"] for r in got}["/DIR/BIG.BIN"]
    r = rows(conn, "SELECT path, filename FROM device_file WHERE device = ? AND partition = ? "
                   "AND inode = ?", str(img), fat, ino)
    # FAT keeps the name in the directory entry TSK reads as the inode.
    assert r == [{"path": "BIG.BIN", "filename": "BIG.BIN"}]


def test_hashes_against_icat_and_hashlib(conn, disk):
    img, src = disk
    part = _ext_part(conn, img)
    inodes = fls_files(img, P_EXT)
    names = ["/a.txt", "/sub/big.bin", "/empty", "/sub/deeper/x y.txt"]
    got = {r["inode"]: r for r in rows(
        conn, "SELECT * FROM device_hash WHERE device = ? AND partition = ? AND inode IN "
              f"({','.join('?' * len(names))})", str(img), part, *[inodes[n] for n in names])}
    assert len(got) == len(names)
    for n in names:
        r = got[inodes[n]]
        data = (src / n.lstrip("/")).read_bytes()
        assert subprocess.run(["icat", "-o", str(P_EXT), str(img), str(inodes[n])],
                              capture_output=True, check=True).stdout == data
        if not data:
            # osquery's hashInode: an empty inode has '' digests.
            assert (r["md5"], r["sha1"], r["sha256"]) == ("", "", "")
            continue
        assert r["md5"] == hashlib.md5(data).hexdigest()
        assert r["sha1"] == hashlib.sha1(data).hexdigest()
        assert r["sha256"] == hashlib.sha256(data).hexdigest()
        assert (r["device"], r["partition"]) == (str(img), part)


def test_no_volume_system_no_device_no_rows(conn, tmp_path, disk):
    img, src = disk
    bare = tmp_path / "bare.img"
    with open(bare, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    sh("mkfs.ext4", "-q", "-F", "-d", str(src), str(bare))
    # A bare filesystem has no partition table: no partitions, as in osquery.
    assert rows(conn, "SELECT * FROM device_partitions WHERE device = ?", str(bare)) == []
    assert rows(conn, "SELECT * FROM device_file WHERE device = ? AND partition = '0'",
                str(bare)) == []
    assert rows(conn, "SELECT * FROM device_partitions WHERE device = ?",
                str(tmp_path / "missing")) == []
    # A partition number that does not exist, and a partition without a filesystem.
    assert rows(conn, "SELECT * FROM device_file WHERE device = ? AND partition IN ('9', '0')",
                str(img)) == []
    assert rows(conn, "SELECT * FROM device_hash WHERE device = ? AND partition = '2' "
                      "AND inode = 999999999", str(img)) == []


def test_fifo_and_directory_as_device_do_not_block(conn, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for dev in (fifo, tmp_path):
        assert rows(conn, "SELECT * FROM device_partitions WHERE device = ?", str(dev)) == []
        assert rows(conn, "SELECT * FROM device_hash WHERE device = ? AND partition = '2' "
                          "AND inode = 12", str(dev)) == []


def test_required_columns(conn, disk):
    for sql in ("SELECT * FROM device_partitions", "SELECT * FROM device_file",
                "SELECT * FROM device_hash"):
        with pytest.raises(Exception, match="required column"):
            conn.execute(sql).fetchall()
    # As osquery's xBestIndex: one required column constrained is enough to
    # plan; without a device there is nothing to open.
    assert conn.execute("SELECT * FROM device_file WHERE partition = '2'").fetchall() == []
    assert conn.execute("SELECT * FROM device_hash WHERE inode = 12").fetchall() == []


def test_directory_cycle_is_bounded(conn, disk, tmp_path):
    """A directory entry pointing back at its own directory: the walk stops
    at osquery's 1025 directories instead of looping."""
    img, _ = disk
    loop = tmp_path / "loop.img"
    shutil.copy(img, loop)
    p1 = tmp_path / "p1.img"
    with open(loop, "rb") as f, open(p1, "wb") as out:
        f.seek(P_EXT * SECTOR)
        out.write(f.read(40960 * SECTOR))
    sh("debugfs", "-w", "-R", "link /sub /sub/loop", str(p1))
    put(loop, p1, P_EXT)
    assert "sub/loop" in sh("fls", "-r", "-p", "-o", str(P_EXT), str(loop))
    got = rows(conn, "SELECT path FROM device_file WHERE device = ? AND partition = '2'",
               str(loop))
    deep = [r["path"] for r in got if r["path"].endswith("/big.bin")]
    assert 1000 < len(deep) <= 1025
    assert len(set(r["path"] for r in got)) == len(got)


def test_struct_layout_matches_tsk_headers(tmp_path):
    """csrc/lib/tsk.h's declarations against TSK's headers (libtsk-dev)."""
    if not Path("/usr/include/tsk/libtsk.h").exists():
        pytest.skip("TSK's headers are absent (Debian package libtsk-dev)")
    r = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-fsyntax-only",
                        f"-I{REPO / 'csrc'}", f"-I{REPO / 'csrc/lib'}",
                        str(REPO / "tests/cdriver/tsk_layout.c")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
