"""A scripted HTTP/1.1 server for the tables that talk to services (Docker,
LXD, cloud metadata, curl, prometheus_metrics), on a UNIX socket or on
127.0.0.1, plain or TLS.

    srv = ScriptedServer(unix_path=tmp / "docker.sock")
    srv.route("/version", json_body({"Version": "24.0.7"}))
    srv.route("/info", raw(b"HTTP/1.1 200 OK\\r\\n\\r\\n{trunc"))
    srv.route("/hang", HANG)
    with srv: ...

Routes match the request target exactly, then its path without the query.
Every request is recorded in srv.requests as (method, target, headers,
body), so tests can assert what the client sent.  The server stops itself
after `lifetime` seconds at most, and a HANG route is released when the
server stops.
"""
from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Union

HANG = object()
Response = Union[bytes, Callable[[str, str, dict, bytes], bytes], object]


def raw(data: bytes) -> bytes:
    return data


def http(status: int, body: bytes, headers: dict | None = None, chunked: bool = False,
         reason: str = "OK") -> bytes:
    head = [f"HTTP/1.1 {status} {reason}"]
    for k, v in (headers or {}).items():
        head.append(f"{k}: {v}")
    if chunked:
        head.append("Transfer-Encoding: chunked")
        parts = [body[i:i + 7] for i in range(0, len(body), 7)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def json_body(doc, status: int = 200, chunked: bool = False) -> bytes:
    return http(status, json.dumps(doc).encode(), {"Content-Type": "application/json"},
                chunked=chunked)


class ScriptedServer:
    def __init__(self, unix_path: Path | str | None = None, tls: tuple[Path, Path] | None = None,
                 lifetime: float = 120.0) -> None:
        self.unix_path = str(unix_path) if unix_path else None
        self.tls = tls
        self.lifetime = lifetime
        self.routes: dict[str, Response] = {}
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.port = 0

    def route(self, target: str, resp: Response) -> None:
        self.routes[target] = resp

    def __enter__(self) -> "ScriptedServer":
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.unix_path)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._ctx = None
        if self.tls:
            self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
        self._deadline = time.monotonic() + self.lifetime
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self.sock.close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            if self._ctx is not None:
                try:
                    conn = self._ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 1 << 20:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            want = int(headers.get("content-length", "0") or 0)
            while len(body) < want:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            self.requests.append((method, target, headers, body))
            resp = self.routes.get(target, self.routes.get(target.split("?")[0]))
            if resp is HANG:
                self._stop.wait(self.lifetime)
                return
            if resp is None:
                resp = http(404, b"not found", reason="Not Found")
            if callable(resp):
                resp = resp(method, target, headers, body)
            conn.sendall(resp)  # type: ignore[arg-type]
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def make_ca_and_cert(tmp: Path, cn: str = "127.0.0.1") -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it, made with the
    openssl command (skips are the caller's business when it is absent)."""
    ca_key, ca_crt = tmp / "ca.key", tmp / "ca.crt"
    key, csr, crt = tmp / "srv.key", tmp / "srv.csr", tmp / "srv.crt"
    ext = tmp / "ext.cnf"
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
        "-out", str(ca_crt), "-days", "30", "-subj", "/CN=osqlite test CA/O=osqlite tests")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/CN={cn}/O=osqlite/OU=tests")
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "keyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(crt), "-days", "30", "-extfile", str(ext))
    return {"ca": ca_crt, "cert": crt, "key": key}
