"""osqueryi run as users run it: one-shot SQL, SQL on standard input, flags,
meta-commands, exit statuses, configs (packs, schedule, views,
auto_table_construction), foreign tables, and bytes that are not UTF-8.

Every test runs the real shell (python -m osqlite.shell) as a subprocess and
compares its exact output bytes; the interactive terminal is tested in
test_shell_e2e.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from osqlite._sqlite import sqlite3

REPO = Path(__file__).resolve().parent.parent


def shell(*args: str, stdin: bytes | None = None, home: Path | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, TERM="dumb")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "osqlite.shell", *args], input=stdin or b"",
                          capture_output=True, env=env, timeout=60, cwd=cwd or REPO)


def out(*args: str, stdin: bytes | None = None) -> bytes:
    r = shell(*args, stdin=stdin)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


# -- one-shot output, byte for byte -----------------------------------------------------

def test_json_and_json_pretty_select_0():
    # osquery: tools/tests/test_osqueryi.py test_json_output / test_json_pretty_output
    assert out("--json", "select 0") == b'[\n  {"0":"0"}\n]\n'
    assert out("select 0", "--json_pretty") == b'[\n  {\n    "0": "0"\n  }\n]\n'


def test_every_mode_of_one_query():
    sql = "select 1 as a, 'two words' as b, NULL as c"
    assert out(sql) == (b"+---+-----------+---+\n| a | b         | c |\n+---+-----------+---+\n"
                        b"| 1 | two words |   |\n+---+-----------+---+\n")
    assert out("--line", sql) == b"    a = 1\n    b = two words\n    c = \n"
    assert out("--list", sql) == b"a|b|c\n1|two words|\n"
    assert out("--csv", sql) == b'a|b|c\n1|"two words"|\n'   # osquery: --separator wins
    assert out("--csv", "--separator=,", sql) == b'a,b,c\n1,"two words",\n'
    assert out("--list", "--header=false", "--separator", ";", sql) == b"1;two words;\n"
    assert out("--list", "--nullvalue=NULL", sql) == b"a|b|c\n1|two words|NULL\n"
    assert out("--json", "--nullvalue=-", sql) == b'[\n  {"a":"1","b":"two words","c":"-"}\n]\n'
    # Flags after the SQL, and no row means no table at all.
    assert out("select 1 where 0", "--header=false") == b""


def test_values_print_as_sqlite_text():
    got = out("--list", "--header=false",
              "select 1.0, 1e20, 0.1, -2.5e-7, 9007199254740993, 'é', x'41'")
    assert got == "1.0|1.0e+20|0.1|-2.5e-07|9007199254740993|é|A\n".encode()


def test_bytes_that_are_not_utf8_print_escaped_and_never_abort():
    sql = "select cast(x'66ff6f' as text) as t, x'41004243' as b, 'ok' as o"
    assert out("--list", sql) == b"t|b|o\nf\\xFFo|A\\x00BC|ok\n"
    doc = json.loads(out("--json", sql))
    assert doc == [{"t": "f\\xFFo", "b": "A\\x00BC", "o": "ok"}]
    # A statement whose text is not UTF-8 fails alone; the next one runs.
    r = shell("--list", stdin=b"select '\xff';\nselect 2;\n")
    assert r.returncode == 1
    assert r.stdout == b"2\n2\n"
    assert b"Error: near line 1: the SQL text is not valid UTF-8" in r.stderr


def test_sql_on_stdin_several_statements_and_no_final_semicolon():
    r = shell("--list", stdin=b"select 1 as a;\nselect 2 as b; select 3 as b;\nselect\n4 as c")
    assert r.returncode == 0
    assert r.stdout == b"a\n1\nb\n2\nb\n3\nc\n4\n"
    # pretty: the statements of one input share one box, as in osqueryi.
    assert out(stdin=b"select 1 as a; select 2 as a;") == (
        b"+---+\n| a |\n+---+\n| 1 |\n| 2 |\n+---+\n")


def test_errors_and_exit_statuses():
    r = shell("select * from no_such_table")
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", b"Error: no such table: no_such_table\n")
    r = shell("select * from file")
    assert r.returncode == 19          # SQLITE_CONSTRAINT, as osqueryi exits
    assert r.stderr.startswith(b"Error: Table file was queried without a required column")
    assert b"path or directory" in r.stderr and b"WHERE path = " in r.stderr
    r = shell("--list", stdin=b"select 1;\nselect nope;\nselect 2;\n")
    assert r.returncode == 1
    assert r.stdout == b"1\n1\n2\n2\n"
    assert r.stderr == b'Error: near line 2: no such column: nope\n'
    r = shell("--list", stdin=b".bail on\nselect nope;\nselect 2;\n")
    assert r.returncode == 1 and r.stdout == b""


def test_A_L_and_positional_meta_commands():
    r = shell("-A", "time", "--line")
    assert r.returncode == 0
    names = [ln.split(b" = ")[0].strip() for ln in r.stdout.splitlines()]
    assert names[:3] == [b"weekday", b"year", b"month"] and b"unix_time" in names
    listed = out("-L").decode().splitlines()
    assert "  => processes" in listed and "  => time" in listed
    assert listed == sorted(listed)
    assert out(".tables osquery_i").decode().splitlines() == ["  => osquery_info"]
    assert out(".schema time").startswith(b"CREATE TABLE time(`weekday` TEXT, `year` INTEGER, ")
    assert out(".schema processes").endswith(b", PRIMARY KEY (`pid`)) WITHOUT ROWID;\n")
    r = shell(".nope")
    assert (r.returncode, r.stderr) == (
        1, b'Error: unknown command or invalid arguments:  "nope". Enter ".help" for help\n')
    r = shell("-A", "no_such_table")
    assert r.returncode != 0 and r.stderr == b"Error querying table: no_such_table\n"


def test_meta_commands_on_stdin():
    script = b"""\
.mode list
.headers off
.print hello "two words"
.separator ::
select 1, 2;
.nullvalue NIL
select NULL, 'x';
.mode csv
select 'a b', 3;
.mode line
select 5 as five;
.mode column
.width 2 -3
select 1 as a, 2 as b;
.mode bogus
.echo on
select 7;
.echo off
.exit
select 'not reached';
"""
    r = shell(stdin=script)
    assert r.returncode == 1           # .mode bogus counted as an error
    assert r.stdout == (b"hello two words\n"
                        b"1::2\n"
                        b"NIL::x\n"
                        b'"a b",3\n'
                        b" five = 5\n"
                        b"1     2\n"
                        b"select 7;\n7 \n"        # still column mode, width 2
                        b".echo off\n")
    assert r.stderr == b"Error: mode should be one of: column csv line list pretty\n"


def test_show_features_version_types_timer_help():
    r = shell(stdin=b".show\n.features\n.version\n.types select 1 as a, 'x' as b, pid, name "
                    b"from processes;\n.timer on\nselect 1;\n.help\n")
    text = r.stdout.decode()
    assert "Shell settings:" in text and "         mode: pretty" in text
    assert '    separator: "|"' in text and "disable_logging: true" in text
    assert "\nNon-default flags/options:\n" in text
    assert "using SQLite " + sqlite3.sqlite_version in text
    types = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert types[:5] == ["| name | type    |", "| a    | INTEGER |", "| b    | TEXT    |",
                         "| pid  | BIGINT  |", "| name | TEXT    |"]
    assert "Run Time: real " in text
    assert r.stderr.decode().startswith("Welcome to the osquery shell. Please explore your OS!")


def test_query_query_file_output_and_planner(tmp_path):
    assert out("--query", "select 3 as x", "--list") == b"x\n3\n"
    q = tmp_path / "q.sql"
    q.write_text("select 4 as y;")
    assert out("--query_file", str(q), "--list") == b"y\n4\n"
    target = tmp_path / "out.txt"
    r = shell("--list", f"--output={target}", "select 5 as z")
    assert r.returncode == 0 and r.stdout == b"" and target.read_bytes() == b"z\n5\n"
    r = shell("--planner", "select pid from processes where pid = 1")
    assert r.returncode == 0
    assert b"osquery planner: SCAN processes VIRTUAL TABLE INDEX" in r.stderr
    r = shell("--query_file", str(tmp_path / "missing.sql"))
    assert r.returncode == 1 and b"Error reading query file" in r.stderr


def test_unknown_flag_and_connect_to_nothing(tmp_path):
    r = shell("--no_such_flag", "select 1")
    assert r.returncode == 1 and b"unknown command line flag 'no_such_flag'" in r.stderr
    missing = tmp_path / "x.em"
    r = shell(f"--connect={missing}", "select 1")
    assert r.returncode == 1
    assert r.stderr == (f"Error: Extension call failed: the extension manager at {missing} is "
                        f"not running (no socket at {missing})\n").encode()


# -- configs ----------------------------------------------------------------------------

@pytest.fixture
def config(tmp_path):
    db = tmp_path / "app.db"
    c = sqlite3.connect(db)
    c.execute("create table items(id integer, label text, price real)")
    c.executemany("insert into items values (?, ?, ?)", [(1, "one", 1.5), (2, "two", None)])
    c.commit()
    c.close()
    (tmp_path / "other.db").write_bytes(b"")          # not a database: no rows, no error
    cfg = {
        "schedule": {"uptime_q": {"query": "select total_seconds from uptime", "interval": 60},
                     "from_view": {"query": "select id from labelled", "interval": 120}},
        "packs": {"tools": {"queries": {
            "b_items": {"query": "select id, label from app_items order by id", "interval": 10},
            "a_time": {"query": "select 'pack' as src", "interval": 10}}}},
        "views": {"labelled": "select id, label from app_items where label is not null"},
        "auto_table_construction": {
            "app_items": {"query": "select id, label, price from items",
                          "path": str(tmp_path / "%.db"),
                          "columns": ["id", "label", "price"], "platform": "linux"},
            "windows_only": {"query": "select 1", "path": "/x", "columns": ["a"],
                             "platform": "windows"},
            "broken": {"query": "select 1", "path": "/x"}},
    }
    path = tmp_path / "osquery.conf"
    path.write_text(json.dumps(cfg))
    return path


def test_atc_view_schedule_and_packs_in_the_shell(config, tmp_path):
    flag = f"--config_path={config}"
    r = shell(flag, "--json", "select * from app_items order by id")
    assert json.loads(r.stdout) == [
        {"id": "1", "label": "one", "price": "1.500000", "path": str(tmp_path / "app.db")},
        {"id": "2", "label": "two", "path": str(tmp_path / "app.db"), "price": ""}]
    assert b"ATC Table: Skipping broken because it is misconfigured (no columns)" in r.stderr
    assert out(flag, "--list", "select * from labelled") == b"id|label\n1|one\n2|two\n"
    tables = out(flag, "--list", "--header=false",
                 "select name, origin from osqlite_tables where origin in ('atc', 'view') "
                 "order by name").decode().splitlines()
    assert tables == ["app_items|atc", "labelled|view"]
    assert "  => app_items" in out(flag, "-L").decode().splitlines()
    assert out(flag, ".schema app_items") == (
        b"CREATE TABLE app_items(`id` TEXT, `label` TEXT, `price` TEXT, `path` TEXT);\n")
    assert out(flag, "--list", "--header=false", "select registry, internal from osquery_registry "
               "where name = 'app_items'") == b"table|1\n"
    sched = out(flag, "--list", "--header=false",
                "select name, interval from osquery_schedule order by name").decode().splitlines()
    assert sched == ["from_view|120", "pack_tools_a_time|10", "pack_tools_b_items|10", "uptime_q|60"]
    assert b"tools|" in out(flag, "--list", "select name, active from osquery_packs")
    # --pack runs every query of the pack in name order, each its own table.
    assert out(flag, "--pack", "tools", "--list") == b"src\npack\nid|label\n1|one\n2|two\n"


def test_bad_configs_leave_a_working_shell(tmp_path):
    for bad in (tmp_path, tmp_path / "missing.conf", tmp_path / "bad.conf"):
        (tmp_path / "bad.conf").write_text('{"schedule": {"x": {"query": "select", }')
        r = shell(f"--config_path={bad}", "--list", "--header=false", "select 41 + 1")
        assert r.returncode == 0 and r.stdout == b"42\n"
        assert b"Error reading config: " in r.stderr and str(bad).encode() in r.stderr


def test_config_check_and_dump_as_in_the_daemon(config, tmp_path):
    r = shell(f"--config_path={config}", "--config_check")
    assert r.returncode == 0, r.stderr
    # osquery's shape: {"<source>": <raw text>} per source.
    [(source, raw)] = json.loads(shell(f"--config_path={config}", "--config_dump").stdout).items()
    assert source == str(config)
    assert raw["views"] == {"labelled": "select id, label from app_items where label is not null"}
    bad = tmp_path / "bad.conf"
    bad.write_text('{"schedule": {"x": {"query": "select * from nowhere", "interval": 5}}}')
    r = shell(f"--config_path={bad}", "--config_check")       # bad SQL: reported, as osquery
    assert r.returncode == 0 and b"does not compile" in r.stderr and b"nowhere" in r.stderr
    r = shell(f"--config_path={bad}", "--config_check_strict")
    assert r.returncode == 1 and b"Error reading config" in r.stderr and b"nowhere" in r.stderr


def test_enable_foreign_tables(tmp_path):
    count = "select count(*) from osquery_registry where registry = 'table'"
    before = int(out("--list", "--header=false", count))
    after = int(out("--enable_foreign", "--list", "--header=false", count))
    spec = json.loads((REPO / "specs" / "osquery-foreign-tables.json").read_text())["tables"]
    names = set(spec) | {a for t in spec.values() for a in t.get("table_aliases", [])}
    assert after - before == len(names)
    r = shell("select * from apps")
    assert r.returncode == 1 and b"no such table: apps" in r.stderr
    assert out("--enable_foreign", "select * from apps") == b""
    assert out("--enable_foreign", ".schema apps").startswith(b"CREATE TABLE apps(`name` TEXT, ")
    # A required column of a foreign table is required there too.
    r = shell("--enable_foreign", "select * from ntfs_acl_permissions")
    assert r.returncode == 19 and b"required column" in r.stderr
