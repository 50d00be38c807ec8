"""syslog_events from rsyslog, through the named pipe osquery documents
(docs/wiki/deployment/syslog.md, osquery/events/linux/syslog.cpp).

With --enable_syslog the publisher creates the pipe at --syslog_pipe_path
if it does not exist (mkfifo 0460, group "syslog" when that group exists,
so rsyslogd may write and we may read), refuses anything at that path that
is not a FIFO (a symlink included), takes an exclusive lock on it so one
reader owns it, and opens it read-write so that rsyslogd closing it never
ends our reading.  rsyslogd must be configured with osquery's template:

    template(name="OsqueryCsvFormat" type="string"
      string="%timestamp:::date-rfc3339,csv%,%hostname:::csv%,%syslogseverity:::csv%,%syslogfacility-text:::csv%,%syslogtag:::csv%,%msg:::csv%\\n")
    *.* action(type="ompipe" Pipe="/var/osquery/syslog_pipe" template="OsqueryCsvFormat")

The lines are parsed and stored by the extension's syslog reader
(csrc/tables/events_syslog.c), at most --syslog_rate_limit per 200 ms.
"""
from __future__ import annotations

import fcntl
import grp
import logging
import os
import stat

from .pump import CReader

log = logging.getLogger("osqlite.events")

PIPE_MODE = 0o460         # rsyslog reads and writes, we read (osquery's kPipeMode)
PIPE_GROUP = "syslog"


class SyslogUnavailable(Exception):
    """The pipe cannot be used: the message says why."""


def create_pipe(path: str) -> None:
    os.mkfifo(path, PIPE_MODE)
    # The umask applies to mkfifo: set the mode explicitly.
    os.chmod(path, PIPE_MODE)
    try:
        gid = grp.getgrnam(PIPE_GROUP).gr_gid
    except KeyError:
        log.info("No group %s found. Not changing group for the pipe.", PIPE_GROUP)
        return
    os.chown(path, -1, gid)


class SyslogPublisher(CReader):
    """The 'syslog' publisher and its 'syslog_events' subscriber."""

    name = "syslog"
    kind = "syslog"
    table = "syslog_events"
    thread_name = "osqlite-syslog"

    def __init__(self, store, pipe_path: str, rate_limit: int = 100) -> None:
        super().__init__(store)
        self.pipe_path = pipe_path
        self.rate_limit = int(rate_limit)
        self.lock_fd = -1
        self.fd = -1

    def setup(self) -> None:
        path = self.pipe_path
        try:
            if not os.path.lexists(path):
                log.info("Pipe does not exist: creating pipe %s", path)
                try:
                    create_pipe(path)
                except OSError as exc:
                    log.warning("Problems encountered creating pipe: %s", exc)
            st = os.lstat(path)
            if not stat.S_ISFIFO(st.st_mode):
                raise SyslogUnavailable(f"Not a FIFO file: {path}")
            # One osquery-like reader per pipe: a second one (osqueryi, a
            # second daemon) would steal lines.
            self.lock_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
                                   | os.O_NOFOLLOW)
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                raise SyslogUnavailable(f"Unable to acquire pipe lock: {exc}") from exc
            self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
            if not stat.S_ISFIFO(os.fstat(self.fd).st_mode):
                raise SyslogUnavailable(f"Not a FIFO file: {path}")
            self.open_reader(self.fd)
            self.set_options({"rate_limit": self.rate_limit})
        except SyslogUnavailable:
            self._close_fds()
            raise
        except OSError as exc:
            self._close_fds()
            raise SyslogUnavailable(f"Error opening stream for reading: {path}: {exc}") from exc
        log.info("Successfully opened pipe for syslog ingestion: %s", path)

    def _close_fds(self) -> None:
        self.close_reader()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.lock_fd >= 0:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            except OSError as exc:
                log.warning("Error unlocking pipe: %s", exc)
            os.close(self.lock_fd)
            self.lock_fd = -1

    def stop(self) -> None:
        super().stop()
        self._close_fds()
