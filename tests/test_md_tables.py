"""md_devices, md_drives, md_personalities (Linux software RAID).

This host's kernel has no md driver, so every test uses a fixture tree
under OSQLITE_ROOT: /proc/mdstat as the kernel prints it for arrays in
several states, and the /sys/block/mdN/md attributes behind them.  The
oracle is osquery's mdstat parser (osquery/tables/system/linux/
md_tables.cpp) and its GET_ARRAY_INFO/GET_DISK_INFO bookkeeping written out
in Python over the same files, plus values spelled out by hand.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from conftest import rows
from osquery_oracle import osq_split

MDSTAT = """\
Personalities : [raid1] [raid6] [raid5] [raid4] [linear] [multipath] [raid0] [raid10]
md1 : active raid1 sdb2[1] sda2[0]
      976629760 blocks super 1.2 [2/2] [UU]
      bitmap: 2/8 pages [8KB], 65536KB chunk

md0 : active raid5 sde1[4] sdd1[2] sdc1[1] sdb1[0](F) sdf1[5](S)
      5860270080 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/3] [_UUU]
      [>....................]  recovery =  0.4% (8203264/1953423360) finish=236.9min speed=136849K/sec
      bitmap: 3/15 pages [12KB], 65536KB chunk, file: /var/lib/md0.bitmap

md2 : active raid10 sdg1[3] sdh1[2] sdi1[1] sdj1[0]
      2000000 blocks super 1.2 512K chunks 2 near-copies [4/4] [UUUU]
      resync=DELAYED

md3 : active (auto-read-only) raid6 sdk1[0] sdl1[1] sdm1[2] sdn1[3]
      100 blocks super 1.2 level 6, 64k chunk, algorithm 2 [4/4] [UUUU]
      [=>...................]  check =  5.0% (1/20) finish=inf speed=0K/sec

md127 : inactive sdo[0](S)
      1000 blocks super external:imsm

md126 : active raid1 sdp[1] sdq[0]
      2048 blocks super external:/md127/0 [2/2] [UU]
      [==>..................]  reshape = 10.0% (1/10) finish=1.0min speed=5K/sec

unused devices: <none>
"""

# Per array: md/ attributes and members {name: (state, slot, devname)}.
SYSFS = {
    "md1": ({"level": "raid1", "raid_disks": "2", "chunk_size": "0", "array_state": "clean",
             "metadata_version": "1.2", "bitmap/location": "+8", "bitmap/metadata": "internal"},
            {"sdb2": ("in_sync", "1", "sdb2"), "sda2": ("in_sync", "0", "sda2")}),
    "md0": ({"level": "raid5", "raid_disks": "4", "chunk_size": "524288",
             "array_state": "active", "metadata_version": "1.2", "bitmap/location": "file",
             "bitmap/metadata": "internal"},
            {"sde1": ("spare", "0", "sde1"), "sdd1": ("in_sync", "2", "sdd1"),
             "sdc1": ("in_sync,write_mostly", "1", "sdc1"), "sdb1": ("faulty", "none", "sdb1"),
             "sdf1": ("spare", "none", "sdf1")}),
    "md2": ({"level": "raid10", "raid_disks": "4", "chunk_size": "524288",
             "array_state": "read-auto", "metadata_version": "1.2",
             "bitmap/location": "none"},
            {"sdg1": ("in_sync,failfast", "3", "sdg1"), "sdh1": ("in_sync", "2", "sdh1"),
             "sdi1": ("journal", "none", "sdi1"), "sdj1": ("in_sync", "0", None)}),
    "md3": ({"level": "raid6", "raid_disks": "4", "chunk_size": "65536",
             "array_state": "readonly", "metadata_version": "1.2",
             "bitmap/metadata": "clustered", "bitmap/location": "+2"},
            {"sdk1": ("in_sync", "0", "sdk1"), "sdl1": ("in_sync", "1", "sdl1"),
             "sdm1": ("in_sync", "2", "sdm1"), "sdn1": ("in_sync", "3", "sdn1")}),
    "md127": ({"level": "container", "raid_disks": "0", "chunk_size": "0",
               "array_state": "inactive", "metadata_version": "external:imsm"},
              {"sdo": ("spare", "none", "sdo")}),
    "md126": ({"level": "raid1", "raid_disks": "2", "chunk_size": "65536",
               "array_state": "write-pending", "metadata_version": "external:/md127/0"},
              {"sdp": ("in_sync", "1", "sdp"), "sdq": ("in_sync", "0", "sdq")}),
}


def make_tree(root: Path, mdstat: str | bytes = MDSTAT, sysfs=SYSFS) -> Path:
    (root / "proc").mkdir(parents=True, exist_ok=True)
    data = mdstat.encode() if isinstance(mdstat, str) else mdstat
    (root / "proc/mdstat").write_bytes(data)
    for name, (attrs, members) in sysfs.items():
        md = root / "sys/block" / name / "md"
        md.mkdir(parents=True, exist_ok=True)
        for k, v in attrs.items():
            (md / k).parent.mkdir(parents=True, exist_ok=True)
            (md / k).write_text(v + "\n")
        for dev, (state, slot, devname) in members.items():
            d = md / f"dev-{dev}"
            d.mkdir()
            (d / "state").write_text(state + "\n")
            (d / "slot").write_text(slot + "\n")
            if devname:
                (d / "block").mkdir()
                (d / "block/uevent").write_text(f"MAJOR=8\nMINOR=1\nDEVNAME={devname}\n"
                                                "DEVTYPE=partition\n")
    return root


# ---- the oracle: osquery's parser in Python ---------------------------------------

def parse_action(line: str):
    p = osq_split(line, " ")
    if len(p) != 4:
        return None

    def strip_set(s, chars):
        i = 0
        while i < len(s) and s[i] in chars:
            i += 1
        return s[i:] if i < len(s) else s
    return {"progress": p[0] + " " + p[1], "finish": strip_set(p[2], "finish="),
            "speed": strip_set(p[3], "speed=")}


def parse_mdstat(text: str) -> dict:
    lines = osq_split(text, "\n")
    out = {"personalities": [], "devices": [], "unused": ""}
    if not lines:
        return out
    n = 0
    if "Personalities :" in lines[0]:
        out["personalities"] = [p[1:-1] for p in osq_split(lines[0][15:], " ") if len(p) > 2]
        n = 1
    while n < len(lines):
        line = lines[n]
        if len(line) < 2:
            n += 1
            continue
        if line[:2] == "md":
            pieces = osq_split(line, ":")
            if len(pieces) < 2:
                n += 1
                continue
            if n >= len(lines) - 1:
                break                       # osquery spins here forever
            dev = {"name": pieces[0], "status": "", "drives": [], "size": 0, "other": "",
                   "act": {}, "bitmap": None}
            settings = osq_split(":".join(pieces[1:]), " ")
            if len(settings) >= 2:
                dev["status"] = settings[0]
                for tok in settings[2:]:
                    b, e = tok.find("["), tok.find("]")
                    if b < 0 or e < 0 or b > e:
                        continue
                    try:
                        dev["drives"].append((tok[:b], int(tok[b + 1:e])))
                    except ValueError:
                        continue
            conf = osq_split(lines[n + 1], " \t")
            if len(conf) >= 4:
                if conf[1] == "blocks" and lead_int(conf[0]) is not None:
                    dev["size"] = lead_int(conf[0])
                dev["other"] = " ".join(conf[2:-2])
            n += 1
            terms = ["recovery =", "resync =", "resync=", "reshape =", "check =", "bitmap:"]
            while n < len(lines) - 1:
                nxt = lines[n + 1]
                for t in terms:
                    pos = nxt.find(t)
                    if pos >= 0 and len(nxt) > pos + len(t):
                        rest = nxt[pos + len(t):].strip()
                        if t == "resync=":
                            dev["act"]["resync"] = {"progress": rest}
                        elif t == "bitmap:":
                            parts = osq_split(rest, ",")
                            if len(parts) >= 2:
                                f = ""
                                if len(parts) > 2 and "file:" in parts[2]:
                                    f = parts[2][parts[2].find("file:") + 5:].strip()
                                dev["bitmap"] = (parts[0], parts[1], f)
                        else:
                            a = parse_action(rest)
                            if a:
                                dev["act"][t.split()[0]] = a
                        n += 1
                        break
                else:
                    break
            out["devices"].append(dev)
        elif line[:2] == "un" and len(line) > 16:
            out["unused"] = line[15:].strip()
        n += 1
    return out


def lead_int(s: str | None, lo=-2**63, hi=2**63 - 1):
    """strtoll's reading of s: the leading [+-]digits, None when there are
    none or the number is out of [lo, hi]."""
    import re
    m = re.match(r"[ \t\n\r\v\f]*([+-]?\d+)", s or "")
    if not m:
        return None
    v = int(m.group(1))
    return v if lo <= v <= hi else None


MAX_RAID_DISKS = 4096            # the C side's bound on md/raid_disks


LEVELS = {"linear": -1, "multipath": -4, "faulty": -5, "raid0": 0, "raid1": 1, "raid4": 4,
          "raid5": 5, "raid6": 6, "raid10": 10}


def attr(path: Path, limit: int = 127) -> str | None:
    """A sysfs attribute as the C side reads it: at most `limit` bytes, up
    to a NUL, ASCII-trimmed."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return None
    return data.split(b"\0")[0].decode("latin-1").strip(" \t\n\r\x0b\x0c")


def state_flags(d: Path) -> set[str]:
    return {w.strip(" \t\n\r\x0b\x0c") for w in (attr(d / "state", 511) or "").split(",")}


def members(md: Path) -> dict[str, set[str]]:
    out = {}
    for d in sorted(md.glob("dev-*")):
        out[d.name[4:]] = state_flags(d)
    return out


def metadata(root: Path, md: Path) -> str:
    v = attr(md / "metadata_version", 255) or ""
    if v.startswith("external:"):
        ext = v[9:]
        if ext.startswith("/"):
            cont = attr(root / "sys/block" / ext[1:].split("/")[0] / "md/metadata_version", 255)
            return cont[9:] if cont and cont.startswith("external:") and \
                not cont[9:].startswith("/") else ""
        return ext
    return "" if v in ("none", "") else v


def read_mdstat(root: Path) -> str:
    """/proc/mdstat as the C parser sees it: a NUL ends its own line."""
    data = (root / "proc/mdstat").read_bytes()
    return b"\n".join(ln.split(b"\0")[0] for ln in data.split(b"\n")).decode("latin-1")


def arrays(root: Path):
    """(mdstat, array, md sysfs dir) of the arrays the tables report."""
    st = parse_mdstat(read_mdstat(root))
    for dev in st["devices"]:
        md = root / "sys/block" / dev["name"] / "md"
        if "/" not in dev["name"] and md.is_dir():
            yield st, dev, md


def want_devices(root: Path) -> list[dict]:
    out = []
    for st, dev, md in arrays(root):
        m = members(md)
        level = attr(md / "level")
        clean = attr(md / "array_state", 255) in ("clean", "readonly", "read-auto", "broken")
        clustered = attr(md / "bitmap/metadata", 255) == "clustered"
        loc = attr(md / "bitmap/location", 255) or ""
        bitmap = loc[:1] in ("+", "-") and loc[1:].strip("0") != ""
        words = [w for w, on in (("clean", clean), ("clustered", clustered),
                                 ("bitmap_present", bitmap)) if on]
        r = {"device_name": dev["name"], "status": dev["status"],
             "raid_level": LEVELS.get(level, int(level) if level and level.lstrip("-").isdigit()
                                      and -2**31 <= int(level) < 2**31 else -1000000),
             "size": dev["size"], "chunk_size": lead_int(attr(md / "chunk_size")) or 0,
             "raid_disks": lead_int(attr(md / "raid_disks")) or 0,
             "nr_raid_disks": len(m),
             "working_disks": sum("faulty" not in s for s in m.values()),
             "active_disks": sum("faulty" not in s and "in_sync" in s for s in m.values()),
             "failed_disks": sum("faulty" in s for s in m.values()),
             "spare_disks": sum(not ({"faulty", "in_sync", "journal"} & s) for s in m.values()),
             "superblock_state": " ".join(words) or "unknown",
             "superblock_version": metadata(root, md), "superblock_update_time": None,
             "bitmap_on_mem": None, "bitmap_chunk_size": None, "bitmap_external_file": None,
             "other": dev["other"], "unused_devices": st["unused"]}
        for key, col in (("recovery", "recovery"), ("resync", "resync"),
                         ("reshape", "reshape"), ("check", "check_array")):
            a = dev["act"].get(key)
            for part in ("progress", "finish", "speed"):
                r[f"{col}_{part}"] = None
            if a and a.get("progress"):
                r[f"{col}_progress"] = a["progress"]
                r[f"{col}_finish"] = a.get("finish", "")
                r[f"{col}_speed"] = a.get("speed", "")
        if dev["bitmap"] and dev["bitmap"][0]:
            r["bitmap_on_mem"], r["bitmap_chunk_size"], r["bitmap_external_file"] = dev["bitmap"]
        out.append(r)
    return out


def want_drives(root: Path) -> list[dict]:
    out = []
    for _, dev, md in arrays(root):
        raid_disks = min(max(lead_int(attr(md / "raid_disks")) or 0, 0), MAX_RAID_DISKS)
        missing = list(range(raid_disks))
        removed = []
        rows_ = []
        for i in range(27):
            names = [nm for nm, nr in dev["drives"] if nr == i]
            if not names or not names[0] or "/" in names[0]:
                continue
            d = md / f"dev-{names[0]}"
            if not d.is_dir():
                continue
            flags = state_flags(d)
            ue = attr(d / "block/uevent", 4095)
            devname = None
            if ue:
                for ln in ue.splitlines():
                    if ln.startswith("DEVNAME=") and 0 < len(ln[8:]) < 256:
                        devname = "/dev/" + ln[8:]
                        break
            words = []
            if "faulty" in flags:
                words.append("faulty")
            elif "in_sync" in flags:
                words.append("active sync")
            words += [w for f, w in (("write_mostly", "writemostly"), ("failfast", "failfast"),
                                     ("journal", "journal")) if f in flags]
            r = {"md_device_name": dev["name"], "drive_name": devname or "unknown",
                 "slot": None, "state": " ".join(words) or "recovering"}
            slot = lead_int(attr(d / "slot", 63), 0, 2**31 - 1)
            if slot is not None:
                r["slot"] = slot
                missing = [s for s in missing if s != slot]
            elif i < raid_disks:
                r["slot"] = i
                missing = [s for s in missing if s != i]
            else:
                removed.append(len(rows_))
            rows_.append(r)
        extra = []
        for s in missing:
            if removed:
                rows_[removed.pop(0)]["slot"] = s
            else:
                extra.append({"md_device_name": dev["name"], "drive_name": "unknown",
                              "slot": s, "state": "removed"})
        out += rows_ + extra
    return out


# ---- tests ---------------------------------------------------------------------------

def test_md_personalities(conn, root, tmp_path):
    root(make_tree(tmp_path))
    got = rows(conn, "SELECT * FROM md_personalities")
    assert [r["name"] for r in got] == ["raid1", "raid6", "raid5", "raid4", "linear",
                                        "multipath", "raid0", "raid10"]


def test_md_devices_matches_oracle(conn, root, tmp_path):
    root(make_tree(tmp_path))
    got = rows(conn, "SELECT * FROM md_devices")
    assert got == want_devices(tmp_path)
    assert [r["device_name"] for r in got] == ["md1", "md0", "md2", "md3", "md127", "md126"]


def test_md_devices_values(conn, root, tmp_path):
    root(make_tree(tmp_path))
    by = {r["device_name"]: r for r in rows(conn, "SELECT * FROM md_devices")}
    md0 = by["md0"]
    assert (md0["status"], md0["raid_level"], md0["size"], md0["chunk_size"]) == (
        "active", 5, 5860270080, 524288)
    assert (md0["raid_disks"], md0["nr_raid_disks"], md0["working_disks"], md0["active_disks"],
            md0["failed_disks"], md0["spare_disks"]) == (4, 5, 4, 2, 1, 2)
    assert (md0["recovery_progress"], md0["recovery_finish"], md0["recovery_speed"]) == (
        "0.4% (8203264/1953423360)", "236.9min", "136849K/sec")
    assert (md0["bitmap_on_mem"], md0["bitmap_chunk_size"], md0["bitmap_external_file"]) == (
        "3/15 pages [12KB]", "65536KB chunk", "/var/lib/md0.bitmap")
    assert md0["superblock_state"] == "unknown"          # active, file bitmap
    assert md0["other"] == "super 1.2 level 5, 512k chunk, algorithm 2"
    assert md0["unused_devices"] == "<none>"
    assert by["md1"]["superblock_state"] == "clean bitmap_present"
    assert by["md1"]["bitmap_external_file"] == ""
    assert (by["md2"]["resync_progress"], by["md2"]["resync_finish"]) == ("DELAYED", "")
    assert by["md2"]["spare_disks"] == 0 and by["md2"]["superblock_state"] == "clean"
    # "finish=inf": every character is in osquery's "finish=" set, so it stays whole.
    assert (by["md3"]["check_array_progress"], by["md3"]["check_array_finish"]) == (
        "5.0% (1/20)", "finish=inf")
    assert by["md3"]["superblock_state"] == "clean clustered bitmap_present"
    assert by["md3"]["status"] == "active"
    assert (by["md127"]["raid_level"], by["md127"]["superblock_version"]) == (-1000000, "imsm")
    assert by["md127"]["other"] == ""
    assert (by["md126"]["superblock_version"], by["md126"]["reshape_finish"]) == ("imsm",
                                                                                  "1.0min")
    # No md block device under the fixture root: the ioctl-only update time is NULL.
    assert all(r["superblock_update_time"] is None for r in by.values())


def test_md_drives_matches_oracle(conn, root, tmp_path):
    root(make_tree(tmp_path))
    got = rows(conn, "SELECT * FROM md_drives")
    assert got == want_drives(tmp_path)


def test_md_drives_values(conn, root, tmp_path):
    root(make_tree(tmp_path))
    got = rows(conn, "SELECT * FROM md_drives WHERE md_device_name = 'md0'")
    # In mdstat number order 0..4: sdb1 [0] faulty without a slot takes
    # slot 0 by its number; sdf1 [5] is past raid_disks, without a slot,
    # and takes the one slot nobody holds (3).
    assert got == [
        {"md_device_name": "md0", "drive_name": "/dev/sdb1", "slot": 0, "state": "faulty"},
        {"md_device_name": "md0", "drive_name": "/dev/sdc1", "slot": 1,
         "state": "active sync writemostly"},
        {"md_device_name": "md0", "drive_name": "/dev/sdd1", "slot": 2, "state": "active sync"},
        {"md_device_name": "md0", "drive_name": "/dev/sde1", "slot": 0, "state": "recovering"},
        {"md_device_name": "md0", "drive_name": "/dev/sdf1", "slot": 3, "state": "recovering"}]
    md2 = rows(conn, "SELECT * FROM md_drives WHERE md_device_name = 'md2'")
    assert md2[0] == {"md_device_name": "md2", "drive_name": "unknown", "slot": 0,
                      "state": "active sync"}
    assert {"md_device_name": "md2", "drive_name": "/dev/sdg1", "slot": 3,
            "state": "active sync failfast"} in md2
    assert {"md_device_name": "md2", "drive_name": "/dev/sdi1", "slot": 1,
            "state": "journal"} in md2


def test_md_drives_removed_slots(conn, root, tmp_path):
    mdstat = ("Personalities : [raid1]\nmd9 : active raid1 sdx[2]\n"
              "      100 blocks super 1.2 [4/1] [__U_]\n\nunused devices: <none>\n")
    root(make_tree(tmp_path, mdstat, {"md9": ({"raid_disks": "4", "level": "raid1"},
                                              {"sdx": ("in_sync", "2", "sdx")})}))
    got = rows(conn, "SELECT slot, drive_name, state FROM md_drives")
    assert got == [{"slot": 2, "drive_name": "/dev/sdx", "state": "active sync"},
                   {"slot": 0, "drive_name": "unknown", "state": "removed"},
                   {"slot": 1, "drive_name": "unknown", "state": "removed"},
                   {"slot": 3, "drive_name": "unknown", "state": "removed"}]


def test_no_md(conn, root, tmp_path):
    root(tmp_path)
    for t in ("md_devices", "md_drives", "md_personalities"):
        assert rows(conn, f"SELECT * FROM {t}") == []
    # mdstat without the sysfs side: personalities only.
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/mdstat").write_text(MDSTAT)
    assert rows(conn, "SELECT * FROM md_devices") == []
    assert rows(conn, "SELECT * FROM md_drives") == []
    assert len(rows(conn, "SELECT * FROM md_personalities")) == 8


def test_live(conn):
    if Path("/proc/mdstat").exists():
        got = rows(conn, "SELECT * FROM md_devices")
        assert [r["device_name"] for r in got] == [
            d["name"] for d in parse_mdstat(Path("/proc/mdstat").read_text())["devices"]
            if Path("/sys/block", d["name"], "md").is_dir()]
        return
    for t in ("md_devices", "md_drives", "md_personalities"):
        assert rows(conn, f"SELECT * FROM {t}") == []
    pytest.skip("this kernel has no md driver (/proc/mdstat): fixtures cover the tables")


def hostile_mdstats():
    rnd = random.Random(77)
    yield "last-line-is-array", "Personalities : [raid1]\nmd1 : active raid1 sdb2[1]"
    yield "no-colon", "Personalities : [raid1]\nmd1 active raid1\n   100 blocks [1/1] [U]\n"
    yield "empty-rest", "md1 : \n 100 blocks a b\n"
    yield "truncated", MDSTAT[: len(MDSTAT) // 3]
    yield "binary", bytes(rnd.getrandbits(8) for _ in range(20000))
    yield "non-utf8", MDSTAT.encode().replace(b"sdb2", b"\xff\xfe2") + b"\nmd\xc3\x28 : x y\n"
    yield "nul-bytes", MDSTAT.encode().replace(b"\n", b"\0\n", 5)
    yield "bad-drives", ("md1 : active raid1 a[x] b] [c d[99999999999999] e[-1] f[27] g[26]\n"
                         "  x blocks [2/2]\n")
    yield "huge", "Personalities : " + "[p] " * 100000 + "\nmd1 : active " + "d[1] " * 50000 + \
        "\n 1 blocks " + "w " * 10000 + "\n"
    yield "status-storm", "md1 : active raid1 sdb2[1]\n 5 blocks [1/1] [U]\n" + \
        "  recovery = 1% (1/2) finish=1min speed=1K/sec\n" * 1000 + \
        "  bitmap: a\n  bitmap: a,b,c,d file:\n  resync =\n  check = 1 2 3 4 5\n"
    yield "personalities-only", "Personalities :"


@pytest.mark.parametrize("name,text", list(hostile_mdstats()),
                         ids=[n for n, _ in hostile_mdstats()])
def test_hostile_mdstat(conn, root, tmp_path, name, text):
    sysfs = {"md1": ({"level": "raid1", "raid_disks": "999999999999", "chunk_size": "x",
                      "array_state": "\xff"},
                     {"sdb2": ("in_sync", "-5", "sdb2"), "a": ("??", "9" * 40, None)}),
             "md0": SYSFS["md0"]}
    make_tree(tmp_path, text, sysfs)
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("latin-1")
    assert rows(conn, "SELECT * FROM md_devices") == want_devices(tmp_path)
    assert rows(conn, "SELECT * FROM md_drives") == want_drives(tmp_path)
    got = rows(conn, "SELECT * FROM md_personalities")
    assert [r["name"] for r in got] == parse_mdstat(read_mdstat(tmp_path))["personalities"]


def test_hostile_sysfs(conn, root, tmp_path):
    make_tree(tmp_path)
    md = tmp_path / "sys/block/md0/md"
    (md / "level").write_bytes(os.urandom(3000))
    (md / "array_state").unlink()
    os.mkfifo(md / "chunk_size.fifo")
    (md / "dev-sdd1/state").write_bytes(b"in_sync," * 5000)
    (md / "dev-sdc1/block/uevent").write_bytes(b"DEVNAME=" + b"y" * 10000 + b"\n")
    (md / "dev-sdb1/slot").unlink()
    (md / "dev-evil").mkdir()
    os.symlink("/dev/zero", md / "dev-evil/state")
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("latin-1")
    assert rows(conn, "SELECT * FROM md_devices") == want_devices(tmp_path)
    assert rows(conn, "SELECT * FROM md_drives") == want_drives(tmp_path)
