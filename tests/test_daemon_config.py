"""osqlite.config and osqlite.flags: loading, leniency, validation, merging."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from osqlite.config import Loader, config_sources, strip_comments
from osqlite.daemon import validator
from osqlite.diff import decode_text
from osqlite.errors import ConfigError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "configs"
BROKEN = FIXTURES / "broken"
SEED = FIXTURES / "seed"
EXPECTED = json.loads((BROKEN / "expected.json").read_text())


@pytest.fixture
def validating(conn):
    """A loader that compiles SQL against the real tables; .warnings collects."""
    conn.text_factory = decode_text
    warnings: list[str] = []
    loader = Loader(validate=validator(conn), warn=warnings.append)
    loader.warnings = warnings
    return loader


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


def test_seed_and_conf_configs_validate_against_the_real_tables(conn, validating, tmp_path):
    needed = {"system_info", "logged_in_users", "osquery_info", "uptime", "processes", "users",
              "os_version", "kernel_info", "mounts", "kernel_modules", "memory_info",
              "load_average", "interface_addresses", "listening_ports"}
    missing = needed - tables(conn)
    if missing:
        pytest.skip(f"tables not built on this branch: {', '.join(sorted(missing))}")
    root = Path(__file__).resolve().parent.parent / "conf"
    cfg = tmp_path / "c.conf"
    cfg.write_text(json.dumps({"packs": {"pm": str(root / "packs" / "process-monitor.conf")}}))
    for path in (SEED / "schedule.conf", SEED / "decorators.conf", root / "linux.conf", cfg):
        loaded = validating.load(str(path))
        assert loaded.error is None and loaded.problems == [], (path, loaded.problems)
    assert validating.warnings == []


# -- leniency -------------------------------------------------------------------------

def test_comments_and_the_trailing_comma_they_leave():
    text = '{\n  # a comment\n  "a": [1,\n  // 2\n  ],\n  "b": "x, // not a comment",\n  #"c": 1\n}\n'
    assert json.loads(strip_comments(text)) == {"a": [1], "b": "x, // not a comment"}


def test_backslash_newline_is_removed():
    assert json.loads(strip_comments('{"a":\\\n 1}')) == {"a": 1}


# -- the corpus of broken configs -----------------------------------------------------
#
# osquery's rule: only a source that does not parse is an error; any other junk
# is that entry's problem (skipped with a warning), and the rest of the file loads.

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_config_entry_is_its_own_problem(name, validating):
    kind, text = EXPECTED[name]
    path = str(BROKEN / name)
    text = text.replace("{path}", path)
    cfg = validating.load(path)
    if kind == "error":
        assert cfg.error is not None and cfg.error.file == path
        assert text in cfg.error.reason, str(cfg.error)
        return
    assert cfg.error is None, str(cfg.error)
    assert any(text in w for w in validating.warnings), validating.warnings
    if kind == "skipped":
        assert any(text in p for p in cfg.problems), cfg.problems
    else:
        assert not cfg.problems, cfg.problems


def test_corpus_covers_every_broken_file():
    files = {p.name for p in BROKEN.iterdir() if p.suffix == ".conf"}
    assert files == set(EXPECTED)


def test_missing_pack_file_is_a_warning():
    warnings: list[str] = []
    cfg = Loader(warn=warnings.append).load(str(BROKEN / "pack_missing_file.conf"))
    assert cfg.packs == [] and cfg.error is None and cfg.problems == []
    assert warnings and "Error reading the query pack named: p" in warnings[0]


def test_missing_config_file():
    cfg = Loader().load("/nonexistent/osqlite.conf")
    assert isinstance(cfg.error, ConfigError)
    assert str(cfg.error) == "/nonexistent/osqlite.conf: config file does not exist"


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
              "shard": "100", "platform": "linux", "version": "1.0", "description": "d",
              "denylist": 0},
        "b": {"query": "SELECT 1"}}}))
    a, b = cfg.schedule
    assert (a.interval, a.snapshot, a.removed, a.shard, a.denylist) == (10, True, False, 100, False)
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


