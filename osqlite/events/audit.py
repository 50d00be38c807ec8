"""process_events and socket_events from the Linux audit netlink API, with
the proc connector as the process_events fallback.

Audit (as osquery's auditeventpublisher does, osquery/events/linux/
auditeventpublisher.cpp, auditnetlink.cpp):

* AUDIT_GET tells whether another audit daemon owns the audit socket; if
  one does (auditd, or another osqueryd) we do not take it over.
* AUDIT_SET enables audit, registers this process as the audit daemon and
  raises the backlog limit (audit_backlog_limit); the kernel's backlog
  wait time is left as it is, so a full backlog makes the audited process
  wait instead of dropping records.
* One exit-filter rule with key "osqlite" covers the syscalls we need
  (execve/execveat; connect/bind/accept/accept4), for this machine's
  native arch; it is removed, and audit's previous settings restored, on
  stop -- and removed at start in case a previous run was killed.
* Records (SYSCALL, EXECVE, CWD, PATH, SOCKADDR, EOE) are assembled by
  their serial number; EOE, or 2 s of silence, completes an event.
* The kernel's `lost` counter is polled every second and every increase is
  logged as a warning with the count; so is a receive-buffer overrun
  (ENOBUFS) on our socket.

Proc connector (NETLINK_CONNECTOR, CN_IDX_PROC): PROC_EVENT_EXEC gives the
pid; the rest is read from /proc/PID, which a short-lived process may
already have left (such rows have only what could be read).
"""
from __future__ import annotations

import binascii
import errno
import logging
import os
import re
import socket
import struct
import threading
import time

from .netlink import SO_RCVBUFFORCE, NetlinkPublisher, open_netlink

log = logging.getLogger("osqlite.events")

NETLINK_AUDIT = 9
NETLINK_CONNECTOR = 11
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_HDR = struct.Struct("=IHHII")

AUDIT_GET = 1000
AUDIT_SET = 1001
AUDIT_ADD_RULE = 1011
AUDIT_DEL_RULE = 1012
AUDIT_SYSCALL = 1300
AUDIT_PATH = 1302
AUDIT_SOCKADDR = 1306
AUDIT_CWD = 1307
AUDIT_EXECVE = 1309
AUDIT_EOE = 1320

AUDIT_STATUS_ENABLED = 0x01
AUDIT_STATUS_PID = 0x04
AUDIT_STATUS_BACKLOG_LIMIT = 0x10
STATUS = struct.Struct("=IIIIIIIIIII")   # struct audit_status (44 bytes)

AUDIT_FILTER_EXIT = 0x04
AUDIT_ALWAYS = 2
AUDIT_ARCH_FIELD = 11
AUDIT_FILTERKEY = 210
AUDIT_EQUAL = 0x40000000
AUDIT_BITMASK_SIZE = 64
RULE_KEY = b"osqlite"

# Per machine: audit arch, and syscall numbers.
MACHINES = {
    "x86_64": (0xC000003E, {"execve": 59, "execveat": 322, "connect": 42,
                            "bind": 49, "accept": 43, "accept4": 288}),
    "aarch64": (0xC00000B7, {"execve": 221, "execveat": 281, "connect": 203,
                             "bind": 200, "accept": 202, "accept4": 242}),
}

HEADER_RE = re.compile(r"audit\((\d+)\.(\d+):(\d+)\):\s*")


class AuditUnavailable(Exception):
    """Audit cannot be used: the message says why."""


def machine_syscalls():
    m = os.uname().machine
    if m not in MACHINES:
        raise AuditUnavailable(f"audit syscall rules are not known for machine {m}")
    return MACHINES[m]


# -- record parsing --------------------------------------------------------

def parse_fields(text: str) -> dict:
    """key=value pairs of one audit record body."""
    out = {}
    for tok in text.split():
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


def decode_value(v: str | None) -> str:
    """Audit string values: "quoted" as is, (null), or hex-encoded."""
    if v is None:
        return ""
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1]
    if v == "(null)":
        return ""
    try:
        return binascii.unhexlify(v).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return v


def execve_args(records: list) -> list:
    """argv from the EXECVE record(s), with a<N>_len / a<N>[i] pieces."""
    fields: dict = {}
    for r in records:
        fields.update(r)
    try:
        argc = int(fields.get("argc", "0"))
    except ValueError:
        argc = 0
    args = []
    for i in range(argc):
        key = f"a{i}"
        if key in fields:
            args.append(decode_value(fields[key]))
            continue
        parts, j = [], 0
        while f"{key}[{j}]" in fields:
            parts.append(fields[f"{key}[{j}]"])
            j += 1
        if parts:
            args.append(decode_value("".join(parts)))
    return args


def uptime() -> int:
    try:
        with open("/proc/uptime") as f:
            return int(float(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 0


def parse_sockaddr(saddr: str, action: str, row: dict) -> str | None:
    """Fill the address columns from a SOCKADDR record's hex saddr, as
    osquery's socket_events does.  Returns 'unix', 'inet' or None."""
    if action == "bind":
        addr_col, port_col = "local_address", "local_port"
        row["remote_address"], row["remote_port"] = "0", 0
    else:
        addr_col, port_col = "remote_address", "remote_port"
        row["local_address"], row["local_port"] = "0", 0
    s = saddr.upper()
    if s.startswith("02"):
        row["family"] = 2
        row[port_col] = int(s[4:8] or "0", 16)
        a = int(s[8:16] or "0", 16)
        row[addr_col] = "%d.%d.%d.%d" % (a >> 24 & 255, a >> 16 & 255, a >> 8 & 255, a & 255)
        return "inet"
    if s.startswith("0A"):
        row["family"] = 10
        row[port_col] = int(s[4:8] or "0", 16)
        groups = [s[16 + 4 * i: 20 + 4 * i] for i in range(8)]
        row[addr_col] = ":".join(groups).lower()
        return "inet"
    if s.startswith("01") and len(s) > 6:
        row["family"] = 1
        begin = 6 if s[4:6] == "00" else 4
        end = s.find("00", begin)
        raw = s[begin:] if end < 0 else s[begin:end]
        try:
            row["socket"] = binascii.unhexlify(raw[: len(raw) // 2 * 2]).decode(
                "utf-8", "replace")
        except binascii.Error:
            row["socket"] = "unknown"
        return "unix"
    return None


def stat_times(path: str, row: dict) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    row.update(atime=int(st.st_atime), mtime=int(st.st_mtime), ctime=int(st.st_ctime),
               btime=0)


def process_row(syscall: dict, execve: list, cwd: dict | None, paths: list,
                name: str) -> dict:
    args = execve_args(execve)
    cmdline = " ".join(args)
    row = {
        "pid": syscall.get("pid", "0"), "parent": syscall.get("ppid", "0"),
        "path": decode_value(syscall.get("exe")), "cmdline": cmdline,
        "cmdline_size": len(cmdline.encode("utf-8", "surrogateescape")),
        "env": "", "env_count": 0, "env_size": 0, "overflows": "",
        "cwd": decode_value(cwd.get("cwd")) if cwd else "",
        "uptime": uptime(), "syscall": name,
    }
    for c in ("auid", "uid", "euid", "gid", "egid", "fsuid", "suid", "fsgid", "sgid"):
        row[c] = syscall.get(c, "0")
    if paths:
        p0 = paths[0]
        row["mode"] = p0.get("mode", "")
        row["owner_uid"] = p0.get("ouid", "0")
        row["owner_gid"] = p0.get("ogid", "0")
    stat_times(row["path"], row)
    return row


class AuditPublisher:
    """The 'auditeventpublisher' publisher, with the process_events and
    socket_events subscribers."""

    name = "auditeventpublisher"

    def __init__(self, emit, process: bool, sockets: bool, backlog_limit: int = 4096,
                 allow_failed_sockets: bool = False, allow_accept: bool = True,
                 allow_unix: bool = False):
        self.emit = emit
        self.process = process
        self.sockets = sockets
        self.backlog_limit = backlog_limit
        self.allow_failed = allow_failed_sockets
        self.allow_accept = allow_accept
        self.allow_unix = allow_unix
        self.arch, self.nr = machine_syscalls()
        self.names = {v: k for k, v in self.nr.items()}
        self.ctrl = None
        self.ev = None
        self.saved = None
        self.rule = None
        self._seq = 0
        self._stop = threading.Event()
        self._threads: list = []
        self._pending: dict = {}
        self.events = 0
        self.proc_events = 0
        self.socket_events = 0
        self.lost_base = None
        self.lost_reported = 0
        self.enobufs = 0
        self.active = False

    # -- netlink helpers ---------------------------------------------------

    def _request(self, sock, mtype: int, payload: bytes = b"", ack=True):
        self._seq += 1
        seq = self._seq
        flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
        sock.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(payload), mtype, flags, seq, 0)
                  + payload)
        return seq

    def _reply(self, sock, seq: int, want: int | None = None, timeout=2.0):
        """Wait for the reply of type `want` (or the ack) to request seq."""
        deadline = time.monotonic() + timeout
        sock.settimeout(timeout)
        result = None
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            off = 0
            while off + NLMSG_HDR.size <= len(data):
                ln, mtype, flags, mseq, _ = NLMSG_HDR.unpack_from(data, off)
                body = data[off + NLMSG_HDR.size: off + max(ln, NLMSG_HDR.size)]
                off += (max(ln, NLMSG_HDR.size) + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", body)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    if want is None or result is not None:
                        return result
                    continue
                if want is not None and mtype == want:
                    result = body
                    return result
        if want is not None:
            raise OSError(errno.ETIMEDOUT, "no reply from the kernel's audit socket")
        return result

    def get_status(self, sock=None) -> tuple:
        sock = sock or self.ctrl
        seq = self._request(sock, AUDIT_GET, ack=False)
        body = self._reply(sock, seq, want=AUDIT_GET)
        body = body + b"\0" * (STATUS.size - len(body)) if len(body) < STATUS.size else body
        return STATUS.unpack_from(body)

    def _set(self, sock, mask, enabled=0, pid=0, backlog_limit=0):
        payload = STATUS.pack(mask, enabled, 0, pid, 0, backlog_limit, 0, 0, 0, 0, 0)
        seq = self._request(sock, AUDIT_SET, payload)
        self._reply(sock, seq)

    def _rule_payload(self) -> bytes:
        mask = [0] * AUDIT_BITMASK_SIZE
        wanted = []
        if self.process:
            wanted += ["execve", "execveat"]
        if self.sockets:
            wanted += ["connect", "bind", "accept", "accept4"]
        for name in wanted:
            nr = self.nr[name]
            mask[nr // 32] |= 1 << (nr % 32)
        fields = [0] * 64
        values = [0] * 64
        fieldflags = [0] * 64
        fields[0], values[0], fieldflags[0] = AUDIT_ARCH_FIELD, self.arch, AUDIT_EQUAL
        fields[1], values[1], fieldflags[1] = AUDIT_FILTERKEY, len(RULE_KEY), AUDIT_EQUAL
        return (struct.pack("=III", AUDIT_FILTER_EXIT, AUDIT_ALWAYS, 2)
                + struct.pack("=64I", *mask) + struct.pack("=64I", *fields)
                + struct.pack("=64I", *values) + struct.pack("=64I", *fieldflags)
                + struct.pack("=I", len(RULE_KEY)) + RULE_KEY)

    # -- lifecycle ---------------------------------------------------------

    def setup(self) -> None:
        try:
            self.ctrl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
            self.ctrl.bind((0, 0))
            st = self.get_status()
        except OSError as exc:
            self.close()
            raise AuditUnavailable(f"cannot open the audit netlink socket: {exc}") from exc
        enabled, owner, backlog = st[1], st[3], st[5]
        if owner and owner != os.getpid() and os.path.exists(f"/proc/{owner}"):
            comm = ""
            try:
                with open(f"/proc/{owner}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                pass
            self.close()
            raise AuditUnavailable(f"another audit daemon (pid {owner} {comm}) owns "
                                   "the audit netlink socket")
        if enabled == 2:
            self.close()
            raise AuditUnavailable("audit configuration is locked (enabled=2)")
        self.saved = (enabled, backlog)
        self.lost_base = st[6]
        try:
            self.ev = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
            self.ev.bind((0, 0))
            try:
                self.ev.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
            except OSError:
                self.ev.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
            self._set(self.ev, AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID
                      | AUDIT_STATUS_BACKLOG_LIMIT, enabled=1, pid=os.getpid(),
                      backlog_limit=max(backlog, self.backlog_limit))
            self.rule = self._rule_payload()
            self._del_rule()       # a leftover from a killed run
            seq = self._request(self.ctrl, AUDIT_ADD_RULE, self.rule)
            self._reply(self.ctrl, seq)
        except OSError as exc:
            self.teardown()
            raise AuditUnavailable(f"cannot configure audit: {exc}") from exc

    def _del_rule(self) -> None:
        if self.rule is None or self.ctrl is None:
            return
        try:
            seq = self._request(self.ctrl, AUDIT_DEL_RULE, self.rule)
            self._reply(self.ctrl, seq)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                log.warning("Could not remove the audit rule: %s", exc)

    def teardown(self) -> None:
        """Remove our rule and give audit back as we found it."""
        try:
            self._del_rule()
            if self.saved is not None and self.ctrl is not None:
                enabled, backlog = self.saved
                self._set(self.ctrl, AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID
                          | AUDIT_STATUS_BACKLOG_LIMIT, enabled=enabled, pid=0,
                          backlog_limit=backlog)
                self.saved = None
        except OSError as exc:
            log.warning("Could not restore the audit configuration: %s", exc)
        self.rule = None
        self.close()

    def close(self) -> None:
        for s in (self.ev, self.ctrl):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self.ev = self.ctrl = None

    def start(self) -> None:
        self.active = True
        for target, name in ((self._run, "osqlite-audit"),
                             (self._monitor, "osqlite-audit-lost")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        self._flush(force=True)
        self.teardown()
        self.active = False

    # -- reading -----------------------------------------------------------

    def _monitor(self) -> None:
        while not self._stop.wait(1.0):
            self.check_lost()

    def check_lost(self) -> int:
        try:
            st = self.get_status()
        except OSError:
            return self.lost_reported
        lost = st[6] - (self.lost_base or 0)
        if lost > self.lost_reported:
            log.warning("Audit lost %d events (kernel backlog overflow; %d lost since "
                        "start); raise audit_backlog_limit",
                        lost - self.lost_reported, lost)
            self.lost_reported = lost
        return self.lost_reported

    def _run(self) -> None:
        sock = self.ev
        sock.settimeout(0.5)
        last_flush = time.monotonic()
        while not self._stop.is_set():
            try:
                data = sock.recv(1 << 16)
            except socket.timeout:
                self._flush()
                continue
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.enobufs += 1
                    log.warning("Audit events were lost: the netlink receive buffer "
                                "overflowed (%d times)", self.enobufs)
                    continue
                if self._stop.is_set():
                    break
                log.warning("audit netlink read failed: %s", exc)
                break
            try:
                self.handle(data)
            except Exception as exc:
                log.warning("audit record handling failed: %s", exc)
            now = time.monotonic()
            if now - last_flush > 1.0:
                self._flush()
                last_flush = now
        self.active = False

    def handle(self, data: bytes) -> None:
        """One datagram from the kernel is one audit record.  (The kernel's
        nlmsg_len for audit records counts the payload only, so it cannot
        be used to walk the buffer; libaudit reads one record per recv too.)"""
        if len(data) < NLMSG_HDR.size:
            return
        mtype = NLMSG_HDR.unpack_from(data)[1]
        if mtype < 1300 or mtype >= 1400:
            return
        body = data[NLMSG_HDR.size:]
        self.record(mtype, body.rstrip(b"\0").decode("utf-8", "replace"))

    def record(self, mtype: int, text: str) -> None:
        m = HEADER_RE.match(text)
        if not m:
            return
        serial = int(m.group(3))
        if mtype == AUDIT_EOE:
            ev = self._pending.pop(serial, None)
            if ev is not None:
                self._complete(ev)
            return
        if mtype not in (AUDIT_SYSCALL, AUDIT_EXECVE, AUDIT_CWD, AUDIT_PATH,
                         AUDIT_SOCKADDR):
            return
        ev = self._pending.get(serial)
        if ev is None:
            ev = self._pending[serial] = {"t": time.monotonic(), "recs": []}
        ev["recs"].append((mtype, parse_fields(text[m.end():])))

    def _flush(self, force=False) -> None:
        old = time.monotonic() - 2.0
        for serial in list(self._pending):
            ev = self._pending[serial]
            if force or ev["t"] < old:
                del self._pending[serial]
                self._complete(ev)

    def _complete(self, ev) -> None:
        recs = ev["recs"]
        syscall = next((f for t, f in recs if t == AUDIT_SYSCALL), None)
        if syscall is None or syscall.get("key") != '"osqlite"':
            return
        try:
            nr = int(syscall.get("syscall", "-1"))
        except ValueError:
            return
        name = self.names.get(nr)
        if name in ("execve", "execveat"):
            if not self.process:
                return
            execve = [f for t, f in recs if t == AUDIT_EXECVE]
            cwd = next((f for t, f in recs if t == AUDIT_CWD), None)
            paths = [f for t, f in recs if t == AUDIT_PATH]
            if not execve:
                return
            self.proc_events += 1
            self.events += 1
            self.emit("process_events", process_row(syscall, execve, cwd, paths, name))
        elif name in ("connect", "bind", "accept", "accept4"):
            if not self.sockets:
                return
            row = self.socket_row(name, syscall, recs)
            if row is not None:
                self.socket_events += 1
                self.events += 1
                self.emit("socket_events", row)

    def socket_row(self, name: str, syscall: dict, recs: list) -> dict | None:
        action = "accept" if name.startswith("accept") else name
        if action == "accept" and not self.allow_accept:
            return None
        ok = syscall.get("success") == "yes"
        status = "succeeded" if ok else "failed"
        if not ok and action == "connect":
            try:
                if int(syscall.get("exit", "0")) == -errno.EINPROGRESS:
                    status = "in_progress"
            except ValueError:
                pass
        if status == "failed" and not self.allow_failed:
            return None
        sa = next((f for t, f in recs if t == AUDIT_SOCKADDR), None)
        if sa is None:
            return None
        saddr = sa.get("saddr", "")
        if len(saddr) < 4 or saddr.startswith("10"):   # NETLINK_ROUTE sockets
            return None
        row = {"action": action, "status": status, "success": 0 if status == "failed" else 1,
               "auid": syscall.get("auid"), "pid": syscall.get("pid"),
               "path": decode_value(syscall.get("exe")), "fd": syscall.get("a0"),
               "uptime": uptime(), "protocol": 0, "local_port": 0, "remote_port": 0}
        kind = parse_sockaddr(saddr, action, row)
        if kind is None or (kind == "unix" and not self.allow_unix):
            return None
        return row


# -- proc connector fallback -------------------------------------------------

CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_EXEC = 0x00000002
CN_MSG = struct.Struct("=IIIIHH")


def _read(path: str, limit: int = 1 << 20) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def proc_row(pid: int) -> dict:
    """process_events columns for a pid, from /proc (what is still there)."""
    row = {"pid": pid, "syscall": "execve", "env": "", "env_count": 0, "env_size": 0,
           "overflows": "", "uptime": uptime()}
    raw = _read(f"/proc/{pid}/cmdline")
    if raw is not None:
        args = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")]
        if args and args[-1] == "":
            args.pop()
        row["cmdline"] = " ".join(args)
        row["cmdline_size"] = len(row["cmdline"].encode("utf-8", "surrogateescape"))
    for col, link in (("path", "exe"), ("cwd", "cwd")):
        try:
            row[col] = os.readlink(f"/proc/{pid}/{link}")
        except OSError:
            pass
    status = _read(f"/proc/{pid}/status")
    if status:
        for line in status.decode("utf-8", "replace").splitlines():
            key, _, val = line.partition(":")
            parts = val.split()
            if key == "PPid" and parts:
                row["parent"] = int(parts[0])
            elif key == "Uid" and len(parts) >= 4:
                row.update(uid=int(parts[0]), euid=int(parts[1]), suid=int(parts[2]),
                           fsuid=int(parts[3]))
            elif key == "Gid" and len(parts) >= 4:
                row.update(gid=int(parts[0]), egid=int(parts[1]), sgid=int(parts[2]),
                           fsgid=int(parts[3]))
    auid = _read(f"/proc/{pid}/loginuid")
    if auid:
        try:
            row["auid"] = int(auid.strip())
        except ValueError:
            pass
    if row.get("path"):
        try:
            st = os.stat(row["path"])
            row.update(mode="%07o" % st.st_mode, owner_uid=st.st_uid, owner_gid=st.st_gid,
                       atime=int(st.st_atime), mtime=int(st.st_mtime),
                       ctime=int(st.st_ctime), btime=0)
        except OSError:
            pass
    return row


class ProcConnectorPublisher(NetlinkPublisher):
    """process_events from the kernel's proc connector (exec notifications),
    used when audit cannot be had."""

    name = "proc_connector"
    thread_name = "osqlite-proc-connector"
    lost_message = "Process events were lost: the proc connector buffer overflowed (%d times)"

    def setup(self) -> None:
        try:
            self.sock = open_netlink(NETLINK_CONNECTOR, CN_IDX_PROC, 16 << 20)
            self._listen(PROC_CN_MCAST_LISTEN)
        except OSError as exc:
            if self.sock is not None:
                self.sock.close()
                self.sock = None
            raise AuditUnavailable(f"cannot open the proc connector: {exc}") from exc

    def _listen(self, op: int) -> None:
        payload = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, 4, 0) + struct.pack("=I", op)
        self.sock.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(payload), NLMSG_DONE, 0, 0,
                                      os.getpid()) + payload)

    def before_close(self) -> None:
        self._listen(PROC_CN_MCAST_IGNORE)

    def handle(self, data: bytes) -> None:
        hdr = NLMSG_HDR.size + CN_MSG.size
        if len(data) < hdr + 16:
            return
        what, _cpu, _ts = struct.unpack_from("=IIQ", data, hdr)
        if what != PROC_EVENT_EXEC:
            return
        pid, tgid = struct.unpack_from("=II", data, hdr + 16)
        if pid != tgid:
            return
        self.events += 1
        self.emit("process_events", proc_row(tgid))


def release_leftovers(enabled: int | None = None, backlog_limit: int | None = None) -> None:
    """Remove any rule osqlite may have left behind (a daemon that was
    killed cannot clean up) and, when no audit daemon is alive, set audit's
    enabled flag and backlog limit back to the values given.  For tests and
    operators; the daemon itself removes its rule at start and stop."""
    pub = AuditPublisher(lambda t, r: None, True, True)
    pub.ctrl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
    try:
        pub.ctrl.bind((0, 0))
        for proc, sock in ((True, False), (False, True), (True, True)):
            pub.process, pub.sockets = proc, sock
            pub.rule = pub._rule_payload()
            pub._del_rule()
        pub.rule = None
        st = pub.get_status()
        owner = st[3]
        alive = owner and os.path.exists(f"/proc/{owner}")
        if not alive and enabled is not None and st[1] != 2:
            mask = AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID
            if backlog_limit is not None:
                mask |= AUDIT_STATUS_BACKLOG_LIMIT
            pub._set(pub.ctrl, mask, enabled=enabled, pid=0,
                     backlog_limit=backlog_limit or 0)
    finally:
        pub.close()
