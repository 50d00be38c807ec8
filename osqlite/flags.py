"""osqueryd's flags: names, defaults, parsing of argv, flagfiles and config options.

Names and defaults are osquery 5's (osquery: osquery/core/flags.h and the
files cited in docs/daemon.md), with the differences the project chose:
config_path defaults to /var/osquery/osqueryd.conf (the seed article),
logger_mode to 0600, pack_refresh_interval to 0 (discovery evaluated at
config load only), schedule_timeout is a per-query time limit, and the old
names enable_monitor and log_result_events are accepted.

    flags = Flags()
    flags.parse_argv(["--config_path=/etc/x.conf", "--verbose"])
    flags.apply_options({"schedule_splay_percent": "10"}, warn)
    flags["schedule_splay_percent"]   # -> 10 (int)

Values are typed (bool, int, str).  The store is shared by every thread of
the daemon; reads are plain dict lookups, writes replace whole values, so no
lock is needed beyond the GIL.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import FlagError

log = logging.getLogger("osqlite.flags")


@dataclass(frozen=True)
class Flag:
    name: str
    type: str          # "bool" | "int" | "string"
    default: Any
    description: str
    cli_only: bool = False   # osquery's CLI_FLAG: ignored (with a warning) in config options


_F = Flag
FLAGS: tuple[Flag, ...] = (
    # Config.
    _F("config_path", "string", "/var/osquery/osqueryd.conf", "Path to the JSON config file", True),
    _F("config_plugin", "string", "filesystem", "Config plugin (only filesystem)", True),
    _F("config_check", "bool", False, "Check the config and exit (1 when invalid)", True),
    _F("config_dump", "bool", False, "Print the merged config and exit", True),
    _F("config_refresh", "int", 0, "Re-read the config every N seconds (0: only on SIGHUP)", True),
    # Loggers.
    _F("logger_plugin", "string", "filesystem", "Comma list of result loggers: filesystem, stdout", True),
    _F("logger_path", "string", "/var/log/osquery", "Directory of the filesystem logger's files"),
    _F("logger_mode", "string", "0600", "Octal mode of the log files", True),
    _F("logger_rotate", "bool", False, "Rotate results/snapshots logs by size"),
    _F("logger_rotate_size", "int", 26214400, "Rotate when a log reaches this many bytes"),
    _F("logger_rotate_max_files", "int", 25, "Rotated files kept per log"),
    _F("logger_event_type", "bool", True, "One result line per row (false: batched diffResults)"),
    _F("logger_snapshot_event_type", "bool", False, "One snapshot line per row"),
    _F("logger_numerics", "bool", False, "Write numeric columns as JSON numbers"),
    _F("logger_min_status", "int", 0, "Minimum status severity written (0 INFO, 1 WARNING, 2 ERROR)"),
    _F("logger_min_stderr", "int", 0, "Minimum status severity copied to stderr"),
    _F("logger_stderr", "bool", True, "Copy status lines to stderr", True),
    _F("verbose", "bool", False, "Verbose status logging"),
    _F("disable_logging", "bool", False, "Write no status or result logs (results still stored)"),
    _F("disable_decorators", "bool", False, "Disable decorators"),
    _F("decorations_top_level", "bool", False, "Decorations as top-level keys of result lines"),
    _F("nullvalue", "string", "", "Text of NULL values in result lines"),
    # Identity, storage, process.
    _F("host_identifier", "string", "hostname",
       "hostIdentifier: hostname, uuid, instance, ephemeral or specified"),
    _F("specified_identifier", "string", "", "hostIdentifier when host_identifier=specified"),
    _F("database_path", "string", "/var/osquery/osquery.db", "State database (file, or directory to hold it)", True),
    _F("disable_database", "bool", False, "Keep state in memory (every start is a first run)"),
    _F("pidfile", "string", "/var/run/osqueryd.pidfile", "Locked pidfile", True),
    _F("ephemeral", "bool", False, "Skip the pidfile"),
    _F("force", "bool", False, "Accepted for compatibility", True),
    _F("alarm_timeout", "int", 15, "Seconds allowed for a clean shutdown", True),
    _F("worker_threads", "int", 4, "Threads running scheduled queries"),
    # Scheduler and packs.
    _F("schedule_splay_percent", "int", 10, "Percent of splay applied to intervals"),
    _F("schedule_default_interval", "int", 3600, "Interval of queries without one"),
    _F("schedule_timeout", "int", 0, "osqlite: per-query time limit in seconds (0: none)"),
    _F("schedule_denylist_duration", "int", 86400, "osqlite: seconds a timed-out query stays denylisted"),
    _F("schedule_epoch", "int", 0, "Epoch of differential results; changing it resets them"),
    _F("schedule_max_drift", "int", 60, "Accepted for compatibility"),
    _F("schedule_lognames", "bool", False, "Log the name of each query run at INFO"),
    _F("schedule_run_at_startup", "bool", False, "osqlite: run every query once at start"),
    _F("pack_delimiter", "string", "_", "Delimiter in pack query names"),
    _F("pack_refresh_interval", "int", 0, "Re-evaluate pack discovery every N seconds (0: at config load)"),
    _F("pack_discovery_mode", "string", "any", "osqlite: 'any' (seed) or 'all' (osquery) discovery rule"),
    # Events: read by osqlite.events (the publishers and the event store).
    _F("disable_events", "bool", False, "Disable event publishers"),
    _F("events_expiry", "int", 3600, "Seconds buffered events are kept"),
    _F("events_max", "int", 50000, "Maximum event batches kept per subscriber"),
    _F("events_optimize", "bool", True, "Scheduled queries see only events since their last run"),
    _F("enable_file_events", "bool", False, "Enable the inotify file publisher"),
    # Event publishers (osqlite.events.EVENT_FLAGS; osquery's names and defaults).
    _F("disable_audit", "bool", True, "Disable receiving events from the audit subsystem"),
    _F("audit_allow_process_events", "bool", True, "Allow the audit publisher to install process event rules"),
    _F("audit_allow_sockets", "bool", False, "Allow the audit publisher to install socket-related rules"),
    _F("audit_allow_accept_socket_events", "bool", True, "Include rows for accept socket events"),
    _F("audit_allow_failed_socket_events", "bool", False, "Include rows for socket events that have failed"),
    _F("audit_allow_unix", "bool", False, "Allow socket events to collect domain sockets"),
    _F("audit_backlog_limit", "int", 4096, "The audit backlog limit"),
    _F("disable_hardware_events", "bool", False, "osqlite: disable the uevent publisher (hardware_events)"),
    _F("read_max", "int", 52428800, "Maximum file read size (file_events hashing)"),
    # Watchdog: accepted; the watchdog itself is not built yet.
    _F("enable_monitor", "bool", False, "Old name: turns the watchdog on"),
    _F("disable_watchdog", "bool", False, "Disable the watchdog", True),
    _F("utc", "bool", True, "Deprecated; all times are UTC"),
)

# -- osqueryi ---------------------------------------------------------------------------
# The shell's own flags (osquery: osquery/devtools/shell.cpp, osquery/main/main.cpp
# SHELL_FLAG); osquery_flags shows them with shell_only = 1.  The daemon
# accepts and ignores them, as osqueryd does.
SHELL_FLAGS: tuple[Flag, ...] = (
    _F("csv", "bool", False, "Set output mode to 'csv'"),
    _F("json", "bool", False, "Set output mode to 'json'"),
    _F("json_pretty", "bool", False, "Set output mode to 'json_pretty'"),
    _F("line", "bool", False, "Set output mode to 'line'"),
    _F("list", "bool", False, "Set output mode to 'list'"),
    _F("separator", "string", "|", "Set output field separator, default '|'"),
    _F("header", "bool", True, "Toggle column headers true/false"),
    _F("pack", "string", "", "Run all queries in a pack"),
    _F("L", "bool", False, "List all table names"),
    _F("A", "string", "", "Select all from a table"),
    _F("connect", "string", "", "Connect to an extension socket"),
    _F("extension", "string", "", "Path to a single extension to autoload"),
    _F("query", "string", "", "Execute a single SQL query and exit"),
    _F("query_file", "string", "", "Execute SQL query from a file and exit"),
    _F("output", "string", "", "Write results to a file (omit or use '-' for stdout)"),
    _F("planner", "bool", False, "Enable osquery runtime planner output"),
    _F("profile", "int", 0, "Enable profile mode when non-0, set number of iterations"),
)
SHELL_ONLY = frozenset(f.name for f in SHELL_FLAGS)
FLAGS = FLAGS + SHELL_FLAGS + (
    # Read by the shell and the daemon (osquery: osquery/sql/virtual_table.cpp).
    _F("enable_foreign", "bool", False, "Enable no-op foreign virtual tables"),
)

#: Other names accepted for a flag (old osquery names and gflags aliases).
ALIASES: dict[str, str] = {
    "log_result_events": "logger_event_type",
    "log_numerics_as_numbers": "logger_numerics",
    "osquery_log_dir": "logger_path",
    "db_path": "database_path",
    "config_tls_refresh": "config_refresh",
}

_BY_NAME = {f.name: f for f in FLAGS}
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


def lookup(name: str) -> Flag | None:
    return _BY_NAME.get(ALIASES.get(name, name))


def convert(flag: Flag, value: Any) -> Any:
    """Coerce a string, bool or number to the flag's type; ValueError if impossible."""
    if flag.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return value != 0
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if flag.type == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(str(value).strip(), 10)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Flags:
    """The daemon's flag values.  ``flags["name"]`` reads one."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {f.name: f.default for f in FLAGS}
        self._set_on_cli: set[str] = set()
        self.custom: dict[str, str] = {}

    def __getitem__(self, name: str) -> Any:
        return self._values[ALIASES.get(name, name)]

    def set(self, name: str, value: Any) -> None:
        flag = lookup(name)
        if flag is None:
            raise FlagError(f"unknown flag --{name}")
        self._values[flag.name] = convert(flag, value)

    def is_default(self, name: str) -> bool:
        flag = lookup(name)
        return flag is not None and flag.name not in self._set_on_cli

    # -- command line -----------------------------------------------------------------

    def parse_argv(self, argv: Iterable[str]) -> list[str]:
        """Parse ``--flag=value``, ``--flag value``, ``--flag``/``--noflag`` (bools)
        and ``--flagfile``.  Returns positional arguments; raises FlagError."""
        args = list(argv)
        positional: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if not arg.startswith("-") or arg in ("-", "--"):
                positional.append(arg)
                continue
            body = arg.lstrip("-")
            name, eq, value = body.partition("=")
            if name == "flagfile":
                if not eq:
                    if i >= len(args):
                        raise FlagError("--flagfile needs a path")
                    value = args[i]
                    i += 1
                self._parse_flagfile(value)
                continue
            flag = lookup(name)
            if flag is None and name.startswith("no") and not eq:
                neg = lookup(name[2:])
                if neg is not None and neg.type == "bool":
                    self._set_cli(neg, False, arg)
                    continue
            if flag is None:
                raise FlagError(f"unknown command line flag '{name}'")
            if not eq:
                if flag.type == "bool":
                    # gflags: a bare boolean flag never consumes the next argument.
                    value = "true"
                else:
                    if i >= len(args):
                        raise FlagError(f"flag --{name} needs a value")
                    value = args[i]
                    i += 1
            self._set_cli(flag, value, arg)
        return positional

    def _set_cli(self, flag: Flag, value: Any, arg: str) -> None:
        try:
            self._values[flag.name] = convert(flag, value)
        except ValueError as exc:
            raise FlagError(f"invalid value for {arg}: {exc}") from None
        self._set_on_cli.add(flag.name)

    def _parse_flagfile(self, path: str) -> None:
        # Lines are --name=value, no quoting (osquery: docs/wiki/installation/cli-flags.md).
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise FlagError(f"cannot read flagfile {path}: {exc.strerror}") from None
        lines = [ln.strip() for ln in text.splitlines()]
        self.parse_argv([ln for ln in lines if ln and not ln.startswith("#")])

    # -- config options ---------------------------------------------------------------

    def apply_options(self, options: dict[str, Any],
                      warn: Callable[[str], None] | None = None) -> None:
        """Apply a config's "options" object the way osquery does
        (osquery: plugins/config/parsers/options.cpp): values coerced from
        strings/bools/numbers, unknown names and CLI-only flags warned about
        and skipped, custom_* names kept as strings."""
        warn = warn or log.warning
        for name, raw in options.items():
            if raw is None:
                warn(f"Cannot parse unknown value type for option: {name}")
                continue
            if isinstance(raw, str) and raw == "":
                continue
            if name.startswith("custom_"):
                self.custom[name] = raw if isinstance(raw, str) else str(raw)
                continue
            flag = lookup(name)
            if flag is None:
                warn(f"Cannot set unknown or invalid flag: {name}")
                continue
            if flag.cli_only:
                warn(f"The CLI only flag --{name} set via config file will be ignored, "
                     "please use a flagfile or pass it to the process at startup")
                continue
            try:
                self._values[flag.name] = convert(flag, raw)
            except ValueError:
                warn(f"Cannot set flag {name} from config option value {raw!r}")

    # -- introspection ----------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        """Rows of osquery_flags."""
        out = []
        for f in FLAGS:
            out.append({"name": f.name, "type": f.type, "description": f.description,
                        "default_value": render(f.default), "value": render(self._values[f.name]),
                        "shell_only": int(f.name in SHELL_ONLY)})
        return out

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
