"""osqlite.config and osqlite.flags: loading, leniency, validation, merging."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from osqlite.config import Loader, config_sources, strip_comments
from osqlite.daemon import validator
from osqlite.diff import decode_text
from osqlite.errors import ConfigError, FlagError
from osqlite.flags import Flags

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "configs"
BROKEN = FIXTURES / "broken"
SEED = FIXTURES / "seed"
EXPECTED = json.loads((BROKEN / "expected.json").read_text())


@pytest.fixture
def strict_loader(conn):
    conn.text_factory = decode_text
    return Loader(validate=validator(conn), strict_packs=True, warn=lambda m: None)


def tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT DISTINCT name FROM osqlite_tables")}


# -- the seed article's configs load as written ---------------------------------------

def test_every_seed_example_parses_as_written():
    warnings: list[str] = []
    loader = Loader(warn=warnings.append)
    sample = loader.load(str(SEED / "sample.conf"))
    assert [q.name for q in sample.schedule] == ["system_info"]
    assert sample.options["worker_threads"] == "2"
    assert sample.decorators["load"][0] == "SELECT uuid AS host_uuid FROM system_info;"
    # Its pack file is normally absent: a warning naming the pack and path.
    assert any("process-monitor" in w and "/etc/osquery/process-monitor.conf" in w for w in warnings)
    sched = loader.load(str(SEED / "schedule.conf"))
    [q] = sched.schedule
    assert (q.interval, q.removed, q.snapshot) == (60, False, False)   # '#"snapshot":true' is a comment
    deco = loader.load(str(SEED / "decorators.conf"))
    assert deco.decorators["interval"] == {"3600": ["SELECT total_seconds AS uptime FROM uptime;"]}
    assert loader.load(str(SEED / "packs.conf")).packs == []


def test_seed_pack_file_loads_as_written(tmp_path):
    cfg = tmp_path / "c.conf"
    cfg.write_text(json.dumps({"packs": {"process-monitor": str(SEED / "process-monitor.conf")}}))
    [pack] = Loader().load(str(cfg)).packs
    assert pack.name == "process-monitor" and len(pack.discovery) == 2
    [q] = pack.queries
    assert q.log_name("_") == "pack_process-monitor_pack_proc_num"
    assert (q.interval, q.removed) == (60, False)


def test_conf_directory_matches_the_seed():
    root = Path(__file__).resolve().parent.parent / "conf"
    assert (root / "osqueryd.conf").read_text() == (SEED / "sample.conf").read_text()
    assert (root / "packs" / "process-monitor.conf").read_text() == (SEED / "process-monitor.conf").read_text()


def test_seed_and_conf_configs_validate_against_the_real_tables(conn, strict_loader, tmp_path):
    needed = {"system_info", "logged_in_users", "osquery_info", "uptime", "processes", "users",
              "os_version", "kernel_info", "mounts", "kernel_modules", "memory_info",
              "load_average", "interface_addresses", "listening_ports"}
    missing = needed - tables(conn)
    if missing:
        pytest.skip(f"tables not built on this branch: {', '.join(sorted(missing))}")
    for name in ("schedule.conf", "decorators.conf"):
        strict_loader.load(str(SEED / name))
    root = Path(__file__).resolve().parent.parent / "conf"
    strict_loader.load(str(root / "linux.conf"))
    cfg = tmp_path / "c.conf"
    cfg.write_text(json.dumps({"packs": {"pm": str(root / "packs" / "process-monitor.conf")}}))
    strict_loader.load(str(cfg))


# -- leniency -------------------------------------------------------------------------

def test_comments_and_the_trailing_comma_they_leave():
    text = '{\n  # a comment\n  "a": [1,\n  // 2\n  ],\n  "b": "x, // not a comment",\n  #"c": 1\n}\n'
    assert json.loads(strip_comments(text)) == {"a": [1], "b": "x, // not a comment"}


def test_backslash_newline_is_removed():
    assert json.loads(strip_comments('{"a":\\\n 1}')) == {"a": 1}


# -- the corpus of broken configs -----------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_config_names_file_key_and_reason(name, strict_loader):
    key, reason = EXPECTED[name]
    path = str(BROKEN / name)
    with pytest.raises(ConfigError) as info:
        strict_loader.load(path)
    err = info.value
    assert err.key == key, str(err)
    assert reason in err.reason, str(err)
    if name == "pack_missing_file.conf":
        assert err.file == "/nonexistent/osqlite/pack.conf"
    else:
        assert err.file == path
    assert err.file in str(err) and reason in str(err)


def test_corpus_covers_every_broken_file():
    files = {p.name for p in BROKEN.iterdir() if p.suffix == ".conf"}
    assert files == set(EXPECTED)


def test_missing_pack_file_warns_when_not_strict():
    warnings: list[str] = []
    cfg = Loader(warn=warnings.append).load(str(BROKEN / "pack_missing_file.conf"))
    assert cfg.packs == []
    assert warnings and "Error reading the query pack named: p" in warnings[0]


def test_missing_config_file():
    with pytest.raises(ConfigError, match="config file does not exist"):
        Loader().load("/nonexistent/osqlite.conf")


# -- warnings, not failures -----------------------------------------------------------

def test_reserved_names_are_dropped_with_a_warning():
    warnings: list[str] = []
    cfg = Loader(warn=warnings.append).load_text(json.dumps({"schedule": {
        "process_counter": {"query": "SELECT 1", "interval": 5},
        "my_epoch": {"query": "SELECT 1", "interval": 5},
        "ok": {"query": "SELECT 1", "interval": 5}}}))
    assert [q.name for q in cfg.schedule] == ["ok"]
    assert sum("reserved suffixes" in w for w in warnings) == 2


def test_query_options_are_coerced():
    cfg = Loader(default_interval=77).load_text(json.dumps({"schedule": {
        "a": {"query": "SELECT 1", "interval": "10", "snapshot": "true", "removed": "false",
              "shard": "5", "platform": "linux", "version": "1.0", "description": "d",
              "denylist": 0},
        "b": {"query": "SELECT 1"}}}))
    a, b = cfg.schedule
    assert (a.interval, a.snapshot, a.removed, a.shard, a.denylist) == (10, True, False, 5, False)
    assert b.interval == 77


def test_config_d_is_merged_in_path_order(tmp_path):
    main = tmp_path / "osquery.conf"
    main.write_text(json.dumps({"options": {"verbose": "false"},
                                "schedule": {"a": {"query": "SELECT 1", "interval": 5}},
                                "file_paths": {"etc": ["/etc/%"]}}))
    d = tmp_path / "osquery.conf.d"
    d.mkdir()
    (d / "20-b.conf").write_text(json.dumps({"options": {"verbose": "true"},
                                             "schedule": {"c": {"query": "SELECT 3", "interval": 5}}}))
    (d / "10-a.conf").write_text(json.dumps({"schedule": {"b": {"query": "SELECT 2", "interval": 5}},
                                             "file_paths": {"etc": ["/etc/ssh/%%"]},
                                             "exclude_paths": {"etc": ["/etc/x"]}}))
    (d / ".hidden.conf").write_text("not json")
    (d / "notes.txt").write_text("not json")
    assert [os.path.basename(p) for p in config_sources(str(main))] == ["osquery.conf", "10-a.conf", "20-b.conf"]
    cfg = Loader().load(str(main))
    assert [q.name for q in cfg.schedule] == ["a", "b", "c"]
    assert cfg.options == {"verbose": "true"}
    assert cfg.file_paths == {"etc": ["/etc/%", "/etc/ssh/%%"]}
    assert cfg.exclude_paths == {"etc": ["/etc/x"]}
    assert len(cfg.hash) == 40


def test_packs_inline_file_and_glob(tmp_path):
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "one.conf").write_text('{"queries": {"q1": {"query": "SELECT 1", "interval": 5}}}')
    (packs / "two.conf").write_text('{\n # c\n "platform": "linux", "queries": {"q2": {"query": "SELECT 2", "interval": "5"}}}')
    cfg = Loader().load_text(json.dumps({"packs": {
        "inline": {"queries": {"q0": {"query": "SELECT 0", "interval": 5}}},
        "file": str(packs / "one.conf"),
        "*": str(packs / "*.conf")}}))
    assert sorted(p.name for p in cfg.packs) == ["file", "inline", "one", "two"]
    two = next(p for p in cfg.packs if p.name == "two")
    assert two.platform == "linux" and two.queries[0].log_name("/") == "pack/two/q2"


# -- flags ----------------------------------------------------------------------------

def test_flag_forms_and_flagfile(tmp_path):
    ff = tmp_path / "flags"
    ff.write_text("# comment\n--worker_threads=7\n--logger_path=/tmp/x\n")
    f = Flags()
    f.parse_argv(["--config_path", "/a.conf", "--verbose", "--flagfile", str(ff),
                  "--nologger_event_type", "--schedule_epoch=3"])
    assert f["config_path"] == "/a.conf" and f["verbose"] is True
    assert f["worker_threads"] == 7 and f["logger_path"] == "/tmp/x"
    assert f["logger_event_type"] is False and f["schedule_epoch"] == 3
    assert Flags()["config_path"] == "/var/osquery/osqueryd.conf"
    with pytest.raises(FlagError, match="unknown command line flag"):
        Flags().parse_argv(["--no_such_flag=1"])
    with pytest.raises(FlagError):
        Flags().parse_argv(["--worker_threads=many"])


def test_options_are_coerced_and_unknown_ones_warn():
    f = Flags()
    warnings: list[str] = []
    f.apply_options({"log_result_events": "false", "schedule_splay_percent": "10",
                     "verbose": "true", "worker_threads": 2, "enable_monitor": "true",
                     "events_expiry": "3600", "bogus": "1", "config_path": "/x",
                     "custom_thing": 5, "events_max": "abc"}, warnings.append)
    assert f["logger_event_type"] is False          # old alias
    assert f["schedule_splay_percent"] == 10 and f["verbose"] is True
    assert f["worker_threads"] == 2 and f["enable_monitor"] is True
    assert f["config_path"] == "/var/osquery/osqueryd.conf"   # CLI-only: ignored
    assert f["events_max"] == 50000 and f.custom == {"custom_thing": "5"}
    assert any("unknown or invalid flag: bogus" in w for w in warnings)
    assert any("CLI only flag --config_path" in w for w in warnings)
    assert any("events_max" in w for w in warnings)


def test_docs_list_every_flag():
    from osqlite.flags import ALIASES, FLAGS
    doc = (Path(__file__).resolve().parent.parent / "docs" / "daemon.md").read_text()
    missing = [f.name for f in FLAGS if f"`{f.name}`" not in doc]
    assert missing == [], f"docs/daemon.md does not document: {missing}"
    assert all(f"`{old}`" in doc for old in ("log_result_events", "log_numerics_as_numbers"))
    assert set(ALIASES.values()) <= {f.name for f in FLAGS}
