"""systemd_units: osqlite's own D-Bus client against a fake bus in Python.

The fake server speaks the real wire protocol (SASL EXTERNAL, Hello, method
calls, little- or big-endian replies) on a UNIX socket placed under
OSQLITE_ROOT, so the C marshalling and the strict reader are exercised for
real, including hostile replies.
"""
from __future__ import annotations

import os
import socket
import struct
import threading
from pathlib import Path

import pytest
from conftest import rows

# ---- a tiny D-Bus marshaller ------------------------------------------------

class W:
    def __init__(self, big: bool = False):
        self.b = bytearray()
        self.e = ">" if big else "<"

    def pad(self, k: int) -> None:
        while len(self.b) % k:
            self.b.append(0)

    def u32(self, v: int) -> None:
        self.pad(4)
        self.b += struct.pack(self.e + "I", v)

    def byte(self, v: int) -> None:
        self.b.append(v)

    def s(self, v: str) -> None:
        raw = v.encode()
        self.u32(len(raw))
        self.b += raw + b"\0"

    def g(self, v: str) -> None:
        self.b.append(len(v))
        self.b += v.encode() + b"\0"


def marshal_units(units, big=False) -> bytes:
    w = W(big)
    w.u32(0)  # array length placeholder
    w.pad(8)
    start = len(w.b)
    for u in units:
        w.pad(8)
        for t, v in zip("ssssssouso", u):
            if t == "u":
                w.u32(v)
            else:
                w.s(v)
    n = len(w.b) - start
    w.b[0:4] = struct.pack(w.e + "I", n)
    return bytes(w.b)


def message(mtype: int, serial: int, reply: int | None, sig: str, body: bytes,
            big=False, error: str | None = None, extra_fields=b"") -> bytes:
    w = W(big)
    w.byte(ord("B") if big else ord("l"))
    w.byte(mtype)
    w.byte(0)
    w.byte(1)
    w.u32(len(body))
    w.u32(serial)
    w.u32(0)
    fstart = len(w.b)
    if reply is not None:
        w.pad(8); w.byte(5); w.g("u"); w.u32(reply)
    if error:
        w.pad(8); w.byte(4); w.g("s"); w.s(error)
    if sig:
        w.pad(8); w.byte(8); w.g("g"); w.g(sig)
    if mtype == 4:  # signals carry path, interface, member
        w.pad(8); w.byte(1); w.g("o"); w.s("/org/freedesktop/DBus")
        w.pad(8); w.byte(2); w.g("s"); w.s("org.freedesktop.DBus")
        w.pad(8); w.byte(3); w.g("s"); w.s("NameAcquired")
    w.b += extra_fields
    flen = len(w.b) - fstart
    w.b[12:16] = struct.pack(w.e + "I", flen)
    w.pad(8)
    return bytes(w.b) + body


def parse_call(buf: bytes):
    """Parse a little-endian method call: (serial, fields, body, total)."""
    if len(buf) < 16:
        return None
    assert buf[0:1] == b"l" and buf[1] == 1 and buf[3] == 1
    blen, serial, flen = struct.unpack("<III", buf[4:16])
    hlen = (16 + flen + 7) & ~7
    total = hlen + blen
    if len(buf) < total:
        return None
    fields = {}
    off = 16
    while off < 16 + flen:
        off = (off + 7) & ~7
        code = buf[off]; off += 1
        sl = buf[off]; sig = buf[off + 1:off + 1 + sl].decode(); off += sl + 2
        if sig in ("s", "o"):
            off = (off + 3) & ~3
            (n,) = struct.unpack("<I", buf[off:off + 4]); off += 4
            fields[code] = buf[off:off + n].decode(); off += n + 1
        elif sig == "g":
            n = buf[off]; fields[code] = buf[off + 1:off + 1 + n].decode(); off += n + 2
        else:
            raise AssertionError(sig)
    body = buf[hlen:total]
    args = []
    off = 0
    while off < len(body):
        off = (off + 3) & ~3
        (n,) = struct.unpack("<I", body[off:off + 4]); off += 4
        args.append(body[off:off + n].decode()); off += n + 1
    return serial, fields, args, total


UNITS = [
    ("ssh.service", "OpenBSD Secure Shell server", "loaded", "active", "running",
     "", "/org/freedesktop/systemd1/unit/ssh_2eservice", 0, "", "/"),
    ("backup.timer", "Nightly backup", "loaded", "active", "waiting",
     "", "/org/freedesktop/systemd1/unit/backup_2etimer", 17, "start",
     "/org/freedesktop/systemd1/job/17"),
    ("weird\u00e9.mount", "déjà vu ünïcode", "not-found", "inactive", "dead",
     "other.mount", "/org/freedesktop/systemd1/unit/weird", 0, "", "/"),
]

PROPS = {
    ("/org/freedesktop/systemd1/unit/ssh_2eservice", "FragmentPath"): "/lib/systemd/system/ssh.service",
    ("/org/freedesktop/systemd1/unit/ssh_2eservice", "SourcePath"): "",
    ("/org/freedesktop/systemd1/unit/ssh_2eservice", "User"): "root",
    ("/org/freedesktop/systemd1/unit/backup_2etimer", "FragmentPath"): "/etc/systemd/system/backup.timer",
    ("/org/freedesktop/systemd1/unit/backup_2etimer", "SourcePath"): "/etc/fstab",
}


class FakeBus:
    """A one-connection-at-a-time fake system bus on a UNIX socket."""

    def __init__(self, path: Path, mode: str = "ok", big: bool = False,
                 peer: bool = False):
        self.peer = peer
        self.path = path
        self.mode = mode
        self.big = big
        self.calls: list[tuple[str, list[str]]] = []
        self.auth: list[bytes] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def close(self):
        self.stop = True
        self.t.join(5)
        self.sock.close()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            c.settimeout(5)
            try:
                self.serve(c)
            except (OSError, AssertionError):
                pass
            finally:
                c.close()

    def serve(self, c):
        buf = b""
        while b"\r\n" not in buf:
            d = c.recv(4096)
            if not d:
                return
            buf += d
        line, buf = buf.split(b"\r\n", 1)
        self.auth.append(line)
        if self.mode == "reject-auth":
            c.sendall(b"REJECTED EXTERNAL\r\n")
            return
        c.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
        while b"BEGIN\r\n" not in buf:
            d = c.recv(4096)
            if not d:
                return
            buf += d
        buf = buf.split(b"BEGIN\r\n", 1)[1]
        serial = 100
        while True:
            p = parse_call(buf)
            while p is None:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                p = parse_call(buf)
            cs, fields, args, total = p
            buf = buf[total:]
            member = fields.get(3)
            self.calls.append((member, args))
            serial += 1
            if member == "Hello":
                assert fields.get(6) == "org.freedesktop.DBus"
                # A signal first: the client must skip it.
                sig = W(self.big); sig.s(":1.42")
                c.sendall(message(4, serial, None, "s", bytes(sig.b), big=self.big))
                body = W(self.big); body.s(":1.42")
                c.sendall(message(2, serial + 1, cs, "s", bytes(body.b), big=self.big))
                serial += 1
            elif member == "ListUnits":
                if self.peer:
                    assert 6 not in fields
                else:
                    assert fields.get(6) == "org.freedesktop.systemd1"
                assert fields.get(2) == "org.freedesktop.systemd1.Manager"
                self.reply_units(c, cs, serial)
            elif member == "Get":
                key = (fields.get(1), args[1])
                if key in PROPS:
                    b = W(self.big); b.g("s"); b.s(PROPS[key])
                    c.sendall(message(2, serial, cs, "v", bytes(b.b), big=self.big))
                else:
                    b = W(self.big); b.s("no such property")
                    c.sendall(message(3, serial, cs, "s", bytes(b.b), big=self.big,
                                      error="org.freedesktop.DBus.Error.UnknownProperty"))
            else:
                return

    def reply_units(self, c, cs, serial):
        m = self.mode
        body = marshal_units(UNITS, self.big)
        if m == "ok":
            c.sendall(message(2, serial, cs, "a(ssssssouso)", body, big=self.big))
        elif m == "empty":
            c.sendall(message(2, serial, cs, "a(ssssssouso)", marshal_units([], self.big), big=self.big))
        elif m == "error":
            b = W(); b.s("denied")
            c.sendall(message(3, serial, cs, "s", bytes(b.b), error="org.freedesktop.DBus.Error.AccessDenied"))
        elif m == "wrong-sig":
            c.sendall(message(2, serial, cs, "as", body))
        elif m == "truncated":
            msg = message(2, serial, cs, "a(ssssssouso)", body)
            c.sendall(msg[:-7])  # then close: short read
        elif m == "bogus-array":
            bad = bytearray(body); bad[0:4] = struct.pack("<I", 0x7fffffff)
            c.sendall(message(2, serial, cs, "a(ssssssouso)", bytes(bad)))
        elif m == "bogus-string":
            bad = bytearray(body); bad[8:12] = struct.pack("<I", 0xfffffff0)
            c.sendall(message(2, serial, cs, "a(ssssssouso)", bytes(bad)))
        elif m == "no-nul":
            bad = bytearray(body)
            n = struct.unpack("<I", bad[8:12])[0]
            bad[12 + n] = ord("X")  # string terminator replaced
            c.sendall(message(2, serial, cs, "a(ssssssouso)", bytes(bad)))
        elif m == "nonzero-pad":
            bad = bytearray(body); bad[4] = 1  # padding after the array length
            c.sendall(message(2, serial, cs, "a(ssssssouso)", bytes(bad)))
        elif m == "huge-body":
            hdr = bytearray(message(2, serial, cs, "a(ssssssouso)", b""))
            hdr[4:8] = struct.pack("<I", 0xfffffff0)
            c.sendall(bytes(hdr))
        elif m == "garbage":
            c.sendall(os.urandom(64) + b"\xff" * 4096)
        elif m == "silent":
            import time
            time.sleep(3)
        elif m == "wrong-serial":
            c.sendall(message(2, serial, cs + 1000, "a(ssssssouso)", body))
        else:
            raise AssertionError(m)


@pytest.fixture
def fakebus(tmp_path, root, monkeypatch):
    buses = []
    monkeypatch.setenv("OSQLITE_DBUS_TIMEOUT_MS", "1500")

    def start(mode="ok", big=False, where="run/dbus/system_bus_socket"):
        b = FakeBus(tmp_path / where, mode, big)
        buses.append(b)
        root(tmp_path)
        return b

    yield start
    for b in buses:
        b.close()


def expected_rows(props=True):
    out = []
    for u in UNITS:
        r = dict(zip(["id", "description", "load_state", "active_state", "sub_state",
                      "following", "object_path", "job_id", "job_type", "job_path"], u))
        if props:
            r["fragment_path"] = PROPS.get((u[6], "FragmentPath"), "")
            r["source_path"] = PROPS.get((u[6], "SourcePath"), "")
            r["user"] = PROPS.get((u[6], "User"), "")
        out.append(r)
    return out


def test_list_units_and_properties(conn, fakebus):
    bus = fakebus("ok")
    got = rows(conn, "SELECT * FROM systemd_units")
    want = expected_rows()
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for k, v in w.items():
            assert g[k] == v, (k, g, w)
        assert g["unit_file_state"] is None
    # SASL EXTERNAL carried the uid as hex-encoded ASCII.
    assert bus.auth[0] == b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode()
    members = [m for m, _ in bus.calls]
    assert members[:2] == ["Hello", "ListUnits"]
    assert members.count("Get") == 3 * len(UNITS)
    assert ("Get", ["org.freedesktop.systemd1.Service", "User"]) in bus.calls


def test_big_endian_replies(conn, fakebus):
    fakebus("ok", big=True)
    got = rows(conn, "SELECT id, job_id, user FROM systemd_units")
    assert [(r["id"], r["job_id"]) for r in got] == [(u[0], u[7]) for u in UNITS]
    assert got[0]["user"] == "root"


def test_properties_skipped_when_unused(conn, fakebus):
    bus = fakebus("ok")
    got = rows(conn, "SELECT id, active_state FROM systemd_units")
    assert [r["id"] for r in got] == [u[0] for u in UNITS]
    assert [m for m, _ in bus.calls] == ["Hello", "ListUnits"]


def test_filter(conn, fakebus):
    fakebus("ok")
    got = rows(conn, "SELECT id FROM systemd_units WHERE sub_state = 'waiting'")
    assert got == [{"id": "backup.timer"}]


def test_empty_list(conn, fakebus):
    fakebus("empty")
    assert rows(conn, "SELECT * FROM systemd_units") == []


def test_private_socket_without_bus(conn, root, tmp_path, monkeypatch):
    # No system bus: systemd's peer-to-peer socket, without Hello and
    # without destinations.
    monkeypatch.setenv("OSQLITE_DBUS_TIMEOUT_MS", "1500")
    bus = FakeBus(tmp_path / "run/systemd/private", "ok", peer=True)
    try:
        root(tmp_path)
        got = rows(conn, "SELECT id, user FROM systemd_units")
    finally:
        bus.close()
    assert [r["id"] for r in got] == [u[0] for u in UNITS]
    assert got[0]["user"] == "root"
    assert bus.calls[0][0] == "ListUnits"
    assert "Hello" not in [m for m, _ in bus.calls]


@pytest.mark.parametrize("mode", [
    "error", "wrong-sig", "truncated", "bogus-array", "bogus-string", "no-nul",
    "nonzero-pad", "huge-body", "garbage", "silent", "wrong-serial", "reject-auth",
])
def test_hostile_bus_gives_no_rows(conn, fakebus, mode):
    fakebus(mode)
    assert rows(conn, "SELECT * FROM systemd_units") == []


def test_absent_systemd(conn, root, tmp_path):
    root(tmp_path)  # no sockets at all
    assert rows(conn, "SELECT * FROM systemd_units") == []


def test_socket_path_not_listening(conn, root, tmp_path):
    p = tmp_path / "run/dbus"
    p.mkdir(parents=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(p / "system_bus_socket"))
    s.close()  # a stale socket file: connect is refused
    root(tmp_path)
    assert rows(conn, "SELECT * FROM systemd_units") == []


def test_live_system():
    if not (os.path.exists("/run/dbus/system_bus_socket") or os.path.exists("/run/systemd/private")):
        pytest.skip("no system bus or systemd here")
    import osqlite
    c = osqlite.connect()
    ids = [r[0] for r in c.execute("SELECT id FROM systemd_units")]
    assert all(isinstance(i, str) for i in ids)
