"""SQLite tools: tables declared with CREATE VIRTUAL TABLE, python -m
osqlite.schema, the sqlite3 shell's .tables on such a file, `.load osqlite`
after the install command (into a temporary prefix), and the sqlite-utils
plugin from its command line.  The real Datasette server and a browser are
in test_datasette_e2e.py; the default /usr/local install in
test_install_e2e.py."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import osqlite
from osqlite import install, schema
from osqlite._sqlite import sqlite3

REPO = Path(__file__).resolve().parent.parent


def _sqlite3_shell() -> str:
    exe = shutil.which("sqlite3")
    if exe is None:
        pytest.skip("the sqlite3 shell is not installed (Debian package sqlite3)")
    return exe


def _users_oracle() -> list[tuple[int, str]]:
    # users reads /etc/passwd itself; pwd goes through NSS, which is files here.
    return sorted((p.pw_uid, p.pw_name) for p in pwd.getpwall())


def _build_tables(conn) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT name FROM osqlite_tables WHERE origin IN ('osquery', 'osqlite')")}


# --- CREATE VIRTUAL TABLE ------------------------------------------------

def test_declared_table_is_the_eponymous_table(tmp_path):
    db = tmp_path / "t.db"
    c = osqlite.connect(str(db))
    c.execute("CREATE VIRTUAL TABLE accounts USING users")
    c.commit()
    assert c.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall() == [
        ("accounts",)]
    declared = sorted(c.execute("SELECT uid, username FROM accounts"))
    assert declared == sorted(c.execute("SELECT uid, username FROM users"))
    assert declared == _users_oracle()
    c.close()
    # A new connection reaches it through xConnect, constraints pushed down.
    c = osqlite.connect(str(db))
    assert c.execute("SELECT username FROM accounts WHERE uid = 0").fetchall() == [
        (pwd.getpwuid(0).pw_name,)]
    info = [(r[1], r[2]) for r in c.execute("PRAGMA table_info(accounts)")]
    assert info[:3] == [("uid", "BIGINT"), ("gid", "BIGINT"), ("uid_signed", "BIGINT")]
    c.execute("DROP TABLE accounts")
    assert c.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    c.close()


def test_arguments_repeat_the_columns_any_quoting_or_case(conn):
    conn.execute('CREATE VIRTUAL TABLE a USING users(`uid` BIGINT, "username"  text,'
                 ' [uuid] TEXT collate nocase, type TEXT HIDDEN)')
    assert conn.execute("SELECT count(*) FROM a").fetchone()[0] == len(_users_oracle())
    # The table has all its columns whatever subset the arguments name.
    assert "shell" in [r[1] for r in conn.execute("PRAGMA table_info(a)")]


@pytest.mark.parametrize("args, bad", [
    ("uid TEXT", "uid TEXT"),                  # wrong type
    ("nosuch INTEGER", "nosuch INTEGER"),      # not a column
    ("uid BIGINT HIDDEN", "uid BIGINT HIDDEN"),  # uid is not hidden
    ("username TEXT, shell TEXT NOT NULL", "shell TEXT NOT NULL"),  # more than a declaration
])
def test_stale_or_wrong_arguments_are_refused_naming_them(conn, args, bad):
    with pytest.raises(sqlite3.Error) as exc:
        conn.execute(f"CREATE VIRTUAL TABLE b USING users({args})")
    msg = str(exc.value)
    assert f'"{bad}" is not a column of users' in msg
    assert "python -m osqlite.schema" in msg
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_required_columns_still_apply_to_a_declared_table(conn, tmp_path):
    conn.execute("CREATE VIRTUAL TABLE f USING file")
    with pytest.raises(sqlite3.Error, match="required column"):
        conn.execute("SELECT * FROM f").fetchall()
    (tmp_path / "x").write_text("hello")
    row = conn.execute("SELECT size FROM f WHERE path = ?", (str(tmp_path / "x"),)).fetchone()
    assert row == (5,)


# --- python -m osqlite.schema --------------------------------------------

def test_schema_declares_every_table_and_refreshes(tmp_path, conn):
    db = tmp_path / "host.db"
    assert schema.main([str(db)]) == 0
    plain = sqlite3.connect(db)           # no osqlite: the file still lists them
    listed = {r[0] for r in plain.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    sqls = dict(plain.execute("SELECT name, sql FROM sqlite_master"))
    plain.close()
    assert listed == _build_tables(conn)
    assert '`uid` BIGINT' in sqls["users"] and sqls["users"].startswith(
        'CREATE VIRTUAL TABLE "users" USING "users"(')
    # Someone's own table in the same file is kept across a refresh.
    c = osqlite.connect(str(db))
    c.execute("CREATE TABLE notes(x)")
    c.execute("INSERT INTO notes VALUES ('kept')")
    c.commit()
    c.close()
    assert schema.main([str(db), "users", "processes"]) == 0
    c = osqlite.connect(str(db))
    assert c.execute("SELECT x FROM notes").fetchall() == [("kept",)]
    assert sorted(c.execute("SELECT uid, username FROM users")) == _users_oracle()
    assert c.execute("SELECT count(*) FROM processes WHERE pid = ?",
                     (os.getpid(),)).fetchone() == (1,)
    assert {r[0] for r in c.execute(
        "SELECT name FROM sqlite_master WHERE type='table'")} == listed | {"notes"}
    c.close()


def test_schema_refuses_and_leaves_the_file_unchanged(tmp_path, capsys):
    db = tmp_path / "mine.db"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE processes(a)")
    c.commit()
    c.close()
    before = db.read_bytes()
    assert schema.main([str(db)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already has processes that osqlite did not declare" in err
    assert db.read_bytes() == before

    assert schema.main([str(tmp_path / "new.db"), "nosuch_table"]) == 1
    assert "no such osqlite table: nosuch_table" in capsys.readouterr().err

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert schema.main([str(fifo)]) == 1
    assert "is not a regular file" in capsys.readouterr().err

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\xff\xfe not sqlite " * 100)
    assert schema.main([str(junk)]) == 1
    err = capsys.readouterr().err
    assert "junk.db" in err and "Traceback" not in err
    assert junk.read_bytes() == b"\xff\xfe not sqlite " * 100


def test_sqlite3_shell_lists_and_shows_the_tables(tmp_path, conn):
    shell = _sqlite3_shell()
    db = tmp_path / "host.db"
    assert schema.main([str(db)]) == 0
    out = subprocess.run([shell, str(db), ".tables"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert set(out.split()) == _build_tables(conn)
    out = subprocess.run([shell, str(db), ".schema users"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "`username` TEXT" in out and "`shell` TEXT" in out


# --- .load osqlite after the install command ------------------------------

def _shell_load(shell: str, cwd: Path, libdir: Path | None, sql: str):
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    if libdir is not None:
        env["LD_LIBRARY_PATH"] = str(libdir)
    return subprocess.run([shell, ":memory:", ".load osqlite", sql], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def _install_cli(*args: str) -> subprocess.CompletedProcess:
    # From another directory: `python -m` would otherwise import the osqlite
    # of the current directory, not the installed one this test imported (tox).
    return subprocess.run([sys.executable, "-m", "osqlite.extension", *args],
                          capture_output=True, text=True, timeout=120, cwd="/")


def test_install_into_a_prefix_then_load_by_bare_name(tmp_path):
    shell = _sqlite3_shell()
    prefix = tmp_path / "prefix"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    libdir = prefix / "lib"
    proc = _install_cli("--install", "--prefix", str(prefix))
    assert proc.returncode == 0, proc.stderr
    assert f"LD_LIBRARY_PATH={libdir}" in proc.stdout
    lib = libdir / "libosqlite.so"
    assert stat.S_ISREG(lib.lstat().st_mode) and oct(lib.stat().st_mode & 0o777) == "0o644"
    assert os.readlink(libdir / "osqlite.so") == "libosqlite.so"
    assert lib.read_bytes() == Path(osqlite.extension_path()).read_bytes()

    res = _shell_load(shell, elsewhere, libdir, "SELECT username FROM users WHERE uid = 0")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [pwd.getpwuid(0).pw_name]
    # Without the directory on the loader's path the bare name is not found.
    res = _shell_load(shell, elsewhere, None, "SELECT 1")
    assert res.returncode != 0 and "osqlite" in res.stderr

    # Again (an upgrade): the file is replaced by a new inode, never rewritten.
    ino = lib.stat().st_ino
    proc = _install_cli("--install", "--prefix", str(prefix))
    assert proc.returncode == 0, proc.stderr
    assert lib.stat().st_ino != ino
    assert _shell_load(shell, elsewhere, libdir, "SELECT count(*) FROM time").stdout.split() == ["1"]

    proc = _install_cli("--uninstall", "--prefix", str(prefix))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in prefix.iterdir()) == []
    proc = _install_cli("--uninstall", "--prefix", str(prefix))
    assert proc.returncode == 0 and "nothing installed" in proc.stdout


def test_install_never_touches_what_it_did_not_create(tmp_path):
    prefix = tmp_path / "p"
    libdir = prefix / "lib"
    libdir.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("do not touch")
    # A planted link where the library goes, and a foreign file.
    (libdir / "libosqlite.so").symlink_to(secret)
    with pytest.raises(install.InstallError, match="not installed by osqlite"):
        install.install(str(prefix))
    assert secret.read_text() == "do not touch"
    (libdir / "libosqlite.so").unlink()
    (libdir / "osqlite.so").write_text("someone else's")
    with pytest.raises(install.InstallError, match="not osqlite's link"):
        install.install(str(prefix))
    (libdir / "osqlite.so").unlink()

    install.install(str(prefix))
    # Replaced by hand after install: uninstall leaves it, and the link.
    (libdir / "libosqlite.so").unlink()
    (libdir / "libosqlite.so").write_text("admin's own build")
    (libdir / "osqlite.so").unlink()
    (libdir / "osqlite.so").symlink_to(secret)
    lines = install.uninstall(str(prefix))
    assert any("left" in line and "libosqlite.so" in line for line in lines)
    assert any("left" in line and "osqlite.so" in line for line in lines)
    assert (libdir / "libosqlite.so").read_text() == "admin's own build"
    assert secret.read_text() == "do not touch"
    assert not (prefix / "share" / "osqlite").exists()


def test_install_refuses_a_symlink_another_user_planted(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a symlink owned by another user")
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "prefix").symlink_to(real)
    os.lchown(tmp_path / "prefix", 65534, 65534)
    with pytest.raises(install.InstallError, match="symlink owned by uid 65534"):
        install.install(str(tmp_path / "prefix"))
    assert list(real.iterdir()) == []
    # Root's own links are followed (merged /usr: /lib -> usr/lib).
    (tmp_path / "rootlink").symlink_to(real)
    install.install(str(tmp_path / "rootlink"))
    assert (real / "lib" / "libosqlite.so").is_file()
    install.uninstall(str(tmp_path / "rootlink"))
    assert list(real.iterdir()) == []


def test_install_as_root_refuses_a_directory_others_can_write(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the check applies to root only")
    prefix = tmp_path / "open"
    (prefix / "lib").mkdir(parents=True)
    os.chmod(prefix / "lib", 0o777)
    with pytest.raises(install.InstallError, match="writable by group or others"):
        install.install(str(prefix))
    assert list((prefix / "lib").iterdir()) == []


def test_install_cli_errors_are_one_line(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    proc = _install_cli("--install", "--prefix", str(target))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("osqlite: ")
    proc = _install_cli("--prefix", str(tmp_path))
    assert proc.returncode == 2 and "--prefix goes with --install" in proc.stderr
    manifest = tmp_path / "m" / "share" / "osqlite"
    manifest.mkdir(parents=True)
    (manifest / "installed.json").write_bytes(b"\xff{not json")
    proc = _install_cli("--uninstall", "--prefix", str(tmp_path / "m"))
    assert proc.returncode == 1 and "unreadable" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_library_has_the_soname_ldconfig_caches():
    # ldconfig caches lib*.so files under their SONAME; "osqlite.so" is the
    # name `.load osqlite` asks the loader for (osqlite/install.py).
    data = Path(osqlite.extension_path()).read_bytes()
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf is not installed (Debian package binutils)")
    out = subprocess.run([readelf, "-d", osqlite.extension_path()], capture_output=True,
                         text=True, check=True).stdout
    assert "Library soname: [osqlite.so]" in out
    assert data.startswith(b"\x7fELF")


# --- sqlite-utils ---------------------------------------------------------

def _sqlite_utils(*args: str) -> subprocess.CompletedProcess:
    pytest.importorskip("sqlite_utils", reason="sqlite-utils is not installed "
                        "(pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", "sqlite_utils", *args],
                          capture_output=True, text=True, timeout=120)


def test_sqlite_utils_sees_the_tables(tmp_path, conn):
    proc = _sqlite_utils("query", ":memory:",
                         "SELECT username FROM users WHERE uid = 0")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"username": pwd.getpwuid(0).pw_name}]

    db = tmp_path / "host.db"
    assert schema.main([str(db)]) == 0
    proc = _sqlite_utils("tables", str(db))
    assert proc.returncode == 0, proc.stderr
    assert {t["table"] for t in json.loads(proc.stdout)} == _build_tables(conn)
    # --counts counts every table of the file: one without required columns.
    few = tmp_path / "few.db"
    assert schema.main([str(few), "users", "time"]) == 0
    proc = _sqlite_utils("tables", str(few), "--counts")
    assert proc.returncode == 0, proc.stderr
    counts = {t["table"]: t["count"] for t in json.loads(proc.stdout)}
    assert counts == {"users": len(_users_oracle()), "time": 1}

    proc = _sqlite_utils("rows", str(db), "users", "--where", "uid = 0")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["username"] == pwd.getpwuid(0).pw_name
