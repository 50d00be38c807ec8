"""The extension manager in-process: the socket's safety rules, osquery's
ExtensionManager API through osquery-python's own client, extension tables
with a Thrift extension served in this process, autoload's checks and the
route info of extension tables.  The real daemon with real osquery-python
extensions is tests/test_extensions_e2e.py."""
from __future__ import annotations

import json
import os
import shutil
import socket
import stat

import pytest

pytest.importorskip("osquery", reason="osquery-python (the test extra 'osquery') is not installed")

from ext_helpers import (  # noqa: E402
    InProcessExtension,
    em_client,
    is_char_device,
    short_dir,
    table_routes,
    write_executable,
)

from osqlite.extensions import autoload, sockets  # noqa: E402
from osqlite.extensions import start as start_manager  # noqa: E402
from osqlite.extensions.gen.ttypes import InternalExtensionInfo  # noqa: E402
from osqlite.extensions.shell import ShellHost  # noqa: E402
from osqlite.extensions.tables import spec_from_routes  # noqa: E402
from osqlite.flags import Flags  # noqa: E402


@pytest.fixture
def sockdir():
    d = short_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


# -- the socket -------------------------------------------------------------------------

@pytest.mark.parametrize("make, kind", [
    (lambda p: open(p, "w").write("keep me\n"), "a regular file"),
    (lambda p: os.mkdir(p), "a directory"),
    (lambda p: os.mkfifo(p), "a FIFO"),
    (lambda p: os.symlink("/etc/hostname", p), "a symbolic link"),
])
def test_only_a_socket_is_ever_replaced(sockdir, make, kind):
    path = os.path.join(sockdir, "em")
    make(path)
    before = os.lstat(path)
    with pytest.raises(sockets.SocketError) as err:
        sockets.bind(path)
    assert str(err.value).startswith(f"--extensions_socket={path} is {kind}, not a socket")
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode, after.st_size) == (before.st_ino, before.st_mode,
                                                            before.st_size)
    if kind == "a regular file":
        assert open(path).read() == "keep me\n"


def test_device_node_is_left_alone(sockdir):
    if os.geteuid() != 0:
        pytest.skip("mknod of a character device needs root")
    path = os.path.join(sockdir, "null")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with pytest.raises(sockets.SocketError, match="is a character device, not a socket"):
        sockets.bind(path)
    assert is_char_device(path, 1, 3)


def test_dev_null_survives():
    # osquery's own test harness passes --extensions_socket=/dev/null as root.
    with pytest.raises(sockets.SocketError, match="/dev/null is a character device"):
        sockets.bind("/dev/null")
    assert is_char_device("/dev/null", 1, 3)


def test_stale_socket_is_replaced_live_one_refused(sockdir):
    path = os.path.join(sockdir, "em")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()                       # the file stays, nobody listens
    assert not sockets.answers(path)
    sock, ident = sockets.bind(path)
    try:
        assert sockets.answers(path) and ident[1] == os.lstat(path).st_ino
        with pytest.raises(sockets.SocketError, match="is in use"):
            sockets.bind(path)          # a live manager is never taken over
    finally:
        sock.close()
        sockets.unlink_own(path, ident)
    assert not os.path.exists(path)


def test_socket_is_0600_whatever_the_umask(sockdir):
    path = os.path.join(sockdir, "em")
    old = os.umask(0)
    try:
        sock, ident = sockets.bind(path)
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    finally:
        sock.close()
        sockets.unlink_own(path, ident)


def test_extension_sockets_cleaned_only_when_stale_sockets(sockdir):
    base = os.path.join(sockdir, "em")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(base + ".11")
    dead.close()
    live = socket.socket(socket.AF_UNIX)
    live.bind(base + ".22")
    live.listen(1)
    open(base + ".33", "w").write("x")
    try:
        reserved = sockets.clean_extension_sockets(base)
        assert not os.path.exists(base + ".11")
        assert os.path.exists(base + ".22") and os.path.exists(base + ".33")
        assert reserved == {22, 33}
    finally:
        live.close()


def test_too_long_a_path_is_refused():
    with pytest.raises(sockets.SocketError, match="too long for a UNIX socket"):
        sockets.bind("/tmp/" + "x" * 120)


# -- the ExtensionManager API -----------------------------------------------------------

@pytest.fixture
def manager(sockdir):
    flags = Flags("osqueryi")
    flags.set("extensions_timeout", "2")
    host = ShellHost(flags)
    path = os.path.join(sockdir, "em")
    m = start_manager(host, path, [])
    host.manager = m
    yield m
    m.stop()
    assert not os.path.exists(path)


def test_manager_api_through_osquery_python(manager):
    c = em_client(manager.path)
    em = c.extension_manager_client()
    try:
        assert em.ping().code == 0
        assert em.extensions() == {}
        options = em.options()
        assert options["extensions_socket"].value == manager.flags["extensions_socket"]
        assert options["extensions_timeout"].value == "2"
        assert options["disable_extensions"].type == "bool"
        r = em.query("select 1 as one, 2.0 as two, NULL as three, 'a' || char(10) as four")
        assert r.status.code == 0
        assert r.response == [{"one": "1", "two": "2.0", "three": "", "four": "a\n"}]
        r = em.query("select * from no_such_table")
        assert (r.status.code, r.status.message) == (1, "no such table: no_such_table")
        # osquery's authorizer: an extension's SQL may not ATTACH a file (and so
        # read or write any database on the host as root).
        r = em.query(f"ATTACH '{manager.path}.db' AS x")
        assert (r.status.code, r.status.message) == (1, "not authorized")
        assert not os.path.exists(manager.path + ".db")
        r = em.getQueryColumns("select pid, name as n, 1 + 1 as two from processes")
        assert r.status.code == 0
        assert r.response == [{"pid": "BIGINT"}, {"n": "TEXT"}, {"two": "BIGINT"}]
        r = em.call("table", "time", {"action": "columns"})
        assert r.status.code == 0 and {"id": "column", "name": "unix_time", "type": "INTEGER",
                                       "op": "0"} in r.response
        r = em.call("table", "osquery_flags", {"action": "generate", "context": json.dumps(
            {"constraints": [{"name": "name", "list": [{"op": 2, "expr": "extensions_timeout"}],
                              "affinity": "TEXT"}]})})
        assert [row["value"] for row in r.response] == ["2"]
        assert em.deregisterExtension(4242).message == "No extension UUID found"
    finally:
        c.close()


def _info(name: str, sdk: str = "3.0.7") -> InternalExtensionInfo:
    return InternalExtensionInfo(name=name, version="1.0", sdk_version=sdk, min_sdk_version="1.8.0")


def test_registration_rules(manager):
    c = em_client(manager.path)
    em = c.extension_manager_client()
    pets = {"table": {"pets": table_routes([("name", "TEXT")])}}
    try:
        ok = em.registerExtension(_info("zoo"), pets)
        assert ok.code == 0 and 0 < ok.uuid < 65536
        assert em.extensions()[ok.uuid].name == "zoo"
        cases = [
            (_info("zoo"), {}, "Duplicate extension registered"),
            (_info("old", "1.7.6"), {}, "Incompatible extension SDK version"),
            (_info("clash"), {"table": {"processes": table_routes([("a", "TEXT")])}},
             "Failed adding registry: Registry item processes conflicts with another item of "
             "the same name."),
            (_info("clash2"), {"table": {"PETS": table_routes([("a", "TEXT")])}},
             "Failed adding registry: Registry item PETS conflicts with another item of the "
             "same name."),
            (_info("odd"), {"database": {"x": []}}, "Failed adding registry: Unknown registry: "
                                                     "database"),
            (_info("empty"), {"table": {"nothing": []}}, "Failed adding registry: Invalid route "
                                                          "info"),
        ]
        for info, reg, message in cases:
            r = em.registerExtension(info, reg)
            assert (r.code, r.message) == (1, message), info.name
        assert len(em.extensions()) == 1
        rows = manager.query("select uuid, name, sdk_version, type from osquery_extensions").response
        assert rows == [{"uuid": "0", "name": "core", "sdk_version": "0.0.0", "type": "core"},
                        {"uuid": str(ok.uuid), "name": "zoo", "sdk_version": "1.8.0",
                         "type": "extension"}]
        rows = manager.query("select name, owner_uuid, internal, active from osquery_registry "
                             "where name = 'pets'").response
        assert rows == [{"name": "pets", "owner_uuid": str(ok.uuid), "internal": "0",
                         "active": "1"}]
        assert em.deregisterExtension(ok.uuid).code == 0
        assert em.extensions() == {}
        assert manager.query("select count(*) as n from osqlite_tables where name = 'pets'"
                             ).response == [{"n": "0"}]
    finally:
        c.close()


# -- extension tables -------------------------------------------------------------------

def test_extension_table_rows_context_and_failures(manager):
    rows = [{"name": "rex", "legs": "4", "weight": "31.5"},
            {"name": "tweety", "legs": "2", "weight": ""},
            {"name": "odd", "legs": "many", "extra": "ignored"}]

    def serve(registry, item, request):
        if request.get("action") == "generate":
            return 0, "OK", rows
        return 1, "unexpected", []

    em = em_client(manager.path)
    uuid = em.extension_manager_client().registerExtension(_info("zoo"), {"table": {"pets": table_routes(
        [("name", "TEXT"), ("legs", "INTEGER"), ("weight", "DOUBLE")], alias="animals")}}).uuid
    em.close()
    ext = InProcessExtension(f"{manager.path}.{uuid}", serve)
    host = manager.host
    conn = host.new_connection()
    host.refresh_backing(conn)
    got = conn.execute("select name, legs, weight from pets order by name").fetchall()
    assert got == [("odd", None, None), ("rex", 4, 31.5), ("tweety", 2, None)]
    assert conn.execute("select count(*) from animals").fetchone() == (3,)
    conn.execute("select name from pets where legs > 3 and name like 'r%' and name != 'x'").fetchall()
    context = json.loads(ext.calls[-1][2]["context"])
    assert context == {
        "constraints": [
            {"name": "legs", "list": [{"op": 4, "expr": "3"}], "affinity": "INTEGER"},
            {"name": "name", "list": [{"op": 68, "expr": "x"}, {"op": 65, "expr": "r%"}],
             "affinity": "TEXT"},
            {"name": "weight", "list": [], "affinity": "DOUBLE"}],
        "colsUsed": ["legs", "name"], "colsUsedBitset": 3}
    assert conn.execute("select origin from osqlite_tables where name = 'pets'").fetchone() == \
        ("extension",)
    # The same rows through ExtensionManager.query, as osquery's strings.
    assert manager.query("select * from pets where name = 'rex'").response == [
        {"name": "rex", "legs": "4", "weight": "31.5"}]

    # The extension fails the call: the query fails with its message.
    rows = []
    ext.fn = lambda *a: (1, "the zoo is closed", [])
    with pytest.raises(Exception, match="pets: the extension zoo failed the query: the zoo is "
                                        "closed"):
        conn.execute("select * from pets").fetchall()
    # It dies: the query fails saying so, the connection still works.
    ext.stop()
    with pytest.raises(Exception, match=r"pets: the extension zoo \(uuid \d+\) is not running"):
        conn.execute("select * from pets").fetchall()
    assert conn.execute("select 1").fetchone() == (1,)
    # Deregistered: the table leaves the connection at its next refresh.
    manager.deregister(uuid, "test")
    host.refresh_backing(conn)
    assert conn.execute("select count(*) from osqlite_tables where name in ('pets', 'animals')"
                        ).fetchone() == (0,)


def test_hung_extension_fails_the_query_with_the_timeout(manager):
    import threading
    release = threading.Event()

    def hang(registry, item, request):
        release.wait(30)
        return 0, "OK", []

    em = em_client(manager.path)
    uuid = em.extension_manager_client().registerExtension(
        _info("slow"), {"table": {"slowpoke": table_routes([("a", "TEXT")])}}).uuid
    em.close()
    ext = InProcessExtension(f"{manager.path}.{uuid}", hang)
    conn = manager.host.new_connection()
    manager.host.refresh_backing(conn)
    try:
        with pytest.raises(Exception, match=r"slowpoke: the extension slow \(uuid \d+\) did not "
                                            r"answer within 2 s \(--extensions_timeout\)"):
            conn.execute("select * from slowpoke").fetchall()
    finally:
        release.set()
        ext.stop()


# -- route info ---------------------------------------------------------------------------

def test_route_info_becomes_a_table_spec():
    spec = spec_from_routes("t", [
        {"id": "column", "name": "a", "type": "TEXT", "op": "0"},
        {"id": "column", "name": "b", "type": "BIGINT", "op": "2"},
        {"id": "column", "name": "h", "type": "weird", "op": "16"},
        {"id": "columnAlias", "name": "b2", "target": "b"},
        {"id": "alias", "alias": "t_view"},
        {"id": "attributes", "attributes": "0"}], default_index=True)
    assert spec.columns == (("a", "TEXT", 1), ("b", "BIGINT", 2), ("h", "TEXT", 16),
                            ("b2", "ALIAS", 1))
    assert spec.aliases == ("t_view",)
    assert spec_from_routes("t", [{"id": "column", "name": "a", "type": "TEXT"}],
                            default_index=False).columns == (("a", "TEXT", 0),)
    for bad in ([], [{"id": "column", "name": "a`b", "type": "TEXT"}],
                [{"id": "column", "name": "a", "type": "TEXT"}] * 2):
        with pytest.raises(ValueError):
            spec_from_routes("t", bad, default_index=True)


# -- autoload ---------------------------------------------------------------------------

def test_autoload_follows_osquerys_rules(tmp_path, caplog):
    good = write_executable(tmp_path / "good.ext", "#!/bin/sh\n")
    noext = write_executable(tmp_path / "noext.py", "#!/bin/sh\n")
    wide = write_executable(tmp_path / "wide.ext", "#!/bin/sh\n", 0o757)
    noexec = write_executable(tmp_path / "noexec.ext", "#!/bin/sh\n", 0o644)
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1755)
    in_sticky = write_executable(sticky / "s.ext", "#!/bin/sh\n")
    subdir = tmp_path / "dir"
    subdir.mkdir()
    in_dir = write_executable(subdir / "d.ext", "#!/bin/sh\n")
    load = tmp_path / "extensions.load"
    load.write_text("\n".join(["# a comment", f"  {good}  ", f"; {noext}", str(noext),
                               str(wide), str(noexec), str(in_sticky), str(subdir),
                               str(tmp_path / "missing.ext"), ""]))
    with caplog.at_level("DEBUG", logger="osqlite.extensions"):
        paths = autoload.autoload_paths(str(load), allow_unsafe=False)
    assert paths == sorted([str(good), str(in_dir)])
    text = caplog.text
    assert f"Will not autoload extension not ending in one of '.ext': {noext}" in text
    assert f"unsafe directory permissions: {wide} (it is writable by everyone)" in text
    assert f"{noexec} (it is not executable by its owner)" in text
    assert f"{in_sticky} (its directory {sticky} is sticky (/tmp-like))" in text
    assert f"extension doesn't exist at: {tmp_path / 'missing.ext'}" in text
    # --allow_unsafe keeps the name rule only.
    assert autoload.autoload_paths(str(load), allow_unsafe=True) == sorted(
        [str(good), str(in_dir), str(wide), str(noexec), str(in_sticky)])
    # A missing file autoloads nothing; the shell's --extension needs no checks.
    assert autoload.autoload_paths(str(tmp_path / "none"), False, str(noext)) == [str(noext)]
