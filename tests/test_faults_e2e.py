"""The fault suite: the real daemon, killed and starved, loses and repeats nothing.

A scheduled query reads etc_hosts under OSQLITE_ROOT, a file this test
rewrites several times a second, so every run has changes to log.  A log
checker rebuilds the query's state from osqueryd.results.log alone: the
runs' counters must go 0, 1, 2, ... with no gap (a lost run) and no repeat
(a duplicated run), every removed row must have been added before, and the
rebuilt state must end equal to the file.  Then:

* kill -9 at random instants, restart, many times;
* logger_path on a tiny tmpfs that fills up and is freed;
* logger_path read-only (remount) and back; the results log chattr +i;
* logger_path and the database directory removed and restored;
* the pidfile removed (a second daemon must still be refused);
* a ``-shm`` symlink planted beside the state database.

The figures (kills, lines checked, lost, duplicated) are printed; run with
``-s`` to see them.  ``OSQLITE_FAULT_KILLS`` sets the number of kills (25).
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
from daemon_harness import Daemon, wait_for
from disk_faults import fill, remount, tmpfs

QUERY = "hosts"
KILLS = int(os.environ.get("OSQLITE_FAULT_KILLS", "25"))


class Hosts:
    """An etc/hosts under a fixture root, rewritten with random changes."""

    def __init__(self, root: Path, n: int, seed: int) -> None:
        self.path = root / "etc" / "hosts"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(seed)
        self.next = 0
        self.entries = [self._entry() for _ in range(n)]
        self.lock = threading.Lock()
        self.write()

    def _entry(self) -> tuple[str, str]:
        self.next += 1
        i = self.next
        return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", f"host{i} alias{i % 7}"

    def mutate(self) -> None:
        with self.lock:
            for _ in range(max(1, len(self.entries) // 12)):
                r = self.rng.random()
                if r < 0.4 and self.entries:
                    self.entries.pop(self.rng.randrange(len(self.entries)))
                elif r < 0.7:
                    self.entries.insert(self.rng.randrange(len(self.entries) + 1), self._entry())
                elif self.entries:
                    i = self.rng.randrange(len(self.entries))
                    self.entries[i] = (self.entries[i][0], self.entries[i][1] + " x")
            self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(f"{a} {h}\n" for a, h in self.entries))
        os.replace(tmp, self.path)

    def rows(self) -> Counter:
        with self.lock:
            return Counter(json.dumps({"address": a, "hostnames": h}, sort_keys=True) for a, h in self.entries)


class Rewriter(threading.Thread):
    def __init__(self, hosts: Hosts) -> None:
        super().__init__(daemon=True)
        self.hosts, self.stop = hosts, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.hosts.rng.uniform(0.15, 0.4)):
            self.hosts.mutate()


class LogChecker:
    """Rebuilds the query's state from result logs (event format)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.state: Counter = Counter()
        self.lines = 0
        self.runs = 0
        self.gaps = 0            # runs missing from the counter sequence
        self.repeated = 0        # lines of runs seen twice
        self.orphans = 0         # removed rows that were never added
        self.torn = 0
        self.problems: list[str] = []

    def feed(self, *paths: Path) -> "LogChecker":
        self.reset()
        expected = 0
        current = None
        seen: set[int] = set()
        for path in paths:
            data = path.read_bytes() if path.exists() else b""
            if data and not data.endswith(b"\n"):
                self.torn += 1
                self.problems.append(f"{path} ends in a torn line: {data[-60:]!r}")
            for raw in data.split(b"\n"):
                if not raw:
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError:
                    self.torn += 1
                    self.problems.append(f"not a JSON line: {raw[:80]!r}")
                    continue
                if obj["name"] != QUERY:
                    continue
                self.lines += 1
                c = obj["counter"]
                if c != current:
                    if c in seen:
                        self.repeated += 1
                        self.problems.append(f"run {c} appears twice")
                    elif c != expected:
                        self.gaps += abs(c - expected)
                        self.problems.append(f"run {c} follows run {expected - 1}")
                    seen.add(c)
                    current, expected = c, max(expected, c + 1)
                    self.runs += 1
                row = json.dumps(obj["columns"], sort_keys=True)
                if obj["action"] == "added":
                    self.state[row] += 1
                elif self.state[row] > 0:
                    self.state[row] -= 1
                else:
                    self.orphans += 1
                    self.problems.append(f"run {c} removes a row never added: {row}")
        self.state = +self.state
        return self

    def mismatch(self, rows: Counter) -> int:
        return sum(((rows - self.state) + (self.state - rows)).values())

    def ok(self) -> bool:
        return not (self.gaps or self.repeated or self.orphans or self.torn)


def config() -> dict:
    return {"schedule": {QUERY: {"query": "SELECT address, hostnames FROM etc_hosts", "interval": 1}}}


def daemon(tmp: Path, hosts_root: Path, **flags) -> Daemon:
    # One process: the kills and SIGSTOPs aim at the process that stores and
    # logs (test_watchdog_e2e.py does the same through a watcher).
    flags.setdefault("disable_watchdog", "true")
    d = Daemon(tmp, config(), **flags)
    d.env["OSQLITE_ROOT"] = str(hosts_root)
    return d


def settle(d: Daemon, hosts: Hosts, checker: LogChecker, logs: list[Path], timeout: float = 60) -> None:
    """Wait until the log describes the file exactly."""
    wait_for(lambda: checker.feed(*logs).mismatch(hosts.rows()) == 0 and checker.runs > 0,
             timeout=timeout, what="the log to describe the current file", daemon=d)


def report(what: str, checker: LogChecker, **extra) -> None:
    figures = dict(extra, lines_checked=checker.lines, runs=checker.runs,
                   lost=checker.gaps, duplicated=checker.repeated, orphans=checker.orphans, torn=checker.torn)
    print(f"\n[fault suite] {what}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def assert_clean(checker: LogChecker) -> None:
    assert checker.ok(), "\n".join(checker.problems[:20])


@pytest.fixture
def hosts(tmp_path):
    return Hosts(tmp_path / "root", 3000, seed=42)


@pytest.fixture
def big_hosts(tmp_path):
    # Large enough that storing and logging one run takes a while: kills land inside it.
    return Hosts(tmp_path / "root", 20000, seed=43)


def test_kill_9_at_random_instants_loses_and_repeats_nothing(tmp_path, big_hosts):
    hosts = big_hosts
    rng = random.Random(7)
    d = daemon(tmp_path, tmp_path / "root")
    results = d.logs / "osqueryd.results.log"
    kills = pending = torn = 0
    checker = LogChecker()
    with scenario(d, hosts) as rewriter:
        for i in range(KILLS):
            if i:
                d.start()
            aim_kill(d, rng, tmp_path / "osquery.db", results)
            d.proc.wait(10)
            d.stop()
            kills += 1
            # Where did the kill land?  Lines committed but not (all) written,
            # a torn last line: the restart must finish those.
            pending += stored_ahead(tmp_path / "osquery.db", results)
            torn += torn_tail(results)
        # The last kill may leave a torn line at the end (the restart below
        # completes it); every whole line before it must already check out.
        data = results.read_bytes()
        whole = tmp_path / "whole-lines.log"
        whole.write_bytes(data[:data.rfind(b"\n") + 1])
        assert_clean(checker.feed(whole))
        d.start()
        finish(d, rewriter, hosts, checker, [results])
    checker.feed(results)
    report("kill -9", checker, kills=kills, kills_with_stored_result_ahead_of_the_log=pending,
           kills_leaving_a_torn_line=torn)
    assert_clean(checker)
    assert checker.mismatch(hosts.rows()) == 0


def stored_counter(db: Path) -> int | None:
    from osqlite._sqlite import sqlite3
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT counter FROM results WHERE name = ?", (QUERY,)).fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def last_logged_counter(results: Path) -> int | None:
    try:
        with open(results, "rb") as f:
            f.seek(max(0, os.path.getsize(results) - 65536))
            tail = f.read()
    except OSError:
        return None
    for raw in reversed(tail.split(b"\n")[:-1]):
        try:
            return json.loads(raw)["counter"]
        except ValueError:
            continue
    return None


def stored_ahead(db: Path, results: Path) -> bool:
    """Is the stored result newer than the last run in the log?  The moment a
    daemon that stores before it logs loses a run if it dies."""
    stored = stored_counter(db)
    logged = last_logged_counter(results)
    return stored is not None and (logged is None or stored > logged)


def torn_tail(results: Path) -> bool:
    try:
        with open(results, "rb") as f:
            f.seek(max(0, os.path.getsize(results) - 1))
            last = f.read(1)
    except OSError:
        return False
    return bool(last) and last != b"\n"


def aim_kill(d: Daemon, rng: random.Random, db: Path, results: Path) -> None:
    """kill -9 at an instant that matters.  A third of the kills land at a
    random instant; the others sample the daemon (SIGSTOP, look, SIGCONT)
    every few milliseconds until it is caught with lines committed but not
    yet all written (or a partial line at the end of the log), and kill it
    there, still stopped: the windows where a store-then-log daemon loses a
    run and a non-atomic writer tears a line."""
    proc = d.proc
    if rng.random() < 1 / 3:
        time.sleep(rng.uniform(0.05, 2.5))
        proc.send_signal(signal.SIGKILL)
        return
    end = time.monotonic() + rng.uniform(1.5, 4.0)
    while time.monotonic() < end:
        time.sleep(rng.uniform(0.0, 0.01))
        proc.send_signal(signal.SIGSTOP)
        if stored_ahead(db, results) or torn_tail(results):
            break
        proc.send_signal(signal.SIGCONT)
    proc.send_signal(signal.SIGKILL)


@contextlib.contextmanager
def scenario(d: Daemon, hosts: Hosts) -> Iterator[Rewriter]:
    """The daemon running while the file changes; always stopped after."""
    rewriter = Rewriter(hosts)
    try:
        d.start()
        rewriter.start()
        yield rewriter
    finally:
        rewriter.stop.set()
        if d.proc is not None:
            d.proc.kill()
            d.proc.wait()


def finish(d: Daemon, rewriter: Rewriter, hosts: Hosts, checker: LogChecker, logs: list[Path]) -> None:
    """Stop changing the file, wait until the log describes it, stop the daemon cleanly."""
    rewriter.stop.set()
    rewriter.join()
    settle(d, hosts, checker, logs)
    assert d.stop() == 0


def stderr_text(d: Daemon) -> str:
    return (d.tmp / "stderr.txt").read_text(errors="replace")


def test_full_then_read_only_log_filesystem(tmp_path, hosts):
    with tmpfs(tmp_path / "log", "8m") as logs:
        d = daemon(tmp_path, tmp_path / "root")
        results = logs / "osqueryd.results.log"
        checker = LogChecker()
        with scenario(d, hosts) as rewriter:
            wait_for(lambda: checker.feed(results).runs >= 2, what="two runs logged", daemon=d)
            filler = fill(logs)
            time.sleep(4)                                 # runs go on while the disk is full
            assert d.proc.poll() is None, "the daemon exited on a full disk\n" + d.dump()
            assert_clean(checker.feed(results))           # whole lines only, no torn one
            full_errors = stderr_text(d).count("Cannot write results to")
            os.unlink(filler)
            wait_for(lambda: "works again: the" in stderr_text(d), what="the backlog written", daemon=d)
            remount(logs, "ro")
            time.sleep(3)
            assert d.proc.poll() is None, "the daemon exited on a read-only log filesystem\n" + d.dump()
            remount(logs, "rw")
            finish(d, rewriter, hosts, checker, [results])
    report("full and read-only tmpfs", checker)
    assert_clean(checker)
    # Logged once per change of state, not once per run.
    assert full_errors == 1, stderr_text(d)
    assert stderr_text(d).count("Cannot write results to") == 2, stderr_text(d)[-3000:]


def test_log_directory_removed_and_restored_and_immutable_log(tmp_path, hosts):
    d = daemon(tmp_path, tmp_path / "root")
    logs = d.logs
    moved = tmp_path / "log.removed"
    parts = [moved / "osqueryd.results.log", logs / "osqueryd.results.log"]
    checker = LogChecker()
    immutable = False
    try:
        with scenario(d, hosts) as rewriter:
            wait_for(lambda: checker.feed(parts[1]).runs >= 2, what="two runs", daemon=d)
            os.rename(logs, moved)      # gone for the daemon; kept for the checker
            time.sleep(3)
            assert d.proc.poll() is None, "the daemon exited when logger_path was removed\n" + d.dump()
            logs.mkdir()
            wait_for(lambda: checker.feed(*parts).runs >= 4 and parts[1].exists(), what="logging resumed",
                     daemon=d)
            if shutil.which("chattr"):
                immutable = subprocess.run(["chattr", "+i", str(parts[1])], capture_output=True).returncode == 0
            if immutable:
                # Runs are committed but cannot be written; the daemon is then
                # killed with them pending: the restart writes them, once.
                wait_for(lambda: stored_ahead(tmp_path / "osquery.db", parts[1]), what="a run kept", daemon=d)
                time.sleep(2)
                assert d.proc.poll() is None
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait(10)
                d.stop()
                subprocess.run(["chattr", "-i", str(parts[1])], check=True)
                d.start()
            finish(d, rewriter, hosts, checker, parts)
    finally:
        for p in parts:
            subprocess.run(["chattr", "-i", str(p)], capture_output=True)
    report("log directory removed, restored; chattr +i" + ("" if immutable else " (unsupported here)"), checker)
    assert_clean(checker)
    assert checker.mismatch(hosts.rows()) == 0


def test_database_directory_removed_while_running(tmp_path, hosts):
    dbdir = tmp_path / "db"
    dbdir.mkdir()
    d = daemon(tmp_path, tmp_path / "root", database_path=dbdir / "osquery.db")
    results = d.logs / "osqueryd.results.log"
    checker = LogChecker()
    with scenario(d, hosts) as rewriter:
        wait_for(lambda: checker.feed(results).runs >= 2, what="two runs", daemon=d)
        shutil.rmtree(dbdir)
        wait_for(lambda: "was recreated" in d.warning(), what="the database recreated", daemon=d)
        assert "was removed while the daemon was running" in d.text("osqueryd.ERROR")
        assert (dbdir / "osquery.db").is_file()
        wait_for(lambda: checker.feed(results).runs >= 4, what="two more runs", daemon=d)
        assert d.stop() == 0
        # After a restart nothing is logged as added again: the state survived.
        d.start()
        finish(d, rewriter, hosts, checker, [results])
    report("database directory removed", checker)
    assert_clean(checker)


def test_pidfile_removed_still_refuses_a_second_daemon(tmp_path, hosts):
    d = daemon(tmp_path, tmp_path / "root")
    pid = tmp_path / "osqueryd.pid"
    try:
        d.start()
        pid.unlink()
        wait_for(lambda: pid.exists() and "was removed or replaced" in d.warning(),
                 what="the pidfile recreated", daemon=d)
        assert pid.read_text() == str(d.proc.pid)
        second = d.run(timeout=60)
        assert second.returncode == 1 and "Pidfile check failed" in second.stderr
        # Another pidfile, the same database: refused by the database's own lock.
        third = d.run(timeout=60, pidfile=tmp_path / "other.pid")
        assert third.returncode == 1 and "another osqlite daemon is using the state database" in third.stderr
        assert "Traceback" not in second.stderr + third.stderr
    finally:
        d.stop()


def test_a_planted_shm_symlink_is_refused_not_followed(tmp_path, hosts):
    secret = tmp_path / "secret"
    secret.write_text("root:secret\n")
    db = tmp_path / "osquery.db"
    os.symlink(secret, str(db) + "-shm")
    d = daemon(tmp_path, tmp_path / "root")
    r = d.run(timeout=60)
    assert r.returncode == 1, r.stderr
    assert "osquery.db-shm is a symlink" in r.stderr and "Traceback" not in r.stderr
    assert secret.read_text() == "root:secret\n"
    assert os.path.islink(str(db) + "-shm")          # never deleted: the daemon did not create it
