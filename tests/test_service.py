"""conf/osqlite.service: a valid unit (systemd-analyze verify) that runs the
installed osqlited, reads /etc/osquery/osquery.flags only when present, and
keeps the hardening a host sensor can live with."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = (REPO / "conf" / "osqlite.service").read_text()


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def exec_start() -> str:
    [line] = settings()["ExecStart"]
    return line


def test_unit_runs_the_installed_osqlited_with_osquerys_limits():
    s = settings()
    assert "/opt/osqlite/bin/osqlited" in exec_start()
    assert "/opt/osqlite" in (REPO / "Makefile").read_text()   # where make install puts it
    assert s["CPUQuota"] == ["20%"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    # Hardening that would hide what the tables read is absent.
    for forbidden in ("ProtectProc", "ProcSubset", "PrivateDevices", "PrivateTmp", "PrivateNetwork",
                      "DynamicUser", "User", "MemoryDenyWriteExecute"):
        assert forbidden not in s, forbidden
    assert s["ProtectSystem"] == ["full"] and s["ProtectHome"] == ["read-only"]
    assert "AF_NETLINK" in s["RestrictAddressFamilies"][0]
    caps = s["CapabilityBoundingSet"][0].split()
    for cap in ("CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE", "CAP_AUDIT_CONTROL", "CAP_AUDIT_READ",
                "CAP_NET_ADMIN", "CAP_SETUID", "CAP_SETGID"):
        assert cap in caps, cap


def shell_command(binary: str, flagfile: Path, config: str) -> list[str]:
    """The ExecStart shell line as systemd runs it ($$ is a literal $)."""
    m = re.fullmatch(r"/bin/sh -c '(.*)'", exec_start())
    assert m, exec_start()
    script = (m.group(1).replace("$$", "$").replace("/opt/osqlite/bin/osqlited", binary)
              .replace("/etc/osquery/osquery.flags", str(flagfile))
              .replace("/var/osquery/osqueryd.conf", config))
    return ["/bin/sh", "-c", script]


def test_the_flagfile_is_read_only_when_present(tmp_path):
    flagfile = tmp_path / "osquery.flags"
    absent = subprocess.run(shell_command("/bin/echo", flagfile, "/c.conf"), capture_output=True,
                            text=True, timeout=10)
    assert absent.stdout == "--config_path=/c.conf\n"
    flagfile.write_text("--config_check\n")
    present = subprocess.run(shell_command("/bin/echo", flagfile, "/c.conf"), capture_output=True,
                             text=True, timeout=10)
    assert present.stdout == f"--flagfile={flagfile} --config_path=/c.conf\n"
    osqlited = Path(sys.executable).parent / "osqlited"
    if not osqlited.exists():
        pytest.skip(f"osqlited is not installed next to {sys.executable} (pip install -e .)")
    config = tmp_path / "c.conf"
    config.write_text('{"schedule": {"a": {"query": "SELECT 1", "interval": 60}}}')
    real = subprocess.run(shell_command(str(osqlited), flagfile, str(config)), capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert real.returncode == 0, real.stderr


def test_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd; .ci/run installs it)")
    unit = tmp_path / "osqlite.service"
    unit.write_text(UNIT)
    res = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "osqlite.service" not in res.stderr, res.stderr
