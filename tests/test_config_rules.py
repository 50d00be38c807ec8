"""osquery's config rules (osqueryd-behaviour.md §1, §2, §4, §5) in osqlite.config.

Junk is that entry's problem only; nesting is bounded without recursion;
platform, version and shard filter queries and packs before SQL is
compiled; bad bytes are refused with a message; osquery's stock packs load
with exactly their Linux queries.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from osqlite.config import Loader, parse_json_text
from osqlite.daemon import validator
from osqlite.diff import decode_text
from osqlite.errors import ConfigError
from osqlite.packs import platform_matches

PACKS = Path(__file__).resolve().parent / "fixtures" / "osquery-packs"


class Recorder:
    """A loader with a real validator that records what it was asked to compile."""

    def __init__(self, conn):
        conn.text_factory = decode_text
        self.check = validator(conn)
        self.compiled: list[str] = []
        self.warnings: list[str] = []

    def validate(self, sql: str):
        self.compiled.append(sql)
        return self.check(sql)

    def loader(self, **kw) -> Loader:
        return Loader(validate=self.validate, warn=self.warnings.append, **kw)

    def load(self, doc, **kw):
        text = doc if isinstance(doc, str) else json.dumps(doc)
        return self.loader(**kw).load_text(text, "/etc/osquery/osquery.conf")


@pytest.fixture
def rec(conn):
    return Recorder(conn)


def nested(levels: int, inner: str = "1") -> str:
    """A config whose deepest value (``inner`` inside arrays under "x") is at
    level ``levels``, counting the root object as level 1."""
    return '{"x": ' + "[" * (levels - 2) + inner + "]" * (levels - 2) + "}"


# -- nesting (osquery: osquery/config/config.cpp validateConfig, kMaxConfigDepth 32) --

def test_nesting_limit_is_osquerys():
    # 32 levels load; the 33rd is rejected (a value 32 below the root object).
    parse_json_text(nested(32), "c")
    parse_json_text(nested(33, ""), "c")           # the deepest value is the empty array, level 32
    with pytest.raises(ConfigError, match="Configuration has too many nesting levels!"):
        parse_json_text(nested(33), "c")
    with pytest.raises(ConfigError, match="Configuration has too many nesting levels!"):
        parse_json_text(nested(34, ""), "c")


@pytest.mark.parametrize("levels", [2000, 50_000])
def test_deep_nesting_is_one_message_never_a_recursion_error(levels, rec):
    text = nested(levels)
    cfg = rec.load(text)
    assert cfg.error is not None and "too many nesting levels" in cfg.error.reason
    # Unbalanced or inside strings: still no recursion.
    assert rec.load('{"x": "' + "[" * levels + '"}').error is None
    assert "nesting" in rec.load('{"x": ' + "[" * levels).error.reason


def test_deep_pack_file_is_a_warning(tmp_path, rec):
    deep = tmp_path / "deep.conf"
    deep.write_text('{"queries": {}, "x": ' + "[" * 5000 + "]" * 5000 + "}")
    cfg = rec.load({"packs": {"deep": str(deep), "ok": {"queries": {"q": {"query": "SELECT 1"}}}}})
    assert [p.name for p in cfg.packs] == ["ok"]
    assert any('Error parsing the "deep" pack JSON' in w and "nesting" in w for w in rec.warnings)


# -- whole-source errors --------------------------------------------------------------

@pytest.mark.parametrize("text,message", [
    ('{"options": {},}', "Error parsing the config JSON"),
    ("[1]", "the root must be a JSON object, not an array"),
    ('"x"', "the root must be a JSON object, not a string"),
    ('{"a": NaN}', "NaN is not JSON"),
    ("", "Error parsing the config JSON"),
])
def test_source_that_does_not_parse(text, message, rec):
    cfg = rec.load(text)
    assert cfg.error is not None and message in cfg.error.reason
    assert cfg.error.file == "/etc/osquery/osquery.conf"


def test_a_failing_source_stops_the_load_after_the_earlier_ones(tmp_path, rec):
    main = tmp_path / "osquery.conf"
    main.write_text(json.dumps({"schedule": {"a": {"query": "SELECT 1", "interval": 5}}}))
    d = tmp_path / "osquery.conf.d"
    d.mkdir()
    (d / "10.conf").write_text('{"schedule": {"b": }}')
    (d / "20.conf").write_text(json.dumps({"schedule": {"c": {"query": "SELECT 3", "interval": 5}}}))
    cfg = rec.loader().load(str(main))
    assert [q.name for q in cfg.schedule] == ["a"]          # as osquery: earlier sources stay
    assert cfg.error.file == str(d / "10.conf")


# -- junk entries: skipped, with a warning, the rest loads ------------------------------

def test_junk_entries_are_skipped(rec):
    cfg = rec.load({
        "schedule": {"good": {"query": "SELECT 1 AS one", "interval": 10},
                     "bad_sql": {"query": "SELECT * FROM no_such_table_q", "interval": 10},
                     "number": 5, "no_sql": {"interval": 10},
                     "zero": {"query": "SELECT 1", "interval": 0}},
        "packs": {"p": {"discovery": ["SELECT 1", 7, None],
                        "queries": {"q": {"query": "SELECT 2", "interval": 10}}},
                  "n": 3},
        "file_paths": {"etc": ["/etc/%%", 5, "", None], "bin": "/bin/%"},
        "exclude_paths": {"etc": ["/etc/x", {"no": 1}]},
        "file_accesses": ["etc", 9, "etc"],
        "decorators": {"load": ["SELECT 'a' AS a", 3, "SELECT * FROM no_such_deco"],
                       "interval": {"60": ["SELECT 1 AS m"], "61": ["SELECT 2"], "x": ["SELECT 3"],
                                    "120": "SELECT 4"}},
        "views": 5, "events": {"disable_subscribers": ["x"]},
    })
    assert cfg.error is None
    assert [q.name for q in cfg.schedule] == ["good"]
    [p] = cfg.packs
    assert p.discovery == ["SELECT 1"] and [q.name for q in p.queries] == ["q"]
    assert cfg.file_paths == {"etc": ["/etc/%%"]} and cfg.exclude_paths == {"etc": ["/etc/x"]}
    assert cfg.file_accesses == ["etc"]
    assert cfg.decorators["load"] == ["SELECT 'a' AS a"]
    assert cfg.decorators["interval"] == {"60": ["SELECT 1 AS m"]}
    assert cfg.parsers == {"events": {"disable_subscribers": ["x"]}}
    w = "\n".join(rec.warnings)
    for expected in (
        "Scheduled query bad_sql in /etc/osquery/osquery.conf does not compile and is skipped: "
        "no such table: no_such_table_q",
        "Skipping scheduled query number in /etc/osquery/osquery.conf: it should be a JSON object, not a number",
        "No query string defined for query no_sql in /etc/osquery/osquery.conf",
        "Query has invalid interval: zero: 0 (/etc/osquery/osquery.conf)",
        "Skipping discovery query #1 of pack p (/etc/osquery/osquery.conf): it is a number, not SQL",
        "Error parsing pack: n: the value should be an object or a file path",
        "Skipping an entry of file_paths category 'etc' in /etc/osquery/osquery.conf: 5 is not a path",
        "Skipping file_paths category 'bin' in /etc/osquery/osquery.conf: it should be a list of paths",
        "Skipping an entry of exclude_paths category 'etc'",
        "Skipping an entry of file_accesses in /etc/osquery/osquery.conf: 9 is not a category name",
        "Decorator load #2 in /etc/osquery/osquery.conf does not compile and is skipped",
        "Invalid decorator interval rate 61 in config source: /etc/osquery/osquery.conf",
        "Invalid decorator interval rate x in config source",
        "Skipping decorators interval 120 in /etc/osquery/osquery.conf: it should be a list",
        "Error config views should be an array or object (/etc/osquery/osquery.conf): ignored",
    ):
        assert expected in w, expected
    assert len(cfg.problems) == 9   # queries and decorators that will not run


def test_bad_sql_names_pack_query_file_and_the_sqlite_error(tmp_path, rec):
    pack = tmp_path / "ops.conf"
    pack.write_text(json.dumps({"queries": {"typo": {"query": "SELEC pid FROM processes"},
                                            "fine": {"query": "SELECT pid FROM processes"}}}))
    cfg = rec.load({"packs": {"ops": str(pack)}})
    assert [q.name for q in cfg.packs[0].queries] == ["fine"]
    assert cfg.problems == [f"Scheduled query typo in pack ops in {pack} does not compile and is "
                            'skipped: near "SELEC": syntax error']


@pytest.mark.parametrize("doc,what", [
    ({"schedule": {"a\udcffb": {"query": "SELECT 1"}}}, "its name is not valid UTF-8"),
    ({"schedule": {"a\x00b": {"query": "SELECT 1"}}}, "its name contains a NUL character"),
    ({"schedule": {"a": {"query": "SELECT '\udcfe'"}}}, "its SQL is not valid UTF-8"),
    ({"schedule": {"a": {"query": "SELECT 1\x00; DROP"}}}, "its SQL contains a NUL character"),
])
def test_bad_bytes_in_sql_or_names(doc, what, rec):
    text = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogateescape").decode(
        "utf-8", "surrogateescape")
    cfg = rec.load(text)
    assert cfg.error is None and cfg.schedule == []
    assert any(what in w for w in rec.warnings), rec.warnings


def test_invalid_utf8_bytes_in_a_config_file(tmp_path, rec):
    path = tmp_path / "c.conf"
    path.write_bytes(b'{"schedule": {"ok": {"query": "SELECT 1", "interval": 5},'
                     b' "bad": {"query": "SELECT \'\xff\xfe\'", "interval": 5}},'
                     b' "options": {"host_identifier": "\xc3"}}')
    cfg = rec.loader().load(str(path))
    assert [q.name for q in cfg.schedule] == ["ok"]
    assert any("Skipping scheduled query bad" in w and "not valid UTF-8" in w for w in rec.warnings)


def test_default_interval_zero_drops_queries_without_one(rec):
    cfg = rec.load({"schedule": {"a": {"query": "SELECT 1"}, "b": {"query": "SELECT 1", "interval": 7}}},
                   default_interval=0)
    assert [q.name for q in cfg.schedule] == ["b"]
    assert "Query has invalid interval: a: 0 (/etc/osquery/osquery.conf)" in rec.warnings


def test_booleans_as_osquery_reads_them(rec):
    cfg = rec.load({"schedule": {
        "a": {"query": "SELECT 1", "snapshot": "T", "removed": 0, "denylist": "false"},
        "b": {"query": "SELECT 1", "snapshot": "1", "removed": "yes"}}})
    a, b = cfg.schedule
    assert (a.snapshot, a.removed, a.denylist) == (True, False, False)
    assert (b.snapshot, b.removed) == (False, False)      # osquery: only "true"/"t" are true
    assert sum("not a boolean; read as false" in w for w in rec.warnings) == 2


# -- platform, version and shard: before SQL (osquery: Pack::initialize) -------------

def test_predicates_apply_before_sql_is_compiled(rec):
    cfg = rec.load({
        "schedule": {"mac": {"query": "SELECT * FROM launchd", "platform": "darwin"},
                     "win": {"query": "SELECT * FROM registry", "platform": "windows"},
                     "posix": {"query": "SELECT 1 AS p", "platform": "posix"},
                     "new": {"query": "SELECT * FROM future_table", "version": "6.0.0"},
                     "old": {"query": "SELECT 2 AS o", "version": "1.4.5"},
                     "four": {"query": "SELECT 4 AS f", "version": "4.0.0"},
                     "sharded_out": {"query": "SELECT * FROM nope", "shard": 1},
                     "sharded_in": {"query": "SELECT 3 AS s", "shard": "100"}},
        "packs": {"osx": {"platform": "darwin", "discovery": ["SELECT * FROM launchd"],
                          "queries": {"x": {"query": "SELECT * FROM launchd"}}},
                  "future": {"version": "99.0", "queries": {"y": {"query": "SELECT * FROM nope"}}},
                  "linux": {"platform": "linux", "version": "1.4.5",
                            "queries": {"z": {"query": "SELECT 5 AS z"}}}},
    }, applies=lambda pl, ver, sh: __import__("osqlite.packs").packs.runnable(pl, ver, sh, 50))
    assert sorted(q.name for q in cfg.schedule) == ["four", "old", "posix", "sharded_in"]
    assert not any(x in sql for sql in rec.compiled for x in ("launchd", "registry", "future_table", "nope"))
    packs = {p.name: p for p in cfg.packs}
    assert not packs["osx"].valid and packs["osx"].queries == [] and packs["osx"].discovery == []
    assert not packs["future"].valid
    assert packs["linux"].valid and [q.name for q in packs["linux"].queries] == ["z"]
    assert rec.warnings == [] and cfg.problems == []


def test_osquery_stock_packs_load_with_their_linux_queries(rec):
    """Every stock pack loads; exactly its Linux/posix queries are kept, and the
    only SQL problem is vuln-management's opera_extensions (gone from osquery)."""
    files = sorted(PACKS.glob("*.conf"))
    assert len(files) == 10
    for path in files:
        text = path.read_text()
        raw = json.loads("\n".join(ln for ln in text.replace("\\\n", "").split("\n")
                                   if not ln.strip().startswith("#")))
        rec.warnings.clear()
        cfg = rec.load({"packs": {path.stem: str(path)}})
        [pack] = cfg.packs
        if not platform_matches(raw.get("platform", "")):
            assert not pack.valid and pack.queries == [], path.name
            continue
        want = {n for n, q in raw["queries"].items() if platform_matches(q.get("platform", ""))}
        got = {q.name for q in pack.queries}
        if path.stem == "vuln-management":
            assert want - got == {"opera_extensions"}
            assert cfg.problems == [f"Scheduled query opera_extensions in pack vuln-management in "
                                    f"{path} does not compile and is skipped: no such table: "
                                    "opera_extensions"]
        else:
            assert got == want, (path.name, want - got)
            assert cfg.problems == [], cfg.problems
    ir = json.loads("\n".join(ln for ln in (PACKS / "incident-response.conf").read_text().split("\n")
                              if not ln.strip().startswith("#")))
    linux = [n for n, q in ir["queries"].items()
             if q.get("platform", "") in ("", "linux", "posix", "all", "any")]
    assert len(linux) == 18
