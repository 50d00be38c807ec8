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

import functools
import logging
import os
import re
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


# What JSON must escape in a string (dumps also escapes U+2028/2029 for JS).
_NEEDS_JSON_ESCAPE = re.compile("[\x00-\x1f\"\\\\\u2028\u2029\ud800-\udfff]")


def event_lines_columnar(meta: dict[str, Any], columns: Sequence[str], added: Sequence[Sequence[Any]],
                         removed: Sequence[Sequence[Any]], decorations: dict[str, str],
                         top_level: bool = False, removed_columns: Sequence[str] | None = None) -> list[str]:
    """event_lines for value tuples, built column by column: each cell is
    JSON-encoded by one C-level map per column and each line is one %-format,
    so 100,000 lines cost a fraction of a second.  Same bytes as event_lines."""
    from .diff import format_double
    numerics = meta["numerics"]
    base = _header(meta, top_level, decorations, {})
    if "columns" in base or "action" in base:
        from .diff import render_rows
        return event_lines(meta, render_rows(columns, added, numerics),
                           render_rows(removed_columns or columns, removed, numerics),
                           decorations, top_level)
    prefix = (dumps(base)[:-1] + ',"columns":').replace("%", "%%")

    def lines(cols: Sequence[str], rows: Sequence[Sequence[Any]], action: str) -> list[str]:
        if not rows:
            return []
        order = sorted(range(len(cols)), key=lambda i: cols[i])
        template = prefix + "{" + ",".join(dumps(cols[i]).replace("%", "%%") + ":%s" for i in order) \
            + "}" + f',"action":"{action}"}}'
        transposed = list(zip(*rows))
        encoded = []
        for i in order:
            col = transposed[i]
            kinds = set(map(type, col))
            if not numerics:
                if kinds == {int}:
                    encoded.append(['"%d"' % v for v in col])
                    continue
                if kinds == {float}:
                    text = ["%.15g" % v for v in col]
                    encoded.append([('"%s"' if "." in t else '"%s.0"') % t for t in text])
                    continue
                if kinds != {str}:
                    col = [format_double(v) if type(v) is float else str(v) if type(v) is int else v
                           for v in col]
                    kinds = {str}
            if kinds == {str} and not _NEEDS_JSON_ESCAPE.search("".join(col)):
                # Nothing to escape in the whole column: quoting is all JSON adds.
                encoded.append(['"%s"' % v for v in col])
            else:
                encoded.append(list(map(dumps, col)))
        return [template % r for r in zip(*encoded)]

    return lines(removed_columns or columns, removed, "removed") + lines(columns, added, "added")


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
    """Appends whole batches of lines to one file, safely and atomically per batch."""

    def __init__(self, path: str, mode: int = 0o600, rotate: bool = False,
                 rotate_size: int = 26214400, rotate_max_files: int = 25) -> None:
        self.path = path
        self.mode = mode
        self.rotate = rotate
        self.rotate_size = rotate_size
        self.rotate_max_files = max(1, rotate_max_files)
        self._lock = threading.Lock()

    def touch(self) -> None:
        """Create the file now, so an unwritable logger_path fails at start."""
        self.write([])

    def write(self, lines: Iterable[str]) -> None:
        data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape") if lines else b""
        with self._lock:
            if self.rotate and data:
                self._maybe_rotate()
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.path, flags, self.mode)
            try:
                os.fchmod(fd, self.mode)
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
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
    _lock = threading.Lock()

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
    """Fans result and snapshot lines out to the configured logger plugins."""

    def __init__(self, plugins: Sequence[str], logger_path: str, mode: int,
                 rotate: bool, rotate_size: int, rotate_max_files: int) -> None:
        self.results: list[Any] = []
        self.snapshots: list[Any] = []
        for plugin in plugins:
            if plugin == "filesystem":
                self.results.append(FileSink(os.path.join(logger_path, RESULTS_LOG), mode,
                                             rotate, rotate_size, rotate_max_files))
                self.snapshots.append(FileSink(os.path.join(logger_path, SNAPSHOTS_LOG), mode,
                                               rotate, rotate_size, rotate_max_files))
            elif plugin == "stdout":
                sink = StdoutSink()
                self.results.append(sink)
                self.snapshots.append(sink)
            else:
                raise ValueError(f"unknown logger plugin {plugin!r} (osqlite has filesystem, stdout)")

    def setup(self) -> None:
        # osquery creates the results log when the logger is set up.
        for sink in self.results:
            sink.touch()

    def log_results(self, lines: Sequence[str]) -> None:
        if lines:
            for sink in self.results:
                sink.write(lines)

    def log_snapshot(self, lines: Sequence[str]) -> None:
        if lines:
            for sink in self.snapshots:
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
        except Exception:  # a status log must never take the daemon down
            self.handleError(record)


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
