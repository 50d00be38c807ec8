"""Publishers whose hot path runs in the extension.

A :class:`CReader` owns one reader of csrc/tables/events_pipe.c (kind
``audit``, ``inotify`` or ``syslog``) on its own connection to the state
database, opened as ``file:<database_path>?osqlite_events=1`` (only such a
connection may hand a kernel descriptor to a reader).  One thread calls
``osqlite_events_pump()`` on it in a loop: each call waits for the kernel,
reads what is queued, assembles osquery's rows and stores them in one
transaction, all in C with the GIL released, then returns a JSON summary
that this thread handles: counts for the store's retention and for
osquery_events, messages to log, losses the kernel reported.  Python sees
one call per batch, never a record.

Everything else on the reader's connection (configuration, the audit rule)
runs on that same thread between two pumps (:meth:`CReader.call`); a pipe
wakes the pump when there is such work or when the publisher stops.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
import urllib.parse
from typing import Any, Callable

import ujson

from .._sqlite import sqlite3
from .store import STORE_CACHE_KIB

log = logging.getLogger("osqlite.events")

_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}


def reader_connection(path: str):
    """A connection to the store at `path` that may own a kernel reader."""
    import osqlite
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?osqlite_events=1"
    conn = osqlite.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                           timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{STORE_CACHE_KIB}")     # the readers only append
    return conn


class CReader:
    """Base of the C-backed publishers.

    Subclasses set ``name`` (osquery's publisher name), ``kind`` (the
    reader's) and ``thread_name``, call :meth:`open_reader` from ``setup``
    and may extend :meth:`on_summary`."""

    name = ""
    kind = ""
    thread_name = "osqlite-events"
    POLL_MS = 500
    DRAIN_MS = 200             # when stopping, what is queued is read once more

    def __init__(self, store) -> None:
        self.store = store
        self.conn = None
        self._wake_r = self._wake_w = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._calls: queue.Queue = queue.Queue()
        self.events = 0
        self.active = False
        self.summary: dict = {}
        self._store_error: str | None = None

    # -- the reader's connection ---------------------------------------------

    def open_reader(self, fd: int | None = None) -> None:
        """Open the connection and the reader; fd is the kernel source
        (None: the reader opens its own, as inotify does)."""
        self.conn = reader_connection(self.store.path)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self.conn.execute("SELECT osqlite_events_open(?, ?, ?)",
                              (self.kind, fd, self._wake_r))
        except sqlite3.Error:
            self.close_reader()
            raise

    def close_reader(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self.conn = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def call(self, fn: Callable[[Any], Any], timeout: float = 60.0) -> Any:
        """fn(conn) on the reader's connection: at once before the thread
        runs, else on the thread between two pumps (the pump is woken)."""
        if self._thread is None or not self._thread.is_alive():
            return fn(self.conn)
        box: dict = {}
        done = threading.Event()
        self._calls.put((fn, box, done))
        self._wake()
        if not done.wait(timeout):
            raise TimeoutError(f"the {self.name} publisher did not answer in {timeout:.0f} s")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def set_options(self, options: dict) -> None:
        def apply(conn):
            for key, value in options.items():
                conn.execute("SELECT osqlite_events_set(?, ?)", (key, value))
        self.call(apply)

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass               # already pending

    def _run_calls(self) -> None:
        while True:
            try:
                fn, box, done = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                box["result"] = fn(self.conn)
            except BaseException as exc:   # handed to the caller
                box["error"] = exc
            done.set()

    # -- the thread ------------------------------------------------------------

    def start(self) -> None:
        self.active = True
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._run_calls()
            try:
                text = self.conn.execute("SELECT osqlite_events_pump(?)",
                                         (self.POLL_MS,)).fetchone()[0]
                failures = 0
            except sqlite3.Error as exc:
                failures += 1
                if failures == 1:
                    log.warning("%s events: the reader failed: %s", self.name, exc)
                time.sleep(min(failures, 5))
                continue
            summary = ujson.loads(text)
            self.handle_summary(summary)
            if summary.get("dead"):
                log.error("Event publisher %s stopped: its source failed", self.name)
                self.active = False
                break
        self._run_calls()

    def handle_summary(self, s: dict) -> None:
        rows = s.get("rows")
        if rows:
            self.store.note_stored(rows)
        self.events = int(s.get("events", self.events))
        for note in s.get("notes", ()):
            log.log(_LEVELS.get(note.get("level"), logging.WARNING), "%s", note.get("msg"))
        err = s.get("store_error")
        if err != self._store_error:
            if err:
                log.warning("Could not store %d events, keeping them and retrying: %s",
                            s.get("pending", 0), err)
            else:
                log.warning("%s events are stored again", self.name)
            self._store_error = err
        if s.get("dropped"):
            log.warning("%d %s events could not be stored and were dropped: %s",
                        s["dropped"], self.name, err or "")
        if s.get("lost"):
            self.store.lost += int(s["lost"])
            log.warning("%d %s events could not be stored before the publisher "
                        "stopped and are lost: %s", s["lost"], self.name, err or "")
        self.summary = s
        self.on_summary(s)

    def on_summary(self, s: dict) -> None:
        """Subclass hook: counters of the kind."""

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=45)
            self._thread = None
        if self.conn is not None:
            try:
                os.read(self._wake_r, 4096)       # a wake-up the thread did not take
            except OSError:
                pass
            try:
                text = self.conn.execute("SELECT osqlite_events_pump(?)",
                                         (self.DRAIN_MS,)).fetchone()[0]
                self.handle_summary(ujson.loads(text))
                text = self.conn.execute("SELECT osqlite_events_close()").fetchone()[0]
                self.handle_summary(ujson.loads(text))
            except sqlite3.Error as exc:
                log.warning("Closing the %s reader failed: %s", self.name, exc)
        self.close_reader()
        self.active = False
