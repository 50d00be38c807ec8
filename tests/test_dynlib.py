"""Tables that load a system library on first use fail their query with a
message naming the Debian package when the library is missing.  The
library is hidden for real: in a private mount namespace (unshare -m)
/dev/null is bound over it, so dlopen fails exactly as on a machine
without it.  The sanitizer driver runs the query: it links neither
libcrypto, libz nor libcap (the Python interpreter needs libz itself)."""
from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from asan_helper import driver
from conftest import searchable
from test_packages import write


def setup_key(tmp_path: Path) -> str:
    write(tmp_path / "home/dev/.ssh/id_x",
          "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    return "SELECT * FROM user_ssh_keys WHERE uid = 1000"


def setup_jar(tmp_path: Path) -> str:
    p = tmp_path / "home/dev/.local/share/JetBrains/IdeaIC2024.1/p.jar"
    p.parent.mkdir(parents=True)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/plugin.xml", "<name>x</name>" * 10)
    return "SELECT * FROM jetbrains_plugins WHERE uid = 1000"


def setup_cap(tmp_path: Path) -> str:
    f = tmp_path / "capbin"
    f.write_bytes(b"")
    # A v2 vfs_cap_data: cap_net_raw (13) permitted and effective.
    os.setxattr(f, "security.capability",
                bytes.fromhex("01000002") + (1 << 13).to_bytes(4, "little") + bytes(12))
    return f"SELECT * FROM extended_attributes WHERE path = '{f}'"


def setup_device(tmp_path: Path) -> str:
    return f"SELECT * FROM device_partitions WHERE device = '{tmp_path / 'none.img'}'"


CASES = {
    "device_partitions": ("libtsk.so.19", "libtsk19", setup_device),
    "user_ssh_keys": ("libcrypto.so.3", "libssl3", setup_key),
    "jetbrains_plugins": ("libz.so.1", "zlib1g", setup_jar),
    "extended_attributes": ("libcap.so.2", "libcap2", setup_cap),
}


def real_path(soname: str) -> str | None:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.strip().split(" => ")
        if len(parts) == 2 and parts[0].split(" ")[0] == soname and "x86-64" in parts[0]:
            return os.path.realpath(parts[1])
    return None


@pytest.mark.parametrize("table", sorted(CASES))
def test_missing_library_names_the_package(tmp_path, table):
    soname, package, setup = CASES[table]
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("hiding a library needs root and unshare (util-linux)")
    lib = real_path(soname)
    if lib is None:
        pytest.skip(f"{soname} is not installed here, nothing to hide")
    write(tmp_path / "etc/passwd", "dev:x:1000:1000::/home/dev:/bin/sh\n")
    sql = setup(tmp_path)
    drv = str(driver())
    env = dict(os.environ, OSQLITE_ROOT=str(searchable(tmp_path)), ASAN_OPTIONS="detect_leaks=1")
    # Without the mount the query works...
    ok = subprocess.run([drv, "-q", sql], capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0 and "error:" not in ok.stdout + ok.stderr, ok.stdout + ok.stderr
    r = subprocess.run(["unshare", "-m", "sh", "-c",
                        'mount --bind /dev/null "$0" && exec "$1" -q "$2"', lib, drv, sql],
                       capture_output=True, text=True, env=env, timeout=60)
    out = r.stdout + r.stderr
    if "mount:" in out:
        pytest.skip(f"cannot make a private mount here: {out.strip()}")
    # ... and without the library it fails, naming the package.
    assert "AddressSanitizer" not in out and "1 statement(s) failed" in out, out
    assert f"{table}:" in out and f"install the Debian package {package}" in out, out
