"""The real daemon against hostile queries and data.

* schedule_timeout stops a long table call: a 2 s limit used to let a `hash`
  of a large file run to its end (44 s for 8 GB), as the timeout only acted
  between VDBE opcodes.  The measure is the bytes the daemon read (rchar of
  /proc/PID/io): far fewer than the file holds.
* osquery's authorizer: a scheduled, discovery or decorator query cannot
  ATTACH a database (which creates the file) or run DDL osquery refuses.
* Command lines that are not UTF-8 are logged with osquery's \\xHH escapes.
"""
from __future__ import annotations

from pathlib import Path

from daemon_harness import Daemon, wait_for

TICK = {"query": "SELECT 1 AS t", "interval": 1, "snapshot": True}


def daemon_rchar(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


def test_schedule_timeout_stops_a_hash_of_a_huge_file(tmp_path):
    big = tmp_path / "huge.img"
    with open(big, "wb") as f:
        f.truncate(8 << 30)             # 8 GiB, sparse
    tick = TICK
    d = Daemon(tmp_path, {"options": {"schedule_timeout": "2", "worker_threads": "2"},
                          "schedule": {
                              "bighash": {"query": f"SELECT md5, sha1, sha256 FROM hash "
                                                   f"WHERE path = '{big}'", "interval": 1},
                              "tick": tick}})
    d.start()
    try:
        wait_for(lambda: "exceeded schedule_timeout" in d.warning(), timeout=60,
                 what="the timeout warning", daemon=d)
        assert d.proc is not None
        read = daemon_rchar(d.proc.pid)
        assert "bighash" in d.warning() and "denylisted" in d.warning()
        assert d.results("bighash") == []
        assert read < 4 << 30, f"the daemon read {read} bytes of an 8 GiB file"
        # The worker connection is usable afterwards: ticks go on.
        start = len(d.snapshots("tick"))
        wait_for(lambda: len(d.snapshots("tick")) >= start + 2, what="more ticks", daemon=d)
    finally:
        assert d.stop() == 0


def test_config_sql_cannot_attach_or_alter(tmp_path):
    pwn = tmp_path / "pwn"
    pwn.mkdir()
    files = {k: pwn / f"{k}.db" for k in ("sched", "snap", "disc", "deco")}
    cfg = {
        "options": {"worker_threads": "2"},
        "decorators": {"load": [f"ATTACH DATABASE '{files['deco']}' AS d"]},
        "schedule": {
            "attach": {"query": f"ATTACH DATABASE '{files['sched']}' AS p", "interval": 1},
            "attach_snap": {"query": f"ATTACH '{files['snap']}' AS q",
                            "interval": 1, "snapshot": True},
            "analyze": {"query": "ANALYZE", "interval": 1},
            "pragma": {"query": "PRAGMA writable_schema = 1", "interval": 1},
            "tick": TICK,
        },
        "packs": {"p": {"discovery": [f"ATTACH DATABASE '{files['disc']}' AS x"],
                        "queries": {"q": {"query": "SELECT 1 AS one", "interval": 1}}}},
    }
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        start = len(d.snapshots("tick"))
        wait_for(lambda: len(d.snapshots("tick")) >= start + 3, what="three ticks", daemon=d)
        err = d.text("osqueryd.ERROR") + d.warning()
        assert "Authorizer denied action 24" in err, d.dump()
        assert list(pwn.iterdir()) == []
        for name in ("attach", "attach_snap", "analyze", "pragma"):
            assert d.results(name) == [] and d.snapshots(name) == []
        assert "not authorized" in d.text("osqueryd.ERROR") or "not authorized" in d.info()
    finally:
        assert d.stop() == 0


def test_non_utf8_command_line_logged_escaped(tmp_path):
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                          b"arg-\xff\xfe-\xc3\x28"])
    try:
        d = Daemon(tmp_path, {"schedule": {
            "procs": {"query": f"SELECT pid, cmdline FROM processes WHERE pid = {p.pid}",
                      "interval": 1},
            "allprocs": {"query": "SELECT * FROM processes", "interval": 1}}})
        d.start()
        try:
            line = d.wait_results("procs", 1)[0]
            cmd = line["columns"]["cmdline"]
            assert cmd.endswith("arg-\\xFF\\xFE-\\xC3(")
            d.wait_results("allprocs", 1)
            assert "Could not decode" not in d.text("osqueryd.ERROR") + d.warning()
        finally:
            assert d.stop() == 0
    finally:
        p.kill()
        p.wait()
