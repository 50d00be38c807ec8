"""osqlite's built-in back ends, registered in osqlite.registry.

* config ``filesystem`` — ``--config_path`` and ``<config_path>.d/*.conf``
  (osquery: plugins/config/filesystem_config.cpp); a pack given as a string
  is a file path, or for the pack name ``"*"`` a glob of pack files.
* logger ``filesystem`` — ``osqueryd.results.log`` and
  ``osqueryd.snapshots.log`` plus the status logs ``osqueryd.INFO``,
  ``.WARNING`` and ``.ERROR`` in ``--logger_path`` (osquery:
  plugins/logger/filesystem_logger.cpp).  The files are written by
  osqlite.logger (ResultLogger, StatusFileHandler); this class only binds
  them to the plugin interface.
* logger ``stdout`` — result lines on standard output, status as
  ``severity=N location=file:line message=...`` (osquery: plugins/logger/stdout.cpp).
* logger ``syslog`` — results and status lines to the syslog socket
  (osqlite.syslog_logger; osquery: plugins/logger/syslog_logger.cpp).
* config, logger and distributed ``tls`` — osquery's TLS remote API
  (osqlite.remote: transport and enrollment; osqlite.tlslog: the logger's
  buffer and sender; osqlite.distributed runs what the distributed plugin
  reads; osquery: plugins/config/tls_config.cpp, plugins/logger/tls_logger.cpp,
  plugins/distributed/tls_distributed.cpp).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Sequence

from . import syslog_logger, tlslog
from .config import config_sources, filesystem_pack
from .errors import ConfigError, DaemonError
from .files import check_output_path, writable_dir
from .logger import ResultLogger, StatusFileHandler, StdoutStatusHandler, parse_mode
from .registry import ConfigPlugin, DistributedPlugin, LoggerPlugin, PackSource, plugin
from .remote import RemoteError, client

log = logging.getLogger("osqlite.plugins")


@plugin("config", "filesystem")
class FilesystemConfig(ConfigPlugin):
    def describe(self) -> str:
        return str(self.daemon.flags["config_path"])

    def gen_config(self) -> dict[str, str]:
        return config_sources(self.daemon.flags["config_path"])

    def gen_pack(self, name: str, value: str) -> list[PackSource]:
        return [PackSource(*p) for p in filesystem_pack(name, value)]


class _WrappedLogger(LoggerPlugin):
    """A logger plugin over osqlite.logger's writers: ``results`` (a
    ResultLogger) and ``status`` (a logging.Handler)."""
    results: ResultLogger
    status: logging.Handler

    def sinks(self) -> list[Any]:
        """The files (or stdout) as outbox sinks: the daemon delivers through
        these, exactly once (osqlite.outbox)."""
        return self.results.sinks

    def log_results(self, lines: Sequence[str]) -> None:
        self.results.log_results(lines)

    def log_snapshot(self, lines: Sequence[str]) -> None:
        self.results.log_snapshot(lines)

    def log_status(self, record: logging.LogRecord) -> None:
        self.status.handle(record)


@plugin("logger", "filesystem")
class FilesystemLogger(_WrappedLogger):
    def __init__(self, daemon: Any) -> None:
        super().__init__(daemon)
        flags = daemon.flags
        self.path = flags["logger_path"]
        mode = parse_mode(flags["logger_mode"])
        self.results = ResultLogger(["filesystem"], self.path, mode, flags["logger_rotate"],
                                    flags["logger_rotate_size"], flags["logger_rotate_max_files"])
        self.status = StatusFileHandler(self.path, mode, 0)

    def describe(self) -> str:
        return str(self.path)

    def setup(self) -> None:
        writable_dir(self.path, "logger_path", True, self.daemon.flags.origin_note("logger_path"))
        for name in ("osqueryd.results.log", "osqueryd.snapshots.log", "osqueryd.INFO",
                     "osqueryd.WARNING", "osqueryd.ERROR"):
            check_output_path(os.path.join(self.path, name), "logger_path")
        # osquery creates the results log when the logger is set up.
        self.results.setup()
        self.status.touch()


@plugin("logger", "stdout")
class StdoutLogger(_WrappedLogger):
    def __init__(self, daemon: Any) -> None:
        super().__init__(daemon)
        self.results = ResultLogger(["stdout"], "", 0o600, False, 0, 1)
        self.status = StdoutStatusHandler()

    def describe(self) -> str:
        return "stdout"


@plugin("logger", "syslog")
class SyslogLogger(LoggerPlugin):
    def __init__(self, daemon: Any) -> None:
        super().__init__(daemon)
        self.client = syslog_logger.make_client(daemon.flags)

    def describe(self) -> str:
        return self.client.path

    def log_results(self, lines: Sequence[str]) -> None:
        self.client.send(syslog_logger.LOG_INFO,
                         syslog_logger.result_messages(self.daemon.flags, lines))

    def log_snapshot(self, lines: Sequence[str]) -> None:
        self.log_results(lines)

    def log_status(self, record: logging.LogRecord) -> None:
        self.client.send(syslog_logger.status_priority(record.levelno),
                         [syslog_logger.status_text(record)])

    def stop(self) -> None:
        self.client.close()


# -- osquery's TLS remote API -----------------------------------------------------------

def _tls_url(daemon: Any, endpoint_flag: str) -> str:
    """Where a tls plugin talks to, for the start line."""
    try:
        return client(daemon).transport.url(daemon.flags[endpoint_flag])
    except RemoteError:
        return "(no --tls_hostname)"


@plugin("config", "tls")
class TLSConfig(ConfigPlugin):
    """The whole answer of --config_tls_endpoint is the config, source
    ``tls_plugin`` (osquery: plugins/config/tls_config.cpp)."""
    backup = True   # the last good config is saved, and used at start when the server is away

    def __init__(self, daemon: Any) -> None:
        super().__init__(daemon)
        self._enrolled_once = False

    def describe(self) -> str:
        return _tls_url(self.daemon, "config_tls_endpoint")

    def gen_config(self) -> dict[str, str]:
        flags = self.daemon.flags
        remote = client(self.daemon)
        where = self.describe()
        try:
            self.daemon.open_state()
        except DaemonError as exc:
            raise ConfigError(where, "", str(exc)) from None
        if flags["enroll_always"] and not flags["disable_enrollment"] and not self._enrolled_once:
            # osquery: TLSConfigPlugin::setUp, once per process.
            self._enrolled_once = True
            remote.clear_node_key()
            if not remote.node_key():
                raise ConfigError(where, "", "No node key, TLS config failed.")
        try:
            doc = remote.call(flags["config_tls_endpoint"], attempts=flags["config_tls_max_attempts"])
        except RemoteError as exc:
            raise ConfigError(where, "", str(exc)) from None
        return {"tls_plugin": json.dumps(doc, ensure_ascii=False)}


@plugin("logger", "tls")
class TLSLogger(LoggerPlugin):
    """Results, snapshots and status lines to --logger_tls_endpoint, through
    a buffer in the state database (osqlite.tlslog)."""

    def __init__(self, daemon: Any) -> None:
        super().__init__(daemon)
        self.buffer: tlslog.Buffer | None = None
        self.sender: tlslog.Sender | None = None

    def describe(self) -> str:
        return _tls_url(self.daemon, "logger_tls_endpoint")

    def setup(self) -> None:
        self.daemon.open_state()
        self.buffer = tlslog.Buffer(self.daemon)
        if not self.daemon.flags["disable_enrollment"] and not client(self.daemon).node_key():
            # osquery: TLSLoggerPlugin::setUp (the daemon then exits 78).
            raise DaemonError("No node key, TLS logging disabled.")
        self.sender = tlslog.Sender(self.daemon, self.buffer)
        self.sender.start()

    def sinks(self) -> list[Any]:
        """The daemon's outbox hands result and snapshot lines to the buffer
        exactly once (osqlite.tlslog.Sink)."""
        assert self.buffer is not None
        return [tlslog.Sink(self.buffer)]

    def log_results(self, lines: Sequence[str]) -> None:
        # For callers without an outbox; the daemon uses sinks().
        assert self.buffer is not None
        self.buffer.add(tlslog.RESULT, lines)

    def log_snapshot(self, lines: Sequence[str]) -> None:
        self.log_results(lines)

    def log_status(self, record: logging.LogRecord) -> None:
        if self.sender is not None:
            self.sender.queue_status(record)

    def stop(self) -> None:
        if self.sender is not None:
            self.sender.stop(max(1.0, self.daemon.flags["alarm_timeout"] - 5.0))


@plugin("distributed", "tls")
class TLSDistributed(DistributedPlugin):
    """--distributed_tls_read_endpoint / --distributed_tls_write_endpoint
    (osquery: plugins/distributed/tls_distributed.cpp); the daemon's
    osqlite.distributed runner calls these."""

    def describe(self) -> str:
        return _tls_url(self.daemon, "distributed_tls_read_endpoint")

    def setup(self) -> None:
        client(self.daemon).transport.url("")      # RemoteError without --tls_hostname

    def get_queries(self) -> str:
        flags = self.daemon.flags
        doc = client(self.daemon).call(flags["distributed_tls_read_endpoint"],
                                       attempts=flags["distributed_tls_max_attempts"])
        return json.dumps(doc, ensure_ascii=False)

    def write_results(self, text: str) -> None:
        flags = self.daemon.flags
        raw = text.strip()
        if not (raw.startswith("{") and raw.endswith("}")):
            raise RemoteError("distributed results are not a JSON object")
        inner = raw[1:-1].strip().encode("utf-8", "surrogateescape")
        client(self.daemon).call(flags["distributed_tls_write_endpoint"], raw=inner or None,
                                 attempts=flags["distributed_tls_max_attempts"])
