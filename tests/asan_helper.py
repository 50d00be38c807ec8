"""Optional sanitizer pass over a fixture tree: when OSQLITE_ASAN names the
build/osqlite-asan driver (`make asan`), run_asan(root, sql...) runs the C
code under AddressSanitizer/UBSan on the same tree the test just built.

    OSQLITE_ASAN=build/osqlite-asan python3 -m pytest tests/test_sockets.py
"""
from __future__ import annotations

import os
import subprocess


def run_asan(root, *sqls: str) -> None:
    exe = os.environ.get("OSQLITE_ASAN")
    if not exe:
        return
    env = dict(os.environ)
    if root is not None:
        env["OSQLITE_ROOT"] = str(root)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    r = subprocess.run([exe, "-q", *sqls], capture_output=True, text=True,
                       env=env, timeout=600)
    report = r.stdout + r.stderr
    assert r.returncode == 0, report[-4000:]
    assert "AddressSanitizer" not in report and "runtime error" not in report, \
        report[-4000:]
