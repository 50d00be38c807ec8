"""The real daemon for the event tests, and the machine-wide audit socket.

Only one process can be registered as the audit daemon; other test runs on
this machine may hold it for a while.  A test that needs audit waits for it
to be free (AUDIT_WAIT seconds at most), starts its daemon, and starts over
if somebody took audit in between; when audit stays busy it is skipped with
the name of the holder.  Whatever a test does, the audit_restored fixture
removes osqlite's rules and gives audit back as it was found.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AUDIT_WAIT = 180.0
AUDIT_TRIES = 5


def audit_status():
    from osqlite.events.audit import audit_status as status
    return status()


def audit_holder() -> str | None:
    """A description of the live process holding audit, or None."""
    try:
        owner = audit_status()[3]
    except OSError as exc:
        return f"cannot read the audit status: {exc}"
    if not owner or owner == os.getpid() or not os.path.exists(f"/proc/{owner}"):
        return None
    try:
        with open(f"/proc/{owner}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")[:160]
    except OSError:
        cmd = "?"
    return f"pid {owner} ({cmd.strip()})"


def wait_audit_free(timeout: float = AUDIT_WAIT) -> str | None:
    """None once audit is free; the holder if it stays taken."""
    deadline = time.monotonic() + timeout
    while True:
        holder = audit_holder()
        if holder is None:
            return None
        if time.monotonic() > deadline:
            return holder
        time.sleep(1.0)


class Daemon:
    def __init__(self, tmp: Path, config: dict, flags=(), prefix=(), name="d"):
        self.tmp = tmp
        self.logs = tmp / f"logs-{name}"
        self.logs.mkdir(exist_ok=True)
        self.conf = tmp / f"{name}.conf"
        self.conf.write_text(json.dumps(config))
        self.db = tmp / "state.db"
        self.cmd = list(prefix) + [
            sys.executable, "-m", "osqlite.daemon", f"--config_path={self.conf}",
            f"--database_path={self.db}", f"--logger_path={self.logs}",
            f"--pidfile={tmp}/pidfile-{name}", "--disable_events=false",
            "--disable_extensions=true",       # leaves /var/osquery alone
            "--schedule_splay_percent=10"] + list(flags)
        self.proc = None
        self.err = None

    def start(self):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.err = open(self.logs / "stderr", "w")
        self.proc = subprocess.Popen(self.cmd, cwd=str(ROOT), env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "daemon started" in self.text("osqueryd.INFO"):
                time.sleep(1.0)     # publishers and first config
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("daemon did not start: " + self.text("stderr")[-2000:])

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.err.close()

    def text(self, name):
        try:
            return (self.logs / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def results(self, name):
        out = []
        for line in self.text("osqueryd.results.log").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("name") == name:
                out.append(item)
        return out

    def columns(self, name):
        return [i["columns"] for i in self.results(name) if i.get("action") == "added"]

    def wait_for(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.25)
        return pred()


def audit_restored():
    """Generator for a fixture: whatever a test does, leave audit as it was."""
    try:
        before = audit_status()
    except OSError:
        before = None
    yield
    if before is not None:
        from osqlite.events.audit import release_leftovers
        release_leftovers(before[1], before[5])


def daemons():
    """Generator for a fixture: daemons(tmp, config, flags, audit=True)
    starts a daemon; with audit it waits for audit to be free and retries
    when it was taken."""
    started = []

    def make(*a, audit: bool = False, **kw):
        if not audit:
            d = Daemon(*a, **kw)
            started.append(d)
            return d.start()
        for _ in range(AUDIT_TRIES):
            holder = wait_audit_free()
            if holder is not None:
                pytest.skip(f"audit stayed busy for {AUDIT_WAIT:.0f} s: {holder}")
            d = Daemon(*a, **kw)
            started.append(d)
            d.start()
            if "another audit daemon" not in d.text("osqueryd.WARNING"):
                return d
            d.stop()
            started.remove(d)
            for f in d.logs.iterdir():
                f.unlink()
        pytest.skip(f"audit was taken by another process {AUDIT_TRIES} times in a row")

    yield make
    for d in started:
        d.stop()
