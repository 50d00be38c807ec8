"""The wheel: built from a copy of the tree with a stale library planted in
it, tagged py3-none-<platform>, installed into fresh virtualenvs of every
Python on the machine, queried (tools/wheel_smoke.py does the work).

.ci/run runs tools/wheel_smoke.py as a step of its own on the clean clone
and sets OSQLITE_WHEEL_SMOKE_DONE, so the suite does not build it twice."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_wheel_builds_from_source_and_installs_everywhere():
    if os.environ.get("OSQLITE_WHEEL_SMOKE_DONE"):
        pytest.skip("CI ran tools/wheel_smoke.py as its own step")
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: tools/wheel_smoke.py copies the tracked files")
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "wheel_smoke.py")],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    assert "py3-none-linux_" in proc.stdout
    assert "route auto_extension" in proc.stdout or "route load_extension" in proc.stdout
    assert proc.stdout.rstrip().endswith("wheel smoke test: passed")
