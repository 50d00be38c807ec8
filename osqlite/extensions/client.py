"""Thrift clients over a UNIX socket: to an extension (the manager calling
its plugins) or to an extension manager (``osqueryi --connect``, tests).

osquery's wire format: binary protocol (strict write, lenient read) over a
buffered transport (osquery: osquery/extensions/impl_thrift.cpp).  Every
call opens its own connection and closes it afterwards, as osquery's
ExtensionClient does: osquery-python's extensions serve one connection at a
time (thrift's TSimpleServer), so a connection kept open would starve every
other caller.

Errors become :class:`CallError`, whose text says what happened in words a
user can act on ("is not running", "did not answer within 3 s").
"""
from __future__ import annotations

import errno
import socket
from typing import Any

from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TApplicationException, TException
from thrift.transport import TSocket, TTransport

from .gen import ExtensionManager

try:   # thrift's C codec; the pure-Python one reads the same bytes
    from thrift.protocol import fastbinary  # noqa: F401
    _Protocol: Any = TBinaryProtocol.TBinaryProtocolAccelerated
except ImportError:  # pragma: no cover - wheels ship it
    _Protocol = TBinaryProtocol.TBinaryProtocol


class CallError(Exception):
    """A Thrift call that did not complete; str() says why."""


def protocol(transport: TTransport.TTransportBase, string_limit: int = 0) -> Any:
    """osquery's protocol on a transport; string_limit > 0 is
    --thrift_string_size_limit."""
    if string_limit > 0:
        return _Protocol(transport, string_length_limit=string_limit)
    return _Protocol(transport)


def wrap_socket(sock: socket.socket) -> TTransport.TBufferedTransport:
    """A connected socket as thrift's buffered transport."""
    ts = TSocket.TSocket()
    ts.handle = sock
    return TTransport.TBufferedTransport(ts)


def describe(exc: BaseException, path: str, timeout: float) -> str:
    """Why a call failed, for a message that ends the sentence 'X ...'."""
    inner: BaseException | None = exc
    while inner is not None:
        if isinstance(inner, (socket.timeout, TimeoutError)):
            return f"did not answer within {timeout:g} s (--extensions_timeout)"
        if isinstance(inner, ConnectionRefusedError):
            return f"is not running (nothing accepts connections on {path})"
        if isinstance(inner, FileNotFoundError):
            return f"is not running (no socket at {path})"
        if isinstance(inner, OSError) and inner.errno in (errno.ECONNRESET, errno.EPIPE):
            return "closed the connection during the call"
        if isinstance(inner, OSError):
            return f"cannot be reached at {path}: {inner.strerror or inner}"
        inner = getattr(inner, "inner", None) or inner.__cause__
    if isinstance(exc, TTransport.TTransportException):
        if exc.type == TTransport.TTransportException.END_OF_FILE:
            return "closed the connection during the call"
        if exc.type == TTransport.TTransportException.TIMED_OUT:
            return f"did not answer within {timeout:g} s (--extensions_timeout)"
    if isinstance(exc, TApplicationException):
        return f"failed the call: {exc.message or 'internal error'}"
    return f"sent an answer that is not osquery's protocol ({exc})"


class Connection:
    """One connection to a manager or an extension socket.

        with Connection(path, 3.0) as c:
            c.client.ping()

    ``client`` is ExtensionManager's client, whose ping/call/shutdown are
    also the Extension service's (the same messages)."""

    def __init__(self, path: str, timeout: float, string_limit: int = 0) -> None:
        self.path = path
        self.timeout = timeout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout if timeout > 0 else None)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise CallError(describe(exc, path, timeout)) from None
        self.transport = wrap_socket(sock)
        self.client = ExtensionManager.Client(protocol(self.transport, string_limit))

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.transport.close()
        except (OSError, TException):
            pass


def call(path: str, timeout: float, method: str, *args: Any, string_limit: int = 0) -> Any:
    """One call on a fresh connection: ``call(path, 3, "ping")``.  Raises
    CallError with the reason when the peer cannot be reached or answer."""
    with Connection(path, timeout, string_limit) as conn:
        try:
            return getattr(conn.client, method)(*args)
        except (OSError, TException, EOFError) as exc:
            raise CallError(describe(exc, path, timeout)) from None
