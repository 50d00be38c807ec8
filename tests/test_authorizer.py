"""osquery's SQL authorizer (osqlite.authorizer) on real connections.

The lists are osquery's (osquery/sql/sqlite_util.h); the checks here are
what a config author can try: ATTACH to write a file, DDL beyond tables and
views, pragmas, and writes to osqlite's own tables.
"""
from __future__ import annotations

import logging

import pytest

import osqlite
from osqlite._sqlite import sqlite3
from osqlite.authorizer import Guard, policy


@pytest.fixture
def guarded():
    conn = osqlite.connect()
    guard = Guard(conn)
    yield conn, guard
    conn.close()


def denied(conn, sql, *params):
    with pytest.raises(sqlite3.DatabaseError, match="not authorized|authorization denied|is prohibited"):
        conn.execute(sql, params).fetchall()


def test_attach_cannot_create_a_file(guarded, tmp_path, caplog):
    conn, guard = guarded
    target = tmp_path / "pwn.db"
    with caplog.at_level(logging.ERROR, logger="osqlite.authorizer"):
        with guard.enforced():
            denied(conn, "ATTACH DATABASE ? AS pwn", str(target))
            denied(conn, f"ATTACH '{target}' AS pwn")
    assert not target.exists()
    assert "Authorizer denied action 24" in caplog.text
    # osqlite's own code (outside enforced) may still attach.
    conn.execute("ATTACH DATABASE ':memory:' AS scratch")


def test_allowed_like_osquery(guarded):
    conn, guard = guarded
    with guard.enforced():
        assert conn.execute("SELECT count(*) FROM osqlite_tables").fetchone()[0] > 10
        conn.execute("CREATE TABLE t(a)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("UPDATE t SET a = 2")
        conn.execute("CREATE VIEW v AS SELECT a FROM t")
        conn.execute("CREATE TEMP TABLE tt(b)")
        conn.execute("CREATE TEMP VIEW tv AS SELECT 1")
        conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c "
                     "WHERE x < 3) SELECT * FROM c").fetchall()
        conn.commit()
        conn.execute("BEGIN")
        conn.execute("COMMIT")
        assert conn.execute("PRAGMA table_info(t)").fetchall()
        conn.execute("PRAGMA case_sensitive_like = 1")
        conn.execute("SELECT * FROM pragma_function_list").fetchall()
        conn.execute("DELETE FROM t")
        conn.execute("DROP VIEW v")
        conn.execute("DROP TABLE t")


@pytest.mark.parametrize("sql", [
    "CREATE INDEX i ON t(a)",
    "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
    "ALTER TABLE t ADD COLUMN b",
    "ANALYZE",
    "VACUUM",
    "REINDEX i0",
    "SAVEPOINT s",
    "DETACH DATABASE temp",
    "PRAGMA writable_schema = 1",
    "PRAGMA temp_store_directory = '/tmp'",
    "PRAGMA database_list",
])
def test_denied_like_osquery(guarded, sql):
    conn, guard = guarded
    conn.execute("CREATE TABLE t(a)")
    conn.execute("CREATE INDEX i0 ON t(a)")
    conn.commit()
    with guard.enforced():
        denied(conn, sql)


def test_osqlite_state_is_read_only(guarded):
    """The daemon's backing tables and attached stores: readable, not writable."""
    conn, guard = guarded
    conn.execute("CREATE TEMP TABLE osqlite_data_osquery_info(pid)")
    conn.execute("INSERT INTO temp.osqlite_data_osquery_info VALUES (42)")
    conn.execute("ATTACH DATABASE ':memory:' AS osqlite_events")
    conn.execute("CREATE TABLE osqlite_events.osqlite_data_ev(x)")
    # The daemon's state shares the event store's file: the node key is there.
    conn.execute("CREATE TABLE osqlite_events.kv(key, value)")
    conn.execute("INSERT INTO osqlite_events.kv VALUES ('node_key', 'secret')")
    with guard.enforced():
        assert conn.execute("SELECT pid FROM osquery_info").fetchone() == (42,)
        assert conn.execute("SELECT count(*) FROM osqlite_events.osqlite_data_ev"
                            ).fetchone() == (0,)
        denied(conn, "SELECT value FROM osqlite_events.kv")
        denied(conn, "SELECT key FROM osqlite_events.kv")
        denied(conn, "DELETE FROM temp.osqlite_data_osquery_info")
        denied(conn, "DROP TABLE temp.osqlite_data_osquery_info")
        denied(conn, "INSERT INTO osqlite_events.osqlite_data_ev VALUES (1)")
        denied(conn, "CREATE TABLE osqlite_events.more(x)")
    conn.execute("DELETE FROM temp.osqlite_data_osquery_info")   # the daemon itself may


def test_statement_cached_while_permissive_is_checked_again(guarded):
    conn, guard = guarded
    sql = "ATTACH DATABASE ':memory:' AS again"
    conn.execute(sql)                       # cached by the sqlite3 module, allowed
    conn.execute("DETACH DATABASE again")
    with guard.enforced():
        denied(conn, sql)
    conn.execute(sql)


def test_policy_codes():
    assert policy(sqlite3.SQLITE_SELECT, None, None, None, None) == sqlite3.SQLITE_OK
    assert policy(sqlite3.SQLITE_ATTACH, "/x", None, None, None) == sqlite3.SQLITE_DENY
    assert policy(sqlite3.SQLITE_PRAGMA, "TABLE_INFO", "t", "main", None) == sqlite3.SQLITE_OK
    assert policy(sqlite3.SQLITE_PRAGMA, "cache_size", None, "main", None) == sqlite3.SQLITE_DENY
