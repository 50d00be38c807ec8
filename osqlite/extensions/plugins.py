"""Config and logger plugins that live in an extension.

When an extension registers a config or logger plugin, the manager puts a
factory for one of these classes into osqlite.registry under the plugin's
name, owned by the extension's uuid, so ``--config_plugin=NAME`` and
``--logger_plugin=NAME`` reach it like a built-in plugin.  Each call goes
to whichever extension provides the name at that moment (an autoloaded
extension that restarted registers again under a new uuid).  The requests
are osquery's (osquery: osquery/config/config.cpp, osquery/logger/logger.cpp,
osquery/core/plugins/logger.cpp):

* config: ``{"action": "genConfig"}`` -> ``[{source: JSON text, ...}]``;
  ``{"action": "genPack", "name": N, "value": V}`` -> ``[{N: JSON text}]``;
* logger: ``{"init": "osqueryd"}`` and ``{"action": "features"}`` at setup
  (the status code's bit 1 asks for status logs); a result line is
  ``{"string": line, "category": "event"}``, a snapshot
  ``{"snapshot": line}``, status logs ``{"status": "true", "log": JSON}``
  with osquery's fields s, f, i, m, h, c, u.

Status lines are sent by a thread of their own, as osquery relays them
asynchronously: a slow extension never holds up the thread that logged.
Result lines go through the daemon's outbox (osqlite/outbox.py): while the
extension is away (restarting, hung) ``log_results`` raises OSError, the
lines stay committed in the state database and are delivered, in order,
when it answers again (at least once: a batch cut short is sent whole).
"""
from __future__ import annotations

import errno
import json
import logging
import os
import queue
import threading
from typing import Any, Callable, Sequence

from ..errors import ConfigError
from ..logger import calendar_time
from ..registry import ConfigPlugin, DistributedPlugin, LoggerPlugin, PackSource
from .client import CallError

log = logging.getLogger("osqlite.extensions")

FEATURE_LOGSTATUS = 1          # osquery: LOGGER_FEATURE_LOGSTATUS


def factory(manager: Any, kind: str, name: str) -> Callable[[Any], Any]:
    """The registry factory for an extension's plugin ``name`` of ``kind``."""
    def make(daemon: Any) -> Any:
        if kind == "config":
            return ExtensionConfig(manager, name, daemon)
        if kind == "logger":
            return ExtensionLogger(manager, name, daemon)
        return ExtensionDistributed(manager, name, daemon)
    return make


def _ok(resp: Any) -> tuple[int, str]:
    st = getattr(resp, "status", None)
    return (st.code, st.message or "") if st is not None else (0, "")


class ExtensionConfig(ConfigPlugin):
    def __init__(self, manager: Any, name: str, daemon: Any) -> None:
        super().__init__(daemon)
        self.manager = manager
        self.name = name

    def describe(self) -> str:
        ext = self.manager.owner("config", self.name)
        return f"extension {ext.name}" if ext else "an extension"

    def _call(self, request: dict[str, str]) -> list[dict[str, str]]:
        try:
            resp = self.manager.call_plugin("config", self.name, request)
        except CallError as exc:
            raise ConfigError(f"config plugin {self.name}", "", str(exc)) from None
        code, message = _ok(resp)
        if code != 0:
            raise ConfigError(f"config plugin {self.name}", "",
                              f"the extension failed {request['action']}: {message}")
        return list(resp.response or [])

    def gen_config(self) -> dict[str, str]:
        response = self._call({"action": "genConfig"})
        # osquery reads the first map of the answer (osquery: config.cpp refresh).
        sources = response[0] if response else {}
        return {str(k): str(v) for k, v in sources.items()}

    def gen_pack(self, name: str, value: str) -> list[PackSource]:
        origin = f"{self.name}:{value}"
        try:
            response = self._call({"action": "genPack", "name": name, "value": value})
        except ConfigError as exc:
            return [PackSource(name, origin, None, exc.reason)]
        text = response[0].get(name) if response else None
        if not text:
            return [PackSource(name, origin, None, "the config plugin sent no pack of that name")]
        return [PackSource(name, origin, text)]


class ExtensionLogger(LoggerPlugin):
    def __init__(self, manager: Any, name: str, daemon: Any) -> None:
        super().__init__(daemon)
        self.manager = manager
        self.name = name
        self.forward_status = False
        self._status: queue.Queue[Any] = queue.Queue(maxsize=10000)
        self._sender: threading.Thread | None = None

    def describe(self) -> str:
        ext = self.manager.owner("logger", self.name)
        return f"extension {ext.name}" if ext else "an extension"

    def setup(self) -> None:
        program = os.path.basename(getattr(self.daemon.flags, "program", "") or "osqueryd")
        try:
            self.manager.call_plugin("logger", self.name, {"init": program})
            resp = self.manager.call_plugin("logger", self.name, {"action": "features"})
        except CallError as exc:
            log.warning("Logger plugin %s: %s", self.name, exc)
            return
        # osquery reads the features from the status code, whatever it means
        # otherwise (osquery-python answers 1, "not a valid action": status
        # logs are sent, and it answers them with "use glog").
        self.forward_status = bool(_ok(resp)[0] & FEATURE_LOGSTATUS)
        if self.forward_status:
            self._sender = threading.Thread(target=self._send_status, daemon=True,
                                            name=f"osqlite-logger-{self.name}")
            self._sender.start()

    def _log(self, key: str, lines: Sequence[str]) -> None:
        """Send each line; OSError when the extension cannot take them, so the
        daemon's outbox keeps the batch and delivers it again later."""
        for line in lines:
            request = {key: line, "category": "event"} if key == "string" else {key: line}
            try:
                resp = self.manager.call_plugin("logger", self.name, request)
            except CallError as exc:
                raise OSError(errno.EAGAIN, f"logger plugin {self.name}: {exc}") from None
            code, message = _ok(resp)
            if code != 0:
                raise OSError(errno.EIO, f"logger plugin {self.name}: the extension refused a "
                                         f"line (status {code}: {message})")

    def log_results(self, lines: Sequence[str]) -> None:
        self._log("string", lines)

    def log_snapshot(self, lines: Sequence[str]) -> None:
        self._log("snapshot", lines)

    def log_status(self, record: logging.LogRecord) -> None:
        if not self.forward_status or record.name == log.name:
            return   # never about its own calls, which could loop
        sev = 0 if record.levelno < logging.WARNING else 1 if record.levelno < logging.ERROR else 2
        host = ""
        try:
            host = self.daemon.host_identifier()
        except Exception:
            pass
        line = {"s": sev, "f": record.filename, "i": record.lineno, "m": record.getMessage(),
                "h": host, "c": calendar_time(record.created), "u": int(record.created)}
        try:
            self._status.put_nowait(line)
        except queue.Full:
            pass

    def _send_status(self) -> None:
        while True:
            line = self._status.get()
            if line is None:
                return
            batch = [line]
            while len(batch) < 100:
                try:
                    nxt = self._status.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._status.put(None)
                    break
                batch.append(nxt)
            try:
                self.manager.call_plugin("logger", self.name,
                                         {"status": "true", "log": json.dumps(batch)})
            except CallError:
                pass     # status logs are best effort, as in osquery

    def stop(self) -> None:
        if self._sender is not None:
            self._status.put(None)
            self._sender.join(timeout=2)
            self._sender = None


class ExtensionDistributed(DistributedPlugin):
    """A distributed plugin in an extension: get_queries/write_results as
    osquery's ``{"action": "getQueries"}`` and ``{"action": "writeResults",
    "results": JSON}`` (osquery: osquery/distributed/distributed.cpp)."""

    def __init__(self, manager: Any, name: str, daemon: Any) -> None:
        super().__init__(daemon)
        self.manager = manager
        self.name = name

    def get_queries(self) -> str:
        resp = self.manager.call_plugin("distributed", self.name, {"action": "getQueries"})
        rows = list(resp.response or [])
        return str(rows[0].get("results", "{}")) if rows else "{}"

    def write_results(self, text: str) -> None:
        self.manager.call_plugin("distributed", self.name,
                                 {"action": "writeResults", "results": text})
