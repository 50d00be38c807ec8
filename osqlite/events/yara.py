"""yara_events: YARA scans of files that the file-event publisher reports.

As osquery (osquery/tables/yara/yara_events.cpp): the config's
``"yara": {"file_paths": {category: [signature groups]}}`` names, for each
file_paths category, the groups of ``"yara": {"signatures": ...}`` that
scan a file when an event of that category is CREATED, UPDATED or
MOVED_TO.  Matches of all the groups are joined; a row is stored only
when something matched.

The subscriber sits on the publisher's output, not inside it: it receives
every (table, row) the file-event publisher emits (``on_event``), keeps
the file_events rows it cares about, and scans them on its own thread
through the extension's yara_file table, so neither the publisher's read
loop nor the scheduler ever waits for a scan.  It needs nothing from the
publisher but the file_events row shape (target_path, category, action,
transaction_id), whatever produces it.  Like osquery, it depends on the
publisher running (``--enable_file_events``) with the categories in
``file_paths``.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any, Callable

log = logging.getLogger("osqlite.events.yara")

ACTIONS = ("CREATED", "UPDATED", "MOVED_TO")
QUEUE_MAX = 10000


class YaraSubscriber:
    def __init__(self, emit: Callable[[str, dict], None],
                 connect: Callable[[], Any] | None = None) -> None:
        self.emit = emit
        self._connect = connect
        self._groups: dict[str, list[str]] = {}
        self._config_json = ""
        self._q: queue.Queue = queue.Queue(QUEUE_MAX)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events = 0
        self.dropped = 0

    def configure(self, yara_config: Any) -> None:
        """The config's "yara" value (None when absent)."""
        groups: dict[str, list[str]] = {}
        if isinstance(yara_config, dict) and isinstance(yara_config.get("file_paths"), dict):
            for cat, names in yara_config["file_paths"].items():
                if isinstance(names, list):
                    groups[cat] = [n for n in names if isinstance(n, str)]
        self._groups = groups
        self._config_json = json.dumps(yara_config) if yara_config is not None else ""

    @property
    def active(self) -> bool:
        return bool(self._groups) and self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="osqlite-yara",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def on_event(self, table: str, row: dict) -> None:
        """Called with every row the publishers emit; must not block."""
        if table != "file_events" or row.get("action") not in ACTIONS:
            return
        if not self._groups.get(row.get("category", "")):
            return
        try:
            self._q.put_nowait(dict(row))
        except queue.Full:
            self.dropped += 1

    def _open(self):
        if self._connect is not None:
            return self._connect()
        from .. import connect
        return connect()

    def _run(self) -> None:
        conn = None
        seen_config = None
        while not self._stop.is_set():
            try:
                row = self._q.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                if conn is None:
                    conn = self._open()
                    conn.execute("CREATE TEMP TABLE IF NOT EXISTS osqlite_config"
                                 "(key TEXT PRIMARY KEY, value TEXT)")
                if seen_config != self._config_json:
                    conn.execute("INSERT OR REPLACE INTO temp.osqlite_config VALUES ('yara', ?)",
                                 (self._config_json,))
                    seen_config = self._config_json
                out = self.scan(conn, row)
            except Exception as exc:   # a scan never stops the subscriber
                log.warning("YARA scan of %s failed: %s", row.get("target_path"), exc)
                continue
            if out is not None:
                self.events += 1
                self.emit("yara_events", out)
        if conn is not None:
            conn.close()

    def scan(self, conn, row: dict) -> dict | None:
        matches: list[str] = []
        tags: list[str] = []
        count = 0
        for group in self._groups.get(row["category"], []):
            for m, c, t in conn.execute(
                    "SELECT matches, count, tags FROM yara_file WHERE path = ? AND sig_group = ?",
                    (row["target_path"], group)):
                if m:
                    matches.append(m)
                if t:
                    tags.append(t)
                count += c or 0
        if not matches:
            return None
        return {"target_path": row["target_path"], "category": row["category"],
                "action": row["action"], "transaction_id": row.get("transaction_id", 0),
                "matches": ",".join(matches), "count": count, "strings": "",
                "tags": ",".join(tags)}
