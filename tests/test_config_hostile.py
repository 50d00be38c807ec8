"""The hostile input corpus: malformed flagfiles and configs, FIFOs and devices
where files belong.  Every case ends with its one-line message and the exit
code osquery would give; none raises (no traceback), none hangs (SIGALRM),
none creates anything beside the paths it was given, and /dev/null stays a
character device.  The cases are in tests/hostile_runner.py, run in one
subprocess under a timeout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_runner import CASES, HANG_SECONDS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "hostile_runner.py"), str(work)],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60 + HANG_SECONDS * len(CASES))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_gives_one_line_and_the_right_exit_code(report, name):
    r = report[name]
    assert "traceback" not in r, r["traceback"]
    assert not r.get("hang"), f"{name} did not finish within {HANG_SECONDS} s"
    assert "Traceback" not in r["stderr"]
    assert r["code"] == r["expect_code"], r
    lines = [ln for ln in r["stderr"].splitlines() if r["expect"] in ln]
    assert len(lines) == 1, r["stderr"]       # said once, on one line
    # The message is one line; with the glog prefix, or bare for an exit message.
    assert all(len(ln) < 1000 for ln in lines)
    # A failure creates nothing next to the paths it was given.
    if r["code"] != 0:
        assert r["created"] == [], r["created"]


def test_dev_null_is_still_a_character_device(report):
    assert report["__dev_null__"] == {"is_char_device": True, "journal": False}
