"""The reader thread shared by the netlink publishers (the proc connector
and kernel uevents): receive datagrams until stopped, count and report
receive-buffer overruns, and hand each datagram to the publisher."""
from __future__ import annotations

import errno
import logging
import socket
import threading
from typing import Callable

log = logging.getLogger("osqlite.events")

SO_RCVBUFFORCE = 33      # <asm-generic/socket.h>; as root it passes rmem_max


def open_netlink(protocol: int, groups: int, rcvbuf: int) -> socket.socket:
    """A bound netlink datagram socket with a large receive buffer (kept at
    the default when we may not raise it)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, protocol)
    try:
        s.bind((0, groups))
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except OSError:
            pass
    except OSError:
        s.close()
        raise
    return s


class NetlinkPublisher:
    """Base of a publisher reading one netlink socket in its own thread.

    Subclasses set ``name``, ``thread_name`` and ``lost_message`` (a
    %-format taking the overrun count), open ``self.sock`` in ``setup`` and
    turn a datagram into rows in ``handle``."""

    name = ""
    thread_name = "osqlite-netlink"
    lost_message = "Events were lost: the netlink buffer overflowed (%d times)"

    def __init__(self, emit: Callable[[str, dict], None]) -> None:
        self.emit = emit
        self.sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events = 0
        self.enobufs = 0
        self.active = False

    def handle(self, data: bytes) -> None:
        raise NotImplementedError

    def before_close(self) -> None:
        """Last words on the socket before it is closed (e.g. unsubscribe)."""

    def start(self) -> None:
        self.active = True
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.sock is not None:
            try:
                self.before_close()
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        self.active = False

    def _run(self) -> None:
        self.sock.settimeout(0.5)
        while not self._stop.is_set():
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    # Never silent: the kernel dropped datagrams we had no room for.
                    self.enobufs += 1
                    log.warning(self.lost_message, self.enobufs)
                    continue
                break
            self.handle(data)
        self.active = False
