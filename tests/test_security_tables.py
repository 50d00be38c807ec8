"""msr, secureboot, selinux_settings, apparmor_profiles.

This host (a VM without EFI, msr driver, SELinux or AppArmor) has none of
their sources, so each table is checked against fixture trees under
OSQLITE_ROOT built as the kernel lays the files out (efivarfs' 4-byte
attribute prefix, selinuxfs' class/<c>/perms/<p>, apparmorfs' nested
profiles/), with osquery's algorithms (osquery/tables/system/linux/
model_specific_register.cpp, secureboot.cpp, selinux_settings.cpp,
apparmor_profiles.cpp) written out in Python as the oracle, and values
spelled out by hand.  The live tests check the tables are empty here, and
compare when the source exists.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from conftest import rows
from osquery_oracle import glob_recursive, read_nb

# ---- msr ------------------------------------------------------------------------

REGS = [("turbo_disabled", 0x1A0, 1 << 38, True), ("turbo_ratio_limit", 0x1AD, ~0, False),
        ("platform_info", 0xCE, ~0, False), ("perf_status", 0x198, ~0, False),
        ("perf_ctl", 0x199, 0xFFFF, False), ("feature_control", 0x3A, ~0, False),
        ("rapl_power_limit", 0x610, ~0, False), ("rapl_energy_status", 0x611, ~0, False),
        ("rapl_power_units", 0x606, ~0, False)]
COLS = ["processor_number"] + [r[0] for r in REGS]


def msr_file(values: dict[int, int], size=0x620) -> bytes:
    b = bytearray(size)
    for off, v in values.items():
        if off + 8 <= size:
            struct.pack_into("<Q", b, off, v & (2**64 - 1))
    return bytes(b)


def want_msr(cpu_dir: Path) -> list[dict]:
    out = []
    for name in reversed([n for n in os.listdir(cpu_dir) if n[:1].isdigit()]):
        path = cpu_dir / name / "msr"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            num = int("".join(ch for ch in name[:len(name) - len(name.lstrip("0123456789"))])
                      or 0)
            r = {"processor_number": num}
            for col, off, mask, flag in REGS:
                try:
                    data = os.pread(fd, 8, off)
                except OSError:
                    data = b""
                if len(data) != 8:
                    r[col] = None
                    continue
                v = struct.unpack("<Q", data)[0] & (mask & (2**64 - 1))
                v = int(bool(v)) if flag else v
                r[col] = v if v < 2**63 else None
            out.append(r)
        finally:
            os.close(fd)
    return out


def test_msr_fixture(conn, root, tmp_path):
    cpu = tmp_path / "dev/cpu"
    regs = {0x1A0: 1 << 38 | 0x850089, 0x1AD: 0x2323232323232323, 0xCE: 0x80838F3012300,
            0x198: 0x1D2700001D00, 0x199: 0xABCD1D00, 0x3A: 0x5, 0x610: 0x7FFF80015FFF8,
            0x611: 0x12345678, 0x606: 0xA0E03}
    for n in ("0", "1", "2", "3", "12abc"):
        (cpu / n).mkdir(parents=True)
    (cpu / "0/msr").write_bytes(msr_file(regs))
    (cpu / "1/msr").write_bytes(msr_file({0x1A0: 0x850089, 0xCE: 2**63 + 5}, size=0x200))
    (cpu / "2/msr").mkdir()                            # not a file: a row, no values
    (cpu / "12abc/msr").write_bytes(msr_file({0x3A: 1}))
    (cpu / "cpuid").mkdir()
    os.mkfifo(cpu / "3/msr")                           # must not hang
    root(tmp_path)
    got = rows(conn, "SELECT * FROM msr")
    assert got == want_msr(cpu)
    by = {r["processor_number"]: r for r in got}
    assert set(by) == {0, 1, 2, 3, 12}
    # (In a flat file registers 0x198/0x199 and 0x610/0x611 overlap, so
    # perf_status and rapl_power_limit hold mixed bytes: the oracle above
    # checks them.)
    r0 = {k: v for k, v in by[0].items() if k not in ("perf_status", "rapl_power_limit")}
    assert r0 == {"processor_number": 0, "turbo_disabled": 1,
                  "turbo_ratio_limit": 0x2323232323232323, "platform_info": 0x80838F3012300,
                  "perf_ctl": 0x1D00, "feature_control": 5,
                  "rapl_energy_status": 0x12345678, "rapl_power_units": 0xA0E03}
    assert by[1]["turbo_disabled"] == 0
    assert by[1]["platform_info"] is None          # bit 63 set: not a BIGINT
    assert by[1]["rapl_power_units"] is None       # past the end of the file
    assert all(by[2][c] is None for c in COLS[1:])
    assert all(by[3][c] is None for c in COLS[1:])  # the FIFO opens, reads nothing


def test_msr_live(conn):
    cpus = [p for p in Path("/dev/cpu").glob("[0-9]*/msr")] if Path("/dev/cpu").exists() else []
    got = rows(conn, "SELECT * FROM msr")
    if not cpus:
        assert got == []
        pytest.skip("no /dev/cpu/*/msr here: this kernel is built without the msr driver "
                    "(CONFIG_X86_MSR) and without module support; fixtures cover the table")
    assert got == want_msr(Path("/dev/cpu"))


# ---- secureboot ---------------------------------------------------------------

GUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"


def efivar(root: Path, name: str, data: bytes | None) -> None:
    d = root / "sys/firmware/efi/efivars"
    d.mkdir(parents=True, exist_ok=True)
    if data is not None:
        (d / f"{name}-{GUID}").write_bytes(data)


@pytest.mark.parametrize("sb,setup,want", [
    (b"\x06\x00\x00\x00\x01", b"\x06\x00\x00\x00\x00", (1, 0)),
    (b"\x06\x00\x00\x00\x00", b"\x06\x00\x00\x00\x01", (0, 1)),
    (b"\x06\x00\x00\x00\x02", b"\x06\x00\x00\x00\xff", (-1, -1)),
    (b"\x06\x00\x00\x00", b"\x06\x00\x00\x00\x01\x00", (None, None)),   # short, long
    (None, b"", (None, None)),                                             # missing, empty
])
def test_secureboot_fixture(conn, root, tmp_path, sb, setup, want):
    efivar(tmp_path, "SecureBoot", sb)
    efivar(tmp_path, "SetupMode", setup)
    root(tmp_path)
    got = rows(conn, "SELECT secure_boot, setup_mode, secure_mode, description, "
                     "kernel_extensions, mdm_operations FROM secureboot")
    # macOS columns: description (TEXT) '', the numbers NULL, as in osquery.
    assert got == [{"secure_boot": want[0], "setup_mode": want[1], "secure_mode": None,
                    "description": "", "kernel_extensions": None, "mdm_operations": None}]


def test_secureboot_bios_and_live(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM secureboot") == []      # no /sys/firmware/efi
    efivar(tmp_path, "SecureBoot", os.urandom(100000))
    assert rows(conn, "SELECT * FROM secureboot") == [{"secure_boot": None, "setup_mode": None}]


def test_secureboot_live(conn):
    got = rows(conn, "SELECT * FROM secureboot")
    if not Path("/sys/firmware/efi").is_dir():
        assert got == []
        pytest.skip("BIOS firmware (no /sys/firmware/efi): secureboot has no row here")
    want = []
    for name in ("SecureBoot", "SetupMode"):
        try:
            data = read_nb(f"/sys/firmware/efi/efivars/{name}-{GUID}")
        except OSError:
            data = b""
        want.append(None if len(data) != 5 else {0: 0, 1: 1}.get(data[4], -1))
    assert got == [{"secure_boot": want[0], "setup_mode": want[1]}]


# ---- selinux_settings -----------------------------------------------------------

ROOT_KEYS = ["checkreqprot", "deny_unknown", "enforce", "mls", "policyvers", "reject_unknown"]


def selinux_tree(root: Path, mount="/sys/fs/selinux", escaped=None) -> Path:
    fs = root / mount.lstrip("/")
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc/mounts").write_text(
        "sysfs /sys sysfs rw,nosuid 0 0\n"
        "# a comment\n"
        f"selinuxfs {escaped or mount} selinuxfs rw,nosuid,noexec,relatime 0 0\n"
        "selinuxfs /elsewhere selinuxfs rw 0 0\n")
    fs.mkdir(parents=True)
    for k, v in {"checkreqprot": "0", "deny_unknown": "0", "enforce": "1", "mls": "1",
                 "policyvers": "33"}.items():
        (fs / k).write_text(v)
    b = fs / "booleans"
    b.mkdir()
    (b / "httpd_can_network_connect").write_text("0 0")
    (b / "ssh_sysadm_login").write_text("1 1")
    (b / "pending_change").write_text("1 0")
    (b / ".hidden").write_text("1 1")
    pc = fs / "policy_capabilities"
    pc.mkdir()
    (pc / "network_peer_controls").write_text("1")
    (pc / "open_perms").write_text("0")
    ic = fs / "initial_contexts"
    ic.mkdir()
    (ic / "kernel").write_bytes(b"system_u:system_r:kernel_t:s0\x00")
    (ic / "unlabeled").write_bytes(b"system_u:object_r:unlabeled_t:s0\x00")
    cls = fs / "class"
    for c, perms in {"file": ["read", "write", "execute"], "process": ["fork", "sigkill"],
                     "dir": ["search"]}.items():
        (cls / c / "perms").mkdir(parents=True)
        (cls / c / "index").write_text("6")
        for p in perms:
            (cls / c / "perms" / p).write_text("1")
    (cls / "stray").write_text("x")                       # a file right in class/
    os.symlink("file", cls / "file_alias")                # a directory seen twice
    return fs


def glob_files(d: Path) -> list[str]:
    """osquery's listFilesInDirectory(d, recursive): the files of its glob."""
    return [p for p, is_dir in glob_recursive(d) if not is_dir]


def want_selinux(fs: Path) -> list[dict]:
    out = []
    for k in ROOT_KEYS:
        try:
            v = read_nb(fs / k).decode("latin-1")
        except OSError:
            v = None
        out.append({"scope": "", "key": k, "value": v})
    for scope in ("booleans", "policy_capabilities", "initial_contexts"):
        for p in glob_files(fs / scope):
            v = read_nb(p).decode("latin-1")
            if scope == "booleans":
                v = {"0 0": "off", "1 1": "on"}.get(v)
                if v is None:
                    continue
            out.append({"scope": scope, "key": p.rsplit("/", 1)[1], "value": v})
    base = str(fs / "class") + "/"
    for p in glob_files(fs / "class"):
        name = p.rsplit("/", 1)[1]
        if name == "index":
            continue
        i = len(p) - len(name)
        out.append({"scope": "class", "key": p[len(base):i - 1] if i > len(base) else
                    p[len(base):], "value": name})
    return out


def test_selinux_fixture(conn, root, tmp_path):
    fs = selinux_tree(tmp_path)
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("latin-1")
    got = rows(conn, "SELECT * FROM selinux_settings")
    assert got == want_selinux(fs)
    by = {(r["scope"], r["key"], r["value"]) for r in got}
    assert ("", "enforce", "1") in by and ("", "policyvers", "33") in by
    assert [r for r in got if r["key"] == "reject_unknown"] == [
        {"scope": "", "key": "reject_unknown", "value": None}]   # unreadable: the row stays
    assert ("booleans", "ssh_sysadm_login", "on") in by
    assert ("booleans", "httpd_can_network_connect", "off") in by
    assert not [r for r in got if r["key"] in ("pending_change", ".hidden")]
    assert ("initial_contexts", "kernel", "system_u:system_r:kernel_t:s0\x00") in by
    assert ("class", "file/perms", "read") in by and ("class", "dir/perms", "search") in by
    assert ("class", "stray", "stray") in by
    # file_alias points at file/, already walked: listed once.
    assert not [r for r in got if r["key"].startswith("file_alias")]
    assert len([r for r in got if r["key"] == "file/perms"]) == 3


def test_selinux_spec_example(conn, root, tmp_path):
    selinux_tree(tmp_path)
    root(tmp_path)
    # osquery's specs/linux/selinux_settings.table example.
    assert rows(conn, "SELECT * FROM selinux_settings WHERE key = 'enforce'") == [
        {"scope": "", "key": "enforce", "value": "1"}]


def test_selinux_escaped_mount_point(conn, root, tmp_path):
    fs = selinux_tree(tmp_path, "/sys/fs/se linux", "/sys/fs/se\\040linux")
    root(tmp_path)
    got = rows(conn, "SELECT * FROM selinux_settings")
    assert got == want_selinux(fs)


def test_selinux_absent(conn, root, tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/mounts").write_text("sysfs /sys sysfs rw 0 0\n")
    root(tmp_path)
    assert rows(conn, "SELECT * FROM selinux_settings") == []


def test_selinux_hostile(conn, root, tmp_path):
    fs = selinux_tree(tmp_path)
    (fs / "enforce").write_bytes(os.urandom(70000))
    (fs / "booleans/bin").write_bytes(b"\xff\xfe 1")
    os.mkfifo(fs / "policy_capabilities/fifo")
    deep = fs / "class/deep"
    for _ in range(70):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "leaf").write_text("x")
    os.symlink("/nonexistent", fs / "class/dangling")
    (fs / "initial_contexts/huge").write_bytes(b"u:r:t:" + b"s" * 200000)
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("latin-1")
    got = rows(conn, "SELECT * FROM selinux_settings")
    assert got == want_selinux(fs)
    # The leaf is past 64 levels.
    assert not [r for r in got if "leaf" in (r["value"] or "") or "leaf" in r["key"]]


def test_selinux_live(conn):
    mounts = Path("/proc/mounts").read_text().splitlines()
    if not any(ln.split()[2:3] == ["selinuxfs"] for ln in mounts):
        assert rows(conn, "SELECT * FROM selinux_settings") == []
        pytest.skip("SELinux is not enabled on this kernel (no selinuxfs mount)")
    fs = next(Path(ln.split()[1]) for ln in mounts if ln.split()[2:3] == ["selinuxfs"])
    conn.text_factory = lambda b: b.decode("latin-1")
    assert rows(conn, "SELECT * FROM selinux_settings") == want_selinux(fs)


# ---- apparmor_profiles ----------------------------------------------------------

PROFILES = Path("sys/kernel/security/apparmor/policy/profiles")


def profile(d: Path, name: str, mode="enforce", attach=None, sha256=None, sha1=None,
            skip=()) -> Path:
    d.mkdir(parents=True)
    files = {"name": name + "\n", "mode": mode + "\n", "attach": (name if attach is None else attach) + "\n"}
    if sha256 is not None:
        files["sha256"] = sha256 + "\n"
    if sha1 is not None:
        files["sha1"] = sha1 + "\n"
    for k, v in files.items():
        if k not in skip:
            (d / k).write_text(v)
    return d


def apparmor_tree(root: Path) -> Path:
    base = root / PROFILES
    h = "ab" * 32
    profile(base / "usr.sbin.cupsd.3", "/usr/sbin/cupsd", sha256=h, sha1="11" * 20)
    p = profile(base / "firefox.7", "firefox", mode="complain", attach="/usr/lib/firefox/firefox",
                sha1="cd" * 20)
    kid = profile(p / "profiles/sanitized_helper.8", "sanitized_helper", sha256="01" * 32)
    profile(kid / "profiles/grandchild.9", "grandchild", mode="complain", sha256="02" * 32)
    profile(p / "profiles/lsb_release.10", "lsb_release", sha256="03" * 32)
    profile(base / "broken.4", "broken", sha256=h, skip=("mode",))      # skipped, with kids
    profile(base / "broken.4/profiles/orphan.5", "orphan", sha256=h)
    profile(base / "nohash.6", "nohash")                                # neither hash: skipped
    b = profile(base / "badkids.11", "badkids", sha256=h)
    (b / "profiles").write_text("not a directory")                      # dropped, as osquery
    d = profile(base / "dangling.12", "dangling", sha256=h)
    os.symlink("/nowhere", d / "profiles")                              # ignored
    profile(base / ".hidden.13", "hidden", sha256=h)
    (base / "plainfile").write_text("x")
    profile(base / "unconfined.2", "unconfined", mode="unconfined", attach="", sha256=h)
    # glob sorts the marked names: "zz.1/" comes before "zz/".
    profile(base / "zz", "zz", sha256=h)
    profile(base / "zz.1", "zz1", sha256=h)
    return base


def want_apparmor(base: Path) -> list[dict]:
    def read(d, n):
        try:
            return read_nb(d / n).decode("latin-1").strip(" \t\n\r\x0b\x0c")
        except OSError:
            return None

    def dirs(d):
        # glob(3) of d/*, directories only: sorted as the marked "name/".
        try:
            names = [n for n in os.listdir(d) if not n.startswith(".")]
        except OSError:
            return []
        return [d / n for n in sorted((n for n in names if (d / n).is_dir()),
                                      key=lambda n: n + "/")]

    stack = [("", p) for p in dirs(base)]
    out, seen = [], set()
    while stack:
        parent, d = stack.pop()
        st = d.stat()
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        vals = {k: read(d, k) for k in ("attach", "mode", "name")}
        if None in vals.values():
            continue
        sha256, sha1 = read(d, "sha256"), None
        if sha256 is None:
            sha1 = read(d, "sha1")
            if sha1 is None:
                continue
        sub = d / "profiles"
        if sub.exists():
            if not sub.is_dir():
                continue
            stack += [(vals["name"], k) for k in dirs(sub)]
        out.append({"path": (parent + "//" if parent else "") + vals["name"],
                    "name": vals["name"], "attach": vals["attach"], "mode": vals["mode"],
                    "sha1": sha1 or "", "sha256": sha256 or ""})
    return out


def test_apparmor_fixture(conn, root, tmp_path):
    base = apparmor_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM apparmor_profiles")
    assert got == want_apparmor(base)
    assert [r["path"] for r in got] == [
        "zz", "zz1", "/usr/sbin/cupsd", "unconfined", "firefox", "firefox//sanitized_helper",
        "sanitized_helper//grandchild", "firefox//lsb_release", "dangling"]
    by = {r["name"]: r for r in got}
    assert (by["/usr/sbin/cupsd"]["sha256"], by["/usr/sbin/cupsd"]["sha1"]) == ("ab" * 32, "")
    assert (by["firefox"]["sha256"], by["firefox"]["sha1"]) == ("", "cd" * 20)
    assert by["firefox"]["attach"] == "/usr/lib/firefox/firefox"
    assert by["unconfined"]["attach"] == ""


def test_apparmor_spec_example(conn, root, tmp_path):
    apparmor_tree(tmp_path)
    root(tmp_path)
    # osquery's specs/linux/apparmor_profiles.table example.
    got = rows(conn, "SELECT * FROM apparmor_profiles WHERE mode = 'complain'")
    assert [r["path"] for r in got] == ["firefox", "sanitized_helper//grandchild"]


def test_apparmor_hostile(conn, root, tmp_path):
    base = apparmor_tree(tmp_path)
    (base / "usr.sbin.cupsd.3/name").write_bytes(b"\xff\xfe\x80 name")
    (base / "firefox.7/attach").write_bytes(os.urandom(100000).replace(b"\0", b"x"))
    (base / "unconfined.2/sha256").unlink()
    os.mkfifo(base / "unconfined.2/sha256")
    # A profiles/ link back to its own profile: osquery would push the
    # same directory forever; a directory is walked once.
    loop = profile(base / "loop.20", "loop", sha256="00" * 32)
    (loop / "profiles").mkdir()
    os.symlink("..", loop / "profiles/back")
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("latin-1")
    got = rows(conn, "SELECT * FROM apparmor_profiles")
    assert got == want_apparmor(base)
    assert [r["path"] for r in got].count("loop") == 1
    assert "\xff\xfe\x80 name" in [r["name"] for r in got]


def test_apparmor_absent(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM apparmor_profiles") == []


def test_apparmor_live(conn):
    base = Path("/") / PROFILES
    got = rows(conn, "SELECT * FROM apparmor_profiles")
    if not base.is_dir():
        assert got == []
        pytest.skip("AppArmor is not enabled on this kernel (no apparmorfs profiles)")
    assert got == want_apparmor(base)
