"""Helpers for the extension tests: an in-process extension served with the
generated Thrift processor, and the source of real osquery-python
extensions the end-to-end tests start as separate processes."""
from __future__ import annotations

import os
import socket
import stat
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any, Callable

from thrift.Thrift import TException

from osqlite.extensions import client
from osqlite.extensions.gen import Extension
from osqlite.extensions.gen.ttypes import ExtensionResponse, ExtensionStatus


def short_dir() -> str:
    """A directory for sockets: sun_path holds 107 bytes, pytest's tmp_path
    can be longer."""
    return tempfile.mkdtemp(prefix="osqem-")


class InProcessExtension:
    """Serves ``Extension`` on path; ``call(registry, item, request)`` is the
    test's function returning (code, message, rows)."""

    def __init__(self, path: str, call: Callable[[str, str, dict], tuple[int, str, list]]) -> None:
        self.path = path
        self.fn = call
        self.calls: list[tuple[str, str, dict]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    # Extension.Iface
    def ping(self) -> ExtensionStatus:
        return ExtensionStatus(code=0, message="OK")

    def call(self, registry: str, item: str, request: dict) -> ExtensionResponse:
        self.calls.append((registry, item, dict(request)))
        code, message, rows = self.fn(registry, item, request)
        return ExtensionResponse(status=ExtensionStatus(code=code, message=message), response=rows)

    def shutdown(self) -> None:
        return None

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        transport = client.wrap_socket(conn)
        prot = client.protocol(transport)
        processor = Extension.Processor(self)
        try:
            while True:
                processor.process(prot, prot)
        except (TException, OSError, EOFError):
            pass
        finally:
            transport.close()

    def stop(self) -> None:
        """Stop serving, leaving the socket file behind (as a killed process does)."""
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def table_routes(columns: list[tuple[str, str]], **extra: str) -> list[dict[str, str]]:
    out = [{"id": "column", "name": n, "type": t, "op": "0"} for n, t in columns]
    out.extend({"id": k, **({"alias": v} if k == "alias" else {})} for k, v in extra.items())
    return out


def write_executable(path: Path, text: str, mode: int = 0o755) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def python_extension(path: Path, body: str, start: str) -> Path:
    """A real osquery-python extension: a script run by this interpreter
    (whose environment has the osquery package), ending in ``.ext``."""
    src = f"#!{sys.executable}\n" + textwrap.dedent(body).strip() + "\n\n" + \
        "if __name__ == '__main__':\n    " + start + "\n"
    return write_executable(path, src)


def is_char_device(path: str, major: int, minor: int) -> bool:
    st = os.stat(path)
    return stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)


def em_client(path: str) -> Any:
    """osquery-python's own client to a manager (the package under test's peer)."""
    import osquery
    c = osquery.ExtensionClient(path=path)
    assert c.open(timeout=5), f"cannot open {path}"
    return c
