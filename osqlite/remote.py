"""osquery's TLS remote API, client side: transport, enrollment, requests.

What Fleet, Kolide or Elastic's osquery manager see from an osqlite host is
what they see from osqueryd (osquery: osquery/remote/transports/tls.cpp,
osquery/remote/http_client.cpp, osquery/remote/utility.h,
osquery/remote/enroll/enroll.cpp, plugins/remote/enroll/tls_enroll.cpp):

* every call is an HTTPS POST of a JSON object to ``https://`` +
  ``--tls_hostname`` (``host:port``) + an endpoint, with
  ``Content-Type``/``Accept: application/json``, ``User-Agent:
  osquery/5.23.0`` and, once enrolled, ``Authorization: NodeKey <key>``;
  the body carries ``node_key`` too (except the enroll request);
* the answer is a JSON object (an empty body is ``{}``): ``"node_invalid":
  true`` forgets the node key (unless ``--disable_reenrollment``), so the
  next call enrolls again, and a top-level ``"error"`` fails the call;
* ``--config_tls_max_attempts`` and ``--distributed_tls_max_attempts``
  retry a failed call, sleeping i*i seconds between attempts; enrollment
  retries ``--tls_enroll_max_attempts`` times (0: forever), sleeping
  ``min(n*n, --tls_enroll_max_interval)``; every sleep ends at shutdown.

The transport is the standard library's ``ssl`` and ``http.client``:
TLS 1.2 or later, osquery's TLS 1.2 cipher list, the peer certificate and
its host name always verified.  osquery checks host names with OpenSSL's
X509_check_host, which looks at the subject CN only when the certificate
has no DNS subjectAltName at all, and osquery's test certificates are such
CN-only certificates.  ssl does the same with ``hostname_checks_common_name``
(a certificate that has DNS names is never matched on its CN, partial
wildcards are refused, and the chain is verified as always), so the context
turns that on and does NOT use ``create_default_context``'s
VERIFY_X509_STRICT, which would refuse such (version 1) certificates.
``--tls_server_certs`` is the trust store (a PEM bundle or a directory; the
trusted certificate may be the server's own, pinned); when it is left at
osquery's default path and that file does not exist, the system's store is
used (osquery ships its own copy of the public CAs at that path).
Connections are kept alive per thread (``--tls_session_reuse``, renewed
after ``--tls_session_timeout`` seconds), ``--proxy_hostname`` tunnels
through an HTTP proxy with CONNECT (port 3128 by default), redirects are
followed up to 10 times but only to https URLs, ``--tls_accept_gzip`` asks
for gzip answers, ``--logger_tls_compress`` gzips log bodies, each request
has osquery's 16 s timeout.

One deliberate difference: osquery never looks at the HTTP status.  osqlite
reads the body first (so ``node_invalid`` and ``error`` work as in osquery,
whatever the status), and then counts a status outside 200-299 as a failed
call: a load balancer's 502 page or an empty 503 must not count as a
server that took the log lines.

The enroll secret (``--enroll_secret_path`` trimmed, else the environment
variable ``--enroll_secret_env`` names) is sent in the enroll body only and
never written to any log.
"""
from __future__ import annotations

import gzip
import http.client
import json
import logging
import os
import socket
import ssl
import threading
import time
import zlib
from typing import Any, Callable
from urllib.parse import urlsplit

from .files import InputError, read_stream
from .flags import OSQUERY_VERSION

log = logging.getLogger("osqlite.remote")

USER_AGENT = f"osquery/{OSQUERY_VERSION}"
#: osquery: osquery/remote/transports/tls.h kTLSCiphers (TLS 1.2 suites;
#: TLS 1.3 negotiates its own).
CIPHERS = ("ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:ECDH+3DES:"
           "DH+3DES:RSA+AESGCM:RSA+AES:RSA+3DES:!aNULL:!MD5:!CBC:!SHA:!DSS:!kDHE:!kRSA")
DEFAULT_SERVER_CERTS = "/opt/osquery/share/osquery/certs/certs.pem"
TIMEOUT = 16.0                  # osquery: TLSTransport::getOptions timeout(16)
MAX_REDIRECTS = 10
PROXY_PORT = 3128
MAX_RESPONSE = 256 << 20        # bytes of an answer, after gunzip
MAX_SECRET = 64 << 10
PLATFORM_TYPE = "9"             # osquery: PlatformType POSIX | LINUX
HOST_DETAILS = ("os_version", "osquery_info", "system_info", "platform_info")
_REDIRECTS = (301, 302, 303, 307, 308)


class RemoteError(Exception):
    """A remote call failed; str() is one line saying why.  ``permanent``:
    the flags are wrong (no --tls_hostname, an unreadable certificate), so
    trying again cannot help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


# -- the transport -----------------------------------------------------------------------

def split_hostport(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise RemoteError(f"no host name in {text!r}")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise RemoteError(f"bad port in {text!r}")
        return host, int(port)
    return host, default_port


def tls_context(flags: Any) -> ssl.SSLContext:
    """The client context osquery's TLSTransport::getInternalOptions builds."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)       # CERT_REQUIRED, check_hostname
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.hostname_checks_common_name = True              # CN only when there is no DNS SAN
    ctx.verify_flags |= getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)   # a pinned leaf
    ctx.set_ciphers(CIPHERS)
    certs = flags["tls_server_certs"]
    if certs and not (certs == DEFAULT_SERVER_CERTS and not os.path.exists(certs)):
        try:
            if os.path.isdir(certs):
                ctx.load_verify_locations(capath=certs)
            else:
                ctx.load_verify_locations(cafile=certs)
        except (OSError, ssl.SSLError) as exc:
            raise RemoteError(f"cannot read --tls_server_certs={certs}: {_reason(exc)}",
                              permanent=True) from None
    else:
        ctx.load_default_certs()
    cert, key = flags["tls_client_cert"], flags["tls_client_key"]
    if cert and key:
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise RemoteError(f"cannot use --tls_client_cert={cert} with --tls_client_key={key}: "
                              f"{_reason(exc)}", permanent=True) from None
    elif cert or key:
        log.warning("--tls_client_cert and --tls_client_key go together; the one given is ignored")
    return ctx


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class Transport:
    """HTTPS POSTs to the TLS server, one kept-alive connection per thread."""

    def __init__(self, flags: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.flags = flags
        self.clock = clock
        self._local = threading.local()
        self._ctx: ssl.SSLContext | None = None
        self._ctx_key: tuple = ()
        self._lock = threading.Lock()

    def context(self) -> ssl.SSLContext:
        f = self.flags
        key = (f["tls_server_certs"], f["tls_client_cert"], f["tls_client_key"])
        with self._lock:
            if self._ctx is None or key != self._ctx_key:
                self._ctx = tls_context(f)
                self._ctx_key = key
            return self._ctx

    def url(self, endpoint: str) -> str:
        host = self.flags["tls_hostname"]
        if not host:
            raise RemoteError("--tls_hostname is empty: pass --tls_hostname=<host:port of the TLS server>",
                              permanent=True)
        return "https://" + host + endpoint

    def post(self, url: str, body: bytes, node_key: str = "", compress: bool = False) -> tuple[int, dict]:
        """POST body (JSON) to url; (HTTP status, the answer as a dict)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": USER_AGENT}
        if node_key:
            headers["Authorization"] = "NodeKey " + node_key
        if self.flags["tls_accept_gzip"]:
            headers["Accept-Encoding"] = "gzip"
        if compress:
            body = gzip.compress(body, 6)
            headers["Content-Encoding"] = "gzip"
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme != "https":
                raise RemoteError(f"refusing to send to {_safe(url)}: only https is used")
            host, port = split_hostport(parts.netloc, 443)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            status, rheaders, data = self._exchange(host, port, target, body, headers)
            if status in _REDIRECTS:
                location = rheaders.get("location", "")
                if not location:
                    raise RemoteError(f"{_safe(url)}: redirect without a Location header")
                url = location if "://" in location else f"https://{parts.netloc}{location}"
                log.debug("HTTP(S) request re-directed to: %s", _safe(url))
                continue
            return status, _parse(data, rheaders, url)
        raise RemoteError(f"{_safe(url)}: exceeded max of {MAX_REDIRECTS} redirects")

    def _exchange(self, host: str, port: int, target: str, body: bytes,
                  headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        for fresh in (False, True):
            conn, reused = self._connection(host, port, fresh)
            try:
                # putrequest, not request: http.client would add an
                # "Accept-Encoding: identity" osquery never sends.
                conn.putrequest("POST", target, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read(MAX_RESPONSE + 1)
                if len(data) > MAX_RESPONSE:
                    raise RemoteError(f"https://{host}:{port}{target}: answer larger than "
                                      f"{MAX_RESPONSE >> 20} MiB")
                rheaders = {k.lower(): v for k, v in resp.getheaders()}
                if not self.flags["tls_session_reuse"] or resp.will_close:
                    self._drop()
                return resp.status, rheaders, data
            except RemoteError:
                self._drop()
                raise
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                # A kept-alive connection the server closed meanwhile: once more, afresh.
                if reused and not isinstance(exc, (ssl.SSLCertVerificationError, socket.timeout)):
                    continue
                where = f"{host}:{port}"
                if self.flags["proxy_hostname"]:
                    where += f" through proxy {self.flags['proxy_hostname']}"
                raise RemoteError(f"Request error: {where}: {_reason(exc)}") from None
        raise RemoteError(f"Request error: {host}:{port}: connection closed")  # pragma: no cover

    def _connection(self, host: str, port: int, fresh: bool) -> tuple[http.client.HTTPSConnection, bool]:
        local = self._local
        now = self.clock()
        conn = getattr(local, "conn", None)
        limit = self.flags["tls_session_timeout"]
        if conn is not None and (fresh or local.target != (host, port) or local.ctx is not self._ctx
                                 or (limit and now - local.opened > limit)):
            self._drop()
            conn = None
        if conn is not None:
            return conn, True
        ctx = self.context()
        proxy = self.flags["proxy_hostname"]
        if proxy:
            phost, pport = split_hostport(proxy, PROXY_PORT)
            conn = http.client.HTTPSConnection(phost, pport, context=ctx, timeout=TIMEOUT)
            conn.set_tunnel(host, port)
        else:
            conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=TIMEOUT)
        local.conn, local.target, local.opened, local.ctx = conn, (host, port), now, ctx
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._drop()


def _parse(data: bytes, headers: dict[str, str], url: str) -> dict:
    if headers.get("content-encoding", "").lower() == "gzip":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = d.decompress(data, MAX_RESPONSE + 1)
        except zlib.error as exc:
            raise RemoteError(f"{_safe(url)}: bad gzip answer: {exc}") from None
        if len(data) > MAX_RESPONSE:
            raise RemoteError(f"{_safe(url)}: answer larger than {MAX_RESPONSE >> 20} MiB")
    if not data.strip():
        return {}       # osquery: JSONSerializer::deserialize, an empty body is {}
    try:
        doc = json.loads(data.decode("utf-8", "surrogateescape"))
    except ValueError as exc:
        raise RemoteError(f"{_safe(url)}: the answer is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RemoteError(f"{_safe(url)}: the answer is not a JSON object")
    return doc


def _safe(url: str) -> str:
    """A URL for a message: without its query, which may hold the enroll secret."""
    return url.split("?", 1)[0]


# -- the node: enrollment and requests ---------------------------------------------------

class Remote:
    """One daemon's link to its TLS server: the node key and the calls.

    ``daemon`` gives ``flags``, ``open_state()`` (the state database holds
    the node key as osquery's ``nodeKey`` and ``nodeKeyTime``),
    ``stop_event`` (sleeps end at shutdown), ``host_identifier()`` and
    ``host_details()`` (the tables' first rows for the enroll body)."""

    def __init__(self, daemon: Any, transport: Transport | None = None) -> None:
        self.daemon = daemon
        self.flags = daemon.flags
        self.transport = transport or Transport(daemon.flags)
        self._key_lock = threading.Lock()

    # -- sleeping ---------------------------------------------------------------------

    def wait(self, seconds: float) -> bool:
        """Sleep; True when the daemon is stopping."""
        event = getattr(self.daemon, "stop_event", None)
        if event is None:
            time.sleep(seconds)
            return False
        return event.wait(seconds)

    # -- enrollment (osquery: getNodeKey, clearNodeKey, TLSEnrollPlugin) -------------

    def node_key(self) -> str:
        """The node key; enrolls when there is none.  "" when enrollment is
        disabled or failed."""
        if self.flags["disable_enrollment"]:
            return ""
        with self._key_lock:
            state = self.daemon.open_state()
            key = state.get("nodeKey")
            if key:
                return key
            requested = str(int(time.time()))
            key = self._enroll()
            if key:
                state.put("nodeKey", key)
                state.put("nodeKeyTime", requested)
            return key

    def clear_node_key(self) -> None:
        with self._key_lock:
            self.daemon.open_state().delete("nodeKey")

    def secret(self) -> str:
        path, env = self.flags["enroll_secret_path"], self.flags["enroll_secret_env"]
        if path:
            try:
                data = read_stream(path, MAX_SECRET, 2.0)
            except InputError as exc:
                log.warning("Could not read the enroll secret file at %s, error: %s",
                            path, exc.strerror or exc)
                return ""
            return data.decode("utf-8", "surrogateescape").strip()
        if env:
            value = os.environ.get(env)
            if value is None:
                log.warning("Could not get enroll secret from environment variable: %s", env)
                return ""
            return value
        return ""

    def _enroll_url(self) -> tuple[str, str]:
        """(URL to post to, URL to name in messages: never the secret)."""
        url = self.transport.url(self.flags["enroll_tls_endpoint"])
        shown = url
        if self.flags["tls_secret_always"]:
            url += ("&" if "?" in url else "?") + self.flags["tls_enroll_override"] + "=" + self.secret()
        return url, shown

    def _enroll(self) -> str:
        attempts = self.flags["tls_enroll_max_attempts"]
        cap = self.flags["tls_enroll_max_interval"]
        attempt, step = 1, 1
        while True:
            try:
                url, shown = self._enroll_url()
                log.debug("TLSEnrollPlugin requesting a node enroll key from: %s", shown)
                return self._request_key(url, shown)
            except RemoteError as exc:
                reason = exc
            if reason.permanent:
                log.warning("Cannot enroll: %s", reason)
                return ""
            if attempts and attempt >= attempts:
                log.warning("Failed enrollment request to %s (%s); giving up after %d attempts",
                            shown, reason, attempt)
                return ""
            attempt += 1
            interval = min(step * step, cap)
            if interval < cap:
                step += 1
            log.warning("Failed enrollment request to %s (%s) retrying...", shown, reason)
            if self.wait(interval):
                log.warning("Enrollment attempts interrupted due to a shutdown request")
                return ""

    def _request_key(self, url: str, shown: str) -> str:
        body = {self.flags["tls_enroll_override"]: self.secret(),
                "host_identifier": self.daemon.host_identifier(),
                "platform_type": PLATFORM_TYPE,
                "host_details": self.daemon.host_details(HOST_DETAILS)}
        status, doc = self.transport.post(url, json.dumps(body).encode("utf-8", "surrogateescape"))
        key = doc.get("node_key", doc.get("id"))
        if not isinstance(key, str) or not key:
            said = doc.get("error")
            extra = f" (the server said: {said})" if isinstance(said, str) and said else ""
            if not extra and not 200 <= status < 300:
                extra = f" (HTTP status {status})"
            raise RemoteError(f"No node key returned from TLS enroll plugin{extra}")
        return key

    # -- requests (osquery: TLSRequestHelper::go) ------------------------------------

    def url(self, endpoint: str) -> str:
        url = self.transport.url(endpoint)
        if self.flags["tls_secret_always"]:
            url += ("&" if "?" in url else "?") + self.flags["tls_enroll_override"] + "=" + self.secret()
        return url

    def call(self, endpoint: str, params: dict | None = None, attempts: int = 1,
             compress: bool = False, raw: bytes | None = None) -> dict:
        """POST params (plus node_key) to endpoint, with osquery's retries.
        ``raw`` is the body's members as JSON text without braces, for
        callers that already hold serialised lines.  Raises RemoteError."""
        attempts = max(1, attempts)
        last: RemoteError | None = None
        for i in range(1, attempts + 1):
            try:
                return self.call_once(endpoint, params, compress, raw)
            except RemoteError as exc:
                last = exc
            if i == attempts or last.permanent:
                log.debug("HTTP(S) request failed: %s, done retrying after %d times", last, i)
                break
            log.debug("HTTP(S) request failed: %s, retrying in %d seconds...", last, i * i)
            if self.wait(i * i):
                break
        assert last is not None
        raise last

    def call_once(self, endpoint: str, params: dict | None = None, compress: bool = False,
                  raw: bytes | None = None) -> dict:
        key = self.node_key()
        url = self.url(endpoint)
        head = json.dumps(key)
        members = json.dumps(params or {}, ensure_ascii=False)[1:-1].encode("utf-8", "surrogateescape")
        body = b'{"node_key":' + head.encode() + (b"," + members if members else b"")
        if raw:
            body += b"," + raw
        body += b"}"
        log.debug("TLS/HTTPS POST request to URI: %s", _safe(url))
        status, doc = self.transport.post(url, body, key, compress)
        invalid = doc.get("node_invalid")
        if invalid is True:
            if not self.flags["disable_reenrollment"]:
                self.clear_node_key()
            said = doc.get("error")
            raise RemoteError("Request failed: Invalid node key"
                              + (f": {said if isinstance(said, str) else '<unknown>'}" if "error" in doc else ""))
        if "error" in doc:
            said = doc["error"]
            raise RemoteError(f"Request failed: {said if isinstance(said, str) else '<unknown>'}")
        if not 200 <= status < 300:
            raise RemoteError(f"Request failed: HTTP status {status} from {_safe(url)}")
        return doc


_clients = threading.Lock()


def client(daemon: Any) -> Remote:
    """The daemon's one Remote (the plugins share its node key and connections)."""
    with _clients:
        remote = getattr(daemon, "_remote", None)
        if remote is None:
            remote = daemon._remote = Remote(daemon)
        return remote
