"""yara_file, yara_process and the yara_events subscriber, with the real
libyara (Debian's libyara9/libyara10): rules given inline, as files, as
config groups and from URLs allowed by the config's signature_urls (served
on 127.0.0.1).  The yara command line tool is the oracle where installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
from conftest import rows
from http_fixture import ScriptedServer, http


def _have_yara() -> bool:
    return any(os.path.exists(os.path.join(d, f"libyara.so.{v}"))
               for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib")
               for v in (9, 10))


pytestmark = pytest.mark.skipif(not _have_yara(),
                                reason="libyara is absent (Debian package libyara10 / libyara9)")

RULES = ('rule evil_rule : tagA tagB { strings: $a = "evil" condition: $a }\n'
         'rule zip_rule { strings: $pk = { 50 4B 03 04 } condition: $pk at 0 }\n')


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setenv("OSQLITE_YARA_DELAY", "0")


def _config(conn, doc) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS osqlite_config(key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT OR REPLACE INTO temp.osqlite_config VALUES ('yara', ?)", (json.dumps(doc),))


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "scan"
    d.mkdir()
    (d / "bad.txt").write_text("this is evil content\n")
    (d / "good.txt").write_text("clean\n")
    (d / "a.zip").write_bytes(b"PK\x03\x04" + os.urandom(100))
    (d / "binary").write_bytes(os.urandom(4096) + b"evil" + b"\xff" * 10)
    os.mkfifo(d / "fifo")
    return d


def test_yara_file_inline_rule(conn, files):
    got = {os.path.basename(r["path"]): r for r in rows(
        conn, "SELECT * FROM yara_file WHERE path LIKE ? AND sigrule = ?", str(files) + "/%", RULES)}
    assert set(got) == {"bad.txt", "good.txt", "a.zip", "binary"}   # the FIFO is not opened
    assert got["bad.txt"]["matches"] == "evil_rule" and got["bad.txt"]["count"] == 1
    assert got["bad.txt"]["tags"] == "tagA,tagB"
    assert got["a.zip"]["matches"] == "zip_rule" and got["a.zip"]["tags"] == ""
    assert got["good.txt"] == dict(got["good.txt"], matches="", count=0, sig_group="", sigfile="")
    if shutil.which("yara"):
        rule = files.parent / "r.yar"
        rule.write_text(RULES)
        out = subprocess.run(["yara", str(rule), "-r", str(files)], capture_output=True,
                             text=True).stdout.split("\n")
        want = {}
        for line in filter(None, out):
            name, path = line.split(" ", 1)
            want.setdefault(os.path.basename(path), []).append(name)
        assert {k: v["matches"].split(",") for k, v in got.items() if v["matches"]} == want


def test_yara_file_sigfile_and_group(conn, files, tmp_path):
    rule = tmp_path / "rules.yar"
    rule.write_text(RULES)
    r = rows(conn, "SELECT matches, sigfile FROM yara_file WHERE path = ? AND sigfile = ?",
             str(files / "bad.txt"), str(rule))
    assert r == [{"matches": "evil_rule", "sigfile": str(rule)}]
    if shutil.which("yarac"):
        compiled = tmp_path / "rules.yarc"
        subprocess.run(["yarac", str(rule), str(compiled)], check=True)
        r = rows(conn, "SELECT matches FROM yara_file WHERE path = ? AND sigfile = ?",
                 str(files / "a.zip"), str(compiled))
        assert r == [{"matches": "zip_rule"}]
    other = tmp_path / "other.yar"
    other.write_text('rule clean_rule { strings: $c = "clean" condition: $c }')
    _config(conn, {"signatures": {"g1": [str(rule), str(other)]}})
    got = {os.path.basename(x["path"]): x["matches"] for x in rows(
        conn, "SELECT path, matches FROM yara_file WHERE path LIKE ? AND sig_group = 'g1'",
        str(files) + "/%.txt")}
    assert got == {"bad.txt": "evil_rule", "good.txt": "clean_rule"}
    # no rule source at all: no rows, as osquery
    assert rows(conn, "SELECT * FROM yara_file WHERE path = ?", str(files / "bad.txt")) == []
    # a broken rule or an unknown group compiles to nothing: no rows
    assert rows(conn, "SELECT * FROM yara_file WHERE path = ? AND sigrule = 'rule {'",
                str(files / "bad.txt")) == []
    assert rows(conn, "SELECT * FROM yara_file WHERE path = ? AND sig_group = 'nope'",
                str(files / "bad.txt")) == []


def test_yara_sigurl_allow_list(conn, files):
    srv = ScriptedServer()
    srv.route("/rules/evil.yar", http(200, RULES.encode()))
    srv.route("/other/evil.yar", http(200, RULES.encode()))
    with srv:
        _config(conn, {"signature_urls": [srv.base + "/rules/.*\\.yar"]})
        ok = rows(conn, "SELECT matches, sigurl FROM yara_file WHERE path = ? AND sigurl = ?",
                  str(files / "bad.txt"), srv.base + "/rules/evil.yar")
        denied = rows(conn, "SELECT matches FROM yara_file WHERE path = ? AND sigurl = ?",
                      str(files / "bad.txt"), srv.base + "/other/evil.yar")
        other_host = rows(conn, "SELECT matches FROM yara_file WHERE path = ? AND sigurl = ?",
                          str(files / "bad.txt"),
                          srv.base.replace("127.0.0.1", "localhost") + "/rules/evil.yar")
    assert ok == [{"matches": "evil_rule", "sigurl": srv.base + "/rules/evil.yar"}]
    assert denied == [] and other_host == []
    fetched = [t for _, t, _, _ in srv.requests]
    assert fetched == ["/rules/evil.yar"]   # a denied URL is never requested


def test_yara_process(conn):
    marker = "osqlite-yara-marker-" + os.urandom(6).hex()
    child = subprocess.Popen([sys.executable, "-c",
                              f"import time; s = {marker!r} * 3; time.sleep(60)"])
    try:
        time.sleep(0.5)
        rule = f'rule marker {{ strings: $m = "{marker}" condition: $m }}'
        got = rows(conn, "SELECT pid, matches, count FROM yara_process WHERE pid IN (?, ?) AND sigrule = ?",
                   child.pid, 999999999, rule)
    finally:
        child.kill()
        child.wait()
    assert got == [{"pid": child.pid, "matches": "marker", "count": 1}]


def test_yara_events_subscriber(files, tmp_path):
    from osqlite.events.yara import YaraSubscriber
    rule = tmp_path / "rules.yar"
    rule.write_text(RULES)
    out: list[tuple[str, dict]] = []
    done = threading.Event()

    def emit(table, row):
        out.append((table, row))
        done.set()

    sub = YaraSubscriber(emit)
    sub.configure({"signatures": {"g": [str(rule)]}, "file_paths": {"tmp": ["g"]}})
    sub.start()
    try:
        base = {"category": "tmp", "transaction_id": 0}
        sub.on_event("file_events", dict(base, target_path=str(files / "good.txt"), action="CREATED"))
        sub.on_event("file_events", dict(base, target_path=str(files / "bad.txt"), action="DELETED"))
        sub.on_event("file_events", dict(base, category="other", target_path=str(files / "bad.txt"),
                                         action="UPDATED"))
        sub.on_event("process_events", {"path": str(files / "bad.txt")})
        sub.on_event("file_events", dict(base, target_path=str(files / "bad.txt"), action="UPDATED"))
        assert done.wait(30)
        time.sleep(0.5)
    finally:
        sub.stop()
    assert out == [("yara_events", {"target_path": str(files / "bad.txt"), "category": "tmp",
                                    "action": "UPDATED", "transaction_id": 0, "matches": "evil_rule",
                                    "count": 1, "strings": "", "tags": "tagA,tagB"})]


def test_asan(files, tmp_path, monkeypatch, asan_driver):
    from asan_helper import run_asan
    rule = tmp_path / "rules.yar"
    rule.write_text(RULES)
    (tmp_path / "junk.yar").write_bytes(os.urandom(3000))
    monkeypatch.setenv("OSQLITE_CONFIG_YARA", json.dumps(
        {"signatures": {"g": [str(rule), str(tmp_path / "junk.yar"), "/nonexistent"], "h": 5},
         "signature_urls": ["http://127.0.0.1:9/(((", 3]}))
    rules_sql = RULES.replace("'", "''")
    out = run_asan(None,
                   f"SELECT * FROM yara_file WHERE path LIKE '{files}/%' AND sigrule = '{rules_sql}'",
                   f"SELECT * FROM yara_file WHERE path LIKE '{files}/%' AND sig_group IN ('g', 'h', 'x')",
                   f"SELECT * FROM yara_file WHERE path = '{files}/bad.txt' AND sigfile = '{tmp_path}/junk.yar'",
                   f"SELECT * FROM yara_file WHERE path = '{files}/bad.txt' "
                   "AND sigurl = 'http://127.0.0.1:9/(((x'",
                   f"SELECT * FROM yara_process WHERE pid = {os.getpid()} AND sigrule = '{rules_sql}'")
    assert "0 statement(s) failed" in out
