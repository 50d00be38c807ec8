"""osqlite.flags: every osquery flag accepted, parsed as gflags parses it.

The parametrized tests are generated from osquery's own list
(osqlite/osquery-flags.json): each flag is set on the command line, in a
flagfile and in config options, and the start-up warning names exactly the
given flags osqlite does not implement.
"""
from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from osqlite import flags as F
from osqlite.errors import FlagError
from osqlite.flags import FLAGS, Flags, lookup, parse_value, personality, usage, version_line

REPO = Path(__file__).resolve().parent.parent
SPEC = json.loads((REPO / "osqlite" / "osquery-flags.json").read_text())["flags"]
OSQUERY_NAMES = sorted(SPEC) + [f.name for f in F.SPEC_ADDITIONS]


def sample(flag: F.Flag) -> str:
    """A legal value different from the default, as flag text."""
    if flag.type == "bool":
        return "false" if flag.default else "true"
    if flag.type in F.INT_RANGES:
        lo, hi = F.INT_RANGES[flag.type]
        return str(flag.default + 1 if flag.default < hi else flag.default - 1)
    if flag.name == "logger_mode":
        return "0600"
    if flag.name in ("flagfile", "fromenv", "tryfromenv", "undefok"):
        return ""
    return f"osqlite-test-{flag.name}"


def test_the_spec_is_osquerys_list():
    kinds = {v["kind"] for v in SPEC.values()}
    assert len(SPEC) == 273 and kinds == {"FLAG", "CLI_FLAG", "HIDDEN_FLAG", "SHELL_FLAG", "FLAG_ALIAS"}
    # Five flags osquery defines (e.g. --force, in osquery's own test flags) are added.
    assert {f.name for f in F.SPEC_ADDITIONS} == {"force", "aws_firehose_endpoint",
                                                  "aws_kinesis_random_partition_key",
                                                  "distributed_tls_max_attempts",
                                                  "keychain_access_interval"}


@pytest.mark.parametrize("name", OSQUERY_NAMES)
def test_every_osquery_flag_is_accepted_on_the_command_line(name):
    flag = lookup(name)
    assert flag is not None, name
    text = sample(flag)
    want = parse_value(flag, text)
    if flag.type == "bool":
        third = [f"--{name}"] if want else [f"--no{name}"]
    else:
        third = [f"--{name}", text]
    for argv in ([f"--{name}={text}"], [f"-{name}={text}"], third):
        flags = Flags()
        assert flags.parse_argv(argv) == []
        assert flags[name] == want, argv
        assert flags.origin(name) == "the command line"


def test_every_osquery_flag_in_one_flagfile_and_in_config_options(tmp_path):
    ff = tmp_path / "osquery.flags"
    ff.write_text("".join(f"--{n}={sample(lookup(n))}\n" for n in OSQUERY_NAMES))
    flags = Flags()
    flags.parse_argv([f"--flagfile={ff}"])
    assert flags.warnings == []
    for n in OSQUERY_NAMES:
        assert flags[n] == parse_value(lookup(n), sample(lookup(n))), n
    # Config options: every flag osquery lets the config set is set; a CLI-only
    # one gives osquery's warning and keeps its value.
    conf = Flags()
    warnings: list[str] = []
    conf.apply_options({n: sample(lookup(n)) for n in OSQUERY_NAMES}, "/etc/x.conf", warnings.append)
    for n in OSQUERY_NAMES:
        flag = lookup(n)
        if flag.cli_only:
            assert conf[n] == flag.default, n
            assert any(f"The CLI only flag --{n} set via config file will be ignored" in w
                       for w in warnings), n
        else:
            assert conf[n] == parse_value(flag, sample(flag)), n


def test_the_inert_warning_names_exactly_the_flags_without_effect():
    flags = Flags()
    flags.parse_argv([f"--{n}={sample(lookup(n))}" for n in OSQUERY_NAMES])
    named = {x.split(" ")[0][2:] for x in flags.inert_given()}
    for n in OSQUERY_NAMES:
        real = lookup(n).name
        if F.is_implemented(real):
            assert real not in named, n
        elif real in F.HONORED_VALUES and flags[real] == F.HONORED_VALUES[real]:
            assert real not in named, n
        else:
            assert real in named, n
    # Not a flag given: not named, whatever it is.
    assert Flags().inert_given() == []
    # Values are never part of it (some flags hold secrets).
    secret = Flags()
    secret.parse_argv(["--aws_secret_access_key=hunter2", "--users_service_delay=5"])
    assert secret.inert_given() == ["--aws_secret_access_key", "--users_service_delay (windows only)"]


def test_implemented_areas_name_real_flags():
    for area, names in F.IMPLEMENTED.items():
        for n in names:
            assert n in {f.name for f in FLAGS}, (area, n)
    with pytest.raises(ValueError):
        F.implement("test", "no_such_flag_x")
    F.implement("test", "table_delay")
    try:
        assert F.is_implemented("table_delay")
    finally:
        F.IMPLEMENTED.pop("test")


def test_defaults_are_linux_values_not_cpp_expressions():
    for f in FLAGS:
        if f.type == "string":
            assert "OSQUERY_" not in f.default and '"' not in f.default and "fs::" not in f.default, f
        elif f.type == "bool":
            assert isinstance(f.default, bool), f
        else:
            assert isinstance(f.default, int) and not isinstance(f.default, bool), f
    flags = Flags()
    assert flags["logger_rotate_size"] == 26214400 and flags["read_max"] == 52428800
    assert flags["database_path"] == "/var/osquery/osquery.db"
    assert flags["pidfile"] == "/var/run/osqueryd.pidfile"
    assert flags["extensions_socket"] == "/var/osquery/osquery.em"
    assert flags["logger_mode"] == "0640"                 # osquery's, for a log shipper's group
    assert flags["config_path"] == "/var/osquery/osqueryd.conf"   # the seed article's
    assert flags["logger_syslog_facility"] == 19


# -- gflags semantics ---------------------------------------------------------------

@pytest.mark.parametrize("text,value", [("true", True), ("True", True), ("1", True), ("t", True),
                                        ("yes", True), ("false", False), ("False", False),
                                        ("0", False), ("f", False), ("NO", False)])
def test_boolean_words(text, value):
    flags = Flags()
    flags.parse_argv([f"--verbose={text}"])
    assert flags["verbose"] is value


def test_last_value_wins_and_noflag():
    flags = Flags()
    flags.parse_argv(["--verbose", "--noverbose", "--schedule_epoch=1", "--schedule_epoch", "2"])
    assert flags["verbose"] is False and flags["schedule_epoch"] == 2
    flags.parse_argv(["--noverbose", "--verbose=true"])
    assert flags["verbose"] is True


def test_a_boolean_never_takes_the_next_argument():
    flags = Flags()
    assert flags.parse_argv(["--disable_database", "false"]) == ["false"]
    assert flags["disable_database"] is True          # gflags' reading, warned about by the daemon


def test_gflags_messages_all_reported_sorted():
    with pytest.raises(FlagError) as err:
        Flags().parse_argv(["--zzz_unknown", "--noconfig_path", "--watchdog_level=abc",
                            "--alarm_timeout=5", "--schedule_epoch=-1", "--aaa=1"])
    assert str(err.value).split("\n") == [
        "ERROR: unknown command line flag 'aaa'",
        "Alarm timeout cannot be lower than 10 seconds",
        "ERROR: failed validation of new value '5' for flag 'alarm_timeout'",
        "ERROR: boolean value (noconfig_path) specified for string command line flag",
        "ERROR: illegal value '-1' specified for uint64 flag 'schedule_epoch'",
        "ERROR: illegal value 'abc' specified for int32 flag 'watchdog_level'",
        "ERROR: unknown command line flag 'zzz_unknown'",
    ]


def test_numbers_as_gflags_reads_them():
    flags = Flags()
    flags.parse_argv(["--watchdog_level=-1", "--schedule_epoch=0x10", "--read_max= 7"])
    assert (flags["watchdog_level"], flags["schedule_epoch"], flags["read_max"]) == (-1, 16, 7)
    for bad in ("--watchdog_level=2147483648", "--schedule_epoch=1_0", "--schedule_epoch=",
                "--schedule_epoch=1.5", "--logger_mode=12345678", "--logger_mode=0999"):
        with pytest.raises(FlagError):
            Flags().parse_argv([bad])


def test_missing_argument_double_dash_and_aliases():
    with pytest.raises(FlagError, match="ERROR: flag '--config_path' is missing its argument"):
        Flags().parse_argv(["--config_path"])
    flags = Flags()
    assert flags.parse_argv(["--db_path=/x.db", "--osquery_log_dir=/l", "--log_result_events=false",
                             "--", "--verbose"]) == ["--verbose"]
    assert flags["database_path"] == "/x.db" and flags["logger_path"] == "/l"
    assert flags["logger_event_type"] is False and flags["verbose"] is False


def test_undefok_fromenv_tryfromenv(monkeypatch):
    flags = Flags()
    flags.parse_argv(["--undefok=future_flag,other", "--future_flag=1", "--noother"])
    monkeypatch.setenv("FLAGS_schedule_epoch", "9")
    flags.parse_argv(["--fromenv=schedule_epoch", "--tryfromenv=verbose"])
    assert flags["schedule_epoch"] == 9 and flags["verbose"] is False
    with pytest.raises(FlagError, match="FLAGS_verbose not found"):
        Flags().parse_argv(["--fromenv=verbose"])


def test_help_and_version_requests():
    flags = Flags()
    flags.parse_argv(["--version"])
    assert flags.version_requested
    assert version_line("osqueryd") == f"osqueryd version 5.23.0 (osqlite {__import__('osqlite').__version__})"


def test_personality_as_osquerys_single_binary():
    assert personality("/usr/bin/osqueryd", [], "shell") == "daemon"
    assert personality("/usr/local/bin/osqlited", [], "shell") == "daemon"
    assert personality("/usr/bin/osqueryi", [], "daemon") == "shell"
    assert personality("osqlite", [], "daemon") == "shell"
    assert personality("osqueryd", ["-S"], "daemon") == "shell"
    assert personality("osqueryd", ["--S"], "daemon") == "shell"
    assert personality("osqueryi", ["--D"], "shell") == "daemon"
    assert personality("/x/daemon.py", [], "daemon") == "daemon"
    assert personality("osqueryd", ["--", "-S"], "daemon") == "daemon"


def test_usage_groups_flags_as_osquery():
    text = usage("osqueryd")
    cli = text.index("osquery command line flags:")
    opts = text.index("osquery configuration options (set by config or CLI flags):")
    assert cli < opts and "shell-only" not in text
    assert text.index("    --config_path VALUE") < opts < text.index("    --schedule_splay_percent VALUE")
    assert text.index("    --flagfile PATH") < opts
    assert "--worker_threads" not in text and "--utc" not in text   # HIDDEN_FLAGs
    assert "--tls_hostname VALUE" in text and "(accepted; no effect in osqlite)" in text
    shell = usage("osqueryi", shell=True)
    assert shell.index("osquery shell-only CLI flags:") < shell.index("    --json ")


def test_osquery_flags_rows():
    flags = Flags()
    flags.apply_options({"custom_team": "blue", "verbose": True}, "c")
    rows = {r["name"]: r for r in flags.rows()}
    assert "S" not in rows and "flagfile" not in rows and "logtostderr" in rows
    assert rows["verbose"]["value"] == "true" and rows["verbose"]["default_value"] == "false"
    assert rows["logger_rotate_size"]["type"] == "uint64" and rows["watchdog_level"]["type"] == "int32"
    assert rows["json"]["shell_only"] == 1 and rows["verbose"]["shell_only"] == 0
    assert rows["custom_team"] == {"name": "custom_team", "type": "string", "description": "",
                                   "default_value": "", "value": "blue", "shell_only": 0}


# -- config options (osquery: plugins/config/parsers/options.cpp) ------------------

def test_option_values_become_flag_text():
    flags = Flags()
    warnings: list[str] = []
    flags.apply_options({"schedule_splay_percent": 20, "verbose": True, "host_identifier": "uuid",
                         "read_max": 100.0, "events_max": "abc", "nullvalue": "",
                         "disable_events": None, "bogus_flag": "1", "custom_x": 5,
                         "distributed_interval": [1]}, "/c.conf", warnings.append)
    assert flags["schedule_splay_percent"] == 20 and flags["verbose"] is True
    assert flags["host_identifier"] == "uuid" and flags["read_max"] == 100
    assert flags["events_max"] == 50000 and flags.custom == {"custom_x": "5"}
    assert any("events_max from the config option in /c.conf: illegal value 'abc'" in w for w in warnings)
    assert "Cannot parse unknown value type for option: disable_events" in warnings
    assert "Cannot set unknown or invalid flag: bogus_flag" in warnings
    assert any("distributed_interval" in w and "'[1]'" in w for w in warnings)


def test_config_overrides_command_line_loudly_and_equal_cli_only_values_are_quiet():
    flags = Flags()
    flags.parse_argv(["--logger_path=/tmp/mine", "--config_plugin=filesystem"])
    warnings: list[str] = []
    flags.apply_options({"logger_path": "/var/log/osquery", "config_plugin": "filesystem",
                         "logger_plugin": "filesystem"}, "conf/osqueryd.conf", warnings.append)
    assert flags["logger_path"] == "/var/log/osquery"          # osquery's rule: the config wins
    assert warnings == ["The config option logger_path=/var/log/osquery in conf/osqueryd.conf "
                        "overrides --logger_path=/tmp/mine from the command line"]
    assert flags.origin_note("logger_path") == " (set by config conf/osqueryd.conf)"


def test_bad_bytes_in_options_are_refused():
    flags = Flags()
    warnings: list[str] = []
    flags.apply_options({"logger_path": "/tmp/a\x00b", "host_identifier": "x\udcff"}, "c", warnings.append)
    assert flags["logger_path"] == "/var/log/osquery/" and flags["host_identifier"] == "hostname"
    assert len(warnings) == 2 and "NUL" in warnings[0] and "UTF-8" in warnings[1]


# -- flagfiles ------------------------------------------------------------------------

def test_flagfile_lines_as_gflags_reads_them(tmp_path):
    inner = tmp_path / "inner.flags"
    inner.write_text("--schedule_epoch=4\n")
    ff = tmp_path / "osquery.flags"
    ff.write_bytes(b"# a comment\r\n\r\n   --verbose=true  \r\n--config_path /x.conf\n"
                   b"--no_such_flag=1\n--logger_path\n"
                   + f"--flagfile={inner}\n".encode()
                   + b"other_program\n--schedule_splay_percent=50\nosquery*\n--pack_delimiter=/\n")
    flags = Flags("osqueryd")
    flags.parse_argv([f"--flagfile={ff}"])
    assert flags["verbose"] is True and flags["schedule_epoch"] == 4
    assert flags["schedule_splay_percent"] == 10        # a section for another program
    assert flags["pack_delimiter"] == "/"               # osquery* matches osqueryd
    assert flags["config_path"] == "/var/osquery/osqueryd.conf"
    assert [w.split(":")[0] for w in flags.warnings] == [
        f"Unknown flag in flagfile {ff} line 4", f"Unknown flag in flagfile {ff} line 5",
        f"Flag without a value in flagfile {ff} line 6"]
    assert "without spaces" in flags.warnings[0]


def test_flagfile_bad_values_fail_like_the_command_line(tmp_path):
    ff = tmp_path / "f"
    ff.write_text("--watchdog_level=high\n")
    with pytest.raises(FlagError, match="illegal value 'high' specified for int32 flag 'watchdog_level'"):
        Flags().parse_argv([f"--flagfile={ff}"])


@pytest.mark.parametrize("content,message", [
    (b"--verbose\n\x00\x00", "contains NUL bytes"),
    (b"--verbose=true\n--host_identifier=\xff\xfe\n", "line 2 is not valid UTF-8"),
])
def test_flagfile_that_is_not_text(tmp_path, content, message):
    ff = tmp_path / "f"
    ff.write_bytes(content)
    with pytest.raises(FlagError, match=message):
        Flags().parse_argv([f"--flagfile={ff}"])


def test_flagfile_that_includes_itself(tmp_path):
    a, b = tmp_path / "a.flags", tmp_path / "b.flags"
    a.write_text(f"--verbose\n--flagfile={b}\n")
    b.write_text(f"--flagfile={a}\n")
    with pytest.raises(FlagError, match=f"flagfile {a} includes itself"):
        Flags().parse_argv([f"--flagfile={a}"])
    self_link = tmp_path / "self.flags"
    self_link.write_text(f"--flagfile={tmp_path}/./self.flags\n")
    with pytest.raises(FlagError, match="includes itself"):
        Flags().parse_argv([f"--flagfile={self_link}"])


def test_flagfile_devices_pipes_and_fifos(tmp_path):
    flags = Flags()
    flags.parse_argv(["--flagfile=/dev/null"])          # osquery's own test flags
    assert flags.warnings == []
    with pytest.raises(FlagError, match="cannot read flagfile /dev/zero: is a character device "
                                        "that sent more than 1048576 bytes"):
        Flags().parse_argv(["--flagfile=/dev/zero"])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FlagError, match=f"cannot read flagfile {fifo}: is a FIFO with no writer"):
        Flags().parse_argv([f"--flagfile={fifo}"])
    # A shell's --flagfile=<(...) is a pipe: read to its end.
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(w, b"--verbose=true\n"), os.close(w)))
    writer.start()
    try:
        piped = Flags()
        piped.parse_argv([f"--flagfile=/proc/self/fd/{r}"])
        assert piped["verbose"] is True
    finally:
        writer.join()
        os.close(r)
    for path, why in ((tmp_path, "is a directory"), (tmp_path / "none", "No such file")):
        with pytest.raises(FlagError, match=why):
            Flags().parse_argv([f"--flagfile={path}"])
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_pipe_that_never_ends_is_cut_short(tmp_path, monkeypatch):
    monkeypatch.setattr(F, "FLAGFILE_WAIT", 0.3)
    r, w = os.pipe()
    try:
        os.write(w, b"--verbose\n")        # data, but the writer never closes
        with pytest.raises(FlagError, match="sent no end of file within 0.3 s"):
            Flags().parse_argv([f"--flagfile=/proc/self/fd/{r}"])
    finally:
        os.close(r)
        os.close(w)


def test_docs_name_every_implemented_flag():
    doc = (REPO / "docs" / "daemon.md").read_text()
    missing = sorted(n for names in F.IMPLEMENTED.values() for n in names if f"`{n}`" not in doc)
    assert missing == [], f"docs/daemon.md does not document: {missing}"
    for f in F.OSQLITE_FLAGS:
        assert f"`{f.name}`" in doc, f.name
    assert all(f"`{old}`" in doc for old in ("log_result_events", "log_numerics_as_numbers"))
