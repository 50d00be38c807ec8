"""The generic engine: push-down, IN lists, column skipping, the root
switch, and bad constraints (a SQL error or no rows, never a crash)."""
from __future__ import annotations

import pytest
from conftest import rows

from osqlite._sqlite import sqlite3


def test_equality_and_in_reach_the_generator(conn):
    # osqlite_columns pre-filters on table_name; SQLite re-checks, so the
    # answer must equal the unconstrained scan filtered in Python.
    everything = rows(conn, "SELECT table_name, name FROM osqlite_columns")
    want = [r for r in everything if r["table_name"] in ("etc_hosts", "hosts")]
    got = rows(conn, "SELECT table_name, name FROM osqlite_columns "
                     "WHERE table_name IN ('etc_hosts', 'hosts', 'no_such_table')")
    assert sorted(map(tuple, (r.values() for r in got))) == \
        sorted(map(tuple, (r.values() for r in want)))
    one = rows(conn, "SELECT name FROM osqlite_columns WHERE table_name = 'etc_hosts'")
    assert [r["name"] for r in one] == ["address", "hostnames", "pid_with_namespace"]


def test_in_list_from_a_subquery(conn):
    got = conn.execute(
        "SELECT count(*) FROM osqlite_columns WHERE table_name IN "
        "(SELECT name FROM osqlite_tables WHERE name LIKE 'osqlite_%')").fetchone()[0]
    total = conn.execute(
        "SELECT count(*) FROM osqlite_columns WHERE table_name LIKE 'osqlite_%'").fetchone()[0]
    assert got == total > 0


@pytest.mark.parametrize("value", ["NULL", "''", "x'00ff'", "1.5", "-1",
                                   "'" + "a" * 100000 + "'"])
def test_odd_constraint_values_give_no_rows(conn, value):
    assert conn.execute(
        f"SELECT * FROM osqlite_columns WHERE table_name = {value}").fetchall() == []


def test_hidden_columns_are_not_in_select_star_but_selectable(conn):
    cur = conn.execute("SELECT * FROM etc_hosts")
    assert [d[0] for d in cur.description] == ["address", "hostnames"]
    assert conn.execute("SELECT pid_with_namespace FROM etc_hosts").fetchall() is not None


def test_root_switch_reads_another_tree(conn, root, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text(
        "# comment\n10.0.0.1  alpha beta   # trailing\n\n::1 gamma\n10.0.0.2\n")
    root(tmp_path)
    assert rows(conn, "SELECT address, hostnames FROM etc_hosts") == [
        {"address": "10.0.0.1", "hostnames": "alpha beta"},
        {"address": "::1", "hostnames": "gamma"},
        {"address": "10.0.0.2", "hostnames": None},
    ]


def test_missing_root_gives_no_rows(conn, root):
    root("/nonexistent/osqlite/root")
    assert conn.execute("SELECT * FROM etc_hosts").fetchall() == []


def test_daemon_backed_tables_are_empty_until_provided(conn):
    assert conn.execute("SELECT * FROM osquery_schedule").fetchall() == []
    conn.execute("CREATE TEMP TABLE osqlite_data_osquery_schedule(name, query, interval, extra)")
    conn.execute("INSERT INTO osqlite_data_osquery_schedule VALUES ('q', 'SELECT 1', 60, 'x')")
    assert rows(conn, "SELECT name, query, interval, executions FROM osquery_schedule") == [
        {"name": "q", "query": "SELECT 1", "interval": 60, "executions": None}]


def test_tables_are_read_only(conn):
    with pytest.raises(sqlite3.Error):
        conn.execute("DELETE FROM etc_hosts")
    # Declared under another name (test_sqltools.py), still read-only.
    conn.execute("CREATE VIRTUAL TABLE x USING etc_hosts")
    with pytest.raises(sqlite3.Error):
        conn.execute("DELETE FROM x")
    with pytest.raises(sqlite3.Error):
        conn.execute("INSERT INTO x(address) VALUES ('127.0.0.2')")


def test_pid_with_namespace_reads_through_that_process_root(conn):
    import os
    pid = os.getpid()
    plain = conn.execute("SELECT address, hostnames FROM etc_hosts").fetchall()
    scoped = conn.execute(
        "SELECT address, hostnames, pid_with_namespace FROM etc_hosts "
        "WHERE pid_with_namespace = ?", (pid,)).fetchall()
    assert [r[:2] for r in scoped] == plain
    assert all(r[2] == pid for r in scoped)
    # A pid that does not exist has no root to read: no rows, no error.
    assert conn.execute(
        "SELECT * FROM etc_hosts WHERE pid_with_namespace = 2147483647").fetchall() == []
