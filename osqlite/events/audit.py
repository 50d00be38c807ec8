"""The audit event tables from the Linux audit netlink API, with the proc
connector as the process_events fallback.

Records are read, assembled and turned into rows of process_events,
socket_events, process_file_events, user_events, selinux_events,
apparmor_events and seccomp_events by the extension's audit reader
(csrc/tables/events_audit.c, which documents osquery's rules for each).
This module is the control plane, as osquery's auditdnetlink.cpp:

* AUDIT_GET tells whether another audit daemon owns the audit socket; if
  one does (auditd, or another osqueryd) we do not take it over.
* AUDIT_SET enables audit, registers this process as the audit daemon and
  raises the backlog limit (audit_backlog_limit); the kernel's backlog
  wait time is left as it is, so a full backlog makes the audited process
  wait instead of dropping records.
* One exit-filter rule with key "osqlite" covers the syscalls the enabled
  subscribers need (the reader describes it: osqlite_audit_rule()), for
  this machine's native arch; every rule with that key is removed, and
  audit's previous settings restored, on stop -- and removed at start in
  case a previous run was killed.  user, SELinux, AppArmor and seccomp
  records need no rule.
* The kernel's ``lost`` counter is polled every second and every increase
  is logged as a warning with the count; so is a receive-buffer overrun
  (ENOBUFS) on our socket, which the reader reports.

Proc connector (NETLINK_CONNECTOR, CN_IDX_PROC): PROC_EVENT_EXEC gives the
pid; the rest is read from /proc/PID, which a short-lived process may
already have left (such rows have only what could be read).
"""
from __future__ import annotations

import errno
import glob
import logging
import os
import socket
import struct
import threading
import time

from .netlink import SO_RCVBUFFORCE, NetlinkPublisher, open_netlink
from .pump import CReader
from .store import storable

log = logging.getLogger("osqlite.events")

NETLINK_AUDIT = 9
NETLINK_CONNECTOR = 11
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLM_F_DUMP = 0x300
NLMSG_HDR = struct.Struct("=IHHII")

AUDIT_GET = 1000
AUDIT_SET = 1001
AUDIT_LIST_RULES = 1013
AUDIT_ADD_RULE = 1011
AUDIT_DEL_RULE = 1012

AUDIT_STATUS_ENABLED = 0x01
AUDIT_STATUS_PID = 0x04
AUDIT_STATUS_BACKLOG_LIMIT = 0x10
STATUS = struct.Struct("=IIIIIIIIIII")   # struct audit_status (44 bytes)

AUDIT_FILTERKEY = 210
# Fields whose value is a string in the rule's buffer (<linux/audit.h>).
STRING_FIELDS = frozenset((13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 105, 107, 112, 210))
RULE_HEAD = struct.Struct("=III64I64I64I64II")   # struct audit_rule_data
RULE_KEY = b"osqlite"


class AuditUnavailable(Exception):
    """Audit cannot be used: the message says why."""


def close_quietly(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


# -- the netlink control plane ------------------------------------------------

class AuditControl:
    """Requests to the kernel's audit netlink socket."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        self.sock = sock
        self._seq = 0

    @classmethod
    def open(cls) -> "AuditControl":
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
        try:
            s.bind((0, 0))
        except OSError:
            s.close()
            raise
        return cls(s)

    def close(self) -> None:
        close_quietly(self.sock)
        self.sock = None

    def request(self, mtype: int, payload: bytes = b"", flags: int = NLM_F_ACK,
                sock: socket.socket | None = None) -> int:
        self._seq += 1
        (sock or self.sock).send(NLMSG_HDR.pack(NLMSG_HDR.size + len(payload), mtype,
                                                NLM_F_REQUEST | flags, self._seq, 0)
                                 + payload)
        return self._seq

    def replies(self, seq: int, sock: socket.socket | None = None, timeout: float = 2.0):
        """The messages answering request seq, as (type, body), until the
        ack, the NLMSG_DONE of a dump or the timeout; an error ack raises."""
        sock = sock or self.sock
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            off = 0
            while off + NLMSG_HDR.size <= len(data):
                ln, mtype, _flags, mseq, _ = NLMSG_HDR.unpack_from(data, off)
                body = data[off + NLMSG_HDR.size: off + max(ln, NLMSG_HDR.size)]
                off += (max(ln, NLMSG_HDR.size) + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", body)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    return
                if mtype == NLMSG_DONE:
                    return
                yield mtype, body
        raise OSError(errno.ETIMEDOUT, "no reply from the kernel's audit socket")

    def ack(self, mtype: int, payload: bytes = b"", sock=None) -> None:
        seq = self.request(mtype, payload, sock=sock)
        for _ in self.replies(seq, sock=sock):
            pass

    def get_status(self) -> tuple:
        seq = self.request(AUDIT_GET, flags=0)
        for mtype, body in self.replies(seq):
            if mtype == AUDIT_GET:
                body = body + b"\0" * max(STATUS.size - len(body), 0)
                return STATUS.unpack_from(body)
        raise OSError(errno.ETIMEDOUT, "no reply from the kernel's audit socket")

    def set_status(self, mask: int, enabled: int = 0, pid: int = 0, backlog_limit: int = 0,
                   sock=None) -> None:
        self.ack(AUDIT_SET, STATUS.pack(mask, enabled, 0, pid, 0, backlog_limit,
                                        0, 0, 0, 0, 0), sock=sock)

    def rules(self) -> list[bytes]:
        """Every installed rule, as the kernel lists it (audit_rule_data)."""
        seq = self.request(AUDIT_LIST_RULES, flags=0)
        return [body for mtype, body in self.replies(seq) if mtype == AUDIT_LIST_RULES]

    def remove_ours(self) -> int:
        """Delete every rule with osqlite's key; returns how many."""
        n = 0
        for rule in self.rules():
            if rule_key(rule) == RULE_KEY:
                try:
                    self.ack(AUDIT_DEL_RULE, rule)
                    n += 1
                except OSError as exc:
                    if exc.errno != errno.ENOENT:
                        log.warning("Could not remove an osqlite audit rule: %s", exc)
        return n


def rule_key(rule: bytes) -> bytes | None:
    """The filter key of a listed rule, or None."""
    if len(rule) < RULE_HEAD.size:
        return None
    head = RULE_HEAD.unpack_from(rule)
    count = head[2]
    fields, values = head[3 + 64:3 + 128], head[3 + 128:3 + 192]
    buf = rule[RULE_HEAD.size:]
    off = 0
    for i in range(min(count, 64)):
        if fields[i] in STRING_FIELDS:
            if fields[i] == AUDIT_FILTERKEY:
                return buf[off:off + values[i]]
            off += values[i]
    return None


def audit_status() -> tuple:
    """struct audit_status of the kernel now (for tests and operators)."""
    ctl = AuditControl.open()
    try:
        return ctl.get_status()
    finally:
        ctl.close()


def release_leftovers(enabled: int | None = None, backlog_limit: int | None = None) -> None:
    """Remove every rule osqlite may have left behind (a daemon that was
    killed cannot clean up) and set audit's enabled flag and backlog limit
    back to the values given -- only when no audit daemon is alive: a live
    one (osqlite or not) owns its rules.  For tests and operators; the
    daemon itself removes its rules at start and stop."""
    ctl = AuditControl.open()
    try:
        st = ctl.get_status()
        owner = st[3]
        if owner and owner != os.getpid() and os.path.exists(f"/proc/{owner}"):
            return
        ctl.remove_ours()
        if enabled is not None and st[1] != 2:
            mask = AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID
            if backlog_limit is not None:
                mask |= AUDIT_STATUS_BACKLOG_LIMIT
            ctl.set_status(mask, enabled=enabled, pid=0, backlog_limit=backlog_limit or 0)
    finally:
        ctl.close()


# -- process_file_events: the paths ------------------------------------------

def _walk(top: str, out: list, seen: set, depth: int) -> None:
    # osquery's dfsTraverseDirectories: every entry below, directories
    # marked with '/', each directory (dev, inode) once.
    if depth >= 32:
        return
    try:
        st = os.lstat(top)
    except OSError:
        return
    if (st.st_dev, st.st_ino) in seen:
        return
    seen.add((st.st_dev, st.st_ino))
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        p = e.path + ("/" if is_dir and not e.path.endswith("/") else "")
        out.append(p)
        if is_dir:
            _walk(p, out, seen, depth + 1)


def fim_paths(file_paths: dict) -> list[str]:
    """The paths process_file_events reports on: the config's file_paths
    resolved once, as osquery's resolveFilePattern (GLOB_ALL) does --
    files that exist now, and directories marked with a trailing '/'."""
    out: list[str] = []
    for pats in (file_paths or {}).values():
        if not isinstance(pats, list):
            continue
        for pat in pats:
            if not isinstance(pat, str) or not pat:
                continue
            pattern = pat.replace("%", "*")
            if not pattern.startswith(("/", "~")):
                pattern = os.path.join(os.getcwd(), pattern)
            base = pattern[:pattern.find("*")] if "*" in pattern else pattern
            if base and os.path.exists(base):
                canon = os.path.realpath(base)
                if canon != base:
                    if os.path.isdir(canon):
                        canon += "/"
                    pattern = canon + pattern[len(base):]
            found = []
            if pattern.endswith("**"):
                seen: set = set()
                for d in sorted(glob.glob(pattern[:-1])):
                    found.append(d)
                    if os.path.isdir(d):
                        _walk(d, found, seen, 0)
            else:
                found = sorted(glob.glob(os.path.expanduser(pattern)))
            for f in found:
                if os.path.isdir(f) and not f.endswith("/"):
                    f += "/"
                out.append(f)
    return out


# -- the publisher ------------------------------------------------------------

#: Reader options: subscriber or flag name -> osquery's flag.
SUBSCRIBERS = (
    ("process", "process_events"), ("sockets", "socket_events"),
    ("fim", "process_file_events"), ("user", "user_events"),
    ("selinux", "selinux_events"), ("apparmor", "apparmor_events"),
    ("seccomp", "seccomp_events"))


class AuditPublisher(CReader):
    """The 'auditeventpublisher' publisher and its subscribers."""

    name = "auditeventpublisher"
    kind = "audit"
    thread_name = "osqlite-audit"

    def __init__(self, store, options: dict, backlog_limit: int = 4096) -> None:
        super().__init__(store)
        # options: the reader's (process, sockets, fim, user, selinux,
        # apparmor, seccomp, allow_failed_sockets, allow_accept,
        # allow_unix, fim_show_accesses, fim_show_partial)
        self.options = {k: int(bool(v)) for k, v in options.items()}
        self.backlog_limit = int(backlog_limit)
        self.ctl: AuditControl | None = None
        self.ev: socket.socket | None = None
        self.saved = None
        self.rule: bytes | None = None
        self.lost_base = None
        self.lost_reported = 0
        self.enobufs = 0
        self.counts: dict[str, int] = {}
        self._monitor_thread: threading.Thread | None = None
        self._monitor_stop = threading.Event()

    def subscribed(self, subscriber: str) -> bool:
        return bool(self.options.get(subscriber))

    # -- lifecycle ---------------------------------------------------------

    def setup(self) -> None:
        try:
            self.ctl = AuditControl.open()
            st = self.ctl.get_status()
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
            self.open_reader(self.ev.fileno())
            self.set_options(self.options)
            rule = self.conn.execute("SELECT osqlite_audit_rule()").fetchone()[0]
            self.ctl.remove_ours()           # leftovers of a killed run
            # AUDIT_SET from the event socket makes it the one records go
            # to.  Its ack is left to the reader (not a record: ignored),
            # so nothing that arrives meanwhile is read away here; the
            # control socket checks that it took.
            self.ctl.request(AUDIT_SET, STATUS.pack(
                AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID | AUDIT_STATUS_BACKLOG_LIMIT, 1, 0,
                os.getpid(), 0, max(backlog, self.backlog_limit), 0, 0, 0, 0, 0),
                sock=self.ev)
            deadline = time.monotonic() + 2.0
            while self.ctl.get_status()[3] != os.getpid():
                if time.monotonic() > deadline:
                    raise OSError(errno.EBUSY, "the kernel did not register this process "
                                               "as the audit daemon")
                time.sleep(0.01)
            if any(struct.unpack_from("=64I", rule, 12)):
                self.ctl.ack(AUDIT_ADD_RULE, rule)
                self.rule = rule
        except Exception as exc:
            self.teardown()
            raise AuditUnavailable(f"cannot configure audit: {exc}") from exc

    def configure(self, file_paths: dict) -> None:
        """The paths process_file_events reports on (resolved now, as
        osquery does at configure time)."""
        if not self.subscribed("fim"):
            return
        paths = fim_paths(file_paths)

        def apply(conn):
            conn.execute("SELECT osqlite_events_set('fim_clear_paths', 1)")
            for p in paths:
                conn.execute("SELECT osqlite_events_set('fim_path', ?)", (storable(p),))
        self.call(apply)

    def teardown(self) -> None:
        """Remove our rules and give audit back as we found it."""
        try:
            if self.ctl is not None:
                self.ctl.remove_ours()
                if self.saved is not None:
                    enabled, backlog = self.saved
                    self.ctl.set_status(AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID
                                        | AUDIT_STATUS_BACKLOG_LIMIT, enabled=enabled, pid=0,
                                        backlog_limit=backlog)
                    self.saved = None
        except OSError as exc:
            log.warning("Could not restore the audit configuration: %s", exc)
        self.rule = None
        self.close()

    def close(self) -> None:
        self.close_reader()
        close_quietly(self.ev)
        self.ev = None
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None

    def start(self) -> None:
        super().start()
        self._monitor_thread = threading.Thread(target=self._monitor, name="osqlite-audit-lost",
                                                daemon=True)
        self._monitor_thread.start()

    def stop(self) -> None:
        self._monitor_stop.set()
        if self._monitor_thread is not None:
            self._monitor_thread.join(timeout=5)
            self._monitor_thread = None
        # No new records first, then read what is queued: records left in
        # the kernel when we unregister would go to its log, not to us.
        if self.ctl is not None:
            try:
                self.ctl.remove_ours()
            except OSError as exc:
                log.warning("Could not remove the audit rule: %s", exc)
        super().stop()        # drains, completes what is pending, stores it
        self.teardown()

    # -- counters ----------------------------------------------------------

    def _monitor(self) -> None:
        while not self._monitor_stop.wait(1.0):
            self.check_lost()

    def check_lost(self) -> int:
        try:
            st = self.ctl.get_status()
        except (OSError, AttributeError):
            return self.lost_reported
        lost = st[6] - (self.lost_base or 0)
        if lost > self.lost_reported:
            log.warning("Audit lost %d events (kernel backlog overflow; %d lost since "
                        "start); raise audit_backlog_limit",
                        lost - self.lost_reported, lost)
            self.lost_reported = lost
        return self.lost_reported

    def on_summary(self, s: dict) -> None:
        self.enobufs = int(s.get("enobufs", self.enobufs))
        for _opt, table in SUBSCRIBERS:
            if table in s:
                self.counts[table] = int(s[table])


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


def uptime() -> int:
    try:
        with open("/proc/uptime") as f:
            return int(float(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 0


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
