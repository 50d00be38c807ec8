"""The Datasette plugin in process (Datasette's own ASGI test client), quick
enough for every interpreter CI tests; the real server and a browser are in
test_datasette_e2e.py."""
from __future__ import annotations

import asyncio
import pwd

import pytest

import osqlite

datasette_app = pytest.importorskip(
    "datasette.app", reason="datasette is not installed (pip install -e '.[test]')")


def _run(*paths: str, metadata: dict | None = None) -> list:
    ds = datasette_app.Datasette(metadata=metadata)

    async def go() -> list:
        await ds.invoke_startup()
        return [await ds.client.get(p) for p in paths]

    return asyncio.run(go())


def test_plugin_is_registered_through_its_entry_point():
    (resp,) = _run("/-/plugins.json")
    plugins = {p["name"]: p for p in resp.json()}
    assert "osqlite" in plugins
    assert {"prepare_connection", "startup", "handle_exception"} <= set(
        plugins["osqlite"]["hooks"])


def test_host_database_tables_rows_and_required_page():
    c = osqlite.connect()
    names = {r[0] for r in c.execute(
        "SELECT name FROM osqlite_tables WHERE origin IN ('osquery', 'osqlite')")}
    c.close()
    listing, users, file_json, file_html, mem = _run(
        "/host.json", "/host/users.json?_shape=objects&_size=max", "/host/file.json",
        "/host/file", "/_memory.json?sql=select+count(*)+as+n+from+time&_shape=array")
    assert {t["name"] for t in listing.json()["tables"]} == names
    body = users.json()
    assert body["filtered_table_rows_count"] == len(pwd.getpwall())
    assert sorted(r["username"] for r in body["rows"]) == sorted(
        p.pw_name for p in pwd.getpwall())
    assert file_json.status_code == 400
    assert file_json.json()["required_columns"] == ["path", "directory"]
    assert file_html.status_code == 200 and "osqlite-required-form" in file_html.text
    # Every database of the instance has the tables (prepare_connection).
    assert mem.json() == [{"n": 1}]


def test_database_name_from_plugin_configuration():
    listing, page = _run("/live.json", "/live",
                         metadata={"plugins": {"osqlite": {"database": "live"}}})
    assert listing.status_code == 200 and listing.json()["database"] == "live"
    assert "osqlite-description" in page.text
    (resp,) = _run("/-/databases.json", metadata={"plugins": {"osqlite": {"database": ""}}})
    assert [d["name"] for d in resp.json()] == ["_memory"]
