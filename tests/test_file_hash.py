"""file and hash tables against os.stat/os.lstat, a Python walk and hashlib.

Trees are built in tmp_path; the file and hash tables take absolute paths
from the user and never prefix OSQLITE_ROOT (checked below).
"""
from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import rows
from osquery_oracle import glob_recursive

from osqlite._sqlite import sqlite3

TYPE_NAMES = [
    (stat.S_ISREG, "regular"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISBLK, "block"),
    (stat.S_ISCHR, "character"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
]


def expected_row(path: str) -> dict:
    """The file row osquery would produce for path, from Python's os."""
    lst = os.lstat(path)
    is_link = stat.S_ISLNK(lst.st_mode)
    try:
        st = os.stat(path)
        ftype = next(name for test, name in TYPE_NAMES if test(st.st_mode))
    except FileNotFoundError:
        st = lst
        ftype = "unknown"
    return {
        "path": path,
        "inode": st.st_ino,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mode": "%04o" % (st.st_mode & 0o7777),
        "device": st.st_rdev,
        "size": st.st_size,
        "block_size": st.st_blksize,
        "atime": int(st.st_atime),
        "mtime": int(st.st_mtime),
        "ctime": int(st.st_ctime),
        "btime": 0,
        "hard_links": st.st_nlink,
        "symlink": 1 if is_link else 0,
        "type": ftype,
        "symlink_target_path": os.readlink(path) if is_link else None,
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """regular, dir, symlink, broken symlink, fifo, socket, setuid file."""
    (tmp_path / "regular").write_bytes(b"hello\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inner").write_text("x")
    (tmp_path / "dir" / "sub").mkdir()
    (tmp_path / "dir" / "sub" / "deep").write_text("deep")
    (tmp_path / "dir" / ".hidden").write_text("h")
    os.symlink("regular", tmp_path / "link")
    os.symlink("dir", tmp_path / "dirlink")
    os.symlink("does-not-exist", tmp_path / "broken")
    os.mkfifo(tmp_path / "fifo")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(tmp_path / "sock"))
    (tmp_path / "setuid").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "setuid", 0o4755)
    (tmp_path / "sticky").mkdir()
    os.chmod(tmp_path / "sticky", 0o1777)
    (tmp_path / "setgid").write_text("g")
    os.chmod(tmp_path / "setgid", 0o2711)
    yield tmp_path
    s.close()


ENTRIES = ["regular", "dir", "link", "dirlink", "broken", "fifo", "sock",
           "setuid", "sticky", "setgid"]


@pytest.mark.parametrize("name", ENTRIES)
def test_file_path_matches_os_stat(conn, tree, name):
    path = str(tree / name)
    got = rows(conn, "SELECT * FROM file WHERE path = ?", path)
    assert len(got) == 1
    exp = expected_row(path)
    for k, v in exp.items():
        assert got[0][k] == v, (name, k)
    assert got[0]["filename"] == name
    assert got[0]["directory"] == str(tree)


def test_file_modes_and_types(conn, tree):
    got = {r["filename"]: r for r in rows(
        conn, "SELECT filename, mode, type, symlink FROM file WHERE directory = ?",
        str(tree))}
    assert got["setuid"]["mode"] == "4755"
    assert got["setgid"]["mode"] == "2711"
    assert got["sticky"]["mode"] == "1777"
    assert got["fifo"]["type"] == "fifo"
    assert got["sock"]["type"] == "socket"
    assert got["broken"]["type"] == "unknown"
    assert got["broken"]["symlink"] == 1
    assert got["dirlink"]["type"] == "directory"
    assert got["link"]["type"] == "regular"


def test_file_missing_path_gives_no_row(conn, tree):
    assert rows(conn, "SELECT * FROM file WHERE path = ?", str(tree / "nope")) == []


def test_file_in_list_is_literal(conn, tree):
    # A '*' inside IN (...) is not a glob.
    got = rows(conn, "SELECT path FROM file WHERE path IN (?, ?, ?)",
               str(tree / "*"), str(tree / "regular"), str(tree / "fifo"))
    assert sorted(r["path"] for r in got) == sorted(
        [str(tree / "regular"), str(tree / "fifo")])


def test_file_directory_listing(conn, tree):
    got = rows(conn, "SELECT path, directory, filename FROM file WHERE directory = ?",
               str(tree))
    assert sorted(r["filename"] for r in got) == sorted(os.listdir(tree))
    assert all(r["directory"] == str(tree) for r in got)
    assert all(r["path"] == str(tree / r["filename"]) for r in got)
    # The directory string is echoed verbatim, trailing slash included.
    got = rows(conn, "SELECT path, directory FROM file WHERE directory = ?",
               str(tree) + "/")
    assert got and all(r["directory"] == str(tree) + "/" for r in got)
    assert all(r["path"].startswith(str(tree) + "/") and "//" not in r["path"]
               for r in got)


def python_one_level(base: Path) -> set[str]:
    """glob(3) semantics of base/*: no dot files, directories marked '/'."""
    out = set()
    for name in os.listdir(base):
        if name.startswith("."):
            continue
        p = str(base / name)
        out.add(p + "/" if os.path.isdir(p) else p)
    return out


def python_recursive(base: Path) -> set[str]:
    """osquery's base/** (genGlobs): directories marked with '/'."""
    return {p + "/" if is_dir else p for p, is_dir in glob_recursive(base)}


def test_file_like_one_level(conn, tree):
    got = rows(conn, "SELECT path, filename, directory FROM file WHERE path LIKE ?",
               str(tree) + "/%")
    assert {r["path"] for r in got} == python_one_level(tree)
    for r in got:
        if r["path"].endswith("/"):
            assert r["filename"] == "."
            assert r["directory"] == r["path"][:-1]


def test_file_like_recursive(conn, tree):
    got = rows(conn, "SELECT path FROM file WHERE path LIKE ?", str(tree) + "/%%")
    assert {r["path"] for r in got} == python_recursive(tree)
    paths = {r["path"] for r in got}
    assert str(tree / "dir" / "sub" / "deep") in paths
    assert str(tree / "dir" / ".hidden") in paths       # below level 1
    # dirlink points at dir, which (sorted first) was walked already: the
    # link is listed, its contents are not listed twice.
    assert str(tree / "dirlink") + "/" in paths
    assert not any(p.startswith(str(tree / "dirlink") + "/") and
                   p != str(tree / "dirlink") + "/" for p in paths)


def test_file_like_recursive_follows_directory_links(conn, tmp_path):
    """osquery follows links to directories in %%, with its loop check."""
    (tmp_path / "real/inner").mkdir(parents=True)
    (tmp_path / "real/inner/file").write_text("x")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "sub/f").write_text("y")
    base = tmp_path / "base"
    base.mkdir()
    os.symlink(elsewhere, base / "ext")           # a link out of the tree: followed
    os.symlink("../base", base / "loop")           # back to the start: bounded
    (base / "plain").write_text("z")
    got = {r["path"] for r in rows(conn, "SELECT path FROM file WHERE path LIKE ?",
                                   str(base) + "/%%")}
    assert got == python_recursive(base)
    assert str(base / "ext/sub/f") in got and str(base / "ext/sub") + "/" in got
    # base itself is not a match of base/*, so base/loop/ is walked once
    # (listing base's entries again under loop/); loop/loop/ is listed but
    # not walked.
    assert str(base / "loop/plain") in got and str(base / "loop/loop") + "/" in got
    assert not any(p.startswith(str(base / "loop/loop") + "/") and
                   p != str(base / "loop/loop") + "/" for p in got)


def test_file_like_pattern_in_middle(conn, tree):
    (tree / "dir" / "a.conf").write_text("a")
    (tree / "sticky" / "b.conf").write_text("b")
    got = rows(conn, "SELECT path FROM file WHERE path LIKE ?", str(tree) + "/%/%.conf")
    # like glob(3), intermediate components follow symbolic links
    assert {r["path"] for r in got} == {str(tree / "dir" / "a.conf"),
                                         str(tree / "dirlink" / "a.conf"),
                                         str(tree / "sticky" / "b.conf")}


def test_file_symlink_loop_is_bounded(conn, tmp_path):
    (tmp_path / "a").mkdir()
    os.symlink("..", tmp_path / "a" / "up")
    os.symlink(".", tmp_path / "a" / "self")
    got = rows(conn, "SELECT path FROM file WHERE path LIKE ?", str(tmp_path) + "/%%")
    # a/up leads back to tmp_path, walked once (its entry a/ was walked
    # already); a/self is a, walked already.
    want = {str(tmp_path / "a") + "/", str(tmp_path / "a" / "up") + "/",
            str(tmp_path / "a" / "self") + "/", str(tmp_path / "a" / "up" / "a") + "/"}
    assert {r["path"] for r in got} == want == python_recursive(tmp_path)


def test_file_depth_limit(conn, tmp_path):
    p = tmp_path
    for _ in range(70):
        p = p / "d"
    os.makedirs(p)
    got = rows(conn, "SELECT path FROM file WHERE path LIKE ?", str(tmp_path) + "/%%")
    depths = [r["path"].count("/d") for r in got]
    assert max(depths) <= 65 and len(got) < 70


def test_file_required_column_error(conn):
    with pytest.raises(sqlite3.Error) as e:
        conn.execute("SELECT * FROM file").fetchall()
    assert "path" in str(e.value) and "directory" in str(e.value)
    with pytest.raises(sqlite3.Error) as e:
        conn.execute("SELECT * FROM hash").fetchall()
    assert "path" in str(e.value)


def test_file_ignores_osqlite_root(conn, tree, root):
    root(tree / "dir")
    got = rows(conn, "SELECT path FROM file WHERE path = ?", str(tree / "regular"))
    assert [r["path"] for r in got] == [str(tree / "regular")]


def test_file_root_and_trailing_slash_names(conn, tree):
    got = rows(conn, "SELECT path, filename, directory FROM file WHERE path IN ('/', ?)",
               str(tree) + "/")
    by = {r["path"]: r for r in got}
    assert by["/"]["filename"] == "/" and by["/"]["directory"] == ""
    assert by[str(tree) + "/"]["filename"] == "."
    assert by[str(tree) + "/"]["directory"] == str(tree)


def test_file_pid_with_namespace(conn, tree):
    pid = os.getpid()
    got = rows(conn, "SELECT path, inode, pid_with_namespace, mount_namespace_id "
                     "FROM file WHERE path = ? AND pid_with_namespace = ?",
               str(tree / "regular"), pid)
    assert len(got) == 1
    assert got[0]["inode"] == os.stat(tree / "regular").st_ino
    assert got[0]["pid_with_namespace"] == pid
    ns = os.readlink(f"/proc/{pid}/ns/mnt")
    assert got[0]["mount_namespace_id"] == ns[ns.index("[") + 1:-1]
    got = rows(conn, "SELECT pid_with_namespace FROM file WHERE path = ?",
               str(tree / "regular"))
    assert got[0]["pid_with_namespace"] == 0


# ------------------------------------------------------------------ hash


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 1000, 1 << 20, 1000003])
def test_hash_matches_hashlib(conn, tmp_path, size):
    data = os.urandom(size)
    p = tmp_path / f"f{size}"
    p.write_bytes(data)
    got = rows(conn, "SELECT * FROM hash WHERE path = ?", str(p))
    assert got == [{
        "path": str(p),
        "directory": str(tmp_path),
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }]


def test_hash_only_regular_files(conn, tree):
    assert rows(conn, "SELECT * FROM hash WHERE path = ?", str(tree / "dir")) == []
    assert rows(conn, "SELECT * FROM hash WHERE path = ?", str(tree / "fifo")) == []
    assert rows(conn, "SELECT * FROM hash WHERE path = ?", str(tree / "broken")) == []
    got = rows(conn, "SELECT sha256 FROM hash WHERE path = ?", str(tree / "link"))
    assert got == [{"sha256": hashlib.sha256(b"hello\n").hexdigest()}]


def test_hash_directory_listing(conn, tree):
    got = rows(conn, "SELECT path, directory, md5 FROM hash WHERE directory = ?",
               str(tree / "dir"))
    exp = {str(tree / "dir" / n): hashlib.md5((tree / "dir" / n).read_bytes()).hexdigest()
           for n in os.listdir(tree / "dir") if (tree / "dir" / n).is_file()}
    assert {r["path"]: r["md5"] for r in got} == exp
    assert all(r["directory"] == str(tree / "dir") for r in got)


def test_hash_like(conn, tree):
    got = rows(conn, "SELECT path FROM hash WHERE path LIKE ?", str(tree) + "/%")
    # regular files after following links; directories and fifos dropped
    assert {r["path"] for r in got} == {
        str(tree / n) for n in ("regular", "link", "setuid", "setgid")}


def test_hash_unreadable_file_gives_empty_digests(conn):
    # /proc/self/mem is a regular file whose read at offset 0 fails (EIO):
    # osquery's hashMultiFromFile then yields empty strings.
    got = rows(conn, "SELECT md5, sha1, sha256 FROM hash WHERE path = '/proc/self/mem'")
    assert got == [{"md5": "", "sha1": "", "sha256": ""}]


def test_hash_permission_denied_as_non_root():
    """A regular file the caller cannot open still gives a row, with empty
    digests (osquery's hashMultiFromFile)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="osq-hash-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        p = os.path.join(d, "secret")
        with open(p, "wb") as f:
            f.write(b"secret")
        os.chmod(p, 0o600)
        code = textwrap.dedent(f"""
            import os, osqlite
            c = osqlite.connect()
            c.execute("SELECT 1").fetchall()
            os.setgid(65534); os.setuid(65534)
            print(c.execute("SELECT md5, sha256 FROM hash WHERE path = ?", ({p!r},)).fetchall())
        """)
        repo = Path(__file__).resolve().parent.parent
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, cwd=repo,
                             env={**os.environ, "PYTHONPATH": str(repo)})
        if out.returncode != 0:
            pytest.skip("cannot run as nobody here: " + out.stderr[-200:])
        assert out.stdout.strip() == "[('', '')]"
    finally:
        shutil.rmtree(d)


def test_hash_sparse_large_file_constant_memory(tmp_path):
    """A sparse 1.1 GB file is hashed by streaming: max RSS stays flat."""
    p = tmp_path / "sparse"
    size = 1100 * 1024 * 1024
    with open(p, "wb") as f:
        f.truncate(size)
        f.seek(size // 2)
        f.write(b"middle")
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    code = textwrap.dedent(f"""
        import resource, osqlite
        c = osqlite.connect()
        c.execute("SELECT 1").fetchall()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        r = c.execute("SELECT sha256 FROM hash WHERE path = ?", ({str(p)!r},)).fetchall()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(r[0][0], after - before)
    """)
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, check=True)
    digest, delta_kb = out.stdout.split()
    assert digest == h.hexdigest()
    assert int(delta_kb) < 16 * 1024, f"max RSS grew by {delta_kb} kB"


def test_hash_only_used_digests(conn, tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    got = rows(conn, "SELECT md5 FROM hash WHERE path = ?", str(p))
    assert got == [{"md5": hashlib.md5(b"abc").hexdigest()}]
    got = rows(conn, "SELECT path, sha1 FROM hash WHERE path = ?", str(p))
    assert got[0]["sha1"] == hashlib.sha1(b"abc").hexdigest()


def test_file_directory_like_and_glob(conn, tree):
    # directory LIKE expands to directories only (marked with '/'), then lists
    got = rows(conn, "SELECT path, directory FROM file WHERE directory LIKE ?",
               str(tree) + "/d%")
    dirs = {r["directory"] for r in got}
    assert dirs == {str(tree / "dir") + "/", str(tree / "dirlink") + "/"}
    assert {r["path"] for r in got if r["directory"] == str(tree / "dir") + "/"} == \
        {str(tree / "dir" / n) for n in os.listdir(tree / "dir")}
    # a pattern ending in '/' matches directories only
    got = rows(conn, "SELECT path FROM file WHERE path LIKE ?", str(tree) + "/%/")
    assert {r["path"] for r in got} == {p for p in python_one_level(tree) if p.endswith("/")}
    # GLOB is used as a glob pattern directly (osqlite extra)
    got = rows(conn, "SELECT path FROM file WHERE path GLOB ?", str(tree) + "/set*")
    assert {r["path"] for r in got} == {str(tree / "setuid"), str(tree / "setgid")}


def test_hash_ignores_osqlite_root(conn, tmp_path, root):
    p = tmp_path / "x"
    p.write_bytes(b"data")
    root(tmp_path / "elsewhere")
    got = rows(conn, "SELECT sha1 FROM hash WHERE path = ?", str(p))
    assert got == [{"sha1": hashlib.sha1(b"data").hexdigest()}]


def test_hash_proc_kcore_is_not_read(conn):
    """procfs sizes are fiction: a >50 MiB /proc file keeps osquery's empty
    digests instead of reading terabytes."""
    if not os.path.exists("/proc/kcore"):
        pytest.skip("no /proc/kcore here")
    got = rows(conn, "SELECT md5, sha256 FROM hash WHERE path = '/proc/kcore'")
    assert got in ([], [{"md5": "", "sha256": ""}])


def test_hash_proc_small_files_are_hashed(conn):
    data = open("/proc/self/cmdline", "rb").read()   # stable while we run
    got = rows(conn, "SELECT sha1 FROM hash WHERE path = '/proc/self/cmdline'")
    assert got == [{"sha1": hashlib.sha1(data).hexdigest()}]
