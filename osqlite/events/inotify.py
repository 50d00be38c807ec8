"""File integrity monitoring: the inotify publisher behind file_events.

Watches follow the config's ``file_paths`` (category -> patterns),
``exclude_paths`` and ``file_accesses`` with osquery's rules
(osquery/events/linux/inotify.cpp, plugins/config/parsers/file_paths.cpp):

* ``%`` is one path level (``*``), ``%%`` recursion (``**``), only at the end.
* A directory named without a trailing ``/`` gets one, so its contents are
  watched.  A wildcard in the leaf watches the parent directory and filters
  events by fnmatch on the name; a wildcard in the stem is expanded once at
  configure time.  ``**`` watches the tree below it, and directories created
  later are watched too.  (A directory created inside a recursive watch is
  scanned right after its watch is added, and entries that appeared before
  the watch get a CREATED event; a duplicate for an entry seen both ways is
  dropped, so each one is reported once.)
* ``exclude_paths`` of every category form one global set: an event is
  dropped when its parent directory or its own path matches (whole
  components, ``%`` one level, ``%%`` the rest).
* Actions: the first inotify bit in osquery's order ACCESSED, UPDATED
  (IN_MODIFY), ATTRIBUTES_MODIFIED, UPDATED (IN_CLOSE_WRITE), OPENED,
  MOVED_FROM, MOVED_TO, CREATED, DELETED.  Access categories also get
  IN_OPEN|IN_ACCESS and are neither stat'ed nor hashed.
* Stat columns come from lstat at event time; md5/sha1/sha256 for CREATED
  and UPDATED of regular files up to read_max bytes (hashed 1, -1 on
  failure, 0 otherwise).

An IN_Q_OVERFLOW is logged as a warning with the running count of
overflows; raise fs.inotify.max_queued_events if it happens.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fnmatch
import glob
import hashlib
import logging
import os
import queue
import re
import select
import stat
import struct
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("osqlite.events")

IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_OPEN = 0x020
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_MASK_ADD = 0x20000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

DEFAULT_MASK = (IN_MOVED_TO | IN_MOVED_FROM | IN_MODIFY | IN_DELETE | IN_CREATE
                | IN_CLOSE_WRITE | IN_ATTRIB)
ACCESS_MASK = IN_OPEN | IN_ACCESS

# osquery's kMaskActions is a std::map: the lowest matching bit wins.
ACTIONS = ((IN_ACCESS, "ACCESSED"), (IN_MODIFY, "UPDATED"),
           (IN_ATTRIB, "ATTRIBUTES_MODIFIED"), (IN_CLOSE_WRITE, "UPDATED"),
           (IN_OPEN, "OPENED"), (IN_MOVED_FROM, "MOVED_FROM"),
           (IN_MOVED_TO, "MOVED_TO"), (IN_CREATE, "CREATED"),
           (IN_DELETE, "DELETED"))

EVENT_HEADER = struct.Struct("iIII")
READ_MAX = 50 * 1024 * 1024


def action_of(mask: int) -> str:
    for bit, name in ACTIONS:
        if mask & bit:
            return name
    return ""


def _libc():
    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    lib.inotify_init1.argtypes = [ctypes.c_int]
    lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return lib


def to_glob(pattern: str) -> str:
    """osquery's % and %% wildcards as glob syntax."""
    return pattern.replace("%%", "**").replace("%", "*")


class ExcludeSet:
    """osquery's exclude PathSet: whole-component matching, % one level,
    %% (or **) the rest of the path."""

    def __init__(self, patterns=()):
        self._res = [self._compile(p) for p in patterns if p]

    @staticmethod
    def _compile(pattern: str):
        parts = [p for p in pattern.split("/") if p]
        rx = ""
        for i, part in enumerate(parts):
            if part in ("%%", "**") and i == len(parts) - 1:
                rx += "(/.*)?"
                break
            if part in ("%", "*"):
                rx += "/[^/]+"
            else:
                rx += "/" + re.escape(part)
        return re.compile(rx + "/?$")

    def __bool__(self):
        return bool(self._res)

    def match(self, path: str) -> bool:
        return any(r.match(path) for r in self._res)


@dataclass
class Subscription:
    category: str
    path: str                 # the watched path (dirs end with '/')
    mask: int
    recursive: bool = False
    leaf: str | None = None   # fnmatch pattern on the event's name
    access: bool = False


@dataclass
class Watch:
    path: str
    subs: list = field(default_factory=list)


def file_row(path: str, do_hash: bool, access: bool, read_max: int = READ_MAX) -> dict:
    """The stat and hash columns for one event, as osquery's
    decorateFileEvent does."""
    r: dict = {}
    if access:
        for c in ("inode", "uid", "gid", "mode", "size", "atime", "mtime", "ctime"):
            r[c] = "0"
        r["hashed"] = 0
        return r
    try:
        st = os.lstat(path)
    except OSError:
        r["hashed"] = -1 if do_hash else 0
        return r
    r.update(inode=st.st_ino, uid=st.st_uid, gid=st.st_gid,
             mode="%04o" % stat.S_IMODE(st.st_mode), size=st.st_size,
             atime=int(st.st_atime), mtime=int(st.st_mtime), ctime=int(st.st_ctime))
    r["hashed"] = 0
    if do_hash and stat.S_ISREG(st.st_mode):
        if st.st_size > read_max:
            r["hashed"] = -1
            return r
        try:
            md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
            with open(path, "rb") as f:
                left = read_max
                while left > 0:
                    chunk = f.read(min(1 << 20, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    md5.update(chunk)
                    sha1.update(chunk)
                    sha256.update(chunk)
            r.update(md5=md5.hexdigest(), sha1=sha1.hexdigest(),
                     sha256=sha256.hexdigest(), hashed=1)
        except OSError:
            r["hashed"] = -1
    return r


class INotifyPublisher:
    """The 'inotify' publisher and its 'file_events' subscriber."""

    name = "inotify"
    table = "file_events"

    def __init__(self, emit, read_max: int = READ_MAX):
        self.emit = emit                    # emit(table, row)
        self.read_max = read_max
        self._lib = _libc()
        self.fd = -1
        self.watches: dict[int, Watch] = {}
        self.by_path: dict[str, int] = {}
        self.subs: list[Subscription] = []
        self.exclude = ExcludeSet()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._raw: queue.Queue = queue.Queue(maxsize=64)    # reads of up to 1 MiB
        self._synth: dict[str, float] = {}  # paths reported by a new-dir scan
        self.events = 0
        self.overflows = 0
        self.active = False
        self.error: str | None = None

    # -- setup ------------------------------------------------------------

    def setup(self) -> None:
        fd = self._lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, "inotify_init1 failed: " + os.strerror(e))
        self.fd = fd

    def configure(self, file_paths: dict, exclude_paths: dict | None = None,
                  file_accesses=()) -> None:
        """(Re)build the subscriptions and watches from the config."""
        exclude = []
        for pats in (exclude_paths or {}).values():
            if isinstance(pats, list):
                exclude.extend(p for p in pats if isinstance(p, str) and p)
        accesses = set(file_accesses or ())
        subs = []
        for category, pats in (file_paths or {}).items():
            if not isinstance(pats, list):
                continue
            for p in pats:
                if not isinstance(p, str) or not p:
                    continue
                subs.extend(self._resolve(category, to_glob(p), category in accesses))
        with self._lock:
            for wd in list(self.watches):
                self._lib.inotify_rm_watch(self.fd, wd)
            self.watches.clear()
            self.by_path.clear()
            self.exclude = ExcludeSet(exclude)
            self.subs = subs
            for sc in subs:
                self._add_watch(sc.path, sc)
                if sc.recursive:
                    self._add_tree(sc.path, sc, scan=False)

    def _resolve(self, category: str, pattern: str, access: bool) -> list:
        mask = DEFAULT_MASK | (ACCESS_MASK if access else 0)
        recursive = False
        path = pattern
        if "**" in path:
            recursive = True
            path = path[:path.index("**")]
        leaf = None
        if "*" in path or "?" in path or "[" in path:
            head, tail = os.path.split(path)
            if any(ch in tail for ch in "*?["):
                leaf = tail
                path = head + "/"
            if any(ch in path for ch in "*?["):
                out = []
                for d in sorted(glob.glob(path)):
                    if os.path.isdir(d) and not d.endswith("/"):
                        d += "/"
                    out.append(Subscription(category, d, mask, recursive, leaf, access))
                return out
        if not path.endswith("/") and os.path.isdir(path):
            path += "/"
        return [Subscription(category, path, mask, recursive, leaf, access)]

    def _add_watch(self, path: str, sc: Subscription) -> int:
        wd = self._lib.inotify_add_watch(self.fd, os.fsencode(path),
                                         sc.mask | IN_MASK_ADD)
        if wd < 0:
            e = ctypes.get_errno()
            log.warning("Could not add inotify watch on: %s (%s)", path, os.strerror(e))
            return -1
        w = self.watches.get(wd)
        if w is None or w.path != path:
            if w is not None:
                self.by_path.pop(w.path, None)
            w = self.watches[wd] = Watch(path)
        if sc not in w.subs:
            w.subs.append(sc)
        self.by_path[path] = wd
        return wd

    def _add_tree(self, top: str, sc: Subscription, scan: bool) -> None:
        """Watch every directory below top; with scan, report entries that
        already exist (they were created before the watch)."""
        for dirpath, dirnames, filenames in os.walk(top):
            base = dirpath if dirpath.endswith("/") else dirpath + "/"
            if base != top:
                self._add_watch(base, sc)
            if scan:
                for name in filenames + dirnames:
                    p = base + name
                    self._synth[p] = time.monotonic()
                    self._fire(sc, p, "CREATED", 0)

    # -- run --------------------------------------------------------------

    def start(self) -> None:
        self.active = True
        self._thread = threading.Thread(target=self._read_loop, name="osqlite-inotify",
                                        daemon=True)
        self._worker = threading.Thread(target=self._work_loop, name="osqlite-inotify-work",
                                        daemon=True)
        self._worker.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._raw.put(None)
        if self._worker is not None:
            self._worker.join(timeout=30)
        with self._lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
        self.active = False

    def _read_loop(self) -> None:
        """Drain the kernel's queue as fast as possible (it overflows at
        fs.inotify.max_queued_events); the work happens in _work_loop."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(250):
                continue
            try:
                data = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                log.warning("inotify read failed: %s", exc)
                break
            self._raw.put(data)     # bounded: blocks when the worker lags far
        self.active = False

    def _work_loop(self) -> None:
        while True:
            data = self._raw.get()
            if data is None:
                break
            try:
                self._handle(data)
            except Exception as exc:  # never let one bad event kill FIM
                log.warning("inotify event handling failed: %s", exc)

    def _handle(self, data: bytes) -> None:
        off, n = 0, len(data)
        hsize = EVENT_HEADER.size
        if self._synth:
            old = time.monotonic() - 5.0
            self._synth = {p: t for p, t in self._synth.items() if t > old}
        with self._lock:
            while off + hsize <= n:
                wd, mask, cookie, ln = EVENT_HEADER.unpack_from(data, off)
                name = data[off + hsize: off + hsize + ln].split(b"\0", 1)[0]
                off += hsize + ln
                if mask & IN_Q_OVERFLOW:
                    self.overflows += 1
                    log.warning("inotify event queue overflowed: file events were "
                                "lost (overflow count %d); raise "
                                "fs.inotify.max_queued_events", self.overflows)
                    continue
                if mask & IN_IGNORED:
                    w = self.watches.pop(wd, None)
                    if w is not None and self.by_path.get(w.path) == wd:
                        del self.by_path[w.path]
                        # A configured path that was replaced (an editor's
                        # rename over it) or re-created: watch the new one.
                        for sc in w.subs:
                            if sc.path == w.path and os.path.exists(w.path):
                                self._add_watch(w.path, sc)
                    continue
                if mask & (IN_MOVE_SELF | IN_DELETE_SELF):
                    continue
                w = self.watches.get(wd)
                if w is None:
                    continue
                path = w.path + os.fsdecode(name) if ln else w.path
                action = action_of(mask)
                if not action:
                    continue
                for sc in w.subs:
                    if sc.mask and not (mask & sc.mask):
                        continue
                    if sc.leaf is not None and ln and not fnmatch.fnmatchcase(
                            os.fsdecode(name), sc.leaf):
                        continue
                    if (sc.recursive and action in ("CREATED", "MOVED_TO")
                            and mask & IN_ISDIR):
                        d = path + "/"
                        self._add_watch(d, sc)
                        self._add_tree(d, sc, scan=True)
                    if action == "CREATED" and self._synth:
                        if self._synth.pop(path, None) is not None:
                            break   # already reported by the scan
                    self._fire(sc, path, action, cookie)
                    break

    def _fire(self, sc: Subscription, path: str, action: str, cookie: int) -> None:
        if self.exclude:
            parent = path[:path.rfind("/")] if "/" in path else path
            if self.exclude.match(parent) or self.exclude.match(path):
                return
        row = {"target_path": path, "category": sc.category, "action": action,
               "transaction_id": cookie}
        row.update(file_row(path, action in ("CREATED", "UPDATED"), sc.access,
                            self.read_max))
        self.events += 1
        self.emit(self.table, row)

    def subscription_count(self) -> int:
        return len(self.subs)
