"""Decorators: extra key/values attached to every result and snapshot line.

    "decorators": {
      "load":     ["SELECT uuid AS host_uuid FROM system_info"],
      "always":   ["SELECT user AS username FROM logged_in_users LIMIT 1"],
      "interval": {"3600": ["SELECT total_seconds AS uptime FROM uptime"]}
    }

* load runs once when the config is (re)loaded;
* always runs right before each scheduled query;
* interval runs on wall-clock multiples of its key (seconds), never at start.

As in osquery (osquery: plugins/config/parsers/decorators.cpp) only the first
row of a decorator is used (more rows give a warning), every value becomes a
string, a decorator that returns no rows leaves earlier values in place, and
a failing decorator is a warning.  Difference: osquery only accepts interval
keys that are multiples of 60; osqlite accepts any positive number of seconds.
Decorations are emitted sorted by key (osquery keeps them in a std::map).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Sequence

from .diff import as_string

log = logging.getLogger("osqlite.decorators")

#: run(sql) -> (column names, rows as tuples); raises on SQL errors.
Runner = Callable[[str], "tuple[Sequence[str], list[Sequence[Any]]]"]


def decorate(sql: str, run: Runner, into: dict[str, str]) -> None:
    try:
        names, rows = run(sql)
    except Exception as exc:
        log.warning("Decorator query failed (%s): %s", sql, exc)
        return
    if not rows:
        return
    if len(rows) > 1:
        log.warning("Multiple rows returned for decorator query: %s", sql)
    for name, value in zip(names, rows[0]):
        into[name] = "" if value is None else as_string(value) if not isinstance(value, bytes) \
            else value.decode("utf-8", "replace")


class Decorators:
    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        spec = spec or {}
        self.load: list[str] = list(spec.get("load", []))
        self.always: list[str] = list(spec.get("always", []))
        self.interval: dict[int, list[str]] = {int(k): list(v) for k, v in spec.get("interval", {}).items()}
        self._lock = threading.Lock()
        self._load_values: dict[str, str] = {}
        self._interval_values: dict[str, str] = {}
        self._always_values: dict[str, str] = {}

    def run_load(self, run: Runner) -> None:
        values: dict[str, str] = {}
        for sql in self.load:
            decorate(sql, run, values)
        with self._lock:
            self._load_values = values

    def run_interval(self, rate: int, run: Runner) -> None:
        values: dict[str, str] = {}
        for sql in self.interval.get(rate, []):
            decorate(sql, run, values)
        with self._lock:
            self._interval_values.update(values)

    def run_always(self, run: Runner) -> None:
        if not self.always:
            return
        values: dict[str, str] = {}
        for sql in self.always:
            decorate(sql, run, values)
        with self._lock:
            self._always_values.update(values)

    def current(self) -> dict[str, str]:
        """Merged decorations, keys sorted; the most recently run kind wins a clash."""
        with self._lock:
            merged = dict(self._load_values)
            merged.update(self._interval_values)
            merged.update(self._always_values)
        return {k: merged[k] for k in sorted(merged)}
