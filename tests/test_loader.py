"""Loading the extension: both routes into stdlib sqlite3, the sqlite3
shell, and clear errors when loading cannot work."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import osqlite
from osqlite import extension
from osqlite._sqlite import sqlite3

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"


def test_connect_returns_a_stdlib_connection_with_tables():
    conn = osqlite.connect()
    assert isinstance(conn, sqlite3.Connection)
    names = {r[0] for r in conn.execute("SELECT name FROM osqlite_tables")}
    assert {"osqlite_tables", "osqlite_columns", "etc_hosts"} <= names
    conn.close()


def test_route_follows_the_interpreter():
    want = ("load_extension" if hasattr(sqlite3.Connection, "enable_load_extension")
            else "auto_extension")
    assert osqlite.load_route() == want


def test_extension_path_and_module_entry_point(tmp_path):
    path = osqlite.extension_path()
    assert os.path.isfile(path) and path.endswith("libosqlite.so")
    # Run outside the source tree: `-m` puts the working directory first on
    # sys.path, and the test must see the same osqlite package it imported.
    env = dict(os.environ, PYTHONPATH=str(Path(osqlite.__file__).parent.parent))
    out = subprocess.run([sys.executable, "-m", "osqlite.extension"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == path
    assert "RuntimeWarning" not in out.stderr


def test_library_has_no_python_symbols():
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    out = subprocess.run([nm, "-D", "--undefined-only", osqlite.extension_path()],
                         capture_output=True, text=True, check=True).stdout
    assert "Py" not in out
    defined = subprocess.run([nm, "-D", "--defined-only", osqlite.extension_path()],
                             capture_output=True, text=True, check=True).stdout
    assert "sqlite3_osqlite_init" in defined


@pytest.mark.parametrize("load", [
    ".load {path} sqlite3_osqlite_init",
    ".load {path}",                      # entry point derived from libosqlite.so
    # Loading from inside a statement: built-ins such as ceil() cannot be
    # replaced then, and the load must still succeed.
    "SELECT load_extension('{path}')",
])
def test_sqlite3_shell_loads_the_library(load):
    shell = shutil.which("sqlite3")
    if shell is None:
        pytest.skip("the sqlite3 shell is not installed")
    out = subprocess.run(
        [shell, ":memory:", load.format(path=osqlite.extension_path()),
         "SELECT count(*) FROM osqlite_tables WHERE name = 'etc_hosts'"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_the_other_route_in_another_interpreter():
    """Whichever route this interpreter uses, run the other one too when the
    machine has an interpreter for it (pyenv builds lack
    enable_load_extension; Debian's python3 has it)."""
    candidates = [SYSTEM_PYTHON] + [p for p in (shutil.which("python3.12"),) if p]
    here = osqlite.load_route()
    for python in candidates:
        if not os.path.exists(python):
            continue
        env = dict(os.environ, OSQLITE_EXTENSION=osqlite.extension_path(),
                   PYTHONPATH=str(Path(osqlite.__file__).parent.parent))
        probe = subprocess.run(
            [python, "-c", "import sqlite3;print(hasattr(sqlite3.Connection,"
             "'enable_load_extension'))"], capture_output=True, text=True)
        other = "load_extension" if probe.stdout.strip() == "True" else "auto_extension"
        if other == here:
            continue
        code = ("import osqlite;c=osqlite.connect();"
                "print(osqlite.load_route(), c.execute("
                "\"SELECT count(*) FROM osqlite_tables WHERE name='etc_hosts'\").fetchone()[0])")
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [other, "1"]
        return
    pytest.skip(f"no interpreter here uses the route other than {here}")


def test_missing_library_names_the_fix(monkeypatch):
    monkeypatch.setenv("OSQLITE_EXTENSION", "/nonexistent/libosqlite.so")
    with pytest.raises(osqlite.ExtensionLoadError, match="pip install"):
        extension.extension_path()


def test_no_route_explains_what_to_do(monkeypatch):
    monkeypatch.setattr(extension, "_linked_libsqlite", lambda: None)
    with pytest.raises(osqlite.ExtensionLoadError) as err:
        extension._AutoExtension().register()
    assert "enable_load_extension" in str(err.value)
    assert "sqlite3 shell" in str(err.value)


def test_connections_in_threads_query_at_the_same_time():
    errors: list[BaseException] = []
    counts: list[int] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            conn = osqlite.connect()
            barrier.wait(timeout=30)
            for _ in range(50):
                counts.append(conn.execute(
                    "SELECT count(*) FROM osqlite_columns").fetchone()[0])
            conn.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(counts) == 200 and len(set(counts)) == 1
