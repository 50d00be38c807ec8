"""The tls logger's buffer and sender (osquery: plugins/logger/tls_logger.cpp,
plugins/logger/buffered.cpp).

Result and snapshot lines and status records are first written to the
state database (table ``tls_buffer``), then a sender thread posts them to
``--logger_tls_endpoint`` every ``--logger_tls_period`` seconds, at most
``--logger_tls_max_lines`` per period, results and statuses in separate
requests::

    {"node_key": "...", "log_type": "result", "data": [<line>, ...]}
    {"node_key": "...", "log_type": "status", "data": [<status>, ...]}

A line leaves the buffer only after the server answered that request
successfully (no ``error``, no ``node_invalid``, a 2xx status), in the
same transaction for the whole batch.  So a server outage or a restart
(SIGTERM or kill -9) loses no line, and a line the server acknowledged is
never sent again; the one window left is a kill between the server's
answer and that commit, which can make the server see that batch twice.

As osquery: a line longer than ``--logger_tls_max_linesize`` is dropped
with a warning; after a failed send that log type backs off
``period * n * n`` seconds, up to ``--logger_tls_backoff_max``; when the
buffer holds more than ``--buffered_log_max`` lines (0: no bound) the
oldest are dropped after a send attempt, and the drop is logged (a warning
that reaches the status log, so the server learns how many lines it lost).
``--tls_disable_status_log`` keeps status records local.  The flags are
read on every round, so config options change them at once.

Status records become osquery's status objects::

    {"hostIdentifier": ..., "calendarTime": "... UTC", "unixTime": N,
     "severity": 0, "filename": "daemon.py", "line": 812, "message": "...",
     "version": "5.23.0", "decorations": {...}}

``log_status`` may be called from any thread, inside any lock (it is a
logging handler), so it only queues the record; the sender thread writes
queued records to the buffer within ``STATUS_FLUSH`` seconds.

Result lines reach the buffer from the daemon's outbox (osqlite.outbox),
which commits each run's lines with its stored result: ``Sink`` is the tls
logger's outbox sink.  Its ``send`` copies a batch's lines into
``tls_buffer`` and records the batch's outbox sequence number in the same
transaction, so ``resume`` can tell, after a kill, whether that batch is
already in; the outbox then never hands a batch over twice, and the chain
run -> outbox -> buffer -> server holds every line exactly once up to the
server's acknowledgement.  Status records do not go through the outbox.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Iterable, Iterator, Sequence

from ._sqlite import sqlite3
from .flags import OSQUERY_VERSION
from .logger import calendar_time, dumps
from .remote import RemoteError, client

log = logging.getLogger("osqlite.tlslog")

RESULT, STATUS = "r", "s"
RECEIVED = "tls_outbox_received"    # kv: the last outbox batch the buffer took in
LOG_TYPES = {RESULT: "result", STATUS: "status"}
STATUS_FLUSH = 0.5           # seconds a queued status record may wait
STATUS_QUEUE_MAX = 100000    # records; beyond it they are counted and dropped


class Buffer:
    """Lines waiting for the TLS server, oldest first, in the state database."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        with daemon.open_state().transaction() as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS tls_buffer(id INTEGER PRIMARY KEY "
                       "AUTOINCREMENT, kind TEXT NOT NULL, line BLOB NOT NULL)")

    def _insert(self, rows: Iterable[tuple[str, bytes]], received: int | None = None) -> int:
        """Insert lines (and the record of the outbox batch they came from)
        in one transaction; OSError when the database cannot take them (a
        full disk): the daemon treats that as a logger that cannot log."""
        # daemon.open_state() each time: the database may be reopened under us.
        try:
            with self.daemon.open_state().transaction() as tx:
                before = tx.total_changes
                tx.executemany("INSERT INTO tls_buffer(kind, line) VALUES (?, ?)", rows)
                n = tx.total_changes - before
                if received is not None:
                    tx.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)",
                               (RECEIVED, str(received)))
        except sqlite3.Error as exc:
            raise OSError(f"cannot buffer TLS log lines in the state database: {exc}") from None
        return n

    def add(self, kind: str, lines: Sequence[str | bytes]) -> None:
        """Append lines in one transaction."""
        if lines:
            self._insert((kind, line if isinstance(line, bytes) else line.encode("utf-8", "surrogateescape"))
                         for line in lines)

    def take(self, seq: int, payload: Any) -> int:
        """The outbox batch ``seq`` (an osqlite.outbox.Payload of newline-ended
        lines), in one transaction with the record that it came; how many
        lines it held."""
        def lines() -> Iterator[tuple[str, bytes]]:
            rest = b""
            for block in payload.blocks(0):
                parts = (rest + bytes(block)).split(b"\n")
                rest = parts.pop()
                yield from ((RESULT, line) for line in parts if line)
            if rest:
                yield (RESULT, rest)
        return self._insert(lines(), received=seq)

    def received(self) -> int:
        """The last outbox batch taken in."""
        value = self.daemon.open_state().get(RECEIVED)
        return int(value) if value and value.isdigit() else 0

    def batch(self, kind: str, limit: int) -> list[tuple[int, bytes]]:
        if limit <= 0:
            return []
        state = self.daemon.open_state()
        with state.lock:
            return state.conn.execute("SELECT id, line FROM tls_buffer WHERE kind = ? ORDER BY id "
                                      "LIMIT ?", (kind, limit)).fetchall()

    def ack(self, kind: str, last_id: int) -> None:
        """The server has every line of this kind up to last_id."""
        with self.daemon.open_state().transaction() as tx:
            tx.execute("DELETE FROM tls_buffer WHERE kind = ? AND id <= ?", (kind, last_id))

    def count(self) -> dict[str, int]:
        state = self.daemon.open_state()
        with state.lock:
            got = dict(state.conn.execute("SELECT kind, count(*) FROM tls_buffer GROUP BY kind").fetchall())
        return {RESULT: got.get(RESULT, 0), STATUS: got.get(STATUS, 0)}

    def trim(self, keep: int) -> dict[str, int]:
        """Drop the oldest lines beyond ``keep``; how many of each kind went."""
        with self.daemon.open_state().transaction() as conn:
            total = conn.execute("SELECT count(*) FROM tls_buffer").fetchone()[0]
            if total <= keep:
                return {}
            cut = conn.execute("SELECT id FROM tls_buffer ORDER BY id LIMIT 1 OFFSET ?",
                               (total - keep - 1,)).fetchone()[0]
            dropped = dict(conn.execute("SELECT kind, count(*) FROM tls_buffer WHERE id <= ? "
                                        "GROUP BY kind", (cut,)).fetchall())
            conn.execute("DELETE FROM tls_buffer WHERE id <= ?", (cut,))
        return dropped


class Sink:
    """The tls logger as an outbox sink (osqlite.outbox.Sink): results and
    snapshots go to the buffer, the Sender posts them from there."""
    name = "tls"
    label = "the tls logger's buffer"
    kinds = frozenset({"results", "snapshots"})

    def __init__(self, buffer: Buffer) -> None:
        self.buffer = buffer

    def begin(self) -> dict[str, Any]:
        return {}

    def send(self, mark: dict[str, Any], payload: Any, skip: int) -> None:
        # All or nothing (one transaction): skip is 0 or the whole batch.
        if skip < payload.size:
            self.buffer.take(int(mark["seq"]), payload)

    def resume(self, mark: dict[str, Any], payload: Any) -> tuple[int, bool]:
        return (payload.size if self.buffer.received() >= int(mark["seq"]) else 0), True

    def abort(self) -> None:
        pass


class Sender:
    """The thread that empties the buffer into the TLS server."""

    def __init__(self, daemon: Any, buffer: Buffer) -> None:
        self.daemon = daemon
        self.flags = daemon.flags
        self.buffer = buffer
        self.remote = client(daemon)
        self.statuses: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.queued = 0
        self.lost_statuses = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._sending = threading.Lock()
        self.backoff = {RESULT: 0, STATUS: 0}          # osquery's results_backoff_ / statuses_backoff_
        self.next_try = {RESULT: 0.0, STATUS: 0.0}     # monotonic time of the next attempt
        self.sent = {RESULT: 0, STATUS: 0}             # lines acknowledged (bench, tests)

    # -- status records -----------------------------------------------------------

    def queue_status(self, record: logging.LogRecord) -> None:
        if self.queued >= STATUS_QUEUE_MAX:
            self.lost_statuses += 1
            return
        self.queued += 1
        self.statuses.put(record)

    def status_object(self, record: logging.LogRecord) -> str:
        level = record.levelno
        severity = 0 if level < logging.WARNING else 1 if level < logging.ERROR else \
            2 if level < logging.CRITICAL else 3
        obj: dict[str, Any] = {
            "hostIdentifier": self.daemon.host_identifier(),
            "calendarTime": calendar_time(record.created),
            "unixTime": int(record.created),
            "severity": severity,
            "filename": record.filename,
            "line": record.lineno,
            "message": record.getMessage(),
            "version": OSQUERY_VERSION,
        }
        decorations = {} if self.flags["disable_decorators"] else self.daemon.decorators.current()
        if decorations:
            if self.flags["decorations_top_level"]:
                obj.update(decorations)
            else:
                obj["decorations"] = dict(decorations)
        return dumps(obj)

    def flush_statuses(self) -> None:
        records = []
        while True:
            try:
                records.append(self.statuses.get_nowait())
            except queue.Empty:
                break
        self.queued -= len(records)
        lost, self.lost_statuses = self.lost_statuses, 0
        if not records and not lost:
            return
        lines = []
        for r in records:
            try:
                lines.append(self.status_object(r))
            except Exception:   # a status record must never stop the sender
                continue
        try:
            self.buffer.add(STATUS, lines)
        except OSError as exc:
            log.debug("Cannot buffer %d status lines: %s", len(lines), exc)
        if lost:
            log.warning("TLS logger: %d status lines were dropped (more than %d waiting)",
                        lost, STATUS_QUEUE_MAX)

    # -- sending ------------------------------------------------------------------

    def send(self, kind: str, rows: list[tuple[int, bytes]]) -> None:
        """POST one batch; RemoteError when the server did not take it."""
        limit = self.flags["logger_tls_max_linesize"]
        keep = []
        for _, line in rows:
            if len(line) > limit:
                log.warning("Linesize exceeds TLS logger maximum: %d", len(line))
                continue
            keep.append(line)
        if kind == STATUS and self.flags["tls_disable_status_log"]:
            return
        raw = b'"log_type":"' + LOG_TYPES[kind].encode() + b'","data":[' + b",".join(keep) + b"]"
        self.remote.call(self.flags["logger_tls_endpoint"], raw=raw,
                         compress=self.flags["logger_tls_compress"])

    def check(self, now: float) -> None:
        """One round (osquery: BufferedLogForwarder::check)."""
        limit = max(1, self.flags["logger_tls_max_lines"])
        period = max(1, self.flags["logger_tls_period"])
        room = limit
        for kind in (RESULT, STATUS):
            rows = self.buffer.batch(kind, room)
            room -= len(rows)
            if not rows or now < self.next_try[kind] or self._stop.is_set():
                continue
            try:
                with self._sending:
                    self.send(kind, rows)
                    self.buffer.ack(kind, rows[-1][0])
            except RemoteError as exc:
                log.debug("Error sending %s logs to logger: %s", LOG_TYPES[kind], exc)
                cap = self.flags["logger_tls_backoff_max"]
                if cap > 0:
                    n = self.backoff[kind] + 1
                    wait = period * n * n
                    if wait > cap:
                        wait, n = cap, n - 1
                    self.backoff[kind] = n
                    self.next_try[kind] = now + wait
                    log.debug("Will attempt to send %s logs again in %d seconds",
                              LOG_TYPES[kind], wait)
                continue
            self.sent[kind] += len(rows)
            self.backoff[kind] = 0
            self.next_try[kind] = 0.0
        bound = self.flags["buffered_log_max"]
        if bound > 0:
            dropped = self.buffer.trim(bound)
            if dropped:
                log.warning("Purging buffered logs limit (%d) exceeded: dropped the %d oldest "
                            "lines (%d results, %d status)", bound, sum(dropped.values()),
                            dropped.get(RESULT, 0), dropped.get(STATUS, 0))

    def run(self) -> None:
        next_check = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                self.flush_statuses()
                if now >= next_check:
                    # Rounds every period, as osquery's forwarder pauses between checks.
                    next_check = now + max(1, self.flags["logger_tls_period"])
                    self.check(now)
            except Exception:
                log.exception("TLS logger round failed")
            self._wake.wait(max(0.0, min(STATUS_FLUSH, next_check - time.monotonic())))
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="osqlite-tls-logger", daemon=True)
        self._thread.start()

    def stop(self, wait: float) -> None:
        """Stop; a request in flight may finish within ``wait`` seconds (its
        lines are then acknowledged rather than sent again next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(wait)
        try:
            self.flush_statuses()
        except Exception:
            pass
