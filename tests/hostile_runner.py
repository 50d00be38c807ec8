"""Run the daemon's entry point on hostile flagfiles, configs and paths, in one process.

    python tests/hostile_runner.py WORKDIR  >  JSON report on stdout

Each case builds its files under WORKDIR/<case>, calls osqlite.daemon.main()
with its arguments, and records the exit code, what it wrote to stderr,
whether an exception escaped (a traceback), whether SIGALRM had to cut it
short (a hang), and what appeared next to the paths it was given.  One
process keeps the corpus quick; tests/test_config_hostile.py asserts on
the report.
"""
from __future__ import annotations

import io
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

HANG_SECONDS = 8

CASES: dict[str, dict[str, Any]] = {}


def case(name: str, code: int, message: str, check: bool = True) -> Callable:
    """Register a case: ``setup(dir) -> argv``; ``check`` adds --config_check."""
    def wrap(setup: Callable[[Path], list[str]]) -> Callable:
        CASES[name] = {"setup": setup, "code": code, "message": message, "check": check}
        return setup
    return wrap


def good_config(d: Path, extra: dict | None = None) -> Path:
    path = d / "osquery.conf"
    doc = {"schedule": {"ok": {"query": "SELECT 1 AS one", "interval": 60}}}
    doc.update(extra or {})
    path.write_text(json.dumps(doc))
    return path


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape"))
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def daemon_flags(d: Path) -> list[str]:
    return [f"--logger_path={d / 'log'}", f"--database_path={d / 'db'}", f"--pidfile={d / 'pid'}",
            "--logger_stderr=true", "--disable_events=true"]


def flagfile(d: Path, data: bytes | str) -> list[str]:
    return [f"--flagfile={write(d / 'osquery.flags', data)}"]


def config(d: Path, data: bytes | str) -> list[str]:
    return [f"--config_path={write(d / 'osquery.conf', data)}"]


# -- flagfiles -------------------------------------------------------------------------

@case("flagfile_dev_zero", 1, "ERROR: cannot read flagfile /dev/zero: is a character device that "
      "sent more than 1048576 bytes")
def _(d):
    return ["--flagfile=/dev/zero"]


@case("flagfile_dev_urandom", 1, "ERROR: cannot read flagfile /dev/urandom")
def _(d):
    return ["--flagfile=/dev/urandom"]


@case("flagfile_fifo_without_writer", 1, "is a FIFO with no writer")
def _(d):
    return [f"--flagfile={fifo(d / 'flags')}"]


@case("flagfile_includes_itself", 1, "includes itself (through --flagfile)")
def _(d):
    return flagfile(d, f"--verbose\n--flagfile={d / 'osquery.flags'}\n")


@case("flagfiles_include_each_other", 1, "includes itself (through --flagfile)")
def _(d):
    write(d / "a", f"--flagfile={d / 'b'}\n")
    write(d / "b", f"--flagfile={d / 'a'}\n")
    return [f"--flagfile={d / 'a'}"]


@case("flagfile_chain_too_deep", 1, "nested --flagfile levels")
def _(d):
    for i in range(40):
        write(d / f"f{i}", f"--flagfile={d / f'f{i + 1}'}\n")
    write(d / "f40", "--verbose\n")
    return [f"--flagfile={d / 'f0'}"]


@case("flagfile_not_utf8", 1, "line 2 is not valid UTF-8")
def _(d):
    return flagfile(d, b"--verbose\n--host_identifier=\xff")


@case("flagfile_nul", 1, "contains NUL bytes")
def _(d):
    return flagfile(d, b"--verbose=true\0\0\0")


@case("flagfile_is_a_directory", 1, "is a directory")
def _(d):
    return [f"--flagfile={d}"]


@case("flagfile_too_big", 1, "is larger than 1048576 bytes")
def _(d):
    return flagfile(d, "--verbose=true\n" + "#" * (2 << 20))


@case("flagfile_missing", 1, "cannot read flagfile")
def _(d):
    return [f"--flagfile={d / 'missing'}"]


@case("flagfile_negative_default_interval", 1,
      "ERROR: illegal value '-5' specified for uint64 flag 'schedule_default_interval'")
def _(d):
    return flagfile(d, "--schedule_default_interval=-5\n")


@case("cli_negative_default_interval", 1,
      "ERROR: illegal value '-1' specified for uint64 flag 'schedule_default_interval'")
def _(d):
    return ["--schedule_default_interval=-1"]


@case("cli_zero_default_interval", 0, "Query has invalid interval: nointerval: 0")
def _(d):
    return config(d, json.dumps({"schedule": {"nointerval": {"query": "SELECT 1"}}})) + [
        "--schedule_default_interval=0"]


@case("flagfile_unknown_flags_warn", 0, "--no_such_flag is ignored")
def _(d):
    return [f"--config_path={good_config(d)}"] + flagfile(d, "--no_such_flag=1\n--config_path /x\n")


@case("cli_unknown_flag", 1, "ERROR: unknown command line flag 'no_such_flag'")
def _(d):
    return ["--no_such_flag=1"]


@case("cli_alarm_timeout_too_low", 1, "failed validation of new value '3' for flag 'alarm_timeout'")
def _(d):
    return ["--alarm_timeout=3"]


@case("positional_sql", 1, "unexpected argument 'SELECT 1'", check=False)
def _(d):
    return ["SELECT 1", f"--config_path={good_config(d)}"] + daemon_flags(d)


# -- configs ---------------------------------------------------------------------------

@case("config_fifo", 1, "config file is a FIFO, not a regular file")
def _(d):
    return [f"--config_path={fifo(d / 'osquery.conf')}"]


@case("config_dev_zero", 1, "/dev/zero: config file is a character device, not a regular file")
def _(d):
    return ["--config_path=/dev/zero"]


@case("config_dev_null", 1, "/dev/null: config file is a character device")
def _(d):
    return ["--config_path=/dev/null"]


@case("config_directory", 1, "config file is a directory")
def _(d):
    return [f"--config_path={d}"]


@case("config_missing", 1, "config file does not exist")
def _(d):
    return [f"--config_path={d / 'none.conf'}"]


def _deep(levels: int) -> Callable[[Path], list[str]]:
    # ``levels`` counting the root object: levels - 1 arrays, the innermost empty.
    return lambda d: config(d, '{"x": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}")


for _levels in (33, 2000, 50_000):
    case(f"config_nesting_{_levels}", 1, "Configuration has too many nesting levels!")(_deep(_levels))


@case("config_trailing_comma_one_line", 1, "Error parsing the config JSON")
def _(d):
    return config(d, '{"options": {},}')


@case("config_array_root", 1, "the root must be a JSON object, not an array")
def _(d):
    return config(d, "[1]")


@case("config_bom", 1, "Error parsing the config JSON")
def _(d):
    return config(d, b"\xef\xbb\xbf{}")


@case("config_too_big", 1, "the config size exceeds the limit of 4194304 bytes")
def _(d):
    return config(d, json.dumps({"schedule": {f"q{i}": {"query": "SELECT " + "1" * 80}
                                              for i in range(60000)}}))


@case("config_invalid_utf8_in_sql", 0, "its SQL is not valid UTF-8")
def _(d):
    return config(d, b'{"schedule": {"a": {"query": "SELECT \xc3("}}}')


@case("config_nul_in_query_name", 0, "its name contains a NUL character")
def _(d):
    return config(d, json.dumps({"schedule": {"a\0": {"query": "SELECT 1"}}}))


@case("config_lone_surrogate_in_sql", 0, "its SQL is not valid UTF-8")
def _(d):
    return config(d, r'{"schedule": {"a": {"query": "SELECT \ud800"}}}')


@case("config_huge_numbers", 0, "Query has invalid interval: a: Infinity")
def _(d):
    return config(d, '{"schedule": {"a": {"query": "SELECT 1", "interval": 1e400, '
                     '"shard": 1%s}}}' % ("0" * 400))


@case("config_junk_options", 0, "Cannot parse unknown value type for option: x")
def _(d):
    options = {"verbose": [1, {}], "events_max": -1, "x": None, "logger_mode": "rwx", "\0": 1}
    return [f"--config_path={good_config(d, {'options': options})}"]


@case("config_pack_fifo", 0, "Error reading the query pack named: p")
def _(d):
    return [f"--config_path={good_config(d, {'packs': {'p': str(fifo(d / 'p.conf'))}})}"]


@case("config_pack_glob_of_devices", 0, "Cannot read multi-pack file: /dev/null")
def _(d):
    return [f"--config_path={good_config(d, {'packs': {'*': '/dev/nul%'}})}"]


@case("config_d_fifo", 0, "Skipping config source")
def _(d):
    cfg = good_config(d)
    (d / "osquery.conf.d").mkdir()
    fifo(d / "osquery.conf.d" / "10-x.conf")
    return [f"--config_path={cfg}"]


@case("config_pack_deep", 0, "Error parsing the \"p\" pack JSON")
def _(d):
    pack = write(d / "p.conf", '{"queries": ' + "[" * 50_000 + "]" * 50_000 + "}")
    return [f"--config_path={good_config(d, {'packs': {'p': str(pack)}})}"]


@case("config_dump_fifo", 1, "config file is a FIFO", check=False)
def _(d):
    return ["--config_dump", f"--config_path={fifo(d / 'c.conf')}"]


# -- output paths: nothing created, nothing deleted ------------------------------------

@case("database_path_dev_null", 1, "--database_path=/dev/null is a character device, not a regular file",
      check=False)
def _(d):
    return [f"--config_path={good_config(d)}"] + daemon_flags(d)[:1] + [
        "--database_path=/dev/null", f"--pidfile={d / 'pid'}"]


@case("database_path_fifo", 1, "is a FIFO, not a regular file", check=False)
def _(d):
    return [f"--config_path={good_config(d)}", f"--logger_path={d / 'log'}",
            f"--database_path={fifo(d / 'db')}", f"--pidfile={d / 'pid'}"]


@case("database_path_symlink", 1, "is a symlink, not a regular file", check=False)
def _(d):
    write(d / "real.db", b"")
    os.symlink(d / "real.db", d / "db")
    return [f"--config_path={good_config(d)}", f"--logger_path={d / 'log'}",
            f"--database_path={d / 'db'}", f"--pidfile={d / 'pid'}"]


@case("database_journal_is_a_symlink", 1, "db-journal is a symlink, not a regular file", check=False)
def _(d):
    os.symlink("/dev/null", d / "db-journal")
    return [f"--config_path={good_config(d)}", f"--logger_path={d / 'log'}",
            f"--database_path={d / 'db'}", f"--pidfile={d / 'pid'}"]


@case("pidfile_dev_null", 1, "--pidfile=/dev/null is a character device, not a regular file", check=False)
def _(d):
    return [f"--config_path={good_config(d)}", f"--logger_path={d / 'log'}",
            f"--database_path={d / 'db'}", "--pidfile=/dev/null"]


@case("logger_path_dev_null", 78, "Cannot activate filesystem logger plugin: --logger_path=/dev/null "
      "is a character device, not a directory", check=False)
def _(d):
    return [f"--config_path={good_config(d)}", "--logger_path=/dev/null",
            f"--database_path={d / 'db'}", f"--pidfile={d / 'pid'}"]


@case("logger_path_regular_file", 78, "is a regular file, not a directory", check=False)
def _(d):
    return [f"--config_path={good_config(d)}", f"--logger_path={write(d / 'file', 'x')}",
            f"--database_path={d / 'db'}", f"--pidfile={d / 'pid'}"]


@case("results_log_is_a_fifo", 78, "osqueryd.results.log is a FIFO", check=False)
def _(d):
    (d / "log").mkdir()
    fifo(d / "log" / "osqueryd.results.log")
    return [f"--config_path={good_config(d)}"] + daemon_flags(d)


@case("unknown_config_plugin", 78, "Cannot activate nope config plugin: Unknown registry plugin: nope")
def _(d):
    return ["--config_plugin=nope"]


@case("unknown_logger_plugin", 78, "Cannot activate kafka_producer logger plugin: Unknown registry "
      "plugin: kafka_producer (an osquery plugin this osqlite build does not have", check=False)
def _(d):
    return [f"--config_path={good_config(d)}", "--logger_plugin=filesystem,kafka_producer"] + daemon_flags(d)[1:]


@case("unknown_distributed_plugin", 78, "Cannot activate nope distributed plugin", check=False)
def _(d):
    return [f"--config_path={good_config(d)}", "--disable_distributed=false",
            "--distributed_plugin=nope"] + daemon_flags(d)


@case("database_dump_dev_null", 1, "--database_path=/dev/null is a character device", check=False)
def _(d):
    return ["--database_dump", "--database_path=/dev/null"]


# -- the runner ------------------------------------------------------------------------

class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


def run_case(name: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    from osqlite import daemon

    d = work / name
    d.mkdir(parents=True)
    argv = spec["setup"](d) + (["--config_check"] if spec["check"] else [])
    # No extension manager on the default /var/osquery/osquery.em: these
    # cases are about flags and configs, and must not touch the machine.
    argv = ["--disable_extensions=true"] + argv
    # In this process, so that its messages are captured: a watcher's worker
    # would write them to the real stderr (test_watchdog_e2e.py checks that
    # the watcher ends with its worker's status).
    argv.append("--disable_watchdog")
    before = {p.name for p in d.iterdir()}
    err, out = io.StringIO(), io.StringIO()
    saved = sys.stderr, sys.stdout
    result: dict[str, Any] = {"argv": argv, "expect_code": spec["code"], "expect": spec["message"]}
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    t0 = time.monotonic()
    sys.stderr, sys.stdout = err, out
    try:
        result["code"] = daemon.main(argv, program="osqlited")
    except Hang:
        result["hang"] = True
    except SystemExit as exc:
        result["code"] = exc.code
    except BaseException:
        result["traceback"] = traceback.format_exc()
    finally:
        signal.alarm(0)
        sys.stderr, sys.stdout = saved
    result["seconds"] = round(time.monotonic() - t0, 3)
    result["stderr"] = err.getvalue()
    result["created"] = sorted({p.name for p in d.iterdir()} - before)
    return result


def main() -> int:
    work = Path(sys.argv[1])
    only = set(sys.argv[2:])
    report = {name: run_case(name, spec, work) for name, spec in CASES.items()
              if not only or name in only}
    report["__dev_null__"] = {"is_char_device": os.path.exists("/dev/null") and
                              __import__("stat").S_ISCHR(os.stat("/dev/null").st_mode),
                              "journal": os.path.lexists("/dev/null-journal")}
    sys.stdout.write(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
