"""Config views and auto_table_construction tables on real connections, the
osqlite_atc module's rows from real SQLite files, and the daemon's config
loading with them (osquery: plugins/config/parsers/auto_constructed_tables.cpp,
views.cpp, osquery/sql/virtual_sqlite_table.cpp)."""
from __future__ import annotations

import os

import pytest

import osqlite
from osqlite._sqlite import sqlite3
from osqlite.config import Loader
from osqlite.config_tables import ConfigTables, Installer, plan
from osqlite.daemon import Daemon, validator
from osqlite.flags import Flags


@pytest.fixture
def dbs(tmp_path):
    """Two databases that match a pattern, one WAL, and files that must be skipped."""
    for name, rows in (("a.db", [(1, "one", 2.5)]), ("b.db", [(2, "two", None)])):
        c = sqlite3.connect(tmp_path / name)
        if name == "b.db":
            c.execute("PRAGMA journal_mode=wal")
        c.execute("create table t(id integer, label text, ratio real)")
        c.executemany("insert into t values (?, ?, ?)", rows)
        c.commit()
        c.close()
    (tmp_path / "junk.db").write_bytes(b"not a database at all")
    os.mkfifo(tmp_path / "fifo.db")                       # must never be opened (it would block)
    (tmp_path / "link.db").symlink_to(tmp_path / "a.db")  # never followed
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    c = sqlite3.connect(sub / "c.sqlite")
    c.execute("create table t(id integer, label text, ratio real)")
    c.execute("insert into t values (3, 'three', 0.125)")
    c.commit()
    c.close()
    return tmp_path


def atc(name, query, path, columns):
    return {name: {"query": query, "path": path, "columns": columns}}


def test_atc_rows_types_and_path(conn, dbs):
    warnings = []
    p = plan({}, atc("t", "select id, label, ratio from t", str(dbs / "%.db"),
                     ["id", "label", "ratio"]), warnings.append)
    Installer(warnings.append).install(conn, p)
    rows = sorted(conn.execute("select id, label, ratio, path from t"))
    assert rows == [("1", "one", "2.500000", str(dbs / "a.db")),
                    ("2", "two", None, str(dbs / "b.db"))]
    assert warnings == []
    # Declared columns: all TEXT, the implicit path last.
    assert conn.execute("select group_concat(name || ':' || type) from osqlite_columns "
                        "where table_name = 't'").fetchone()[0] == \
        "id:TEXT,label:TEXT,ratio:TEXT,path:TEXT"


def test_atc_recursive_pattern_and_own_path_column(conn, dbs):
    warnings = []
    p = plan({}, atc("deep", "select id, label as path from t", str(dbs / "deep" / "%%"),
                     ["id", "path"]), warnings.append)
    Installer().install(conn, p)
    # The query's own path wins over the file's (osquery: genSqliteTableRow).
    assert conn.execute("select * from deep").fetchall() == [("3", "three")]
    assert warnings == ["ATC Table: deep is misconfigured. The configuration includes `path`. "
                        "This is a reserved column name"]
    # Names match exactly: a declared PATH is not the query's path, and the
    # file name is not put there either.
    Installer().install(conn, plan({}, atc("deep2", "select id, label as path from t",
                                           str(dbs / "deep" / "%%"), ["id", "PATH"]), list))
    assert conn.execute("select * from deep2").fetchall() == [("3", None)]


def test_atc_misconfigurations_warn_like_osquery(conn):
    warnings = []
    p = plan({}, {
        "noq": {"path": "/x", "columns": ["a"]},
        "nocols": {"query": "select 1", "path": "/x"},
        "mac": {"query": "select 1", "path": "/x", "columns": ["a"], "platform": "darwin"},
        "processes": {"query": "select 1 as a", "path": "/x", "columns": ["a", 7]},
        "notanobject": 3,
    }, warnings.append)
    Installer(warnings.append).install(conn, p)
    assert warnings == [
        "ATC Table: Skipping noq because it is misconfigured (missing query or path)",
        "ATC Table: Skipping nocols because it is misconfigured (no columns)",
        "ATC Table: processes is misconfigured. (non-string column)",
        "ATC Table: processes overrides core table; Refusing registration",
    ]
    # processes is still the real table.
    assert conn.execute("select count(*) from processes where pid = 1").fetchone()[0] == 1


def test_views_install_change_and_drop(conn, dbs):
    inst = Installer()
    tables = atc("t", "select id, label from t", str(dbs / "a.db"), ["id", "label"])
    inst.install(conn, plan({"v": "select label from t", "bad": "select nope from t"}, tables))
    assert conn.execute("select * from v").fetchall() == [("one",)]
    assert conn.execute("select name, origin from osqlite_tables where origin in ('atc', 'view') "
                        "order by name").fetchall() == [("bad", "view"), ("t", "atc"), ("v", "view")]
    # As in SQLite and osquery, a view's columns are checked when it is read.
    with pytest.raises(sqlite3.OperationalError, match="no such column: nope"):
        conn.execute("select * from bad")
    # Change the view, drop the table's entry: the view that read it goes with it.
    inst.install(conn, plan({"v": "select 42 as answer"}, {}))
    assert conn.execute("select * from v").fetchall() == [(42,)]
    with pytest.raises(sqlite3.OperationalError, match="no such table: t"):
        conn.execute("select * from t")
    inst.install(conn, plan({}, {}))
    assert conn.execute("select count(*) from osqlite_tables where origin in ('atc', 'view')"
                        ).fetchone()[0] == 0


def test_view_named_like_a_table_is_refused(conn):
    warnings = []
    Installer(warnings.append).install(conn, plan({"users": "select 1"}, {}))
    assert warnings == ["Error creating view (users): a table or view of that name exists"]
    assert conn.execute("select count(*) from users where uid = 0").fetchone()[0] == 1


def test_loader_declares_views_before_checking_the_schedule(dbs):
    conn = osqlite.connect()
    hook = ConfigTables()
    loader = Loader(validate=validator(conn), declare=lambda cfg: hook.declare(None, conn, cfg))
    text = ('{"auto_table_construction": {"t": {"query": "select id from t", "path": "%s",'
            ' "columns": ["id"]}}, "views": {"ids": "select id from t"},'
            ' "schedule": {"q": {"query": "select * from ids", "interval": 10}}}'
            % (dbs / "a.db"))
    cfg = loader.load_text(text)
    assert [q.name for q in cfg.schedule] == ["q"]
    assert cfg.views == {"ids": "select id from t"}


def test_daemon_connections_get_the_tables_and_foreign_ones(dbs, tmp_path):
    conf = tmp_path / "osquery.conf"
    conf.write_text('{"views": {"v": "select label from t"}, "auto_table_construction": '
                    '{"t": {"query": "select label from t", "path": "%s", "columns": ["label"]}},'
                    ' "schedule": {"q": {"query": "select * from v", "interval": 10}}}'
                    % (dbs / "a.db"))
    flags = Flags()
    flags.parse_argv([f"--config_path={conf}", "--enable_foreign", "--disable_database"])
    d = Daemon(flags)
    d.hooks.append(ConfigTables())
    d.apply_config(d.read_config(), options_applied=True)
    worker = d.new_connection()
    d.refresh_backing(worker)
    assert worker.execute("select * from v").fetchall() == [("one",)]
    assert worker.execute("select count(*) from apps").fetchone()[0] == 0
    assert worker.execute("select count(*) from osquery_registry where name in ('t', 'apps')"
                          ).fetchone()[0] == 2
