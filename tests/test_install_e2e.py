"""`python -m osqlite.extension --install` with its default prefix, for real:
/usr/local/lib and ldconfig, then `.load osqlite` from a directory that has
no library in it, in the sqlite3 shell and in another SQLite host (Debian's
python3 and its load_extension), then --uninstall, which must leave the
machine as it was.  Needs root (ldconfig); a test in test_sqltools.py does
the same in a temporary prefix for everyone."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from osqlite import install

LIBDIR = Path(install.DEFAULT_PREFIX) / "lib"
MANIFEST = Path(install.DEFAULT_PREFIX, *install.MANIFEST_DIR, install.MANIFEST)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}


def test_default_install_makes_the_bare_name_load_everywhere(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("installs into /usr/local/lib and runs ldconfig: needs root")
    shell = shutil.which("sqlite3")
    if shell is None:
        pytest.skip("the sqlite3 shell is not installed (Debian package sqlite3)")
    present = [str(p) for p in (LIBDIR / "libosqlite.so", LIBDIR / "osqlite.so", MANIFEST)
               if os.path.lexists(p)]
    if present:
        pytest.skip(f"osqlite is already installed here ({', '.join(present)}): "
                    "not touching someone's install")
    before = sorted(os.listdir(LIBDIR)) if LIBDIR.exists() else None
    share_before = Path(install.DEFAULT_PREFIX, "share").exists()
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    root_name = pwd.getpwuid(0).pw_name
    try:
        proc = subprocess.run([sys.executable, "-m", "osqlite.extension", "--install"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "`.load osqlite` now loads /usr/local/lib/libosqlite.so" in proc.stdout
        res = subprocess.run([shell, ":memory:", ".load osqlite",
                              "SELECT username FROM users WHERE uid = 0"],
                             cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == [root_name]
        debian = "/usr/bin/python3"
        if os.path.exists(debian):
            code = ("import sqlite3; c = sqlite3.connect(':memory:'); "
                    "c.enable_load_extension(True); c.load_extension('osqlite'); "
                    "print(c.execute('SELECT username FROM users WHERE uid = 0').fetchone()[0])")
            res = subprocess.run([debian, "-I", "-c", code], cwd=cwd, env=_clean_env(),
                                 capture_output=True, text=True, timeout=60)
            assert res.returncode == 0, res.stderr
            assert res.stdout.split() == [root_name]
        # Re-running (an upgrade) is safe and still loads.
        proc = subprocess.run([sys.executable, "-m", "osqlite.extension", "--install"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    finally:
        proc = subprocess.run([sys.executable, "-m", "osqlite.extension", "--uninstall"],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (sorted(os.listdir(LIBDIR)) if LIBDIR.exists() else None) == before
    assert not MANIFEST.parent.exists()
    assert Path(install.DEFAULT_PREFIX, "share").exists() == share_before
    res = subprocess.run([shell, ":memory:", ".load osqlite"], cwd=cwd, env=_clean_env(),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "osqlite" in res.stderr
    assert install.resolve_bare_name(_clean_env()) is None
