"""Running the real daemon (sys.executable -m osqlite.daemon) for end-to-end tests.

Every wait is bounded: poll a log file until a predicate holds or a deadline
passes, then fail with what the logs said.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 30.0


def wait_for(pred: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition",
             daemon: "Daemon | None" = None) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        if daemon is not None and daemon.proc is not None and daemon.proc.poll() is not None:
            value = pred()
            if value:
                return value
            raise AssertionError(f"daemon exited ({daemon.proc.returncode}) before {what}\n{daemon.dump()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{daemon.dump() if daemon else ''}")


def environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a daemon subprocess runs with: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def run_until_started(argv: list[str], tmp: Path, cwd: Path = REPO,
                      running: Callable[[subprocess.Popen], Any] | None = None) -> str:
    """Start argv, wait for the start line on its stderr, call ``running(proc)``,
    SIGINT it, require exit 0; return what it wrote to stderr."""
    err = tmp / "stderr"
    with open(err, "w") as f:
        proc = subprocess.Popen(argv, cwd=cwd, env=environ(), stderr=f, stdout=subprocess.DEVNULL)
        try:
            wait_for(lambda: "daemon started" in err.read_text(), what="the start line")
            if running is not None:
                running(proc)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(DEADLINE) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return err.read_text()


class Daemon:
    """One daemon instance with its own config, logs, state db and pidfile under tmp."""

    def __init__(self, tmp: Path, config: dict | str | None = None, **flags: Any) -> None:
        self.tmp = tmp
        self.logs = tmp / "log"
        self.logs.mkdir(exist_ok=True)
        self.config_path = tmp / "osqueryd.conf"
        if config is not None:
            self.write_config(config)
        self.flags = {"config_path": self.config_path, "logger_path": self.logs,
                      "database_path": tmp / "osquery.db", "pidfile": tmp / "osqueryd.pid",
                      "schedule_splay_percent": 101,
                      # A short private path: sun_path holds 107 bytes.
                      "extensions_socket": Path(self._socket_dir()) / "osquery.em"}
        self.flags.update(flags)
        self.env: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None

    def _socket_dir(self) -> str:
        d = tempfile.mkdtemp(prefix="osqem-")
        weakref.finalize(self, shutil.rmtree, d, True)
        return d

    def write_config(self, config: dict | str) -> None:
        text = config if isinstance(config, str) else json.dumps(config, indent=1)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    def argv(self, **extra: Any) -> list[str]:
        flags = dict(self.flags, **extra)
        return [sys.executable, "-m", "osqlite.daemon"] + [f"--{k}={v}" for k, v in flags.items()]

    def environ(self) -> dict[str, str]:
        return environ(self.env)

    def start(self, **extra: Any) -> "Daemon":
        self.stderr = open(self.tmp / "stderr.txt", "ab")
        # A restart appends to the same INFO log: wait for this start's line.
        before = self.info().count("daemon started")
        self.proc = subprocess.Popen(self.argv(**extra), cwd=REPO, env=self.environ(),
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        wait_for(lambda: self.info().count("daemon started") > before,
                 what="daemon start", daemon=self)
        return self

    def run(self, *args: str, timeout: float = 60, **extra: Any) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(**extra) + list(args), cwd=REPO, env=self.environ(),
                              capture_output=True, text=True, timeout=timeout)

    def worker_pid(self) -> int:
        """The pid of the process that does the work: the watcher's worker
        (the watchdog is on by default, as in osqueryd), else the daemon."""
        assert self.proc is not None
        import psutil
        kids = [p.pid for p in psutil.Process(self.proc.pid).children()
                if "osqlite.daemon" in " ".join(p.cmdline())]
        return kids[0] if kids else self.proc.pid

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = DEADLINE) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired as exc:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("daemon did not stop on SIGTERM\n" + self.dump()) from exc
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()
        code = self.proc.returncode
        self.proc = None
        return code

    # -- reading the logs ----------------------------------------------------------

    def text(self, name: str) -> str:
        try:
            return (self.logs / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def info(self) -> str:
        return self.text("osqueryd.INFO")

    def warning(self) -> str:
        return self.text("osqueryd.WARNING")

    def lines(self, name: str = "osqueryd.results.log") -> list[dict]:
        out = []
        for line in self.text(name).splitlines():
            if line.endswith("}"):
                out.append(json.loads(line))
        return out

    def results(self, query: str | None = None) -> list[dict]:
        return [x for x in self.lines() if query is None or x["name"] == query]

    def snapshots(self, query: str | None = None) -> list[dict]:
        return [x for x in self.lines("osqueryd.snapshots.log") if query is None or x["name"] == query]

    def wait_results(self, query: str, n: int, **kw: Any) -> list[dict]:
        return wait_for(lambda: (r := self.results(query)) and len(r) >= n and r,
                        what=f"{n} result lines of {query}", daemon=self, **kw)

    def wait_snapshots(self, query: str, n: int, **kw: Any) -> list[dict]:
        return wait_for(lambda: (r := self.snapshots(query)) and len(r) >= n and r,
                        what=f"{n} snapshot lines of {query}", daemon=self, **kw)

    def dump(self) -> str:
        err = (self.tmp / "stderr.txt").read_text(errors="replace") if (self.tmp / "stderr.txt").exists() else ""
        return f"--- INFO\n{self.info()[-3000:]}\n--- stderr\n{err[-3000:]}"
