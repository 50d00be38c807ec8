"""The interactive shell on a real pseudo-terminal (pexpect), and config
tables in the real daemon.

pexpect drives ``python -m osqlite.shell`` as a user at a terminal would:
prompts, continuation lines, every meta-command returning to the prompt, a
query error, ``.all time``, Ctrl-C during a long query, tab completion and
the history file.  pexpect is the test extra for this: it runs the child on
a pty, which is what makes stdin a terminal (readline, the banner, history).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from daemon_harness import Daemon, wait_for

from osqlite._sqlite import sqlite3

pexpect = pytest.importorskip("pexpect", reason="pexpect is in the test extras: pip install -e '.[test]'")

REPO = Path(__file__).resolve().parent.parent
PROMPT = "osquery> "
CONT = "    ...> "
# A query that runs until it is interrupted (a recursive CTE never ends).
ENDLESS = ("select count(*) from (with recursive c(x) as (select 1 union all "
           "select x + 1 from c) select x from c);")


@pytest.fixture
def osqueryi(tmp_path):
    children = []

    def spawn(*args: str, term: str = "dumb"):
        env = dict(os.environ, TERM=term, HOME=str(tmp_path))
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        child = pexpect.spawn(sys.executable, ["-m", "osqlite.shell", *args], env=env,
                              cwd=str(REPO), encoding="utf-8", timeout=30,
                              dimensions=(50, 400))
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def run(child, line: str) -> str:
    """Send a line, wait for the next main prompt, return what came between."""
    child.sendline(line)
    child.expect_exact(PROMPT)
    return child.before


def test_banner_prompts_continuation_and_exit(osqueryi, tmp_path):
    child = osqueryi()
    child.expect_exact("Using a \x1b[1mvirtual database\x1b[0m. Need help, type '.help'")
    child.expect_exact(PROMPT)
    child.sendline("select 1 as a,")
    child.expect_exact(CONT)
    child.sendline("  'two' as b")
    child.expect_exact(CONT)
    child.sendline(";")
    child.expect_exact(PROMPT)
    assert "+---+-----+\r\n| a | b   |\r\n+---+-----+\r\n| 1 | two |" in child.before
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_every_meta_command_returns_to_the_prompt(osqueryi, tmp_path):
    # osquery: tools/tests/test_osqueryi.py test_meta_commands, plus the rest.
    commands = [
        ".help", ".all", ".all osquery_info", ".all this_table_does_not_exist", ".bail off",
        ".echo", ".echo on", ".echo off", ".features", ".header", ".header off", ".header on",
        ".headers on", ".mode", ".mode csv", ".mode column", ".mode line", ".mode list",
        ".mode pretty", ".mode this_mode_does_not_exists", ".nullvalue", '.nullvalue ""',
        ".print", ".print hello", ".schema osquery_info", ".schema this_table_does_not_exist",
        ".schema", ".separator", ".separator ,", ".separator |", ".show", ".summary", ".socket",
        ".tables osquery", ".tables osquery_info", ".tables this_table_does_not_exist",
        ".tables", ".list", ".trace", ".width", ".width 80", ".timer", ".timer on",
        ".timer off", ".timeout 100", ".version", ".connect /nonexistent", ".disconnect",
        ".types select 1 as one;", ".nosuchcommand",
    ]
    child = osqueryi()
    child.expect_exact(PROMPT)
    seen = {}
    for command in commands:
        seen[command] = run(child, command)
    assert 'Error: unknown command or invalid arguments:  "nosuchcommand". Enter ".help" for help' \
        in seen[".nosuchcommand"]
    assert "Error querying table: this_table_does_not_exist" in seen[".all this_table_does_not_exist"]
    assert "Welcome to the osquery shell" in seen[".help"]
    assert "  => osquery_info" in seen[".tables osquery"]
    assert "CREATE TABLE osquery_info(`pid` INTEGER, " in seen[".schema osquery_info"]
    assert "hello" in seen[".print hello"]
    assert "using SQLite " in seen[".version"]
    assert "| one  | INTEGER |" in seen[".types select 1 as one;"]
    # Still alive and answering after all of them.
    assert "| 2 |" in run(child, "select 2;")
    child.sendline(".quit")
    child.expect(pexpect.EOF)


def test_query_error_and_all_time(osqueryi):
    child = osqueryi()
    child.expect_exact(PROMPT)
    text = run(child, "select * from file;")
    assert "Error: Table file was queried without a required column in the WHERE clause" in text
    assert "Error: near line" not in text          # interactive: no line number
    text = run(child, ".all time")
    assert "| weekday " in text and "| unix_time " in text
    assert "Error querying table" not in text
    text = run(child, "selec 1;")
    assert 'Error: near "selec": syntax error' in text


def test_ctrl_c_interrupts_a_long_query_and_returns_to_the_prompt(osqueryi):
    child = osqueryi()
    child.expect_exact(PROMPT)
    child.sendline(ENDLESS)
    time.sleep(1.0)            # well inside the query (it never ends by itself)
    child.sendintr()
    child.expect_exact("Error: interrupted")
    child.expect_exact(PROMPT)
    assert "| 42 |" in run(child, "select 42;")
    # Ctrl-C at the prompt forgets a half-typed statement.
    child.sendline("select 1,")
    child.expect_exact(CONT)
    child.sendintr()
    child.expect_exact(PROMPT)
    assert "| 7 |" in run(child, "select 7;")


def test_history_is_written_and_read_back(osqueryi, tmp_path):
    child = osqueryi()
    child.expect_exact(PROMPT)
    run(child, "select 'first' as h;")
    run(child, ".mode line")
    child.sendeof()
    child.expect(pexpect.EOF)
    history = tmp_path / ".osquery" / ".history"
    assert history.read_text().splitlines() == ["select 'first' as h;", ".mode line"]
    assert (os.stat(history).st_mode & 0o777) == 0o600
    # The next shell has it: Up recalls the last line.
    child = osqueryi()
    child.expect_exact(PROMPT)
    child.send("\x1b[A")       # Up
    child.expect_exact(".mode line")
    child.sendline("")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)


def test_history_link_is_replaced_not_followed(osqueryi, tmp_path):
    (tmp_path / ".osquery").mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    (tmp_path / ".osquery" / ".history").symlink_to(victim)
    child = osqueryi()
    child.expect_exact(PROMPT)
    run(child, "select 1;")
    child.sendeof()
    child.expect(pexpect.EOF)
    assert victim.read_text() == "keep me\n"
    assert not (tmp_path / ".osquery" / ".history").is_symlink()


def test_tab_completion_of_keywords_tables_and_columns(osqueryi):
    child = osqueryi()
    child.expect_exact(PROMPT)
    child.send("selec\t")
    child.expect_exact("select")
    child.send(" resident_si\t")
    child.expect_exact("resident_size")
    child.send(" from processe\t")
    child.expect_exact("processes")
    child.sendline(" where pid = 1 and 0;")
    child.expect_exact(PROMPT)
    child.send(".tab\t")
    child.expect_exact(".tables")
    child.sendline("")
    child.expect_exact(PROMPT)


def test_colour_prompt_on_xterm_256color(osqueryi):
    child = osqueryi(term="xterm-256color")
    child.expect_exact("\x1b[38;5;147mosquery> \x1b[0m")
    child.sendline(".quit")
    child.expect(pexpect.EOF)


# -- views and auto_table_construction in the daemon -------------------------------------

def test_daemon_runs_scheduled_queries_on_a_view_and_an_atc_table(tmp_path):
    db = tmp_path / "inventory.db"
    c = sqlite3.connect(db)
    c.execute("create table machines(host text, cores integer)")
    c.executemany("insert into machines values (?, ?)", [("alpha", 4), ("beta", 8)])
    c.commit()
    c.close()
    config = {
        "auto_table_construction": {
            "inventory": {"query": "select host, cores from machines",
                          "path": str(tmp_path / "%.db"), "columns": ["host", "cores"]}},
        "views": {"big_hosts": "select host from inventory where cast(cores as integer) > 4"},
        "schedule": {
            "atc": {"query": "select host, cores, path from inventory", "interval": 1},
            "view": {"query": "select host from big_hosts", "interval": 1}},
    }
    d = Daemon(tmp_path, config, schedule_run_at_startup="true")
    check = d.run("--config_check")
    assert check.returncode == 0, check.stderr
    d.start()
    try:
        def results():
            path = d.logs / "osqueryd.results.log"
            if not path.exists():
                return None
            lines = [json.loads(x) for x in path.read_text().splitlines()]
            names = {x["name"] for x in lines}
            return lines if {"atc", "view"} <= names else None

        lines = wait_for(results, what="results of the atc and view queries", daemon=d)
    finally:
        d.stop()
    atc = sorted((x["columns"]["host"], x["columns"]["cores"], x["columns"]["path"])
                 for x in lines if x["name"] == "atc")
    assert atc == [("alpha", "4", str(db)), ("beta", "8", str(db))]
    assert [x["columns"] for x in lines if x["name"] == "view"] == [{"host": "beta"}]
