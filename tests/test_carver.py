"""File carving: the carves table and carve() (csrc/tables/carves.c), the
daemon's carver (osqlite/carver.py) against a real TLS server, and the
rule that a user's symbolic link never leads a root carver into a file
that user could not read."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest
from remote_helpers import daemon_for
from tls_server import OsqueryServer

import osqlite
from osqlite import carver
from osqlite.carver import Carver, Refused, open_for_carve

NOBODY = 65534


@pytest.fixture
def server(pki):
    with OsqueryServer(pki) as srv:
        yield srv


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: the test gives files and links to another user with chown")


@pytest.fixture
def shared_dir():
    """A directory every user may search (pytest's tmp_path sits in a
    root-only directory, which another user could not pass through)."""
    path = tempfile.mkdtemp(prefix="osqlite-carve-test-")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


# -- the SQL side without a daemon ---------------------------------------------------------

def test_plain_connection_has_the_table_and_function_but_no_carves(conn, tmp_path):
    f = tmp_path / "a"
    f.write_text("x")
    assert conn.execute("SELECT * FROM carves WHERE path = ? AND carve = 1", (str(f),)).fetchall() == []
    assert conn.execute("SELECT carve(path) FROM file WHERE path = ?", (str(f),)).fetchone() == ("Carve Failed:",)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(carves)")]
    assert cols == ["time", "sha256", "size", "path", "status", "carve_guid", "request_id", "carve"]


# -- reading files safely ---------------------------------------------------------------------

def test_open_follows_root_links_and_refuses_non_files(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"data")
    link = tmp_path / "link"
    link.symlink_to(target)
    fd, st = open_for_carve(str(link))
    try:
        assert os.read(fd, 10) == b"data" and st.st_size == 4
    finally:
        os.close(fd)
    rel = tmp_path / "rel"
    rel.symlink_to("target")
    fd, _ = open_for_carve(str(rel))
    os.close(fd)
    os.mkfifo(tmp_path / "fifo")
    for bad, why in ((tmp_path / "fifo", "not a regular file"), (tmp_path, "is a directory"),
                     (tmp_path / "missing", "No such file"), (target / "x", "not a directory")):
        with pytest.raises(Refused, match=why):
            open_for_carve(str(bad))
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(Refused, match="too many levels"):
        open_for_carve(str(loop))


def test_a_users_link_to_a_root_only_file_is_refused(shared_dir):
    need_root()
    tmp_path = shared_dir
    secret = tmp_path / "root-only"
    secret.write_text("shadow")
    os.chmod(secret, 0o600)
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    link = home / "notes.txt"
    link.symlink_to(secret)
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(Refused, match="symbolic link of uid 65534, who may not read it"):
        open_for_carve(str(link))
    # The same link to a file that user may read is carved.
    os.chmod(secret, 0o644)
    fd, _ = open_for_carve(str(link))
    os.close(fd)
    # A directory link of the user into a directory they may not search.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "key").write_text("k")
    os.chmod(private / "key", 0o644)
    dlink = home / "dir"
    dlink.symlink_to(private)
    os.lchown(dlink, NOBODY, NOBODY)
    with pytest.raises(Refused, match="may not search"):
        open_for_carve(str(dlink / "key"))
    # Root's own link there is followed.
    rootlink = tmp_path / "rootlink"
    rootlink.symlink_to(private)
    fd, _ = open_for_carve(str(rootlink / "key"))
    os.close(fd)


# -- the daemon's carver ---------------------------------------------------------------------

def carver_daemon(tmp_path, server, **flags):
    d = daemon_for(tmp_path, server, **flags)
    d.open_state()
    c = Carver()
    d.hooks.append(c)
    c.start(d)                              # no thread: the tests drive the carver by hand
    d.flags.set("disable_carver", False)
    return d, c


def test_carve_requested_in_sql_reaches_the_server_byte_exact(tmp_path, server):
    d, c = carver_daemon(tmp_path, server, carver_block_size=300)
    data = os.urandom(1000) + b"\x00end"
    case = tmp_path / "case"
    (case / "sub").mkdir(parents=True)
    f = case / "evidence.bin"
    f.write_bytes(data)
    other = case / "notes.txt"
    other.write_text("second file\n")
    conn = d.new_connection()
    c.request_id.value = "fleet_distributed_query_7"
    # LIKE as the file table expands it (directories too; the carve skips them).
    rows = conn.execute("SELECT path, status, carve, request_id, size FROM carves "
                        "WHERE path LIKE ? AND carve = 1", (str(case / "%"),)).fetchall()
    c.request_id.value = None
    assert rows == [(f"{f},{other},{case}/sub/", "SCHEDULED", 1, "fleet_distributed_query_7", -1)]
    [(guid, paths, request)] = c.scheduled()
    assert paths == [str(f), str(other), str(case / "sub") + "/"]
    c.carve(guid, paths, request)
    [archive] = server.carved()
    start = server.carves[next(iter(server.carves))]
    assert start["carve_id"] == guid and start["request_id"] == "fleet_distributed_query_7"
    assert start["block_size"] == 300 and start["carve_size"] == len(archive)
    assert start["block_count"] == -(-len(archive) // 300)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
        assert names == [str(f).lstrip("/"), str(other).lstrip("/")]
        assert tar.extractfile(names[0]).read() == data
        assert tar.extractfile(names[1]).read() == b"second file\n"
    d.bump()
    d.refresh_backing(conn)
    [(status, sha, size)] = conn.execute("SELECT status, sha256, size FROM carves").fetchall()
    assert status == "SUCCESS" and size == len(archive)
    assert sha == hashlib.sha256(archive).hexdigest()
    assert [r.path for r in server.requests].count("/carve_block") == start["block_count"]
    assert not any(p.startswith("osqlite_carve_" + guid) for p in os.listdir(
        os.environ.get("TMPDIR", "/tmp")))


def test_carve_disabled_queues_nothing(tmp_path, server):
    d = daemon_for(tmp_path, server)          # --disable_carver defaults to true
    d.open_state()
    c = Carver()
    c.start(d)
    conn = d.new_connection()
    f = tmp_path / "x"
    f.write_text("x")
    assert conn.execute("SELECT * FROM carves WHERE path = ? AND carve = 1", (str(f),)).fetchall() == []
    assert c.scheduled() == []


def test_carve_function_needs_its_own_flag(tmp_path, server):
    d, c = carver_daemon(tmp_path, server)
    conn = d.new_connection()
    f = tmp_path / "x"
    f.write_text("x")
    sql = "SELECT carve(path) FROM file WHERE path = ?"
    assert conn.execute(sql, (str(f),)).fetchone() == ("Carve Failed:",)
    d.flags.set("carver_disable_function", False)
    assert conn.execute(sql, (str(f),)).fetchone() == ("Carve Started",)
    assert [p for _, p, _ in c.scheduled()] == [[str(f)]]


def test_failures_are_reported_in_the_status(tmp_path, server, monkeypatch):
    monkeypatch.setattr(carver, "ATTEMPTS", 1)
    d, c = carver_daemon(tmp_path, server)
    f = tmp_path / "x"
    f.write_text("x")
    conn = d.new_connection()
    conn.execute("SELECT * FROM carves WHERE path = ? AND carve = 1", (str(f),)).fetchall()
    [(guid, paths, request)] = c.scheduled()
    server.fail_with(500)
    c.carve(guid, paths, request)
    d.refresh_backing(conn)
    assert conn.execute("SELECT status FROM carves").fetchall() == [("DATA POST FAILED",)]


def test_a_missing_file_makes_an_empty_archive(tmp_path, server):
    d, c = carver_daemon(tmp_path, server)
    conn = d.new_connection()
    conn.execute("SELECT * FROM carves WHERE path = ? AND carve = 1", (str(tmp_path / "gone"),)).fetchall()
    [(guid, paths, request)] = c.scheduled()
    c.carve(guid, paths, request)
    [archive] = server.carved()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == []


def test_interrupted_carves_are_marked_failed_at_start(tmp_path, server):
    d, c = carver_daemon(tmp_path, server)
    with d.state.lock:
        d.state.conn.execute("INSERT INTO carve_store(carve_guid, time, status, sha256, size, path, paths, "
                             "request_id) VALUES ('g', 1, 'PENDING', '', -1, '/x', X'2f78', 'r')")
    Carver().start(d)
    assert d.state.execute("SELECT status FROM carve_store WHERE carve_guid = 'g'") == [("FAILED",)]


def test_osqlite_connect_has_carves_for_tools(conn):
    assert osqlite.connect().execute("SELECT count(*) FROM carves").fetchone() == (0,)
