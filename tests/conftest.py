"""Shared pytest fixtures: a real osqlite connection, and fixture roots.

OSQLITE_ROOT points the C parsers at a fixture tree instead of /, so the
real code runs against hostile input (tests/fixtures/<name>/).
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

import osqlite
from osqlite._sqlite import sqlite3

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# The cloud metadata tables go to 169.254.169.254 unless told otherwise: in
# tests they go to a closed loopback port (or to a test's own server), so no
# test ever sends a packet to a link-local or outside address.
os.environ.setdefault("OSQLITE_METADATA_ENDPOINT", "127.0.0.1:9")


@pytest.fixture(autouse=True)
def _osqlite_logger_restored() -> Iterator[None]:
    """The daemon and the shell install their own handlers on the "osqlite"
    logger and stop propagation (so a host's root logger never doubles their
    lines); a test that builds one in-process must not take caplog away from
    every test after it."""
    log = logging.getLogger("osqlite")
    saved = (list(log.handlers), log.propagate, log.level)
    yield
    log.handlers[:] = saved[0]
    log.propagate, log.level = saved[1], saved[2]


@pytest.fixture(scope="session", autouse=True)
def non_utf8_process(tmp_path_factory) -> Iterator[subprocess.Popen]:
    """A process whose argv and open file name are not UTF-8 runs for the
    whole session: on a shared host such processes come and go at any time,
    and no test may fail because one exists (processes.cmdline and
    process_open_files.path return those bytes as they are)."""
    d = os.fsencode(tmp_path_factory.mktemp("non-utf8"))
    path = d + b"/open-\xff\xfe-\xc3\x28.txt"
    code = ("import os, sys, time\n"
            "f = open(os.fsencode(sys.argv[1]), 'wb')\n"
            "print('ready', flush=True)\n"
            "time.sleep(86400)\n")
    p = subprocess.Popen([sys.executable, "-c", code, path, b"arg-\xff\xc3\x28-\x80"],
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        yield p
    finally:
        p.kill()
        p.wait()


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = osqlite.connect()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def daemons() -> Iterator[list]:
    """Real daemons (daemon_harness.Daemon) a test starts; each is stopped at the end."""
    started: list = []
    yield started
    for d in started:
        d.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Certificates for the TLS remote API tests (tests/tls_server.py)."""
    from remote_helpers import need_openssl
    from tls_server import make_pki
    need_openssl()
    return make_pki(tmp_path_factory.mktemp("pki"))


def searchable(path: Path) -> Path:
    """A tree built for OSQLITE_ROOT, made searchable by everyone like /:
    per-user tables read below the root with the users' rights
    (csrc/lib/userdata.c), and tmp_path is created 0700."""
    if path.is_dir() and path.stat().st_uid == os.geteuid():
        path.chmod(path.stat().st_mode | 0o755)
    return path


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch):
    """Set OSQLITE_ROOT for this test: root('name') uses tests/fixtures/name,
    root(path) uses any directory (for trees built in tmp_path)."""

    def use(tree: str | os.PathLike) -> Path:
        path = Path(tree)
        path = FIXTURES / path if not path.is_absolute() else searchable(path)
        monkeypatch.setenv("OSQLITE_ROOT", str(path))
        return path

    return use


def rows(conn: sqlite3.Connection, sql: str, *params) -> list[dict]:
    """Run sql and return rows as dicts keyed by column name."""
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def pytest_terminal_summary(terminalreporter) -> None:
    """Totals for the pack-query corpus, next to pytest's own summary."""
    passed = failed = xfailed = 0
    for status in ("passed", "failed", "xfailed", "error"):
        for report in terminalreporter.stats.get(status, []):
            if "test_pack_query_runs" not in getattr(report, "nodeid", ""):
                continue
            if report.when != "call" and status != "error":
                continue
            if status == "passed":
                passed += 1
            elif status == "xfailed":
                xfailed += 1
            else:
                failed += 1
    if passed or failed or xfailed:
        terminalreporter.write_line(
            f"osquery pack corpus: {passed} ran, {failed} failed, "
            f"{xfailed} expected failure (table gone from osquery)")
    _spec_example_summary(terminalreporter)


def _spec_example_summary(terminalreporter) -> None:
    """osquery's spec examples (test_spec_examples.py): total, run, skipped
    by reason, failed."""
    ran = failed = 0
    skipped: dict[str, int] = {}
    for status in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(status, []):
            if "test_spec_example[" not in getattr(report, "nodeid", ""):
                continue
            if status == "skipped":
                longrepr = report.longrepr
                reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
                reason = reason.removeprefix("Skipped: ")
                reason = reason.split(":")[0] if reason.startswith("system library") else reason
                skipped[reason] = skipped.get(reason, 0) + 1
            elif report.when == "call" and status == "passed":
                ran += 1
            elif status in ("failed", "error"):
                failed += 1
    total = ran + failed + sum(skipped.values())
    if total:
        why = ", ".join(f"{n} {r}" for r, n in sorted(skipped.items(), key=lambda x: -x[1]))
        terminalreporter.write_line(
            f"osquery spec examples: {total} total, {ran} ran, {failed} failed, "
            f"{sum(skipped.values())} skipped ({why or 'none'})")



@pytest.fixture
def thread_id() -> Iterator[int]:
    """The kernel thread id of a second thread of this process, alive for
    the test (a /proc/<tid> that is reachable but never listed)."""
    ready, stop = threading.Event(), threading.Event()
    tid: list[int] = []

    def run() -> None:
        tid.append(threading.get_native_id())
        ready.set()
        stop.wait(30)

    t = threading.Thread(target=run)
    t.start()
    try:
        ready.wait(10)
        yield tid[0]
    finally:
        stop.set()
        t.join()


@pytest.fixture(scope="session")
def asan_driver() -> Path:
    """build/osqlite-asan, built once per session (see asan_helper)."""
    from asan_helper import driver

    return driver()
