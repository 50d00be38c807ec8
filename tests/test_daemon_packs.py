"""Pack predicates, discovery modes and decorators, with fake query runners."""
from __future__ import annotations

import hashlib

import pytest

from osqlite.config import PackSpec
from osqlite.decorators import Decorators
from osqlite.packs import (
    PackState,
    evaluate,
    machine_shard,
    platform_matches,
    runnable,
    shard_matches,
    version_at_least,
)


def test_platform():
    # osquery: osquery/core/system.cpp checkPlatform, case-sensitive substrings.
    for p in ("", "null", "linux", "posix", "any", "all", "ubuntu", "centos", "darwin,linux",
              "windows,posix", "linux_only"):
        assert platform_matches(p), p
    for p in ("darwin", "windows", "freebsd", "windows,darwin", "gentoo", "LINUX", "Linux"):
        assert not platform_matches(p), p


def test_version():
    assert version_at_least("1.4.5") and version_at_least("5.23.0") and version_at_least("")
    assert version_at_least("0.0.0") and not version_at_least("5.24") and not version_at_least("6.0.0")
    assert version_at_least("5.9", "5.23.0")            # numeric, not string, comparison
    assert version_at_least("4.0.0") and version_at_least("5") and version_at_least("5.23.0.1")
    assert not version_at_least("5.23.1") and version_at_least("5.22.99")
    assert version_at_least("5.23.0-beta", "5.23.0")   # std::stoi reads the leading digits


def test_shard():
    host = "web-01.example.com"
    mine = hashlib.sha1(host.encode()).digest()[0] * 100 // 255
    assert machine_shard(host) == mine
    assert shard_matches(0, mine) and shard_matches(100, mine)
    assert shard_matches(mine, mine)
    assert not shard_matches(1, 2) and shard_matches(3, 2)
    assert not runnable("darwin", "", 0, mine) and runnable("linux", "1.0", 0, mine)


def pack(*discovery: str) -> PackState:
    return PackState(spec=PackSpec(name="p", source="x", queries=[], discovery=list(discovery)), valid=True)


def runner(results: dict[str, int]):
    calls: list[str] = []

    def run(sql: str) -> int:
        calls.append(sql)
        if results[sql] < 0:
            raise RuntimeError("no such table: nope")
        return results[sql]
    return run, calls


@pytest.mark.parametrize("mode,rows,expected,ran", [
    ("any", {"a": 0, "b": 2}, True, ["a", "b"]),
    ("any", {"a": 1, "b": 0}, True, ["a"]),
    ("any", {"a": 0, "b": 0}, False, ["a", "b"]),
    ("any", {"a": -1, "b": 1}, True, ["a", "b"]),      # a failure does not sink "any"
    ("all", {"a": 1, "b": 2}, True, ["a", "b"]),
    ("all", {"a": 0, "b": 2}, False, ["a"]),           # stops at the first empty one
    ("all", {"a": -1, "b": 2}, False, ["a"]),
])
def test_discovery_modes(mode, rows, expected, ran):
    p = pack("a", "b")
    run, calls = runner(rows)
    assert evaluate(p, run, mode, now=5) is expected
    assert p.active is expected and calls == ran and p.discovery_executions == 1


def test_no_discovery_and_invalid_packs():
    p = pack()
    assert evaluate(p, lambda sql: 0, "all", now=0)
    bad = pack("a")
    bad.valid = False
    assert not evaluate(bad, lambda sql: 1, "any", now=0)


def test_decorators():
    answers = {"load": (["a", "n"], [("x", None)]),
               "always": (["b", "f"], [(1, 2.0), (9, 9.0)]),
               "interval": (["c"], [("i",)]),
               "empty": (["a"], []),
               "fail": None}

    def run(sql):
        if answers[sql] is None:
            raise RuntimeError("boom")
        return answers[sql]

    d = Decorators({"load": ["load", "fail"], "always": ["always", "empty"], "interval": {"120": ["interval"]}})
    d.run_load(run)
    assert d.current() == {"a": "x", "n": ""}
    d.run_always(run)
    d.run_interval(120, run)
    assert d.current() == {"a": "x", "b": "1", "c": "i", "f": "2.0", "n": ""}
    assert list(d.current()) == sorted(d.current())
