"""The sanitizer pass: build/osqlite-asan is the extension linked with
AddressSanitizer and UBSan (tests/cdriver, `make asan`).  driver() builds it
once per test session; run_asan(root, sql...) runs statements through it on
a fixture tree (or the live system with root=None) and fails on any
sanitizer report."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_built: list[Path] = []


def driver() -> Path:
    if _built:
        return _built[0]
    if shutil.which("make") is None or shutil.which("gcc") is None:
        pytest.skip("the sanitizer driver needs make and gcc")
    if not (REPO / "Makefile").exists():
        pytest.skip("the sanitizer driver is built from a source checkout")
    subprocess.run(["make", "-s", "asan"], cwd=REPO, check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    _built.append(REPO / "build" / "osqlite-asan")
    return _built[0]


def run_asan(root, *sqls: str) -> str:
    env = dict(os.environ)
    env.pop("OSQLITE_ROOT", None)
    if root is not None:
        env["OSQLITE_ROOT"] = str(root)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    r = subprocess.run([str(driver()), "-q", *sqls], capture_output=True, text=True,
                       env=env, timeout=600)
    report = r.stdout + r.stderr
    assert r.returncode == 0, report[-4000:]
    assert "AddressSanitizer" not in report and "runtime error" not in report, \
        report[-4000:]
    return report
