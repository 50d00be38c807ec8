"""The syslog logger: result lines and status lines to the local syslog
socket (osquery: plugins/logger/syslog_logger.cpp).

As osquery, which calls syslog(3) after ``openlog("osqueryd", LOG_PID |
LOG_CONS, facility)``:

* results and snapshots are LOG_INFO messages, the line as it is, or
  ``@cee:<line>`` with ``--logger_syslog_prepend_cee`` (for rsyslog's
  mmjsonparse);
* a status line is ``severity=N location=file:line message=...`` at
  LOG_NOTICE (INFO), LOG_WARNING, LOG_ERR or LOG_CRIT (FATAL);
* the facility is ``--logger_syslog_facility`` (0-23, default 19 =
  local3; out of range means 19).

Messages are what glibc's syslog(3) writes: ``<PRI>Mmm dd hh:mm:ss
osqueryd[pid]: message`` as one datagram to ``/dev/log`` (a stream socket
if the datagram socket is refused), newline-free and unsplit.  osqlite
writes them itself rather than through Python's ``syslog`` module, whose
socket is fixed at /dev/log: ``--logger_syslog_path`` (an osqlite flag)
names another socket, so a test can start its own rsyslogd.  When the
socket is missing or refuses a message, syslog(3) drops it silently; osqlite
drops it too, and says so once on stderr until messages get through again.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import threading
import time
from typing import Any, Sequence

log = logging.getLogger("osqlite.syslog")

DEFAULT_FACILITY = 19               # LOG_LOCAL3 >> 3
LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO = 2, 3, 4, 5, 6


def status_priority(levelno: int) -> int:
    """osquery's O_INFO/O_WARNING/O_ERROR/O_FATAL -> syslog severities."""
    if levelno >= logging.CRITICAL:
        return LOG_CRIT
    if levelno >= logging.ERROR:
        return LOG_ERR
    if levelno >= logging.WARNING:
        return LOG_WARNING
    return LOG_NOTICE


def status_text(record: logging.LogRecord) -> str:
    level = record.levelno
    sev = 0 if level < logging.WARNING else 1 if level < logging.ERROR else \
        2 if level < logging.CRITICAL else 3
    return f"severity={sev} location={record.filename}:{record.lineno} message={record.getMessage()}"


class SyslogClient:
    """glibc syslog(3)'s wire format over a UNIX socket."""

    def __init__(self, path: str, ident: str, facility: int) -> None:
        self.path = path
        self.ident = ident
        self.facility = facility if 0 <= facility <= 23 else DEFAULT_FACILITY
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failing = False
        self.stream = False

    def _connect(self) -> socket.socket:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
            try:
                s.connect(self.path)
                self.stream = kind == socket.SOCK_STREAM
                return s
            except OSError as exc:
                s.close()
                if exc.errno != errno.EPROTOTYPE:
                    raise
        raise OSError(errno.EPROTOTYPE, "not a syslog socket")

    def frame(self, severity: int, message: str, now: float | None = None) -> bytes:
        stamp = time.strftime("%b %e %H:%M:%S", time.localtime(now if now is not None else time.time()))
        head = f"<{self.facility * 8 + severity}>{stamp} {self.ident}[{os.getpid()}]: "
        return (head + message).encode("utf-8", "surrogateescape")

    def send(self, severity: int, messages: Sequence[str]) -> None:
        with self._lock:
            for message in messages:
                data = self.frame(severity, message)
                for attempt in (0, 1):
                    try:
                        if self._sock is None:
                            self._sock = self._connect()
                        if self.stream:
                            self._sock.sendall(data + b"\0")
                        else:
                            self._sock.send(data)
                        if self._failing:
                            self._failing = False
                            print(f"osqlite: syslog messages reach {self.path} again", file=sys.stderr)
                        break
                    except OSError as exc:
                        if self._sock is not None:
                            self._sock.close()
                            self._sock = None
                        if attempt == 1:
                            if not self._failing:
                                self._failing = True
                                # Not through logging: the status log may be this very socket.
                                print(f"osqlite: cannot write to the syslog socket {self.path} "
                                      f"({exc.strerror or exc}); syslog messages are dropped, as "
                                      "syslog(3) drops them", file=sys.stderr)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def make_client(flags: Any) -> SyslogClient:
    return SyslogClient(flags["logger_syslog_path"], "osqueryd", flags["logger_syslog_facility"])


def result_messages(flags: Any, lines: Sequence[str]) -> list[str]:
    if flags["logger_syslog_prepend_cee"]:
        return ["@cee:" + line for line in lines]
    return list(lines)


__all__ = ["SyslogClient", "make_client", "result_messages", "status_priority", "status_text",
           "LOG_INFO"]
