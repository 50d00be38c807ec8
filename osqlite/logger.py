"""Result and status logs, byte-compatible with osquery 5's filesystem logger.

Result lines (osquery: osquery/core/query.cpp, osquery/logger/logger.cpp) are
built by the pure functions event_lines / batched_line / snapshot_lines and
written by sinks:

* FileSink appends to one file under logger_path: opened with O_NOFOLLOW (a
  symlink planted at the log path is refused, never followed), created with
  logger_mode (0600 unless told otherwise, chmod'ed on every write as osquery
  does), one os.write per batch under a lock so lines of concurrent queries
  never interleave, optional size rotation X -> X.1 -> X.2 ... (no zstd).
* StdoutSink prints lines to standard output.

Status logs (osqueryd.INFO, osqueryd.WARNING, osqueryd.ERROR) carry glog's
line prefix (osquery: osquery/logger/logger.cpp googleLogCustomPrefix):

    I1128 03:40:08.123456  4242 scheduler.py:115] Executing scheduled query foo: SELECT 1

A message goes to its own severity file and every lower one, as glog does.
Unlike glog the files are plain files, not symlinks to timestamped files.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import stat
import sys
import threading
import time
from typing import Any, Iterable, Sequence

import ujson

log = logging.getLogger("osqlite.logger")

RESULTS_LOG = "osqueryd.results.log"
SNAPSHOTS_LOG = "osqueryd.snapshots.log"


# -- result line shapes ---------------------------------------------------------------

def calendar_time(unix: float) -> str:
    """asctime() of UTC plus " UTC": "Mon May  2 22:27:32 2016 UTC"."""
    return time.asctime(time.gmtime(unix)) + " UTC"


# osquery's rapidjson writer leaves '/' alone and writes UTF-8 raw.
dumps = functools.partial(ujson.dumps, ensure_ascii=False, escape_forward_slashes=False)


def _header(meta: dict[str, Any], top_level: bool, decorations: dict[str, str],
            into: dict[str, Any]) -> dict[str, Any]:
    into["name"] = meta["name"]
    into["hostIdentifier"] = meta["hostIdentifier"]
    into["calendarTime"] = meta["calendarTime"]
    into["unixTime"] = meta["unixTime"]
    into["epoch"] = meta["epoch"]
    into["counter"] = meta["counter"]
    into["numerics"] = meta["numerics"]
    if decorations:
        if top_level:
            # rapidjson remove+append: a clashing key moves to the end.
            for k, v in decorations.items():
                into.pop(k, None)
                into[k] = v
        else:
            into["decorations"] = dict(decorations)
    return into


def make_meta(name: str, host: str, unix: int, epoch: int, counter: int,
              numerics: bool) -> dict[str, Any]:
    return {"name": name, "hostIdentifier": host, "calendarTime": calendar_time(unix),
            "unixTime": int(unix), "epoch": epoch, "counter": counter, "numerics": numerics}


def event_lines(meta: dict[str, Any], added: Sequence[dict], removed: Sequence[dict],
                decorations: dict[str, str], top_level: bool = False) -> list[str]:
    """Event format: one line per row, every removed line before any added.
    Rows are rendered (diff.render_rows): keys sorted, values as logged."""
    base = _header(meta, top_level, decorations, {})
    if "columns" in base or "action" in base:
        # A top-level decoration named columns/action: build each line as an object.
        out = []
        for action, rows in (("removed", removed), ("added", added)):
            for row in rows:
                line = dict(base)
                line.pop("columns", None)
                line["columns"] = row
                line.pop("action", None)
                line["action"] = action
                out.append(dumps(line))
        return out
    # The header is the same for every line of a run: serialise it once.
    prefix = dumps(base)[:-1] + ',"columns":'
    out = [prefix + text + ',"action":"removed"}' for text in map(dumps, removed)]
    out.extend(prefix + text + ',"action":"added"}' for text in map(dumps, added))
    return out


class LineShape:
    """The result lines of one run built around columns texts
    (diff.Renderer): everything but the columns is the same for every line
    of a run, so it is serialised once and each line is ``prefix + columns
    + suffix``; a block of lines is one join.  Byte for byte the lines of
    event_lines, batched_line and snapshot_lines."""

    def __init__(self, meta: dict[str, Any], decorations: dict[str, str], top_level: bool = False) -> None:
        self.meta, self.decorations, self.top_level = meta, decorations, top_level
        base = _header(meta, top_level, decorations, {})
        # A top-level decoration named like a line's own key: build lines as objects.
        self._base = base if ("columns" in base or "action" in base) else None
        self._prefix = dumps(base)[:-1] + ',"columns":'

    def events(self, cols: Sequence[str], action: str) -> bytes:
        """Event-format lines (``action`` added/removed/snapshot), newline-terminated."""
        if not cols:
            return b""
        if self._base is not None:
            out = []
            for c in cols:
                line = dict(self._base)
                line.pop("columns", None)
                line["columns"] = ujson.loads(c)
                line.pop("action", None)
                line["action"] = action
                out.append(dumps(line))
            return ("\n".join(out) + "\n").encode("utf-8")
        suffix = f',"action":"{action}"}}'
        return "".join((self._prefix, (suffix + "\n" + self._prefix).join(cols), suffix, "\n")).encode("utf-8")

    def plain_events(self) -> bool:
        """Are event lines ``prefix + columns + suffix`` (no top-level
        decoration named like a line's own key)?"""
        return self._base is None

    def events_joined(self, cols: bytes, action: str) -> bytes:
        """Event-format lines of columns texts joined by newlines (UTF-8),
        newline-terminated: one replace of the newlines (needs plain_events())."""
        prefix = self._prefix.encode("utf-8")
        suffix = f',"action":"{action}"}}'.encode("utf-8")
        return b"".join((prefix, cols.replace(b"\n", suffix + b"\n" + prefix), suffix, b"\n"))

    def _around(self, key: str, value: Any, first: dict[str, Any]) -> tuple[str, str]:
        """(text before, text after) the value of ``key`` in a one-line shape."""
        marker = "\u0000osqlite\u0000"
        text = dumps(_header(self.meta, self.top_level, self.decorations, dict(first, **{key: marker})))
        at = text.find(dumps(marker))
        if at < 0:      # a top-level decoration replaced the key itself
            return "", ""
        return text[:at], text[at + len(dumps(marker)):]

    def batched(self) -> tuple[str, str, str] | None:
        """(head, middle, tail) of the batched line: head + removed columns
        joined by ',' + middle + added columns + tail.  None when a
        top-level decoration named diffResults replaces the diff."""
        before, after = self._around("diffResults", 0, {"diffResults": 0})
        if not before:
            return None
        return before + '{"removed":[', '],"added":[', "]}" + after + "\n"

    def snapshot(self) -> tuple[str, str] | None:
        """(head, tail) of a snapshot line: head + rows joined by ',' + tail."""
        before, after = self._around("snapshot", 0, {"snapshot": 0, "action": "snapshot"})
        if not before:
            return None
        return before + "[", "]" + after + "\n"


def batched_line(meta: dict[str, Any], added: Sequence[dict], removed: Sequence[dict],
                 decorations: dict[str, str], top_level: bool = False) -> str:
    line: dict[str, Any] = {"diffResults": {"removed": list(removed), "added": list(added)}}
    return dumps(_header(meta, top_level, decorations, line))


def snapshot_lines(meta: dict[str, Any], rows: Sequence[dict], decorations: dict[str, str],
                   top_level: bool = False, event_type: bool = False) -> list[str]:
    """Snapshot format: one line per run (even for no rows), or with
    logger_snapshot_event_type one event-style line per row."""
    if event_type:
        base = _header(meta, top_level, decorations, {})
        out = []
        for row in rows:
            line = dict(base)
            line.pop("columns", None)
            line["columns"] = row
            line.pop("action", None)
            line["action"] = "snapshot"
            out.append(dumps(line))
        return out
    line = {"snapshot": list(rows), "action": "snapshot"}
    return [dumps(_header(meta, top_level, decorations, line))]


# -- sinks ----------------------------------------------------------------------------

def parse_mode(text: str) -> int:
    mode = int(str(text), 8)
    if not 0 < mode <= 0o7777:
        raise ValueError(f"logger_mode {text!r} is not an octal mode in 1..07777")
    return mode


class FileSink:
    """One log file under logger_path, as an outbox sink (osqlite.outbox).

    Opened per batch with O_APPEND and O_NOFOLLOW (a symlink planted at the
    log path is refused, never followed), created with logger_mode and
    chmod'ed to it on every write as osquery does, optionally size-rotated
    first (X -> X.1 -> X.2 ...).  Because it is reopened for every batch,
    external logrotate works in both its modes: ``create`` (the file is
    renamed; the next batch creates a new one) and ``copytruncate``.

    A write cut short (disk full part-way, I/O error) is rolled back to the
    end of the last whole line it wrote, so no torn line stays in the file;
    ``resume`` finds out, by comparing bytes, how much of a batch a previous
    attempt or a killed process left in the file (or in a rotated copy), so
    the rest is written once and never glued to a torn line."""

    kinds = frozenset({"results"})

    def __init__(self, path: str, mode: int = 0o600, rotate: bool = False,
                 rotate_size: int = 26214400, rotate_max_files: int = 25,
                 kinds: frozenset[str] | None = None) -> None:
        self.path = path
        self.name = "filesystem:" + os.path.basename(path)
        self.label = path
        if kinds is not None:
            self.kinds = kinds
        self.mode = mode
        self.rotate = rotate
        self.rotate_size = rotate_size
        self.rotate_max_files = max(1, rotate_max_files)
        self._lock = threading.Lock()
        self._fd = -1

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, self.mode)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, f"{self.path} is not a regular file")
            os.fchmod(fd, self.mode)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def touch(self) -> None:
        """Create the file now, so an unwritable logger_path fails at start."""
        os.close(self._open())

    # -- the outbox sink interface ---------------------------------------------------

    def begin(self) -> dict[str, Any]:
        self.abort()
        if self.rotate:
            self._maybe_rotate()
        fd = self._open()
        st = os.fstat(fd)
        self._fd = fd
        return {"dev": st.st_dev, "ino": st.st_ino, "start": st.st_size}

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def send(self, mark: dict[str, Any], payload: Any, skip: int) -> None:
        fd, self._fd = self._fd, -1
        if fd < 0:
            # Continuing a batch in place (resume said the file ends where it stopped).
            fd = self._open()
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino, st.st_size) != (mark["dev"], mark["ino"], mark["start"] + skip):
                os.close(fd)
                raise OSError(errno.EAGAIN, f"{self.path} changed while a write was resumed")
        pos = skip
        try:
            for block in payload.blocks(skip):
                view = memoryview(block)
                while view:
                    n = os.write(fd, view)
                    pos += n
                    view = view[n:]
        except OSError:
            self._roll_back(fd, mark, payload, pos)
            raise
        finally:
            os.close(fd)

    def _roll_back(self, fd: int, mark: dict[str, Any], payload: Any, pos: int) -> None:
        """Cut a torn last line off, only if the file still ends with our bytes."""
        keep = payload.line_floor(pos)
        if keep == pos:
            return
        try:
            if os.fstat(fd).st_size == mark["start"] + pos:
                os.ftruncate(fd, mark["start"] + keep)
        except OSError:
            pass    # resume() completes the line later instead

    def resume(self, mark: dict[str, Any], payload: Any) -> tuple[int, bool]:
        start = mark["start"]
        best, in_place = 0, False
        try:
            st = os.lstat(self.path)
        except OSError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) == (mark["dev"], mark["ino"]) and st.st_size >= start:
            done = self._prefix_in(self.path, start, payload)
            if done == payload.size:
                return done, False
            if st.st_size == start + done:
                return done, True
            best = done
        else:
            # Rotated away (logrotate create: same inode, new name) or copied
            # and truncated (copytruncate: a copy with the same offsets).
            for other in self._rotated():
                try:
                    ost = os.lstat(other)
                except OSError:
                    continue
                if ost.st_size <= start or not stat.S_ISREG(ost.st_mode):
                    continue
                if (ost.st_dev, ost.st_ino) != (mark["dev"], mark["ino"]) and ost.st_size < start:
                    continue
                best = max(best, self._prefix_in(other, start, payload))
                if best == payload.size:
                    return best, False
        # Write the lines that did not arrive whole, as a new append.
        return payload.line_floor(best) if best < payload.size else best, in_place

    def _prefix_in(self, path: str, start: int, payload: Any) -> int:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return 0
        try:
            return payload.common_prefix(fd, start)
        finally:
            os.close(fd)

    def _rotated(self) -> list[str]:
        d, base = os.path.split(self.path)
        try:
            names = os.listdir(d or ".")
        except OSError:
            return []
        return [os.path.join(d, n) for n in sorted(names)
                if n.startswith(base + ".") and not n.endswith((".gz", ".zst", ".xz", ".bz2"))]

    # -- plain appends (status logs) ------------------------------------------------------

    def write(self, lines: Sequence[str]) -> None:
        """Append lines at once (status logs; results go through the outbox).
        A write cut short is rolled back to where it started."""
        data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape") if lines else b""
        with self._lock:
            if self.rotate and data:
                self._maybe_rotate()
            fd = self._open()
            try:
                start = os.fstat(fd).st_size
                view = memoryview(data)
                try:
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
                except OSError:
                    with contextlib.suppress(OSError):
                        if os.fstat(fd).st_size == start + len(data) - len(view):
                            os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)

    def _maybe_rotate(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if st.st_size < self.rotate_size:
            return
        # Shift X.n -> X.n+1 from the top down; the oldest falls off the end.
        top = f"{self.path}.{self.rotate_max_files}"
        if os.path.lexists(top):
            os.unlink(top)
        for n in range(self.rotate_max_files - 1, 0, -1):
            src = f"{self.path}.{n}"
            if os.path.lexists(src):
                os.replace(src, f"{self.path}.{n + 1}")
        os.replace(self.path, f"{self.path}.1")


class StdoutSink:
    """The stdout logger plugin: results and snapshots on standard output.
    A pipe cannot say what its reader got, so after a kill the lines of the
    batch in flight are written again (at least once)."""

    name = "stdout"
    label = "standard output"
    kinds = frozenset({"results", "snapshots"})
    _lock = threading.Lock()

    def begin(self) -> dict[str, Any]:
        return {}

    def abort(self) -> None:
        pass

    def resume(self, mark: dict[str, Any], payload: Any) -> tuple[int, bool]:
        return 0, False

    def send(self, mark: dict[str, Any], payload: Any, skip: int) -> None:
        out = sys.stdout.buffer
        with self._lock:
            for block in payload.blocks(skip):
                out.write(block)
            out.flush()

    def write(self, lines: Iterable[str]) -> None:
        data = "\n".join(lines) + "\n" if lines else ""
        if not data:
            return
        with self._lock:
            sys.stdout.write(data)
            sys.stdout.flush()

    def touch(self) -> None:
        pass


class ResultLogger:
    """The configured logger plugins' result and snapshot sinks."""

    def __init__(self, plugins: Sequence[str], logger_path: str, mode: int,
                 rotate: bool, rotate_size: int, rotate_max_files: int) -> None:
        self.sinks: list[Any] = []
        for plugin in plugins:
            if plugin == "filesystem":
                self.sinks.append(FileSink(os.path.join(logger_path, RESULTS_LOG), mode,
                                           rotate, rotate_size, rotate_max_files))
                self.sinks.append(FileSink(os.path.join(logger_path, SNAPSHOTS_LOG), mode,
                                           rotate, rotate_size, rotate_max_files,
                                           kinds=frozenset({"snapshots"})))
            elif plugin == "stdout":
                self.sinks.append(StdoutSink())
            else:
                raise ValueError(f"unknown logger plugin {plugin!r} (osqlite has filesystem, stdout)")

    def setup(self) -> None:
        # osquery creates the results log when the logger is set up.
        for sink in self.sinks:
            if "results" in sink.kinds:
                sink.touch()

    # The logger plugin interface (osqlite.registry), for callers outside the
    # daemon: a plain append.  The daemon delivers through ``sinks`` instead.

    def log_results(self, lines: Sequence[str]) -> None:
        self._write("results", lines)

    def log_snapshot(self, lines: Sequence[str]) -> None:
        self._write("snapshots", lines)

    def _write(self, kind: str, lines: Sequence[str]) -> None:
        if lines:
            for sink in self.sinks:
                if kind in sink.kinds:
                    sink.write(lines)


# -- status logs ----------------------------------------------------------------------

_SEVERITY = {logging.DEBUG: "I", logging.INFO: "I", logging.WARNING: "W",
             logging.ERROR: "E", logging.CRITICAL: "F"}


def glog_prefix(record: logging.LogRecord) -> str:
    t = time.localtime(record.created)
    micros = int((record.created % 1) * 1_000_000)
    sev = _SEVERITY.get(record.levelno, "I" if record.levelno < logging.WARNING else "E")
    tid = getattr(record, "thread_native", None) or threading.get_native_id()
    return "%s%02d%02d %02d:%02d:%02d.%06d %5d %s:%d] " % (
        sev, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, micros, tid,
        record.filename, record.lineno)


class GlogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        return glog_prefix(record) + msg


class StatusFileHandler(logging.Handler):
    """osqueryd.INFO / .WARNING / .ERROR under logger_path."""

    def __init__(self, logger_path: str, mode: int, min_status: int = 0) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(GlogFormatter())
        self.logger_path = logger_path
        self.failing = False
        self.min_level = (logging.DEBUG, logging.WARNING, logging.ERROR)[max(0, min(min_status, 2))]
        self.sinks = [(logging.DEBUG, FileSink(os.path.join(logger_path, "osqueryd.INFO"), mode)),
                      (logging.WARNING, FileSink(os.path.join(logger_path, "osqueryd.WARNING"), mode)),
                      (logging.ERROR, FileSink(os.path.join(logger_path, "osqueryd.ERROR"), mode))]

    def touch(self) -> None:
        for _, sink in self.sinks[:2]:
            sink.touch()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self.min_level:
            return
        try:
            line = self.format(record)
            for level, sink in self.sinks:
                if record.levelno >= level:
                    sink.write([line])
        except Exception as exc:  # a status log must never take the daemon down
            # (nor print a traceback per message on a full disk: glog stops too)
            if not self.failing:
                self.failing = True
                with contextlib.suppress(Exception):
                    sys.stderr.write(f"osqlite: cannot write the status logs in {self.logger_path}: "
                                     f"{getattr(exc, 'strerror', None) or exc}\n")
        else:
            self.failing = False


class StdoutStatusHandler(logging.Handler):
    """The stdout logger plugin's status form (osquery: plugins/logger/stdout.cpp)."""

    def emit(self, record: logging.LogRecord) -> None:
        sev = 0 if record.levelno < logging.WARNING else 1 if record.levelno < logging.ERROR else 2
        StdoutSink().write([f"severity={sev} location={record.filename}:{record.lineno} "
                            f"message={record.getMessage()}"])


class BufferHandler(logging.Handler):
    """Holds status records until the log files exist (the config decides logger_path)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < 10000:
            self.records.append(record)
