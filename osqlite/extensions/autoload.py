"""Autoloaded extensions: --extensions_autoload (and the shell's --extension).

The autoload file lists executables, one a line (blank lines and lines
starting with '#' or ';' are skipped); a directory there stands for the
files in it.  As osquery (osquery: osquery/extensions/extensions.cpp
loadExtensions, isFileSafe; osquery/filesystem/filesystem.cpp
safePermissions), unless --allow_unsafe an executable is started only when

* its name ends in ``.ext``,
* its directory is not sticky (not /tmp-like),
* it is owned by root or by the user osqlite runs as, is executable by its
  owner and not writable by everyone,

and osqlite adds one rule: that directory, too, must be owned by root or
that user and not writable by everyone, so another user cannot swap the
file.  A symbolic link is judged by the file it leads to.  The shell's
--extension names one executable that is started without these checks
(osquery's development shortcut).

Each is started as osquery's watcher starts it (osquery:
osquery/process/posix/process.cpp launchExtension)::

    PATH [--verbose] --socket SOCKET --timeout T --interval I

with OSQUERY_EXTENSION=<its pid> in the environment, standard input
/dev/null, in a session of its own (Ctrl-C in the shell interrupts the
query, not the extensions).  When one exits it is deregistered at once and
started again (one that stops answering pings is killed first), after 1 s, doubling up to 60 s while it keeps dying within
a minute of its start; the checks are made again each time.  At stop each
gets SIGTERM, and SIGKILL after 2 s.
"""
from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import threading
import time
from typing import Any

from ..files import read_regular

log = logging.getLogger("osqlite.extensions")

MAX_AUTOLOAD = 1 << 20
EXT_SUFFIXES = (".ext",)
RESTART_MIN, RESTART_MAX, STABLE = 1.0, 60.0, 60.0


def safe_permissions(path: str, allow_unsafe: bool) -> str | None:
    """Why path must not be executed by this process, or None."""
    try:
        os.lstat(path)
    except OSError:
        return "it cannot be accessed"
    if allow_unsafe:
        return None
    real = os.path.realpath(path)
    me = os.geteuid()
    for d in {os.path.dirname(os.path.abspath(path)), os.path.dirname(real)}:
        try:
            ds = os.stat(d)
        except OSError:
            return f"its directory {d} cannot be read"
        if ds.st_mode & stat.S_ISVTX:
            return f"its directory {d} is sticky (/tmp-like)"
        if ds.st_uid not in (0, me) or ds.st_mode & stat.S_IWOTH:
            return f"its directory {d} is not owned by root or this user, or is world-writable"
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        return f"it cannot be opened ({exc.strerror})"
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_uid not in (0, me):
        return "it is not owned by root or this user"
    if not st.st_mode & stat.S_IXUSR:
        return "it is not executable by its owner"
    if st.st_mode & stat.S_IWOTH:
        return "it is writable by everyone"
    return None


def is_safe(path: str, allow_unsafe: bool) -> bool:
    """osquery's isFileSafe, with its warnings."""
    if os.path.isdir(path):
        log.debug("Cannot autoload extension from directory: %s", path)
        return False
    if not os.path.lexists(path):
        log.warning("extension doesn't exist at: %s", path)
        return False
    why = safe_permissions(path, allow_unsafe)
    if why is not None:
        log.warning("Will not autoload extension with unsafe directory permissions: %s (%s)",
                    path, why)
        return False
    if not path.endswith(EXT_SUFFIXES):
        log.warning("Will not autoload extension not ending in one of '%s': %s",
                    "', '".join(EXT_SUFFIXES), path)
        return False
    log.debug("Found autoloadable extension: %s", path)
    return True


def autoload_paths(loadfile: str, allow_unsafe: bool, single: str = "") -> list[str]:
    """The executables to start, sorted (osquery keeps them in a std::set)."""
    found = {single} if single else set()
    if not loadfile:
        return sorted(found)
    try:
        text = read_regular(loadfile, MAX_AUTOLOAD).decode("utf-8", "surrogateescape")
    except OSError as exc:
        log.debug("Could not autoload extensions: %s: %s", loadfile,
                  getattr(exc, "strerror", None) or exc)
        return sorted(found)
    for line in text.split("\n"):
        path = line.strip()
        if not path or path[0] in "#;":
            continue
        if os.path.isdir(path):
            try:
                entries = sorted(os.listdir(path))
            except OSError:
                continue
            for entry in entries:
                full = os.path.join(path, entry)
                if os.path.isfile(full) and is_safe(full, allow_unsafe):
                    found.add(full)
        elif is_safe(path, allow_unsafe):
            found.add(path)
    return sorted(found)


class Child:
    def __init__(self, path: str, checked: bool) -> None:
        self.path = path
        self.checked = checked          # re-check safety before each start
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.delay = RESTART_MIN
        self.starts = 0


class Autoloader:
    """Starts the extensions and keeps them running."""

    def __init__(self, manager: Any, paths: list[str], unchecked: str = "") -> None:
        self.manager = manager
        self.flags = manager.flags
        self.children = [Child(p, p != unchecked) for p in paths]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def argv(self, path: str) -> list[str]:
        flags = self.flags
        args = [path]
        if flags["verbose"]:
            args.append("--verbose")
        return args + ["--socket", self.manager.path, "--timeout", str(flags["extensions_timeout"]),
                       "--interval", str(flags["extensions_interval"])]

    def _launch(self, child: Child) -> bool:
        path = os.path.abspath(child.path)
        if not os.path.exists(path):
            log.warning("Extension binary doesn't exist in: %s", path)
            return False
        if child.checked:
            why = safe_permissions(path, self.flags["allow_unsafe"])
            if why is not None:
                log.warning("Extension binary has unsafe permissions: %s (%s)", path, why)
                return False
        # OSQUERY_EXTENSION carries the extension's own pid, as osquery sets
        # it after fork: sh's $$ is the process that exec's the extension.
        argv = ["/bin/sh", "-c", 'OSQUERY_EXTENSION=$$ exec "$0" "$@"', *self.argv(path)]
        try:
            child.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True,
                                          close_fds=True)
        except OSError as exc:
            log.error("Cannot create extension process: %s (%s)", path, exc.strerror)
            return False
        child.started = time.monotonic()
        child.starts += 1
        log.debug("Created and monitoring extension child (%d): %s", child.proc.pid, path)
        return True

    def start(self) -> None:
        for child in self.children:
            if self._launch(child):
                t = threading.Thread(target=self._supervise, args=(child,), daemon=True,
                                     name="osqlite-autoload")
                t.start()
                self._threads.append(t)

    def pids(self) -> list[int]:
        return [c.proc.pid for c in self.children if c.proc is not None and c.proc.poll() is None]

    def wait_registered(self, timeout: float) -> bool:
        """Wait until every started extension has registered (or exited),
        and serves its plugins."""
        def ready() -> bool:
            registered = {e.pid for e in self.manager.extensions().values()}
            return all(c.proc is None or c.proc.poll() is not None or c.proc.pid in registered
                       for c in self.children)
        deadline = time.monotonic() + timeout
        ok = self.manager.wait(ready, timeout)
        for ext in self.manager.extensions().values():
            if ext.pid in self.pids() and time.monotonic() < deadline:
                ok = self.manager.until_serving(ext) and ok
        return ok

    def _supervise(self, child: Child) -> None:
        while not self._stop.is_set():
            assert child.proc is not None
            code = child.proc.wait()
            if self._stop.is_set():
                return
            how = f"signal {-code}" if code < 0 else f"status {code}"
            self.manager.process_exited(child.proc.pid, f"its process exited ({how})")
            ran = time.monotonic() - child.started
            if ran >= STABLE:
                child.delay = RESTART_MIN
            delay = child.delay
            child.delay = min(child.delay * 2, RESTART_MAX)
            log.warning("Extension %s exited (%s) after %.1f s; starting it again in %.0f s",
                        child.path, how, ran, delay)
            if self._stop.wait(delay):
                return
            while not self._launch(child):
                if self._stop.wait(RESTART_MAX):
                    return

    def kill(self, pid: int) -> None:
        """SIGKILL the autoloaded extension with that pid (its supervisor
        starts it again)."""
        for c in self.children:
            if pid and c.proc is not None and c.proc.pid == pid and c.proc.poll() is None:
                log.warning("Stopping the unresponsive extension %s (pid %d)", c.path, pid)
                try:
                    c.proc.kill()
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        live = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in live:
            try:
                proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + 2.0
        for proc in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    proc.kill()
                    proc.wait(timeout=2)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        for t in self._threads:
            t.join(timeout=1)
