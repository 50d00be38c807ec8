"""The planner's figures: join orders chosen from the tables' costs (asserted
with EXPLAIN QUERY PLAN on fixture hosts of known size), keys that change a
table's rows always pushed down, and one read of the host per statement for a call repeated in a loop."""
from __future__ import annotations

import os

import pytest
from conftest import rows


def plan(conn, sql: str) -> list[tuple[str, bool]]:
    """The loops of sql's plan, outermost first: (table or alias, whether a
    constraint was pushed into it)."""
    out = []
    for r in conn.execute("EXPLAIN QUERY PLAN " + sql):
        detail = r[-1]
        if " VIRTUAL TABLE INDEX " not in detail:
            continue
        name = detail.split()[1]
        idx = detail.split(" VIRTUAL TABLE INDEX ", 1)[1]
        out.append((name, "," in idx))
    return out


def host(tmp_path, processes: int, sockets: int):
    """A fixture root the planner counts: /proc with that many entries and
    a sockstat saying that many sockets are in use."""
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    for pid in range(1, processes):          # net/ is one more directory
        (proc / str(pid)).mkdir()
    (proc / "net" / "sockstat").write_text(
        f"sockets: used {sockets}\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 1\n")
    return tmp_path


SOCKETS_JOIN = "SELECT * FROM processes JOIN process_open_sockets USING (pid)"


def test_few_sockets_many_processes_scans_the_sockets(conn, root, tmp_path):
    # Scanning 500 processes costs more than looking up the owners of 20
    # sockets: the sockets are the outer loop, processes looked up by pid.
    root(host(tmp_path, 500, 20))
    assert plan(conn, SOCKETS_JOIN) == [("process_open_sockets", False),
                                        ("processes", True)]


def test_many_sockets_few_processes_looks_sockets_up_by_pid(conn, root, tmp_path):
    root(host(tmp_path, 50, 5000))
    assert plan(conn, SOCKETS_JOIN) == [("processes", False),
                                        ("process_open_sockets", True)]


@pytest.mark.parametrize("size", [(30, 10), (500, 50), (5000, 50)])
def test_envs_join_filters_processes_first(conn, root, tmp_path, size):
    # The name reaches processes (a filter column), then one pid at a time
    # process_envs.
    root(host(tmp_path, *size))
    sql = ("SELECT * FROM process_envs e JOIN processes p USING (pid) "
           "WHERE p.name = 'python3'")
    assert plan(conn, sql) == [("p", True), ("e", True)]


def test_envs_join_live(conn):
    sql = ("SELECT e.key, e.value FROM process_envs e JOIN processes p USING (pid) "
           "WHERE p.name = ? AND p.pid = ?")
    with open("/proc/self/comm") as f:
        name = f.read().strip()
    assert plan(conn, sql.replace("?", "1")) == [("p", True), ("e", True)]
    with open("/proc/self/environ", "rb") as f:
        want = dict(v.decode().split("=", 1) for v in f.read().split(b"\0") if b"=" in v)
    got = {r["key"]: r["value"] for r in rows(conn, sql, name, os.getpid())}
    assert got == want and got


@pytest.mark.parametrize("sql", [
    "SELECT * FROM users JOIN shell_history USING (uid)",
    "SELECT * FROM shell_history JOIN users USING (uid)",
])
def test_a_key_that_widens_the_rows_is_always_pushed(conn, sql):
    # shell_history without a uid reads only the current user: the join must
    # hand it every user's uid, whichever order the query names them in.
    assert plan(conn, sql) == [("users", False), ("shell_history", True)]


def test_pid_with_namespace_is_pushed(conn):
    sql = ("SELECT * FROM etc_hosts h JOIN processes p "
           "ON h.pid_with_namespace = p.pid")
    assert plan(conn, sql) == [("p", False), ("h", True)]


def test_file_and_hash_are_looked_up_by_path(conn):
    sql = "SELECT * FROM file f JOIN hash h USING (path) WHERE f.directory = '/etc'"
    assert plan(conn, sql) == [("f", True), ("h", True)]


def test_a_repeated_call_reads_once_per_statement(conn):
    """An inner loop without a usable constraint calls the generator once per
    outer row with the same arguments: the rows are made once.  Counted
    through a daemon-backed table whose backing view calls a function."""
    calls = []

    def tick() -> int:
        calls.append(1)
        return 1

    conn.create_function("tick", 0, tick)
    conn.execute("CREATE TEMP VIEW osqlite_data_osquery_schedule AS "
                 "SELECT 'q' || tick() AS name, 'SELECT 1' AS query")
    got = conn.execute(
        "SELECT count(*) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) "
        "CROSS JOIN osquery_schedule").fetchone()[0]
    assert got == 3 and len(calls) == 1
    calls.clear()
    # Every run of a statement is a new snapshot; different arguments are
    # different calls.
    conn.execute("SELECT * FROM osquery_schedule").fetchall()
    conn.execute("SELECT * FROM osquery_schedule").fetchall()
    assert len(calls) == 2


def _fixture_sockets(tmp_path):
    tcp_hdr = ("  sl  local_address rem_address   st tx_queue rx_queue tr "
               "tm->when retrnsmt   uid  timeout inode\n")

    def line(sl, port, inode):
        return (f"   {sl}: 0100007F:{port:04X} 00000000:0000 0A 00000000:00000000 "
                f"00:00000000 00000000     0        0 {inode} 1 0 100 0 0 10 0\n")

    for pid, fds, tcp in ((100, {3: "socket:[1001]"}, line(0, 80, 1001) + line(1, 81, 2001)),
                          (200, {9: "socket:[2001]"}, line(0, 82, 9999))):
        d = tmp_path / "proc" / str(pid)
        (d / "fd").mkdir(parents=True)
        (d / "ns").mkdir()
        (d / "net").mkdir()
        os.symlink("net:[4026531999]", d / "ns" / "net")
        for fd, target in fds.items():
            os.symlink(target, d / "fd" / str(fd))
        (d / "net" / "tcp").write_text(tcp_hdr + tcp)
    return tmp_path


def test_socket_namespace_read_once_per_statement(conn, root, tmp_path):
    """pids 100 and 200 share a namespace.  One statement looking them up
    one after the other reads it once (through pid 100, the first): pid
    200's socket 2001 is found there, as in a single call for both pids.
    On its own, pid 200's copy of the files is read, which lacks 2001."""
    root(_fixture_sockets(tmp_path))
    joined = rows(conn, "SELECT s.pid, s.fd, s.socket FROM "
                        "(SELECT 100 AS pid UNION ALL SELECT 200) x "
                        "CROSS JOIN process_open_sockets s ON s.pid = x.pid")
    assert joined == [{"pid": 100, "fd": 3, "socket": 1001},
                      {"pid": 200, "fd": 9, "socket": 2001}]
    assert rows(conn, "SELECT pid, fd, socket FROM process_open_sockets "
                      "WHERE pid IN (100, 200)") == joined
    assert rows(conn, "SELECT socket FROM process_open_sockets WHERE pid = 200") == []


def test_name_filter_reaches_processes_and_keeps_the_rows(conn):
    with open("/proc/self/comm") as f:
        name = f.read().strip()
    assert plan(conn, "SELECT pid FROM processes WHERE name = 'x'") == [("processes", True)]
    # Same snapshot for both: a join of the filtered and the full scan.
    got = conn.execute(
        "SELECT (SELECT group_concat(pid) FROM (SELECT pid FROM processes "
        "WHERE name = ?1 ORDER BY pid)), (SELECT group_concat(pid) FROM "
        "(SELECT pid FROM processes WHERE name || '' = ?1 ORDER BY pid))",
        (name,)).fetchone()
    assert str(os.getpid()) in got[0].split(",")
    # Within a few ms other processes of that name may come and go.
    assert abs(len(got[0].split(",")) - len(got[1].split(","))) <= 2
    # Non-text values are left to SQLite's own comparison.
    assert conn.execute("SELECT count(*) FROM processes WHERE name = 5").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM processes WHERE name = NULL").fetchone()[0] == 0
