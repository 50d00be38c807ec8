"""File carving: a tar of files sent to the TLS server in blocks (osquery:
osquery/carver/carver.cpp, carver_utils.cpp, docs/wiki/deployment/file-carving.md).

A carve is requested in SQL (csrc/tables/carves.c): ``SELECT * FROM carves
WHERE path = '/etc/hosts' AND carve = 1`` (with ``--disable_carver=false``)
or ``SELECT carve(path) FROM file WHERE ...`` (with
``--carver_disable_function=false``).  The daemon keeps every carve in its
state database (table ``carve_store``, shown by the carves table) and a thread of
its own carries them out, at once rather than at osquery's next 60-tick
scheduler step:

1. ``SCHEDULED`` -> ``STARTING`` -> ``PENDING``: each requested path that is
   a regular file is copied into a private (0700) temporary directory and
   the copies are archived as one POSIX (pax) tar, entries named by their
   path without the leading ``/``; paths that are missing or not regular
   files are left out, as osquery does.
2. POST to ``--carver_start_endpoint``: ``{"block_count", "block_size",
   "carve_size", "carve_id", "request_id", "node_key"}``; the answer must
   hold a non-empty ``session_id``.
3. One POST per ``--carver_block_size`` block to
   ``--carver_continue_endpoint``: ``{"block_id", "session_id",
   "request_id", "data": <base64>}``.  Each request is tried 3 times
   (sleeping 1 s, then 4 s), as osquery.
4. ``SUCCESS`` with the archive's ``size`` and ``sha256`` (``-1`` when it is
   larger than ``--read_max``), or the failure: ``CREATE PATHS FAILED``,
   ``ARCHIVE FAILED``, ``DATA POST FAILED``.  Successful carves are
   forgotten after ``--carver_expiry`` seconds.  A carve a restart
   interrupted is marked ``FAILED``.

The request id is the distributed query's id (or the scheduled query's
name) that asked for the carve, so the server can tell which request it
answers; osquery sends a random one.

Reading as root, safely: a path is resolved one component at a time
without following anything implicitly.  A symbolic link owned by root is
followed; a link owned by another user is followed only as that user could
follow it: every directory after it must be searchable by that user and the
file readable by them (owner, group or other bits, with their groups from
the password and group databases).  So a user who plants a link to
/etc/shadow in a directory an administrator carves gets nothing they could
not read themselves, and the carve reports the file as refused.
"""
from __future__ import annotations

import base64
import errno
import grp
import hashlib
import json
import logging
import math
import os
import pwd
import shutil
import stat
import tarfile
import tempfile
import threading
import time
import uuid
from typing import Any

from .remote import RemoteError, client

log = logging.getLogger("osqlite.carver")

CARVE_COLUMNS = ("time", "sha256", "size", "path", "status", "carve_guid", "request_id", "carve")
SCHEDULED, STARTING, PENDING, SUCCESS = "SCHEDULED", "STARTING", "PENDING", "SUCCESS"
MAX_LINKS = 40                  # the kernel's limit on links in one lookup
POLL = 60.0                     # seconds between looks at the carves, without a new request
ATTEMPTS = 3


class Refused(OSError):
    """A path the carver will not read; str() says why."""


# -- opening a file as the user whose links lead to it ----------------------------------------

def _groups(uid: int) -> tuple[int, set[int]]:
    try:
        pw = pwd.getpwuid(uid)
    except KeyError:
        return -1, set()
    try:
        return pw.pw_gid, set(os.getgrouplist(pw.pw_name, pw.pw_gid))
    except OSError:
        groups = {g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem}
        return pw.pw_gid, groups | {pw.pw_gid}


def may(uid: int, st: os.stat_result, bit: int) -> bool:
    """Would uid get permission ``bit`` (4 read, 1 search) on st?"""
    if uid == 0:
        return True
    mode = st.st_mode
    if st.st_uid == uid:
        return bool(mode & (bit << 6))
    _, groups = _groups(uid)
    if st.st_gid in groups:
        return bool(mode & (bit << 3))
    return bool(mode & bit)


def open_for_carve(path: str) -> tuple[int, os.stat_result]:
    """A read-only fd of the regular file ``path`` and its fstat, resolved
    as the module docstring says; Refused otherwise."""
    if not path.startswith("/"):
        raise Refused(errno.EINVAL, "not an absolute path")
    pending = [p for p in path.split("/") if p]
    if not pending:
        raise Refused(errno.EISDIR, "is a directory")
    pending.reverse()                    # a stack: the next component last
    links = 0
    untrusted: int | None = None         # owner of a non-root link on the way
    dfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while pending:
            name = pending.pop()
            if name == ".":
                continue
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError as exc:
                raise Refused(exc.errno, exc.strerror or str(exc)) from None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise Refused(errno.ELOOP, "too many levels of symbolic links")
                if st.st_uid != 0 and untrusted is None:
                    untrusted = st.st_uid
                target = os.readlink(name, dir_fd=dfd)
                parts = [p for p in target.split("/") if p]
                pending.extend(reversed(parts))
                if target.startswith("/"):
                    os.close(dfd)
                    dfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                elif not parts and not pending:
                    raise Refused(errno.EISDIR, "is a directory")
                continue
            if pending:
                if not stat.S_ISDIR(st.st_mode):
                    raise Refused(errno.ENOTDIR, "a component of the path is not a directory")
                if untrusted is not None and not may(untrusted, st, 1):
                    raise Refused(errno.EACCES, f"reached through a symbolic link of uid {untrusted}, "
                                                "who may not search a directory on the way")
                nfd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=dfd)
                os.close(dfd)
                dfd = nfd
                if (os.fstat(dfd).st_dev, os.fstat(dfd).st_ino) != (st.st_dev, st.st_ino):
                    raise Refused(errno.EAGAIN, "the path changed while it was opened")
                continue
            if not stat.S_ISREG(st.st_mode):
                raise Refused(errno.EINVAL, "is a directory" if stat.S_ISDIR(st.st_mode)
                              else "is not a regular file")
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                             | os.O_CLOEXEC, dir_fd=dfd)
            except OSError as exc:
                raise Refused(exc.errno, exc.strerror or str(exc)) from None
            fst = os.fstat(fd)
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(fst.st_mode):
                os.close(fd)
                raise Refused(errno.EAGAIN, "the path changed while it was opened")
            if untrusted is not None and not may(untrusted, fst, 4):
                os.close(fd)
                raise Refused(errno.EACCES, f"reached through a symbolic link of uid {untrusted}, "
                                            "who may not read it")
            return fd, fst
        raise Refused(errno.EISDIR, "is a directory")
    finally:
        os.close(dfd)


# -- the carves ------------------------------------------------------------------------------

def _display(paths: list[str]) -> str:
    """The path column: osquery joins the set with ","; bytes that are not
    UTF-8 are shown as U+FFFD (the carve itself uses the exact bytes)."""
    text = ",".join(paths)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class Carver:
    """The daemon hook: the carves table's data, osqlite_carve(), the thread."""

    def __init__(self) -> None:
        self.daemon: Any = None
        self.request_id = threading.local()      # the query running on this thread
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- hook ---------------------------------------------------------------------

    def start(self, daemon: Any) -> None:
        self.daemon = daemon
        daemon.carver = self
        state = daemon.state
        with state.lock:
            state.conn.execute("CREATE TABLE IF NOT EXISTS carve_store(carve_guid TEXT PRIMARY KEY, "
                               "time INTEGER, status TEXT, sha256 TEXT, size INTEGER, path TEXT, "
                               "paths BLOB, request_id TEXT)")
            gone = state.conn.execute("UPDATE carve_store SET status = 'FAILED' "
                                      "WHERE status IN (?, ?)", (STARTING, PENDING)).rowcount
        if gone:
            log.warning("%d file carve%s interrupted by a restart marked FAILED", gone,
                        "" if gone == 1 else "s")
        daemon.backing["carves"] = self.rows
        if not daemon.flags["disable_carver"]:
            self._stop.clear()
            self._thread = threading.Thread(target=self.loop, name="osqlite-carver", daemon=True)
            self._thread.start()

    def stop(self, daemon: Any) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def prepare_connection(self, daemon: Any, conn: Any) -> None:
        conn.create_function("osqlite_carve", 2, self.sql_request)

    def before_query(self, daemon: Any, conn: Any, job: Any) -> None:
        self.request_id.value = job.name

    def after_query(self, daemon: Any, conn: Any, job: Any, token: Any, ok: bool) -> None:
        self.request_id.value = None

    # -- the SQL side -------------------------------------------------------------

    def rows(self) -> tuple[tuple[str, ...], list[tuple]]:
        state = self.daemon.state
        with state.lock:
            got = state.conn.execute("SELECT time, sha256, size, path, status, carve_guid, "
                                     "request_id, 0 FROM carve_store ORDER BY time, carve_guid").fetchall()
        return CARVE_COLUMNS, got

    def sql_request(self, paths: Any, from_function: Any) -> bytes | None:
        """osqlite_carve(paths, from_function): queue a carve (csrc/tables/carves.c)."""
        flags = self.daemon.flags
        if from_function and flags["carver_disable_function"]:
            return None
        if not from_function and flags["disable_carver"]:
            return None
        if not isinstance(paths, bytes) or not paths:
            return None
        names = sorted({p.decode("utf-8", "surrogateescape") for p in paths.split(b"\0") if p})
        guid = str(uuid.uuid4())
        request = getattr(self.request_id, "value", None) or str(uuid.uuid4())
        now = int(time.time())
        state = self.daemon.state
        with state.lock:
            state.conn.execute("INSERT INTO carve_store(carve_guid, time, status, sha256, size, path, "
                               "paths, request_id) VALUES (?, ?, ?, '', -1, ?, ?, ?)",
                               (guid, now, SCHEDULED, _display(names),
                                b"\0".join(n.encode("utf-8", "surrogateescape") for n in names),
                                request))
        log.info("File carve %s requested (%s): %s", guid, request, _display(names))
        self.daemon.bump()
        self._wake.set()
        return b"\0".join((guid.encode(), request.encode("utf-8", "surrogateescape"),
                           str(now).encode(), _display(names).encode()))

    # -- the thread -----------------------------------------------------------------

    def update(self, guid: str, **values: Any) -> None:
        state = self.daemon.state
        cols = ", ".join(f"{k} = ?" for k in values)
        with state.lock:
            state.conn.execute(f"UPDATE carve_store SET {cols} WHERE carve_guid = ?", (*values.values(), guid))
        self.daemon.bump()

    def loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.expire()
                for guid, paths, request in self.scheduled():
                    if self._stop.is_set():
                        break
                    self.carve(guid, paths, request)
            except Exception:
                log.exception("File carving failed")
            self._wake.wait(POLL)

    def scheduled(self) -> list[tuple[str, list[str], str]]:
        state = self.daemon.state
        with state.lock:
            got = state.conn.execute("SELECT carve_guid, paths, request_id FROM carve_store "
                                     "WHERE status = ? ORDER BY time, carve_guid", (SCHEDULED,)).fetchall()
        return [(g, [p.decode("utf-8", "surrogateescape") for p in (blob or b"").split(b"\0") if p], r)
                for g, blob, r in got]

    def expire(self) -> None:
        limit = int(time.time()) - self.daemon.flags["carver_expiry"]
        state = self.daemon.state
        with state.lock:
            n = state.conn.execute("DELETE FROM carve_store WHERE status = ? AND time < ?",
                                   (SUCCESS, limit)).rowcount
        if n:
            log.debug("Expired the metadata of %d successful carves", n)
            self.daemon.bump()

    def carve(self, guid: str, paths: list[str], request: str) -> None:
        self.update(guid, status=STARTING)
        try:
            workdir = tempfile.mkdtemp(prefix=f"osqlite_carve_{guid}_")
        except OSError as exc:
            log.warning("File carve %s: cannot create its directory: %s", guid, exc)
            self.update(guid, status="CREATE PATHS FAILED")
            return
        try:
            self.update(guid, status=PENDING)
            archive = os.path.join(workdir, f"carve_{guid}.tar")
            try:
                count = self.archive(paths, workdir, archive)
            except (OSError, tarfile.TarError) as exc:
                log.warning("File carve %s: cannot archive: %s", guid, exc)
                self.update(guid, status="ARCHIVE FAILED")
                return
            size = os.path.getsize(archive)
            digest = "-1" if size > self.daemon.flags["read_max"] else _sha256(archive)
            self.update(guid, size=size, sha256=digest)
            try:
                self.post(guid, request, archive, size)
            except RemoteError as exc:
                log.warning("File carve %s: failed to post carve: %s", guid, exc)
                self.update(guid, status="DATA POST FAILED")
                return
            self.update(guid, status=SUCCESS)
            log.info("File carve %s sent: %d file%s, %d bytes", guid, count,
                     "" if count == 1 else "s", size)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def archive(self, paths: list[str], workdir: str, archive: str) -> int:
        """Copy each carvable file, then tar the copies; how many went in."""
        copies: list[tuple[str, str, os.stat_result]] = []
        for i, path in enumerate(paths):
            try:
                fd, st = open_for_carve(path)
            except Refused as exc:
                log.warning("File carve: %s is not carved: %s", path, exc.strerror or exc)
                continue
            copy = os.path.join(workdir, f"{i}.data")
            with os.fdopen(fd, "rb") as src, open(copy, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            copies.append((path, copy, st))
        with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
            for path, copy, st in copies:
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size = os.path.getsize(copy)
                info.mtime = int(st.st_mtime)
                info.mode = stat.S_IMODE(st.st_mode)
                info.uid, info.gid = st.st_uid, st.st_gid
                with open(copy, "rb") as f:
                    tar.addfile(info, f)
        return len(copies)

    def _fire(self, endpoint: str, body: dict, node_key: str) -> dict:
        """One carver request with osquery's 3 attempts (osquery: Carver::fireRequest)."""
        remote = client(self.daemon)
        data = json.dumps(body).encode()
        last: RemoteError | None = None
        for i in range(1, ATTEMPTS + 1):
            try:
                status, doc = remote.transport.post(remote.url(endpoint), data, node_key)
                if "error" in doc:
                    raise RemoteError(f"Request failed: {doc['error']}")
                if not 200 <= status < 300:
                    raise RemoteError(f"Request failed: HTTP status {status}")
                return doc
            except RemoteError as exc:
                last = exc
            if i < ATTEMPTS:
                log.debug("HTTP(S) request failed: %s, retrying in %d seconds...", last, i * i)
                if self._stop.wait(i * i):
                    break
        assert last is not None
        raise last

    def post(self, guid: str, request: str, archive: str, size: int) -> None:
        flags = self.daemon.flags
        block = max(1, flags["carver_block_size"])
        count = math.ceil(size / block)
        key = client(self.daemon).node_key()
        doc = self._fire(flags["carver_start_endpoint"],
                         {"block_count": count, "block_size": block, "carve_size": size,
                          "carve_id": guid, "request_id": request, "node_key": key}, key)
        session = doc.get("session_id")
        if not isinstance(session, str) or not session:
            raise RemoteError("No session_id received from remote endpoint")
        with open(archive, "rb") as f:
            for i in range(count):
                data = f.read(block)
                self._fire(flags["carver_continue_endpoint"],
                           {"block_id": i, "session_id": session, "request_id": request,
                            "data": base64.b64encode(data).decode()}, key)
                if self._stop.is_set():
                    raise RemoteError("stopped by a shutdown")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
