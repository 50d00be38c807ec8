"""The outbox: every result and snapshot line reaches every sink exactly once.

A query run's lines are committed in the same state-database transaction as
the run's new result, and only then written out; a line leaves the outbox
once every sink that takes it has it.  So a kill -9, a crash or a failed
write at any instant neither loses nor repeats a line:

* killed before the commit: nothing of the run exists (the next run diffs
  against the last stored result, so its changes are logged then);
* killed after it: on restart the daemon delivers what is committed first.

Payloads up to ``INLINE_MAX`` bytes are stored in the database itself; larger
ones (a 100,000-row first run is 35 MB) are written once to a segment file in
``<database>.outbox/``, a private 0700 directory that the commit names, so a
large run costs one extra sequential write rather than a database insert.

Sinks are anything with this small interface (``logger.FileSink``,
``logger.StdoutSink``; a network logger fits the same mould: ``send``
returns once the far end acknowledged the lines):

* ``name`` (stable, it keys the delivery progress), ``kinds`` (the batch
  kinds it takes: ``results``, ``snapshots``), ``label`` (for messages);
* ``begin() -> mark``: get ready to write one batch; the mark (a small dict,
  e.g. the log file's device, inode and size) is committed before anything
  is written;
* ``send(mark, payload, skip)``: write the payload from byte ``skip``;
  raise OSError on failure, leaving no torn line behind where it can;
* ``resume(mark, payload) -> (done, in_place)``: after an interrupted
  attempt (a kill, a failed write), how many bytes of the payload already
  reached the sink, and whether ``send`` may continue from there with the
  same mark (a file whose end is exactly there);
* ``abort()``: drop what ``begin`` prepared.

A sink that cannot say what it already received (standard output) returns
``(0, False)`` from ``resume``: its lines are delivered at least once.

When a sink fails (disk full, directory gone, read-only filesystem,
immutable file) the lines stay in the outbox, the failure is logged once
per change of state (not per run), delivery is retried with back-off
(1 s doubling to 60 s) and the backlog is written in order when the sink
works again.  The backlog is bounded by ``buffered_log_max`` lines
(osquery's flag for its buffered loggers): over it ``room()`` is false and
the daemon stops storing new results until the backlog drains, so their
changes are logged, combined, once it has (nothing is lost from the state
the log describes); snapshots are dropped and counted.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import stat
import threading
import time
import uuid
from typing import Any, Iterator, Protocol, Sequence

from ._sqlite import sqlite3
from .errors import DaemonError
from .state import StateDB

log = logging.getLogger("osqlite.outbox")

INLINE_MAX = 1 << 20
BLOCK = 1 << 20
BACKOFF_MAX = 60.0
_SEGMENT = re.compile(r"^[0-9a-f]{32}\.seg$")


class Sink(Protocol):
    name: str
    label: str
    kinds: frozenset[str]

    def begin(self) -> dict[str, Any]: ...
    def send(self, mark: dict[str, Any], payload: "Payload", skip: int) -> None: ...
    def resume(self, mark: dict[str, Any], payload: "Payload") -> tuple[int, bool]: ...
    def abort(self) -> None: ...


class PluginSink:
    """A logger plugin that only has ``log_results(lines)`` /
    ``log_snapshot(lines)`` (osqlite.registry's interface, e.g. one an
    extension registers), as a sink: it is handed whole lines, a block at a
    time; like standard output it cannot say what it already got, so the
    batch in flight at a kill is handed over again (at least once)."""

    def __init__(self, plugin: Any, kind: str) -> None:
        self.plugin, self.kind = plugin, kind
        self.name = f"plugin:{getattr(plugin, 'name', type(plugin).__name__)}:{kind}"
        self.label = f"the {getattr(plugin, 'name', '?')} logger plugin"
        self.kinds = frozenset({kind})

    def begin(self) -> dict[str, Any]:
        return {}

    def abort(self) -> None:
        pass

    def resume(self, mark: dict[str, Any], payload: "Payload") -> tuple[int, bool]:
        return 0, False

    def send(self, mark: dict[str, Any], payload: "Payload", skip: int) -> None:
        write = self.plugin.log_results if self.kind == "results" else self.plugin.log_snapshot
        rest = b""
        for block in payload.blocks(skip):
            data = rest + bytes(block)
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                write(data[:cut - 1].decode("utf-8", "surrogateescape").split("\n"))
        if rest:
            write([rest.decode("utf-8", "surrogateescape")])


def plugin_sinks(plugin: Any) -> list[PluginSink]:
    return [PluginSink(plugin, "results"), PluginSink(plugin, "snapshots")]


class Payload:
    """The bytes of one batch: in memory, or pieces of a segment file."""

    def __init__(self, data: bytes | None = None, fd: int = -1,
                 pieces: Sequence[tuple[int, int]] = ()) -> None:
        self.data = data
        self.fd = fd
        self.pieces = list(pieces) if data is None else [(0, len(data))]
        self.size = sum(n for _, n in self.pieces)

    def blocks(self, start: int = 0, block: int = BLOCK) -> Iterator[bytes | memoryview]:
        """The payload from byte ``start``, a block at a time."""
        pos = 0
        view = memoryview(self.data) if self.data is not None else None
        for off, n in self.pieces:
            if pos + n <= start:
                pos += n
                continue
            skip = max(0, start - pos)
            at, left = off + skip, n - skip
            while left:
                k = min(block, left)
                if view is not None:
                    yield view[at:at + k]
                else:
                    chunk = os.pread(self.fd, k, at)
                    if not chunk:
                        raise OSError(errno.EIO, "outbox segment is shorter than its record")
                    k = len(chunk)
                    yield chunk
                at += k
                left -= k
            pos += n

    def read(self, start: int, n: int) -> bytes:
        out = bytearray()
        for b in self.blocks(start, min(BLOCK, max(1, n))):
            out += b[:n - len(out)]
            if len(out) >= n:
                break
        return bytes(out)

    def line_floor(self, pos: int) -> int:
        """Offset just past the last newline before ``pos`` (0 if none):
        where a write cut at ``pos`` must be rolled back to."""
        end = pos
        while end > 0:
            start = max(0, end - 65536)
            i = self.read(start, end - start).rfind(b"\n")
            if i >= 0:
                return start + i + 1
            end = start
        return 0

    def common_prefix(self, fd: int, at: int) -> int:
        """How many leading bytes of the payload the file ``fd`` holds at ``at``."""
        done = 0
        for b in self.blocks(0):
            got = os.pread(fd, len(b), at + done)
            if got == bytes(b):
                done += len(b)
                continue
            n = min(len(got), len(b))
            i = 0
            mine = bytes(b[:n])
            while i < n and got[i] == mine[i]:
                i += 1
            return done + i
        return done


class Staged:
    """One run's lines before they are committed: named parts (``removed``
    and ``added`` come out in that order although added rows are known
    first), in memory, spilled to a new segment file once large."""

    def __init__(self, outbox: "Outbox") -> None:
        self._ob = outbox
        self.parts: dict[str, list[Any]] = {}
        self.lines = 0
        self.size = 0
        self.segment: str | None = None
        self._fd = -1
        self._end = 0

    def add(self, part: str, data: bytes, lines: int) -> None:
        if not data:
            return
        self.lines += lines
        self.size += len(data)
        entries = self.parts.setdefault(part, [])
        if self._fd < 0 and self.size > INLINE_MAX and self._ob.dirfd >= 0:
            self._spill()
        if self._fd >= 0:
            entries.append(self._write(data))
        else:
            entries.append(data)

    def _spill(self) -> None:
        name = uuid.uuid4().hex + ".seg"
        self._fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                           0o600, dir_fd=self._ob.dirfd)
        self.segment = name
        for entries in self.parts.values():
            for i, e in enumerate(entries):
                if isinstance(e, bytes):
                    entries[i] = self._write(e)

    def _write(self, data: bytes) -> tuple[int, int]:
        at = self._end
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self._end)
            self._end += n
            view = view[n:]
        return at, len(data)

    def payload(self, order: Sequence[str]) -> Payload:
        entries = [e for p in order for e in self.parts.get(p, [])]
        if self._fd < 0:
            return Payload(b"".join(entries))
        return Payload(fd=self._fd, pieces=entries)

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            try:
                os.unlink(self.segment, dir_fd=self._ob.dirfd)
            except OSError:
                pass

    def adopt(self) -> int:
        """Hand the segment descriptor to the outbox (after the commit)."""
        fd, self._fd = self._fd, -1
        return fd


class _Health:
    def __init__(self) -> None:
        self.failing: str | None = None
        self.delay = 0.0
        self.next_try = 0.0


class Outbox:
    def __init__(self, state: StateDB, sinks: Sequence[Sink], max_lines: int = 1_000_000,
                 clock: Any = time.monotonic) -> None:
        self.state = state
        self.sinks = list(sinks)
        self.max_lines = max(0, int(max_lines))
        self.clock = clock
        self.dirfd = -1
        self.dir: str | None = None
        self._segfds: dict[str, int] = {}
        self._locks = {s.name: threading.Lock() for s in self.sinks}
        self._health = {s.name: _Health() for s in self.sinks}
        self._room_logged = False
        self.dropped_snapshots = 0
        self.pending_lines = 0
        if state.path != ":memory:":
            self.dir = state.path + ".outbox"
            self._open_dir()
        self._setup()

    # -- set-up ----------------------------------------------------------------------

    def _open_dir(self) -> None:
        assert self.dir is not None
        try:
            os.mkdir(self.dir, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise DaemonError(f"cannot create {self.dir} ({exc.strerror}): "
                              "pass --database_path=<a writable path>") from None
        st = os.lstat(self.dir)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise DaemonError(f"{self.dir} is not a directory (a symbolic link?); osqlite will not "
                              "follow or remove it. Remove it if you did not put it there")
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            # Its files are deleted once delivered: only a directory of ours will do.
            raise DaemonError(f"{self.dir} is not a private directory of this user (owner {st.st_uid}, "
                              f"mode {st.st_mode & 0o777:o}); remove it if you did not put it there")
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        if self.dirfd >= 0:
            os.close(self.dirfd)
        self.dirfd = fd

    def _setup(self) -> None:
        with self.state.transaction() as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                       " kind TEXT NOT NULL, name TEXT, lines INTEGER NOT NULL, size INTEGER NOT NULL,"
                       " data BLOB, segment TEXT, pieces TEXT)")
            tx.execute("CREATE TABLE IF NOT EXISTS outbox_sinks(sink TEXT PRIMARY KEY,"
                       " delivered INTEGER NOT NULL, mark TEXT)")
            top = tx.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0]
            known = {r[0]: r[1] for r in tx.execute("SELECT sink, delivered FROM outbox_sinks")}
            names = {s.name for s in self.sinks}
            for gone, delivered in known.items():
                if gone in names:
                    continue
                n = tx.execute("SELECT coalesce(sum(lines), 0) FROM outbox WHERE seq > ?",
                               (delivered,)).fetchone()[0]
                if n:
                    log.warning("Logger %s is no longer configured: %d lines it had not received "
                                "are dropped from its queue", gone, n)
                tx.execute("DELETE FROM outbox_sinks WHERE sink = ?", (gone,))
            for s in self.sinks:
                if s.name not in known:
                    # A sink added now starts with the lines committed from now on.
                    tx.execute("INSERT INTO outbox_sinks(sink, delivered) VALUES (?, ?)", (s.name, top))
        self._collect_all()
        segments = set()
        with self.state.lock:
            rows = self.state.conn.execute("SELECT segment FROM outbox WHERE segment IS NOT NULL").fetchall()
            self.pending_lines = self.state.conn.execute(
                "SELECT coalesce(sum(lines), 0) FROM outbox").fetchone()[0]
        for (seg,) in rows:
            segments.add(seg)
            try:
                self._segfds[seg] = os.open(seg, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                            dir_fd=self.dirfd)
            except OSError as exc:
                log.error("Outbox segment %s/%s is missing (%s): its lines cannot be delivered",
                          self.dir, seg, exc.strerror)
        if self.dirfd >= 0:
            # Segments of runs killed before their commit: files this daemon made.
            for entry in os.listdir(self.dirfd):
                if _SEGMENT.match(entry) and entry not in segments:
                    try:
                        os.unlink(entry, dir_fd=self.dirfd)
                    except OSError:
                        pass

    def close(self) -> None:
        for fd in self._segfds.values():
            os.close(fd)
        self._segfds.clear()
        if self.dirfd >= 0:
            os.close(self.dirfd)
            self.dirfd = -1

    # -- staging and committing ----------------------------------------------------------

    def stage(self) -> Staged:
        return Staged(self)

    def room(self) -> bool:
        """May a run add lines?  False while the backlog is at buffered_log_max."""
        ok = not self.max_lines or self.pending_lines < self.max_lines
        if ok != (not self._room_logged):
            if not ok:
                log.error("The outbox holds %d lines (buffered_log_max): new results are not stored "
                          "until it drains; their changes are logged when it has", self.pending_lines)
            else:
                log.warning("The outbox has room again (%d lines)", self.pending_lines)
            self._room_logged = not ok
        return ok

    def drop_snapshot(self, name: str, lines: int) -> None:
        self.dropped_snapshots += lines
        if self.dropped_snapshots == lines or self.dropped_snapshots % 1000 < lines:
            log.error("Snapshot results of %s dropped: the outbox is full (buffered_log_max); "
                      "%d snapshot lines dropped so far", name, self.dropped_snapshots)

    def enqueue(self, tx: sqlite3.Connection, staged: Staged, kind: str, name: str,
                order: Sequence[str]) -> int:
        """Inside the run's transaction: record its lines as committed."""
        if not self.sinks:      # disable_logging: results are still stored, lines go nowhere
            return 0
        payload = staged.payload(order)
        if staged.segment is None:
            cur = tx.execute("INSERT INTO outbox(kind, name, lines, size, data) VALUES (?, ?, ?, ?, ?)",
                             (kind, name, staged.lines, payload.size, payload.data))
        else:
            cur = tx.execute("INSERT INTO outbox(kind, name, lines, size, segment, pieces)"
                             " VALUES (?, ?, ?, ?, ?, ?)",
                             (kind, name, staged.lines, payload.size, staged.segment,
                              json.dumps(payload.pieces)))
        return int(cur.lastrowid)

    def committed(self, staged: Staged) -> None:
        """After the commit: the outbox owns the run's segment now."""
        if not self.sinks:
            staged.discard()
            return
        if staged.segment is not None:
            self._segfds[staged.segment] = staged.adopt()
        self.pending_lines += staged.lines

    # -- delivery --------------------------------------------------------------------

    def deliver(self, force: bool = True) -> None:
        """Write what is committed to every sink, in order.  With force False
        a failing sink is only tried once its back-off has passed."""
        now = self.clock()
        for sink in self.sinks:
            h = self._health[sink.name]
            if h.failing and not force and now < h.next_try:
                continue
            with self._locks[sink.name]:
                self._deliver_sink(sink, h)

    def retry_due(self) -> None:
        """For the daemon's loop: retry failing sinks whose back-off passed."""
        now = self.clock()
        for sink in self.sinks:
            h = self._health[sink.name]
            if h.failing and now >= h.next_try:
                with self._locks[sink.name]:
                    self._deliver_sink(sink, h)

    def backlog(self) -> dict[str, int]:
        """Lines not yet delivered, per sink."""
        out = {}
        with self.state.lock:
            for s in self.sinks:
                kinds = sorted(s.kinds)
                marks = ",".join("?" * len(kinds))
                out[s.name] = self.state.conn.execute(
                    f"SELECT coalesce(sum(lines), 0) FROM outbox WHERE kind IN ({marks}) AND seq >"
                    " (SELECT delivered FROM outbox_sinks WHERE sink = ?)", (*kinds, s.name)).fetchone()[0]
        return out

    def _deliver_sink(self, sink: Sink, h: _Health) -> None:
        kinds = sorted(sink.kinds)
        marks = ",".join("?" * len(kinds))
        written = 0
        while True:
            with self.state.lock:
                row = self.state.conn.execute(
                    "SELECT s.delivered, s.mark, o.seq, o.lines, o.data, o.segment, o.pieces FROM outbox_sinks s"
                    f" JOIN outbox o ON o.seq > s.delivered AND o.kind IN ({marks})"
                    " WHERE s.sink = ? ORDER BY o.seq LIMIT 1", (*kinds, sink.name)).fetchone()
            if row is None:
                break
            _, mark_text, seq, lines, data, segment, pieces = row
            try:
                self._deliver_one(sink, seq, json.loads(mark_text) if mark_text else None,
                                  self._payload(data, segment, pieces))
            except (OSError, sqlite3.Error) as exc:
                self._failed(sink, h, exc)
                return
            written += lines
        if h.failing:
            log.warning("Logging to %s works again: the %d lines kept while it failed are written",
                        sink.label, written)
        h.failing, h.delay = None, 0.0

    def _payload(self, data: bytes | None, segment: str | None, pieces: str | None) -> Payload:
        if segment is None:
            return Payload(bytes(data or b""))
        fd = self._segfds.get(segment)
        if fd is None:
            raise OSError(errno.ENOENT, f"outbox segment {segment} is missing")
        return Payload(fd=fd, pieces=[tuple(p) for p in json.loads(pieces or "[]")])

    def _deliver_one(self, sink: Sink, seq: int, mark: dict[str, Any] | None, payload: Payload) -> None:
        skip = 0
        if mark is not None and mark.get("seq") == seq:
            skip, in_place = sink.resume(mark, payload)
            if skip < payload.size and not in_place:
                mark = None
        else:
            mark = None
        if skip < payload.size:
            if mark is None:
                mark = dict(sink.begin(), seq=seq)
                try:
                    with self.state.lock:
                        self.state.conn.execute("UPDATE outbox_sinks SET mark = ? WHERE sink = ?",
                                                (json.dumps(mark), sink.name))
                except BaseException:
                    sink.abort()
                    raise
            sink.send(mark, payload, skip)
        with self.state.transaction() as tx:
            tx.execute("UPDATE outbox_sinks SET delivered = ?, mark = NULL WHERE sink = ?", (seq, sink.name))
            done = self._collectable(tx, seq)
        if done:
            self._forget(done)

    def _failed(self, sink: Sink, h: _Health, exc: BaseException) -> None:
        what = getattr(exc, "strerror", None) or str(exc)
        key = f"{type(exc).__name__}:{getattr(exc, 'errno', '')}:{what}"
        h.delay = min(BACKOFF_MAX, max(1.0, h.delay * 2))
        h.next_try = self.clock() + h.delay
        if key != h.failing:
            pending = self.backlog().get(sink.name, 0)
            log.error("Cannot write results to %s: %s; %d lines are kept in the state database "
                      "until they can be written (retrying with back-off)", sink.label, what, pending)
            h.failing = key

    # -- garbage -----------------------------------------------------------------------

    def _collectable(self, tx: sqlite3.Connection, seq: int) -> list[tuple[int, str | None, int]]:
        """Batches up to ``seq`` that every sink taking them has delivered."""
        rows = tx.execute("SELECT seq, kind, segment, lines FROM outbox WHERE seq <= ?", (seq,)).fetchall()
        delivered = {r[0]: r[1] for r in tx.execute("SELECT sink, delivered FROM outbox_sinks")}
        done = []
        for s, kind, segment, lines in rows:
            if all(kind not in k.kinds or delivered.get(k.name, 0) >= s for k in self.sinks):
                done.append((s, segment, lines))
        for s, _, _ in done:
            tx.execute("DELETE FROM outbox WHERE seq = ?", (s,))
        return done

    def _collect_all(self) -> None:
        with self.state.transaction() as tx:
            top = tx.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0]
            done = self._collectable(tx, top)
        for _, segment, _ in done:
            if segment is not None and self.dirfd >= 0:
                try:
                    os.unlink(segment, dir_fd=self.dirfd)
                except OSError:
                    pass

    def _forget(self, done: list[tuple[int, str | None, int]]) -> None:
        for _, segment, lines in done:
            self.pending_lines = max(0, self.pending_lines - lines)
            if segment is None:
                continue
            fd = self._segfds.pop(segment, None)
            if fd is not None:
                os.close(fd)
            try:
                os.unlink(segment, dir_fd=self.dirfd)
            except OSError:
                pass

    # -- the database moved ------------------------------------------------------------

    def reopen(self) -> None:
        """After StateDB recreated the database: recreate the segment
        directory and copy the pending segments (still open) into it."""
        if self.dir is None:
            return
        self._open_dir()
        for name, fd in list(self._segfds.items()):
            try:
                os.stat(name, dir_fd=self.dirfd, follow_symlinks=False)
                continue
            except FileNotFoundError:
                pass
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600, dir_fd=self.dirfd)
            try:
                at = 0
                while True:
                    chunk = os.pread(fd, BLOCK, at)
                    if not chunk:
                        break
                    os.write(out, chunk)
                    at += len(chunk)
            finally:
                os.close(out)
