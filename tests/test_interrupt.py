"""sqlite3_interrupt() stops work inside one table call.

SQLite looks at its interrupt flag between VDBE opcodes, never while a
virtual table's xFilter runs, and sqlite3_is_interrupted() only exists from
SQLite 3.41 (this machine has 3.40).  osqlite's generators probe the flag
themselves (osq_check_interrupt, csrc/engine.c).  The interrupt is raised
here with Connection.interrupt(), as the daemon's schedule_timeout and the
shell's Ctrl-C do: from inside the statement (a SQL function evaluated
before the table runs) or from another thread.  What is asserted is the work
done after the interrupt (bytes read, CPU time against the same query left
to finish), not wall time.
"""
from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

import pytest
from conftest import rows

import osqlite
from osqlite._sqlite import sqlite3


def rchar() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def thread_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def armed(conn: sqlite3.Connection) -> sqlite3.Connection:
    """arm(x) interrupts the statement it is part of and returns x.  Used for
    a constraint value (WHERE path = arm(?)), it runs before the table's
    generator: the generator then starts with the interrupt pending."""
    def arm(x):
        conn.interrupt()
        return x
    conn.create_function("arm", 1, arm)
    return conn


def interrupted(conn: sqlite3.Connection, sql: str, *params) -> None:
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        conn.execute(sql, params).fetchall()


def stops_early(conn: sqlite3.Connection, full_sql: str, armed_sql: str, *params) -> int:
    """full_sql left to finish, then armed_sql (the same scan with arm() in a
    constraint): the interrupted run must use a small part of the CPU time
    (thread CPU, not wall time: another load on the machine does not count)."""
    t0 = thread_cpu()
    n = len(conn.execute(full_sql).fetchall())
    t_full = thread_cpu() - t0
    t0 = thread_cpu()
    interrupted(conn, armed_sql, *params)
    t_int = thread_cpu() - t0
    assert t_int < t_full / 4, (t_int, t_full)
    return n


@pytest.fixture
def big_file(tmp_path) -> Path:
    """A 4 GiB sparse file: reading it is fast, hashing all of it is not."""
    p = tmp_path / "big.img"
    with open(p, "wb") as f:
        f.truncate(4 << 30)
    return p


def test_hash_stops_reading(big_file):
    conn = armed(osqlite.connect())
    before = rchar()
    interrupted(conn, "SELECT md5, sha256 FROM hash WHERE path = arm(?)", str(big_file))
    read = rchar() - before
    assert read < 256 << 20, f"read {read} bytes of {big_file.stat().st_size} after the interrupt"
    # The connection is fine afterwards (the flag is cleared with the statement).
    small = big_file.with_name("small")
    small.write_bytes(b"abc")
    assert rows(conn, "SELECT md5 FROM hash WHERE path = ?", str(small)) == [
        {"md5": "900150983cd24fb0d6963f7d28e17f72"}]


def test_hash_interrupted_from_another_thread(big_file):
    conn = osqlite.connect(check_same_thread=False)
    result: dict = {}

    def run() -> None:
        try:
            result["rows"] = conn.execute("SELECT md5 FROM hash WHERE path = ?",
                                          (str(big_file),)).fetchall()
        except sqlite3.OperationalError as exc:
            result["error"] = str(exc)

    before = rchar()
    t = threading.Thread(target=run)
    t.start()
    # Interrupt once the hash is under way (some bytes read), as a timer would.
    while rchar() - before < 8 << 20 and t.is_alive():
        threading.Event().wait(0.005)
    conn.interrupt()
    t.join(120)
    assert not t.is_alive()
    assert result == {"error": "interrupted"}
    assert rchar() - before < 2 << 30


def test_file_walk_stops():
    """A recursive walk of /usr, interrupted at once, uses a small part of
    the CPU time the same walk takes when left to finish."""
    conn = armed(osqlite.connect())
    assert stops_early(conn, "SELECT path FROM file WHERE path LIKE '/usr/%%'",
                       "SELECT path FROM file WHERE path LIKE arm('/usr/%%')") > 1000


def test_suid_bin_walk_stops(tmp_path, root):
    """suid_bin walks /tmp of the root: 30,000 entries there.  (A
    pid_with_namespace of 0 is no namespace: it only carries arm().)"""
    tmp = tmp_path / "tmp"
    for i in range(300):
        d = tmp / f"d{i}"
        d.mkdir(parents=True)
        for j in range(100):
            (d / f"f{j}").touch()
    root(tmp_path)
    conn = armed(osqlite.connect())
    assert conn.execute("SELECT count(*) FROM suid_bin").fetchone()[0] == 0
    stops_early(conn, "SELECT path FROM suid_bin",
                "SELECT path FROM suid_bin WHERE pid_with_namespace = arm(0)")


def test_sleep_is_interruptible():
    conn = osqlite.connect(check_same_thread=False)
    result: dict = {}

    def run() -> None:
        try:
            result["rows"] = conn.execute("SELECT sleep(3600)").fetchall()
        except sqlite3.OperationalError as exc:
            result["error"] = str(exc)

    t = threading.Thread(target=run)
    t.start()
    threading.Event().wait(0.2)
    conn.interrupt()
    t.join(60)            # a bound on a hang, not a speed requirement
    assert not t.is_alive()
    assert result == {"error": "interrupted"}


def test_every_row_producing_generator_notices(tmp_path, root):
    """osq_row looks at the flag every 256 rows: a table with many rows and
    no loop of its own (shell_history of a huge file) stops too."""
    home = tmp_path / "home/me"
    home.mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(f"me:x:{os.getuid()}:{os.getgid()}::/home/me:/bin/sh\n")
    (home / ".bash_history").write_bytes(b"x\n" * 3_000_000)
    root(tmp_path)
    conn = armed(osqlite.connect())
    assert conn.execute("SELECT count(*) FROM shell_history").fetchone()[0] == 3_000_000
    stops_early(conn, "SELECT command FROM shell_history",
                "SELECT command FROM shell_history WHERE uid = arm(?)", os.getuid())
