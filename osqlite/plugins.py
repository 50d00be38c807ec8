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
"""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

from .config import config_sources, filesystem_pack
from .files import check_output_path, writable_dir
from .logger import ResultLogger, StatusFileHandler, StdoutStatusHandler, parse_mode
from .registry import ConfigPlugin, LoggerPlugin, PackSource, plugin

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
