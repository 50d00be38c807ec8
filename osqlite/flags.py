"""osquery's flags: every one accepted, parsed the way osquery (gflags) parses them.

The flag list is data: ``osquery-flags.json`` (next to this file) is the
273 flags osquery 5.23 defines, with their kind (FLAG, CLI_FLAG,
HIDDEN_FLAG, SHELL_FLAG, FLAG_ALIAS), gflags type, default, description and
defining file.  osqlite adds a few of its own (``OSQLITE_FLAGS``) and
accepts the gflags/glog built-ins osquery's binary also accepts
(``GFLAGS_FLAGS``).  Every flag is in one of three classes:

* implemented — it does what osquery's does (or what docs/daemon.md says
  osqlite does instead): listed by area in ``IMPLEMENTED`` below;
* accepted but inert — every other known flag: it parses, osquery_flags
  shows its value, and the daemon names all such flags given in ONE
  warning line at start (``inert_given``);
* unknown — on the command line, gflags' ``ERROR: unknown command line
  flag 'x'`` and exit 1, as osquery; in a flagfile a warning (gflags
  silently ignores it there).

Parsing follows gflags (osquery: osquery/core/init.cpp calls
ParseCommandLineFlags): ``--flag=value``, ``--flag value`` (not for
booleans, which never take the next argument), one or two dashes,
``--flag``/``--noflag`` for booleans, booleans 1/t/true/y/yes and
0/f/false/n/no in any case, ``0x`` hex integers, range checks per type,
the last value wins, ``--`` ends the flags, ``--flagfile`` (comma list,
nested, read when seen), ``--fromenv``/``--tryfromenv``, ``--undefok``.
All errors of one command line are reported together, sorted by name.

    flags = Flags()
    flags.parse_argv(["--config_path=/etc/x.conf", "--verbose"])
    flags.apply_options({"schedule_splay_percent": "10"}, "/etc/x.conf", warn)
    flags["schedule_splay_percent"]   # -> 10 (int)

Values are typed (bool, int, str).  The store is shared by the daemon's
threads: reads are dict lookups, writes replace whole values.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import FlagError
from .files import InputError, bad_text, read_stream

log = logging.getLogger("osqlite.flags")

SPEC_FILE = Path(__file__).with_name("osquery-flags.json")

#: The osquery release whose behaviour osqlite follows: osquery_info.version,
#: the "version" predicate of packs and queries, --version.
from . import OSQUERY_VERSION  # noqa: E402

MAX_FLAGFILE = 1 << 20          # bytes; gflags has no limit, /dev/zero must not fill memory
FLAGFILE_WAIT = 2.0             # seconds a pipe or device flagfile may take to reach EOF
MAX_FLAGFILE_DEPTH = 16         # --flagfile inside flagfiles
DEFAULT_FLAGFILE = "/etc/osquery/osquery.flags.default"   # osquery: osquery/core/init.cpp

INT_RANGES = {"int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1),
              "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1)}


@dataclass(frozen=True)
class Flag:
    name: str
    type: str               # gflags type: bool, int32, uint32, int64, uint64, double, string
    default: Any
    description: str
    kind: str = "FLAG"      # FLAG, CLI_FLAG, HIDDEN_FLAG, SHELL_FLAG, EXTENSION_FLAG
    platform: str = "all"   # all, linux, darwin, windows (where osquery defines it)
    origin: str = "osquery"  # osquery | osqlite | gflags
    source: str = ""

    @property
    def cli_only(self) -> bool:
        """osquery's CLI_FLAG: ignored, with a warning, in config options."""
        return self.kind == "CLI_FLAG" or self.origin == "gflags"

    @property
    def shell(self) -> bool:
        return self.kind == "SHELL_FLAG"

    @property
    def listed(self) -> bool:
        """Shown by osquery_flags: osquery and osqlite flags, names longer than 2."""
        return self.origin != "gflags" and len(self.name) > 2


# -- values ----------------------------------------------------------------------------

_TRUE = ("1", "t", "true", "y", "yes")
_FALSE = ("0", "f", "false", "n", "no")


def parse_value(flag: Flag, text: str) -> Any:
    """gflags' FlagValue::ParseFrom: ValueError when gflags would refuse the text."""
    if flag.type == "bool":
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(text)
    if flag.type == "string":
        return text
    if flag.type == "double":
        return float(text)
    match = (_UINT if flag.type.startswith("u") else _INT).match(text)
    if match is None:
        raise ValueError(text)
    number = int(match.group(1) + match.group(2), 16 if match.group(2)[:2] in ("0x", "0X") else 10)
    lo, hi = INT_RANGES[flag.type]
    if not lo <= number <= hi:
        raise ValueError(text)
    return number


# strtoll/strtoull as gflags calls them: leading blanks, a sign (never "-"
# for unsigned types), decimal or 0x hex digits, nothing after them.
_INT = re.compile(r"\A[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)\Z")
_UINT = re.compile(r"\A[ \t\n\v\f\r]*(\+?)(0[xX][0-9a-fA-F]+|[0-9]+)\Z")


# -- the spec: osquery's flags ---------------------------------------------------------

# Defaults osquery writes as C++ expressions, evaluated for Linux
# (osquery: osquery/utils/config/default_paths.h, the cited source files).
C_DEFAULTS: dict[str, Any] = {
    '(fs::path(OSQUERY_HOME) / "osquery.conf").make_preferred().string()': "/etc/osquery/osquery.conf",
    'OSQUERY_DB_HOME "osquery.db"': "/var/osquery/osquery.db",
    'OSQUERY_HOME "extensions.load"': "/etc/osquery/extensions.load",
    'OSQUERY_SOCKET "osquery.em"': "/var/osquery/osquery.em",
    "OSQUERY_LOG_HOME": "/var/log/osquery/",
    'OSQUERY_LOG_HOME "numeric_monitoring.log"': "/var/log/osquery/numeric_monitoring.log",
    'OSQUERY_PIDFILE "osqueryd.pidfile"': "/var/run/osqueryd.pidfile",
    'OSQUERY_CERTS_HOME "certs.pem"': "/opt/osquery/share/osquery/certs/certs.pem",
    "25 * 1024 * 1024": 26214400,
    "1 * 1024 * 1024": 1048576,
    "50 * 1024 * 1024": 52428800,
    "60 * 60": 3600,
    "60 * 10": 600,
    "60 * 60 * 24 * 30": 2592000,
    "LOG_LOCAL3 >> 3": 19,
    # osquery/events/windows/etw/etw_krabs.h
    "kEventTraceBufferSize": 256,
    "kEventTraceMinimumBuffers": 12,
    "kEventTraceMaximumBuffers": 48,
    "kEventTraceFlushTimer": 1,
}

#: Where osqlite's default differs from osquery's, on purpose (docs/daemon.md).
OSQLITE_DEFAULTS: dict[str, Any] = {
    "config_path": "/var/osquery/osqueryd.conf",   # the seed article's path
    "pack_refresh_interval": 0,                    # discovery at config load only
}


# osquery-flags.json lost five flags whose definition directly follows another
# one, running the two descriptions together; osquery defines them at the
# sources named here, and the descriptions are set right.
SPEC_ADDITIONS: tuple[Flag, ...] = (
    Flag("force", "bool", False, "Force osqueryd to kill previously-running daemons",
         "CLI_FLAG", source="osquery/core/init.cpp"),
    Flag("aws_firehose_endpoint", "string", "", "Custom Firehose endpoint",
         source="plugins/logger/aws_firehose.cpp"),
    Flag("aws_kinesis_random_partition_key", "bool", False, "Enable random kinesis partition keys",
         source="plugins/logger/aws_kinesis.cpp"),
    Flag("distributed_tls_max_attempts", "uint64", 3, "Number of times to attempt a request",
         source="plugins/distributed/tls_distributed.cpp"),
    Flag("keychain_access_interval", "uint32", 5, "Minimum minutes required between keychain "
         "accesses. Keychain cache must be enabled to use", platform="darwin",
         source="osquery/tables/system/darwin/keychain_utils.cpp"),
)
DESCRIPTION_FIXES = {
    "aws_firehose_stream": "Name of Firehose stream for logging",
    "aws_kinesis_stream": "Name of Kinesis stream for logging",
    "keychain_access_cache": "Use a cache for keychain accesses (default true)",
    "malloc_trim_threshold": "Memory threshold in MB used to decide when a malloc_trim will be "
                             "called to reduce the retained memory (Linux only)",
}


def _normal_type(t: str) -> str:
    return {"google::uint64": "uint64", "std::string": "string"}.get(t, t)


def _typed_default(name: str, ftype: str, raw: str) -> Any:
    if raw in C_DEFAULTS:
        return C_DEFAULTS[raw]
    if ftype == "bool":
        return parse_value(Flag(name, "bool", False, ""), raw)
    if ftype == "string":
        return raw
    return parse_value(Flag(name, ftype, 0, ""), raw)


def _load_spec() -> tuple[list[Flag], dict[str, str]]:
    doc = json.loads(SPEC_FILE.read_text(encoding="utf-8"))["flags"]
    flags, aliases = [], {}
    for name, f in doc.items():
        if f["kind"] == "FLAG_ALIAS":
            aliases[name] = f["alias_of"]
            continue
        ftype = _normal_type(f["type"])
        default = OSQLITE_DEFAULTS.get(name, _typed_default(name, ftype, f["default"]))
        flags.append(Flag(name, ftype, default, DESCRIPTION_FIXES.get(name, f["description"]),
                          f["kind"], f.get("platform", "all"), "osquery", f.get("source", "")))
    return flags + list(SPEC_ADDITIONS), aliases


_F = Flag
#: osqlite's own flags (not in osquery 5).
OSQLITE_FLAGS: tuple[Flag, ...] = (
    _F("config_check_strict", "bool", False,
       "Like --config_check, and also exit 1 when a query's SQL does not compile",
       "CLI_FLAG", origin="osqlite"),
    _F("schedule_denylist_duration", "uint64", 86400,
       "Seconds a query that exceeded schedule_timeout stays denylisted", origin="osqlite"),
    _F("schedule_run_at_startup", "bool", False, "Run every scheduled query once at start",
       origin="osqlite"),
    _F("pack_discovery_mode", "string", "any",
       "Pack discovery rule: 'any' (one discovery query returns rows) or 'all' (osquery's)",
       origin="osqlite"),
    _F("disable_hardware_events", "bool", False,
       "Disable the uevent publisher behind hardware_events", origin="osqlite"),
    _F("logger_syslog_path", "string", "/dev/log",
       "UNIX socket of the syslog daemon the syslog logger writes to", origin="osqlite"),
    # Removed from osquery 5 but used by the seed article's sample config.
    _F("enable_monitor", "bool", False,
       "Old osquery name: run the watchdog (even with --disable_watchdog)", origin="osqlite"),
)

#: gflags' and glog's own flags, which osquery's binary accepts as well.
#: logtostderr and stderrthreshold are also osquery flags (osquery: osquery/core/init.cpp
#: Flag::create), so they are listed by osquery_flags and --help.
GFLAGS_FLAGS: tuple[Flag, ...] = (
    _F("flagfile", "string", "", "Line-delimited file of additional flags", origin="gflags"),
    _F("fromenv", "string", "", "Set flags from the environment (FLAGS_<name>)", origin="gflags"),
    _F("tryfromenv", "string", "", "Set flags from the environment, if present", origin="gflags"),
    _F("undefok", "string", "", "Comma list of flag names that may be unknown", origin="gflags"),
    _F("logtostderr", "bool", False, "Log messages to stderr in addition to the logger plugin(s)",
       "CLI_FLAG", source="osquery/core/init.cpp"),
    _F("stderrthreshold", "int32", 2, "Stderr log level threshold", "CLI_FLAG",
       source="osquery/core/init.cpp"),
    _F("alsologtostderr", "bool", False, "glog: log to stderr as well", origin="gflags"),
    _F("colorlogtostderr", "bool", False, "glog: color stderr messages", origin="gflags"),
    _F("minloglevel", "int32", 0, "glog: minimum level logged", origin="gflags"),
    _F("v", "int32", 0, "glog: verbose level", origin="gflags"),
    _F("vmodule", "string", "", "glog: per-module verbose level", origin="gflags"),
    _F("log_dir", "string", "", "glog: directory of the log files", origin="gflags"),
    _F("max_log_size", "uint32", 1800, "glog: maximum log file size (MB)", origin="gflags"),
    _F("stop_logging_if_full_disk", "bool", False, "glog: stop logging on a full disk",
       origin="gflags"),
)
del _F

_SPEC_FLAGS, _SPEC_ALIASES = _load_spec()
FLAGS: tuple[Flag, ...] = tuple(_SPEC_FLAGS) + OSQLITE_FLAGS + GFLAGS_FLAGS

#: Other names of a flag: osquery's FLAG_ALIASes, plus the seed's old name.
ALIASES: dict[str, str] = dict(_SPEC_ALIASES, log_result_events="logger_event_type")

_BY_NAME: dict[str, Flag] = {f.name: f for f in FLAGS}

#: osqueryi's own flags (osquery's SHELL_FLAGs): osquery_flags shows them with
#: shell_only = 1; the daemon accepts and ignores them, as osqueryd does.
SHELL_ONLY = frozenset(f.name for f in FLAGS if f.shell)


# -- what osqlite implements, by area --------------------------------------------------
#
# A flag listed here does what osquery's does (docs/daemon.md says where osqlite
# deliberately differs).  Every other accepted flag is inert: it is parsed and
# shown by osquery_flags, and the start-up warning names it when given.
# A flag moves from inert to implemented in one step: make it work, test it, and
# add its name to its area's entry below (a new area is a new entry), or call
# implement(area, *names) from the module that implements it, before the daemon
# starts.  docs/daemon.md ("Flags") says the same for contributors.
IMPLEMENTED: dict[str, set[str]] = {
    "process": {"S", "D", "pidfile", "force", "daemonize", "ephemeral", "alarm_timeout",
                "host_identifier", "specified_identifier", "worker_threads", "utc",
                "database_path", "disable_database", "database_dump"},
    "config": {"config_plugin", "config_path", "config_check", "config_check_strict",
               "config_dump", "config_refresh", "config_accelerated_refresh"},
    "logger": {"logger_plugin", "logger_path", "logger_mode", "logger_rotate",
               "logger_rotate_size", "logger_rotate_max_files", "logger_event_type",
               "logger_snapshot_event_type", "logger_numerics", "logger_min_status",
               "logger_min_stderr", "logger_stderr", "verbose", "disable_logging",
               "nullvalue"},
    "scheduler": {"schedule_splay_percent", "schedule_default_interval", "schedule_timeout",
                  "schedule_denylist_duration", "schedule_epoch", "schedule_lognames",
                  "schedule_run_at_startup"},
    "packs": {"pack_delimiter", "pack_refresh_interval", "pack_discovery_mode"},
    "decorators": {"disable_decorators", "decorations_top_level"},
    "distributed": {"disable_distributed", "distributed_plugin", "distributed_interval",
                    "distributed_tls_read_endpoint", "distributed_tls_write_endpoint",
                    "distributed_tls_max_attempts", "distributed_denylist_duration",
                    "distributed_loginfo"},
    "events": {"disable_events", "events_expiry", "events_max", "events_optimize",
               "enable_file_events", "disable_audit", "audit_allow_process_events",
               "audit_allow_sockets", "audit_allow_accept_socket_events",
               "audit_allow_failed_socket_events", "audit_allow_unix", "audit_backlog_limit",
               "disable_hardware_events", "read_max"},
    # osqlite.remote: osquery's TLS transport and enrollment.
    "tls": {"tls_hostname", "tls_server_certs", "tls_client_cert", "tls_client_key",
            "tls_session_reuse", "tls_session_timeout", "tls_accept_gzip", "proxy_hostname",
            "tls_secret_always", "tls_enroll_override"},
    "enroll": {"enroll_secret_path", "enroll_secret_env", "enroll_tls_endpoint", "enroll_always",
               "disable_enrollment", "disable_reenrollment", "tls_enroll_max_attempts",
               "tls_enroll_max_interval"},
    "config_tls": {"config_tls_endpoint", "config_tls_max_attempts", "config_enable_backup"},
    "logger_tls": {"logger_tls_endpoint", "logger_tls_period", "logger_tls_max_lines",
                   "logger_tls_max_linesize", "logger_tls_backoff_max", "logger_tls_compress",
                   "tls_disable_status_log", "buffered_log_max"},
    # osqlite.carver and csrc/tables/carves.c (no zstd: carver_compression stays inert).
    "carver": {"disable_carver", "carver_disable_function", "carver_start_endpoint",
               "carver_continue_endpoint", "carver_block_size", "carver_expiry"},
    "syslog": {"logger_syslog_facility", "logger_syslog_prepend_cee", "logger_syslog_path"},
    "extensions": {"disable_extensions", "extensions_socket", "extensions_autoload",
                   "extensions_timeout", "extensions_interval", "extensions_require",
                   "extensions_default_index", "extension", "connect", "allow_unsafe",
                   "thrift_timeout", "thrift_string_size_limit"},
    # osqlite.watchdog (the watcher) and osqlite.worker; enable_extensions_watchdog
    # would put autoloaded extensions under the watcher's limits, which it does
    # not supervise (the worker does: osqlite.extensions.autoload).
    "watchdog": {"disable_watchdog", "enable_monitor", "watchdog_level", "watchdog_memory_limit",
                 "watchdog_utilization_limit", "watchdog_latency_limit", "watchdog_delay",
                 "watchdog_forced_shutdown_delay", "watchdog_max_delay", "enable_watchdog_debug",
                 "malloc_trim_threshold", "events_enforce_denylist"},
    # osqlite.shell (osqueryi's output modes and one-shot modes).
    "shell": {"csv", "json", "json_pretty", "line", "list", "separator", "header", "pack",
              "L", "A", "query", "query_file", "output", "planner", "profile"},
    "tables": {"enable_foreign"},
    "gflags": {"flagfile", "fromenv", "tryfromenv", "undefok"},
}

#: Inert flags whose given value asks for exactly what osqlite does anyway
#: (e.g. --disable_carver=true where there is no carver): those values
#: are not named in the start-up warning.
HONORED_VALUES: dict[str, Any] = {
    "disable_carver": True, "carver_disable_function": True,
    "enable_extensions_watchdog": False,
}


def implement(area: str, *names: str) -> None:
    """Declare flags implemented by ``area`` (a module may call this at import)."""
    unknown = [n for n in names if n not in _BY_NAME]
    if unknown:
        raise ValueError(f"implement({area!r}): not flags: {', '.join(unknown)}")
    IMPLEMENTED.setdefault(area, set()).update(names)


def is_implemented(name: str) -> bool:
    return any(name in names for names in IMPLEMENTED.values())


def lookup(name: str) -> Flag | None:
    return _BY_NAME.get(ALIASES.get(name, name))


def render(value: Any) -> str:
    """A value as gflags prints it (osquery_flags.value, --help defaults)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def option_text(value: Any) -> str | None:
    """A config option's JSON value as osquery's options parser turns it into
    flag text (osquery: plugins/config/parsers/options.cpp); None for null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# Validators osquery attaches to flags (gflags DEFINE_validator): a message or None.
def _validate_alarm_timeout(value: int) -> str | None:
    # osquery: osquery/core/init.cpp validateAlarmTimeout
    return "Alarm timeout cannot be lower than 10 seconds" if value < 10 else None


def _validate_logger_mode(value: str) -> str | None:
    # osquery: plugins/logger/filesystem_logger.cpp validateLoggerMode
    if len(value) > 5:
        return "The logger_mode flag does not contain a valid UNIX permission"
    try:
        mode = int(value, 8)
    except ValueError:
        return "Failed to convert logger_mode string to octal"
    if not 0 < mode <= 0o7777:
        return "The logger_mode flag does not contain a valid UNIX permission"
    return None


VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "alarm_timeout": _validate_alarm_timeout,
    "logger_mode": _validate_logger_mode,
}


# -- the store -------------------------------------------------------------------------

class Flags:
    """The process's flag values.  ``flags["name"]`` reads one (aliases work)."""

    def __init__(self, program: str = "osqueryd") -> None:
        self.program = program                 # for flagfile program sections
        self._values: dict[str, Any] = {f.name: f.default for f in FLAGS}
        self._origin: dict[str, str] = {}      # name -> "command line" | "flagfile X" | "config X" | ...
        self.custom: dict[str, str] = {}
        self.positional: list[str] = []
        self.warnings: list[str] = []          # parse-time warnings, logged once logging is set up
        self.help_requested = False
        self.version_requested = False
        self._undefok: set[str] = set()
        self._flagfiles: list[str] = []        # the include stack

    def __getitem__(self, name: str) -> Any:
        return self._values[ALIASES.get(name, name)]

    def get(self, name: str, default: Any = None) -> Any:
        flag = lookup(name)
        if flag is not None:
            return self._values[flag.name]
        return self.custom.get(name, default)

    def set(self, name: str, value: Any, origin: str = "osqlite") -> None:
        """Set a flag from code (typed value or text)."""
        flag = lookup(name)
        if flag is None:
            raise FlagError(f"unknown flag --{name}")
        self._values[flag.name] = parse_value(flag, value) if isinstance(value, str) else value
        self._origin[flag.name] = origin

    def is_default(self, name: str) -> bool:
        flag = lookup(name)
        return flag is not None and flag.name not in self._origin

    def origin(self, name: str) -> str:
        """Where the value came from: "default", "the command line", "flagfile X", "config X"."""
        flag = lookup(name)
        return self._origin.get(flag.name, "default") if flag else "default"

    def origin_note(self, name: str) -> str:
        """" (set by config X)" when a value did not come from the command line,
        for messages that tell the user which --flag to change."""
        where = self.origin(name)
        return "" if where in ("default", "the command line") else f" (set by {where})"

    def given(self) -> list[str]:
        """Names of the flags set on the command line, in a flagfile, from the
        environment or by the config (not those osqlite sets itself)."""
        return [f.name for f in FLAGS if self._origin.get(f.name, "osqlite") != "osqlite"]

    # -- the command line ---------------------------------------------------------------

    def parse_argv(self, argv: Iterable[str], origin: str = "the command line") -> list[str]:
        """Parse a command line; returns (and keeps in .positional) the
        non-flag arguments.  Raises FlagError with gflags' messages (one line
        per bad flag, sorted by flag name) when any flag is bad."""
        errors: dict[str, str] = {}
        undefined: set[str] = set()
        args = list(argv)
        positional: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if not arg.startswith("-") or arg == "-":
                positional.append(arg)
                continue
            body = arg[2:] if arg.startswith("--") else arg[1:]
            if body == "":
                positional.extend(args[i:])     # "--" ends the flags, as getopt
                break
            key, eq, value = body.partition("=")
            if key in ("help", "helpfull", "helpshort", "helpxml", "h"):
                self.help_requested = True
                continue
            if key == "version":
                self.version_requested = True
                continue
            flag, text, error = self._split(key, value if eq else None)
            if error:
                if flag is None:
                    undefined.add(key)
                errors[key] = error
                continue
            assert flag is not None
            if text is None:
                if i >= len(args):
                    errors[key] = (f"ERROR: flag '{arg}' is missing its argument; "
                                   f"flag description: {flag.description}")
                    break       # gflags treats this as unrecoverable
                text = args[i]
                i += 1
            message = self._assign(flag, text, origin)
            if message:
                errors[flag.name] = message
        for name in self._undefok:
            for key in (name, "no" + name):
                if key in undefined:
                    errors.pop(key, None)
        self.positional.extend(positional)
        if errors:
            raise FlagError("\n".join(errors[k] for k in sorted(errors)))
        return positional

    def _split(self, key: str, value: str | None) -> tuple[Flag | None, str | None, str | None]:
        """gflags SplitArgumentLocked: (flag, value text or None, error)."""
        flag = lookup(key)
        if flag is None:
            if key.startswith("no"):
                neg = lookup(key[2:])
                if neg is not None and neg.type == "bool" and value is None:
                    return neg, "0", None
                if neg is not None and neg.type != "bool":
                    return None, None, (f"ERROR: boolean value ({key}) specified for "
                                        f"{neg.type} command line flag")
            return None, None, f"ERROR: unknown command line flag '{key}'"
        if value is None and flag.type == "bool":
            return flag, "1", None
        return flag, value, None

    def _assign(self, flag: Flag, text: str, origin: str) -> str | None:
        """Set one flag from text; gflags' error message, or None."""
        bad = bad_text(text)
        if bad:
            return f"ERROR: the value of flag '{flag.name}' {bad}"
        try:
            value = parse_value(flag, text)
        except ValueError:
            return f"ERROR: illegal value '{text}' specified for {flag.type} flag '{flag.name}'"
        check = VALIDATORS.get(flag.name)
        if check is not None:
            problem = check(value)
            if problem:
                return f"{problem}\nERROR: failed validation of new value '{render(value)}' for flag '{flag.name}'"
        if flag.name == "flagfile":
            return self._flagfile(text)
        if flag.name in ("fromenv", "tryfromenv"):
            return self._fromenv(text, required=flag.name == "fromenv")
        if flag.name == "undefok":
            self._undefok.update(n for n in text.split(",") if n)
        self._values[flag.name] = value
        self._origin[flag.name] = origin
        return None

    def _fromenv(self, names: str, required: bool) -> str | None:
        # gflags: --fromenv=a,b sets each from FLAGS_a, FLAGS_b.
        problems = []
        for name in (n for n in names.split(",") if n):
            flag = lookup(name)
            if flag is None:
                problems.append(f"ERROR: unknown command line flag '{name}' (via --fromenv or --tryfromenv)")
                continue
            env = os.environ.get(f"FLAGS_{name}")
            if env is None:
                if required:
                    problems.append(f"ERROR: FLAGS_{name} not found in environment")
                continue
            message = self._assign(flag, env, f"environment variable FLAGS_{name}")
            if message:
                problems.append(message)
        return "\n".join(problems) or None

    # -- flagfiles ----------------------------------------------------------------------

    def _flagfile(self, value: str) -> str | None:
        problems = []
        for path in (p for p in value.split(",") if p):
            problem = self.parse_flagfile(path)
            if problem:
                problems.append(problem)
        return "\n".join(problems) or None

    def parse_flagfile(self, path: str) -> str | None:
        """Apply one flagfile (gflags ProcessOptionsFromStringLocked); an
        error message for an unreadable or invalid file, else None."""
        real = os.path.realpath(path)
        if real in self._flagfiles:
            return f"ERROR: flagfile {path} includes itself (through --flagfile)"
        if len(self._flagfiles) >= MAX_FLAGFILE_DEPTH:
            return f"ERROR: flagfile {path}: more than {MAX_FLAGFILE_DEPTH} nested --flagfile levels"
        try:
            data = read_stream(path, MAX_FLAGFILE, FLAGFILE_WAIT)
        except InputError as exc:
            return f"ERROR: cannot read flagfile {path}: {exc.strerror}"
        if b"\x00" in data:
            return f"ERROR: flagfile {path} contains NUL bytes: it is not a text file of --name=value lines"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            return f"ERROR: flagfile {path}: line {line} is not valid UTF-8"
        self._flagfiles.append(real)
        try:
            return self._flagfile_lines(path, text)
        finally:
            self._flagfiles.pop()

    def _flagfile_lines(self, path: str, text: str) -> str | None:
        problems: dict[str, str] = {}
        relevant, in_names = True, False
        for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
            # gflags strips leading whitespace; osqlite also strips trailing
            # whitespace, which gflags would keep inside the value.
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not line.startswith("-"):
                # A line of program-name globs starts a section whose flags
                # apply only to matching programs (gflags' filename lines).
                if not in_names:
                    in_names, relevant = True, False
                relevant = relevant or any(fnmatch.fnmatchcase(self.program, g)
                                           for g in line.split(" ") if g)
                continue
            in_names = False
            if not relevant:
                continue
            body = line[2:] if line.startswith("--") else line[1:]
            key, eq, value = body.partition("=")
            flag, text_value, error = self._split(key, value if eq else None)
            where = f"flagfile {path} line {number}"
            if error or flag is None:
                # gflags silently ignores unknown flags in a flagfile; osqlite says so.
                if flag is None and key not in self._undefok:
                    hint = (" (a flagfile line is --name=value, without spaces)"
                            if " " in key else "")
                    self.warnings.append(f"Unknown flag in {where}: --{key} is ignored{hint}")
                continue
            if text_value is None:
                self.warnings.append(f"Flag without a value in {where}: --{key} is ignored "
                                     f"(write --{key}=VALUE)")
                continue
            message = self._assign(flag, text_value, f"flagfile {path}")
            if message:
                problems[flag.name] = message
        return "\n".join(problems[k] for k in sorted(problems)) or None

    # -- config options -----------------------------------------------------------------

    def apply_options(self, options: dict[str, Any], source: str | dict[str, str] = "the config",
                      warn: Callable[[str], None] | None = None) -> list[str]:
        """Apply a config's "options" the way osquery does (osquery:
        plugins/config/parsers/options.cpp): values turned into flag text,
        unknown names and CLI-only flags warned about and skipped, custom_*
        kept, a value gflags refuses skipped (osquery skips it silently;
        osqlite warns).  ``source`` names the config file (or maps option
        name -> file).  Returns the names of the flags whose value changed."""
        warn = warn or log.warning
        changed = []
        for name, raw in options.items():
            where = source.get(name, "the config") if isinstance(source, dict) else source
            text = option_text(raw)
            if text is None:
                warn(f"Cannot parse unknown value type for option: {name}")
                continue
            if text == "" or name == "":
                continue
            bad = bad_text(name) or bad_text(text)
            if bad:
                warn(f"Config option {name!r} in {where} {bad}: ignored")
                continue
            if name.startswith("custom_"):
                self.custom[name] = text
                continue
            flag = lookup(name)
            if flag is None:
                warn(f"Cannot set unknown or invalid flag: {name}")
                continue
            try:
                value = parse_value(flag, text)
            except ValueError:
                warn(f"Cannot set flag {name} from the config option in {where}: "
                     f"illegal value '{text}' for a {flag.type} flag")
                continue
            if flag.cli_only:
                # osquery warns even when the value is the one in force; osqlite
                # only when the option would change something (the seed's sample
                # repeats config_plugin and logger_plugin in its options).
                if value != self._values[flag.name]:
                    warn(f"The CLI only flag --{name} set via config file will be ignored, "
                         "please use a flagfile or pass it to the process at startup")
                continue
            problem = VALIDATORS.get(flag.name, lambda v: None)(value)
            if problem:
                warn(f"Cannot set flag {name} from the config option in {where}: {problem}")
                continue
            old, old_origin = self._values[flag.name], self._origin.get(flag.name)
            if value != old:
                if old_origin and not old_origin.startswith("config"):
                    # osquery's rule (docs/wiki/deployment/configuration.md): the
                    # config wins over the command line.  Never silently.
                    warn(f"The config option {name}={render(value)} in {where} overrides "
                         f"--{flag.name}={render(old)} from {old_origin}")
                changed.append(flag.name)
            self._values[flag.name] = value
            self._origin[flag.name] = f"config {where}"
        return changed

    # -- introspection ------------------------------------------------------------------

    def inert_given(self) -> list[str]:
        """Flags given (command line, flagfile, config) that have no effect in
        osqlite, as ``--name`` (platform-specific ones marked): the start-up
        warning's list.  Values are never included: some are secrets."""
        out = []
        for name in self.given():
            flag = _BY_NAME[name]
            if is_implemented(name):
                continue
            if name in HONORED_VALUES and self._values[name] == HONORED_VALUES[name]:
                continue
            note = f" ({flag.platform} only)" if flag.platform in ("windows", "darwin") else ""
            out.append(f"--{name}{note}")
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Rows of osquery_flags (osquery: osquery/tables/utility/osquery.cpp genOsqueryFlags)."""
        out = []
        for f in FLAGS:
            if not f.listed:
                continue
            out.append({"name": f.name, "type": f.type, "description": f.description,
                        "default_value": render(f.default), "value": render(self._values[f.name]),
                        "shell_only": 1 if f.shell else 0})
        for name, value in sorted(self.custom.items()):
            out.append({"name": name, "type": "string", "description": "", "default_value": "",
                        "value": value, "shell_only": 0})
        return out

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


# -- personality, --help, --version ----------------------------------------------------

def personality(argv0: str, args: Iterable[str], default: str) -> str:
    """"daemon" or "shell", as osquery's single binary decides (osquery:
    osquery/core/init.cpp): by the program name, then -S/--S and -D/--D."""
    base = os.path.basename(argv0)
    mode = default
    if "osqueryd" in base or "osqlited" in base:
        mode = "daemon"
    elif "osqueryi" in base or base == "osqlite":
        mode = "shell"
    for arg in args:
        if arg in ("-S", "--S"):
            mode = "shell"
        elif arg in ("-D", "--D"):
            mode = "daemon"
        elif arg == "--":
            break
    return mode


def version_line(program: str) -> str:
    """gflags' --version line, "<program> version <osquery version>", plus osqlite's own."""
    from . import __version__
    return f"{program} version {OSQUERY_VERSION} (osqlite {__version__})"


def usage(program: str, shell: bool = False) -> str:
    """osquery's --help (osquery: osquery/core/init.cpp printUsage,
    osquery/core/flags.cpp printFlags): command line flags, then config
    options, then (for the shell) shell-only flags; hidden flags omitted.
    Flags osqlite accepts without effect say so."""
    from . import __version__
    listed = sorted((f for f in FLAGS if f.listed and f.kind != "HIDDEN_FLAG"), key=lambda f: f.name)
    width = max(len(f.name) for f in listed) + 6
    out = [f"osqlite {__version__} (osquery {OSQUERY_VERSION}), your OS as a high-performance "
           "relational database", "",
           f"Usage: {program} [OPTION]... {'[SQL STATEMENT]' if shell else ''}".rstrip(), ""]

    def line(f: Flag) -> str:
        text = f"    --{f.name}" + ("" if f.type == "bool" else " VALUE")
        pad = width - len(f.name) - (0 if f.type == "bool" else 6)
        desc = f.description
        if not is_implemented(f.name):
            desc += " (accepted; no effect in osqlite)"
        elif f.origin == "osqlite":
            desc += " (osqlite)"
        return text + (" " * pad if 0 < pad < 80 else "") + "  " + desc

    out += ["osquery command line flags:", "",
            "    --flagfile PATH" + " " * (width - 13) + "  Line-delimited file of additional flags"]
    out += [line(f) for f in listed if f.cli_only and not f.shell]
    out += ["", "osquery configuration options (set by config or CLI flags):", ""]
    out += [line(f) for f in listed if not f.cli_only and not f.shell]
    if shell:
        out += ["", "osquery shell-only CLI flags:", ""]
        out += [line(f) for f in listed if f.shell]
    out += ["", "osquery project page <https://osquery.io>; where osqlite differs: docs/daemon.md.", ""]
    return "\n".join(out)
