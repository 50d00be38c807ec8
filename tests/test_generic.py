"""Generic tests over every registered table: the schema is osquery's, every
table runs, and every value has its column's declared type."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import osqlite

REPO = Path(__file__).resolve().parent.parent
SPEC = json.loads((REPO / "specs" / "osquery-linux-tables.json").read_text())["tables"]

# A constraint that satisfies each table's required columns, for SELECT *.
REQUIRED_INPUT = {
    "file": "path = '/etc/hosts'",
    "hash": "path = '/etc/hosts'",
    # Service-backed tables: closed loopback ports, no daemon behind the ids.
    "curl": "url = 'http://127.0.0.1:9/'",
    "curl_certificate": "hostname = '127.0.0.1:9'",
    "docker_container_fs_changes": "id = '0'",
    "docker_container_processes": "id = '0'",
    "docker_container_stats": "id = '0'",
    "lxd_instance_config": "name = 'x'",
    "magic": "path = '/etc/hosts'",
    "yara_file": "path = '/etc/hosts' AND sigrule = 'rule r { condition: true }'",
    "yara_process": "pid = 1 AND sigrule = 'rule r { condition: true }'",
    "lxd_instance_devices": "name = 'x'",
    "extended_attributes": "path LIKE '/usr/bin/%'",
    # Disk images are built by test_device_tables.py; here no device exists.
    "device_file": "device = '/nonexistent.img' AND partition = '2'",
    "device_hash": "device = '/nonexistent.img' AND partition = '2' AND inode = 12",
    "device_partitions": "device = '/nonexistent.img'",
}

PY_TYPES = {
    "TEXT": (str,),
    "DATETIME": (str, int),
    "INTEGER": (int,),
    "BIGINT": (int,),
    "UNSIGNED BIGINT": (int,),
    "DOUBLE": (float, int),
    "BLOB": (bytes,),
}


def _registered() -> list[dict]:
    conn = osqlite.connect()
    cur = conn.execute("SELECT name, origin FROM osqlite_tables ORDER BY name")
    out = [{"name": n, "origin": o} for n, o in cur.fetchall()]
    conn.close()
    return out


TABLES = _registered()
OSQUERY_TABLES = [t["name"] for t in TABLES if t["origin"] == "osquery"]
ALIASES = {a: name for name, spec in SPEC.items() for a in spec.get("table_aliases", [])}


def _columns(conn, table: str) -> list[dict]:
    cur = conn.execute(
        "SELECT name, type, hidden, required FROM osqlite_columns WHERE table_name = ? "
        "ORDER BY cid", (table,))
    return [dict(zip(("name", "type", "hidden", "required"), r)) for r in cur.fetchall()]


def test_schema_header_is_generated_from_the_spec():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "gen_schema.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("table", OSQUERY_TABLES)
def test_visible_schema_equals_osquery(conn, table):
    spec = SPEC[ALIASES.get(table, table)]
    want = [(c["name"], c["type"].replace("_", " ")) for c in spec["columns"]
            if "hidden" not in c["flags"]]
    got = [(c["name"], c["type"]) for c in _columns(conn, table) if not c["hidden"]]
    assert got == want
    # SQLite's own view of the declared table agrees (PRAGMA table_xinfo).
    info = conn.execute(f'PRAGMA table_xinfo("{table}")').fetchall()
    visible = [(r[1], r[2]) for r in info if r[6] == 0]
    assert visible == want


@pytest.mark.parametrize("table", [t["name"] for t in TABLES])
def test_select_star_runs_and_types_match(conn, table):
    cols = _columns(conn, table)
    where = REQUIRED_INPUT.get(ALIASES.get(table, table))
    if where is None and any(c["required"] for c in cols):
        pytest.fail(f"{table} has a required column: add it to REQUIRED_INPUT")
    names = ", ".join(f'"{c["name"]}"' for c in cols)
    sql = f'SELECT {names} FROM "{table}"' + (f" WHERE {where}" if where else "")
    result = conn.execute(sql).fetchall()
    for row in result:
        for col, value in zip(cols, row):
            if value is None:
                continue
            assert isinstance(value, PY_TYPES[col["type"]]), (
                f"{table}.{col['name']} declared {col['type']} returned {value!r}")


def test_required_columns_fail_with_a_message_naming_them(conn):
    required = [t for t in OSQUERY_TABLES
                if any(c["required"] for c in _columns(conn, t))]
    if not required:
        pytest.skip("no table with a required column is built yet")
    for table in required:
        names = [c["name"] for c in _columns(conn, table) if c["required"]]
        with pytest.raises(osqlite._sqlite.sqlite3.Error) as err:
            conn.execute(f'SELECT * FROM "{table}"').fetchall()
        message = str(err.value)
        assert "required column" in message and table in message
        assert all(n in message for n in names)
