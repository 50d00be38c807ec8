"""The real daemon's schedule_timeout stops a long table call.

A 2 s schedule_timeout used to let a `hash` of a large file run to its end
(44 s for 8 GB): the timeout only acted between VDBE opcodes.  The daemon
now interrupts the connection from a timer and the hash loop notices.  The
measure is the bytes the daemon read (rchar of /proc/PID/io): far fewer
than the file holds.
"""
from __future__ import annotations

from pathlib import Path

from daemon_harness import Daemon, wait_for


def daemon_rchar(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


def test_schedule_timeout_stops_a_hash_of_a_huge_file(tmp_path):
    big = tmp_path / "huge.img"
    with open(big, "wb") as f:
        f.truncate(8 << 30)             # 8 GiB, sparse
    tick = {"query": "SELECT 1 AS t", "interval": 1, "snapshot": True}
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
