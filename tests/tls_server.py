"""A real TLS server speaking osquery's remote API, for the tests and bench/.

    pki = make_pki(tmp)                          # CA, CN-only server cert, client cert...
    srv = OsqueryServer(pki, secret="s3cret")    # enroll, config, log, distributed, carve
    srv.config = {"schedule": {...}}
    with srv:
        flags = srv.flags(secret_file)           # the daemon's --tls_* flags
        ...
        srv.results("name")                      # result lines the logger endpoint got

Endpoints (as osquery's own tools/tests/test_http_server.py and Fleet):
``/enroll`` (answers a new node key for the right secret, ``node_invalid``
otherwise), ``/config``, ``/log``, ``/distributed_read``,
``/distributed_write``, ``/carve_init``, ``/carve_block``.  Every request
is recorded (path, headers, parsed body, whether it was gzipped, the
client certificate's subject).  A request with an unknown node key gets
``{"node_invalid": true}``; ``invalidate()`` forgets every key issued so
far, as a server that lost its database.  ``down()`` closes the listening
socket and every open connection (connections are refused until ``up()``),
``fail_with(status)`` answers every request with that HTTP status.

Certificates are made with the openssl command, like osquery's test
certificates: the server certificate has a subject CN and no
subjectAltName.
"""
from __future__ import annotations

import base64
import gzip
import json
import socket
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _ca(tmp: Path, name: str) -> tuple[Path, Path]:
    key, crt = tmp / f"{name}.key", tmp / f"{name}.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
            "-days", "30", "-subj", f"/C=US/O=osqlite-testing/CN={name}")
    return crt, key


def _leaf(tmp: Path, name: str, ca: tuple[Path, Path], subject: str, ext: str | None = None) -> tuple[Path, Path]:
    key, csr, crt = tmp / f"{name}.key", tmp / f"{name}.csr", tmp / f"{name}.pem"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", subject)
    args = ["x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
            "-CAcreateserial", "-out", str(crt), "-days", "30"]
    if ext:
        (tmp / f"{name}.ext").write_text(ext)
        args += ["-extfile", str(tmp / f"{name}.ext")]
    openssl(*args)
    return crt, key


@dataclass
class PKI:
    ca: Path                    # the CA the daemon trusts (--tls_server_certs)
    server: tuple[Path, Path]   # CN=localhost, no subjectAltName (osquery's test certs)
    other_host: tuple[Path, Path]   # signed by the CA, for CN=otherhost.example
    rogue_ca: Path              # a CA nobody trusts
    rogue: tuple[Path, Path]    # CN=localhost, signed by rogue_ca
    client_ca: Path             # the CA the server checks client certificates against
    client: tuple[Path, Path]   # a client certificate signed by client_ca


def make_pki(tmp: Path) -> PKI:
    tmp.mkdir(parents=True, exist_ok=True)
    ca = _ca(tmp, "test-ca")
    rogue_ca = _ca(tmp, "rogue-ca")
    client_ca = _ca(tmp, "client-ca")
    return PKI(
        ca=ca[0],
        server=_leaf(tmp, "server", ca, "/C=US/ST=California/O=osquery-testing/CN=localhost"),
        other_host=_leaf(tmp, "otherhost", ca, "/C=US/O=osquery-testing/CN=otherhost.example"),
        rogue_ca=rogue_ca[0],
        rogue=_leaf(tmp, "rogue", rogue_ca, "/C=US/O=rogue/CN=localhost"),
        client_ca=client_ca[0],
        client=_leaf(tmp, "client", client_ca, "/C=US/O=osquery-testing/CN=node-1",
                     "extendedKeyUsage=clientAuth\n"),
    )


#: Fleet's agent endpoints (fleetdm/fleet server/service/handler.go) and the
#: names osquery's tools/tests/test_http_server.py uses for them.
FLEET_PATHS = {"/api/osquery/enroll": "/enroll", "/api/osquery/config": "/config",
               "/api/osquery/log": "/log", "/api/osquery/distributed/read": "/distributed_read",
               "/api/osquery/distributed/write": "/distributed_write",
               "/api/osquery/carve/begin": "/carve_init", "/api/osquery/carve/block": "/carve_block"}


def _canonical(path: str) -> str:
    path = path.split("?")[0]
    return FLEET_PATHS.get(path, path)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any
    gzipped: bool
    peer_cert: dict | None
    time: float = field(default_factory=time.time)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True      # headers and body are two writes
    server: "_HTTPServer"

    def log_message(self, fmt: str, *args: Any) -> None:   # quiet
        pass

    def do_POST(self) -> None:
        srv = self.server.owner
        length = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(length)
        gzipped = self.headers.get("Content-Encoding", "").lower() == "gzip"
        if gzipped:
            raw = gzip.decompress(raw)
        if srv.lean and _canonical(self.path) == "/log":
            # bench/: count the lines, do not parse them (the server must not be the limit).
            with srv.lock:
                srv.lines_received += raw.count(b'"action":"')
                srv.log_requests += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        try:
            body = json.loads(raw.decode("utf-8", "replace")) if raw else {}
        except ValueError:
            body = None
        try:
            peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        except (ValueError, OSError):
            peer = None
        req = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body, gzipped, peer)
        status, answer, *more = srv.handle(req)
        data = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (more[0] if more else {}).items():
            self.send_header(k, v)
        if data and "gzip" in self.headers.get("Accept-Encoding", "").lower():
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: "OsqueryServer", port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        tls = self.owner.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.owner.lock:
            self.owner.open.add(tls)
        return tls, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(10)
            request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            self.owner.handshake_errors.append(str(exc))
            return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.owner.lock:
            self.owner.open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class OsqueryServer:
    """osquery's TLS remote API on 127.0.0.1, recording every request."""

    def __init__(self, pki: PKI, secret: str = "this_is_a_deployment_secret",
                 cert: tuple[Path, Path] | None = None, require_client_cert: bool = False,
                 port: int = 0) -> None:
        self.pki = pki
        self.secret = secret
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*(str(p) for p in (cert or pki.server)))
        if require_client_cert:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(str(pki.client_ca))
        self.port = port
        self.lock = threading.Lock()
        self.open: set = set()
        self.handshake_errors: list[str] = []
        self.requests: list[Request] = []
        self.node_keys: set[str] = set()
        self.config: dict[str, Any] = {"schedule": {}}
        self.reads: list[dict[str, Any]] = []      # distributed read answers to hand out, in order
        self.writes: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []       # bodies of /log requests
        self.carves: dict[str, dict[str, Any]] = {}    # session_id -> carve
        self.status = 200
        self.lean = False           # count /log lines without parsing them (bench/)
        self.lines_received = 0
        self.log_requests = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> "OsqueryServer":
        self.up()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.down()

    def up(self) -> None:
        self._httpd = _HTTPServer(self, self.port)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening and cut every open connection: the host is unreachable."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self.lock:
            conns, self.open = list(self.open), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self._httpd = None

    def fail_with(self, status: int) -> None:
        self.status = status

    def invalidate(self) -> None:
        with self.lock:
            self.node_keys.clear()

    # -- the daemon's flags ---------------------------------------------------------------

    def flags(self, secret_file: Path, fleet: bool = False, **extra: Any) -> dict[str, Any]:
        """The daemon's flags for this server: osquery's test server paths,
        or (``fleet``) the endpoints Fleet serves and documents."""
        ep = {v: k for k, v in FLEET_PATHS.items()} if fleet else {p: p for p in FLEET_PATHS.values()}
        out = {"tls_hostname": f"localhost:{self.port}", "tls_server_certs": self.pki.ca,
               "enroll_secret_path": secret_file, "enroll_tls_endpoint": ep["/enroll"],
               "config_plugin": "tls", "config_tls_endpoint": ep["/config"],
               "logger_plugin": "tls", "logger_tls_endpoint": ep["/log"],
               "distributed_tls_read_endpoint": ep["/distributed_read"],
               "distributed_tls_write_endpoint": ep["/distributed_write"],
               "carver_start_endpoint": ep["/carve_init"], "carver_continue_endpoint": ep["/carve_block"]}
        out.update(extra)
        return out

    # -- what arrived ----------------------------------------------------------------------

    def of(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if _canonical(r.path) == path]

    def results(self, name: str | None = None) -> list[dict]:
        with self.lock:
            out = [x for b in self.logs if b.get("log_type") == "result" for x in b.get("data", [])]
        return [x for x in out if name is None or x.get("name") == name]

    def statuses(self) -> list[dict]:
        with self.lock:
            return [x for b in self.logs if b.get("log_type") == "status" for x in b.get("data", [])]

    def carved(self) -> list[bytes]:
        """The archives of the carves that arrived whole."""
        with self.lock:
            done = [c for c in self.carves.values() if len(c["blocks"]) == c["block_count"]]
            return [b"".join(c["blocks"][i] for i in range(c["block_count"])) for c in done]

    # -- answering ----------------------------------------------------------------------------

    def handle(self, req: Request) -> tuple:
        """(HTTP status, JSON answer or None[, extra headers]); tests may replace it."""
        with self.lock:
            self.requests.append(req)
        path = _canonical(req.path)
        body = req.body if isinstance(req.body, dict) else {}
        if self.status != 200:
            return self.status, {"error": f"the test server answers {self.status}"}
        if path == "/enroll":
            if body.get("enroll_secret") != self.secret:
                return 401, {"error": "enroll failed: invalid secret", "node_invalid": True}
            key = "node-" + uuid.uuid4().hex
            with self.lock:
                self.node_keys.add(key)
            return 200, {"node_key": key}
        if path == "/carve_block":
            return self._carve_block(body)
        with self.lock:
            known = body.get("node_key") in self.node_keys
        if not known:
            return 401, {"error": "invalid node key", "node_invalid": True}
        if path == "/config":
            return 200, self.config
        if path == "/log":
            with self.lock:
                self.logs.append(body)
            return 200, {}
        if path == "/distributed_read":
            with self.lock:
                answer = self.reads.pop(0) if self.reads else {"queries": {}}
            return 200, answer
        if path == "/distributed_write":
            with self.lock:
                self.writes.append(body)
            return 200, {}
        if path == "/carve_init":
            sid = uuid.uuid4().hex
            with self.lock:
                self.carves[sid] = {"block_count": int(body["block_count"]),
                                    "block_size": int(body["block_size"]),
                                    "carve_size": int(body["carve_size"]),
                                    "carve_id": body["carve_id"], "request_id": body.get("request_id"),
                                    "blocks": {}}
            return 200, {"session_id": sid}
        return 404, {"error": f"no endpoint {path}"}

    def _carve_block(self, body: dict) -> tuple[int, Any]:
        with self.lock:
            carve = self.carves.get(body.get("session_id"))
            if carve is None:
                return 404, {"error": "unknown session"}
            carve["blocks"][int(body["block_id"])] = base64.b64decode(body["data"])
        return 200, {"success": True}
