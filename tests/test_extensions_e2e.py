"""The real daemon (and osqueryi) with real osquery-python extensions.

Every extension here is a script written against osquery-python's
documented API (``osquery.start_extension`` with a TablePlugin,
ConfigPlugin or LoggerPlugin), run as its own process by
--extensions_autoload, exactly as under osqueryd.  The tests check it from
every side: a scheduled query's results in the log, the shell (its own
manager with --extension, and --connect to the daemon), and
ExtensionManager.query through osquery-python's ExtensionClient.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("osquery", reason="osquery-python (the test extra 'osquery') is not installed")

from daemon_harness import REPO, Daemon, environ, wait_for  # noqa: E402
from ext_helpers import em_client, is_char_device, python_extension, short_dir  # noqa: E402

PETS = """
import json, os
import osquery

@osquery.register_plugin
class Pets(osquery.TablePlugin):
    def name(self):
        return "pets"

    def columns(self):
        return [osquery.TableColumn(name="name", type=osquery.STRING),
                osquery.TableColumn(name="legs", type=osquery.INTEGER),
                osquery.TableColumn(name="pid", type=osquery.INTEGER)]

    def generate(self, context):
        with open(os.environ["PETS_CONTEXTS"], "a") as f:
            f.write(json.dumps(context) + "\\n")
        return [{"name": "rex", "legs": 4, "pid": os.getpid()},
                {"name": "tweety", "legs": 2, "pid": os.getpid()},
                {"name": "nemo", "legs": 0, "pid": os.getpid()}]
"""

CONFIG_AND_LOGGER = """
import json, os
import osquery

@osquery.register_plugin
class Config(osquery.ConfigPlugin):
    def name(self):
        return "zoo_config"

    def content(self):
        return [{"zoo": json.dumps({"schedule": {
            "from_extension": {"query": "SELECT 40 + 2 AS answer", "interval": 1}}})}]

@osquery.register_plugin
class Logger(osquery.LoggerPlugin):
    def name(self):
        return "zoo_logger"

    def log_string(self, value):
        with open(os.environ["ZOO_LOG"], "a") as f:
            f.write(value + "\\n")
        return osquery.extensions.ttypes.ExtensionStatus(code=0, message="OK")
"""


def start_call(name: str) -> str:
    return f"osquery.start_extension(name={name!r}, version='1.0.0')"


@pytest.fixture
def zoo(tmp_path):
    """The pets extension, its autoload file and where its contexts go."""
    ext = python_extension(tmp_path / "pets.ext", PETS, start_call("pets_ext"))
    load = tmp_path / "extensions.load"
    load.write_text(f"{ext}\n")
    contexts = tmp_path / "contexts.jsonl"
    return ext, load, contexts


def daemon_with(tmp_path, config, contexts=None, **flags):
    d = Daemon(tmp_path, config, **{"schedule_splay_percent": 0, "extensions_timeout": 5,
                                    "extensions_interval": 1, **flags})
    if contexts is not None:
        d.env["PETS_CONTEXTS"] = str(contexts)
    return d


def em_path(d: Daemon) -> str:
    return str(d.flags["extensions_socket"])


def extensions(d: Daemon) -> dict:
    c = em_client(em_path(d))
    try:
        return c.extension_manager_client().extensions()
    finally:
        c.close()


def em_query(d: Daemon, sql: str):
    c = em_client(em_path(d))
    try:
        return c.extension_manager_client().query(sql)
    finally:
        c.close()


def osqueryi(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "osqlite.shell", *args], cwd=REPO,
                          env=environ(env), capture_output=True, text=True, timeout=timeout)


def test_autoloaded_table_in_schedule_shell_and_manager(tmp_path, zoo):
    ext, load, contexts = zoo
    d = daemon_with(tmp_path, {"schedule": {"pets": {
        "query": "SELECT name, legs FROM pets WHERE legs > 1", "interval": 1}}}, contexts,
        extensions_autoload=load)
    d.start()
    try:
        # A scheduled query on the extension's table: its rows in the results log.
        lines = d.wait_results("pets", 2)
        assert sorted(x["columns"]["name"] for x in lines[:2]) == ["rex", "tweety"]
        assert all(x["action"] == "added" for x in lines[:2])
        # The WHERE reached the extension in osquery's query context.
        ctx = json.loads(contexts.read_text().splitlines()[0])
        legs = next(c for c in ctx["constraints"] if c["name"] == "legs")
        assert legs == {"name": "legs", "list": [{"op": 4, "expr": "1"}], "affinity": "INTEGER"}
        assert ctx["colsUsed"] == ["legs", "name"]

        # ExtensionManager.query through osquery-python's client.
        r = em_query(d, "SELECT name, legs FROM pets WHERE name = 'rex'")
        assert r.status.code == 0 and r.response == [{"name": "rex", "legs": "4"}]
        exts = extensions(d)
        assert [e.name for e in exts.values()] == ["pets_ext"]
        uuid = next(iter(exts))
        r = em_query(d, "SELECT uuid, name, version, path, type FROM osquery_extensions")
        assert r.response == [
            {"uuid": "0", "name": "core", "version": "5.23.0", "path": em_path(d), "type": "core"},
            {"uuid": str(uuid), "name": "pets_ext", "version": "1.0.0",
             "path": f"{em_path(d)}.{uuid}", "type": "extension"}]
        r = em_query(d, "SELECT registry, owner_uuid, internal FROM osquery_registry "
                        "WHERE name = 'pets'")
        assert r.response == [{"registry": "table", "owner_uuid": str(uuid), "internal": "0"}]
        r = em_query(d, "SELECT extensions FROM osquery_info")
        assert r.response == [{"extensions": "active"}]

        # osqueryi --connect: the daemon's tables and its live schedule figures.
        out = osqueryi(f"--connect={em_path(d)}", "--csv", "--header=false",
                       "SELECT name, executions > 0 FROM osquery_schedule")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[-1] == "pets|1"
        out = osqueryi(f"--connect={em_path(d)}", "--json", "SELECT name FROM pets WHERE legs = 0")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout[out.stdout.index("["):]) == [{"name": "nemo"}]
        pid = _extension_pid(d)
    finally:
        assert d.stop() == 0
    # The autoloaded extension went with the daemon, the socket too.
    assert not os.path.exists(em_path(d))
    wait_for(lambda: not _alive(pid), what="the extension to exit")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def test_shell_loads_an_extension(tmp_path, zoo):
    ext, _, contexts = zoo
    sockets = short_dir()
    env = {"PETS_CONTEXTS": str(contexts), "HOME": str(tmp_path)}
    try:
        out = osqueryi(f"--extension={ext}", f"--extensions_socket={sockets}/shell.em", "--json",
                       "SELECT name, legs FROM pets WHERE legs >= 2 ORDER BY name", env=env)
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"name": "rex", "legs": "4"}, {"name": "tweety", "legs": "2"}]
    # .tables lists it, and the default socket is ~/.osquery/shell.em.
    out = osqueryi(f"--extension={ext}", "-L", env=env)
    assert out.returncode == 0, out.stderr
    assert "  => pets\n" in out.stdout
    assert not os.path.exists(tmp_path / ".osquery" / "shell.em")    # removed at exit


def test_config_and_logger_plugins_from_an_extension(tmp_path):
    ext = python_extension(tmp_path / "zoo.ext", CONFIG_AND_LOGGER, start_call("zoo"))
    load = tmp_path / "extensions.load"
    load.write_text(f"{ext}\n")
    zoo_log = tmp_path / "zoo.log"
    d = daemon_with(tmp_path, None, extensions_autoload=load, config_plugin="zoo_config",
                    logger_plugin="filesystem,zoo_logger")
    d.env["ZOO_LOG"] = str(zoo_log)
    d.start()
    try:
        assert "config zoo (zoo_config)" in d.info() or "(zoo_config)" in d.info()
        lines = d.wait_results("from_extension", 1)
        assert lines[0]["columns"] == {"answer": "42"}
        logged = wait_for(lambda: zoo_log.exists() and [json.loads(x) for x in
                                                        zoo_log.read_text().splitlines()],
                          what="a result line in the extension's logger", daemon=d)
        assert logged[0]["name"] == "from_extension" and logged[0]["columns"] == {"answer": "42"}
        r = em_query(d, "SELECT registry, name, active FROM osquery_registry WHERE owner_uuid > 0 "
                        "ORDER BY registry")
        assert r.response == [{"registry": "config", "name": "zoo_config", "active": "1"},
                              {"registry": "logger", "name": "zoo_logger", "active": "1"}]
    finally:
        assert d.stop() == 0


def test_logger_extension_restart_loses_no_line(tmp_path):
    psutil = pytest.importorskip("psutil", reason="psutil (test extra) is not installed")
    body = CONFIG_AND_LOGGER.replace('"interval": 1}', '"interval": 1, "snapshot": True}')
    ext = python_extension(tmp_path / "zoo.ext", body, start_call("zoo"))
    (tmp_path / "extensions.load").write_text(f"{ext}\n")
    zoo_log = tmp_path / "zoo.log"
    d = daemon_with(tmp_path, None, extensions_autoload=tmp_path / "extensions.load",
                    config_plugin="zoo_config", logger_plugin="filesystem,zoo_logger")
    d.env["ZOO_LOG"] = str(zoo_log)
    d.start()

    def received() -> list[str]:
        return zoo_log.read_text().splitlines() if zoo_log.exists() else []
    try:
        wait_for(lambda: len(received()) >= 2, what="two lines in the extension", daemon=d)
        [child] = [p for p in psutil.Process(d.proc.pid).children(recursive=True)
                   if any("zoo.ext" in a for a in p.cmdline())]
        child.kill()
        n = len(d.snapshots("from_extension"))
        d.wait_snapshots("from_extension", n + 4)
        # Every line the file logger wrote reaches the restarted extension too.
        want = d.text("osqueryd.snapshots.log").splitlines()[:n + 3]
        wait_for(lambda: set(want) <= set(received()), what="the kept lines", daemon=d)
    finally:
        assert d.stop() == 0


def _extension_pid(d: Daemon) -> int:
    r = em_query(d, "SELECT pid FROM pets LIMIT 1")
    assert r.status.code == 0, r.status.message
    return int(r.response[0]["pid"])


def test_killed_extension_fails_cleanly_and_restarts(tmp_path, zoo):
    ext, load, contexts = zoo
    d = daemon_with(tmp_path, {"schedule": {"pets": {"query": "SELECT name FROM pets",
                                                     "interval": 1}}}, contexts,
                    extensions_autoload=load)
    d.start()
    try:
        first = next(iter(wait_for(lambda: extensions(d), what="registration", daemon=d)))
        pid = _extension_pid(d)
        os.kill(pid, signal.SIGKILL)
        r = em_query(d, "SELECT name FROM pets")
        # The call fails (not deregistered yet), the table is going, or gone.
        assert r.status.code == 1
        assert (r.status.message.startswith("pets: the extension ")
                or r.status.message == "no such table: pets"), r.status.message
        assert d.proc.poll() is None and em_query(d, "SELECT 1 AS one").response == [{"one": "1"}]
        # Autoload starts it again, under a new uuid; the table works again.
        again = wait_for(lambda: [u for u in extensions(d) if u != first], what="a restart",
                         daemon=d)
        assert again and _extension_pid(d) != pid
        assert "Extension " in d.warning() and "exited (signal 9)" in d.warning()
    finally:
        assert d.stop() == 0


def test_hung_extension_times_out_and_is_replaced(tmp_path, zoo):
    ext, load, contexts = zoo
    d = daemon_with(tmp_path, {}, contexts, extensions_autoload=load, extensions_timeout=1)
    d.start()
    try:
        first = next(iter(wait_for(lambda: extensions(d), what="registration", daemon=d)))
        pid = _extension_pid(d)
        os.kill(pid, signal.SIGSTOP)
        try:
            r = em_query(d, "SELECT name FROM pets")
            assert r.status.code == 1
            assert ("did not answer within 1 s (--extensions_timeout)" in r.status.message
                    or r.status.message.startswith("pets: the extension that provided")
                    or r.status.message == "no such table: pets"), r.status.message
            # Its pings fail: deregistered, killed, and started again.
            wait_for(lambda: [u for u in extensions(d) if u != first], what="a new instance",
                     daemon=d)
            assert "Extension UUID %d has gone away" % first in d.info()
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        assert _extension_pid(d) != pid and d.proc.poll() is None
    finally:
        assert d.stop() == 0


def _socket_case(tmp_path: Path, path: str) -> Daemon:
    d = daemon_with(tmp_path, {"schedule": {"tick": {"query": "SELECT 1 AS t", "interval": 1}}},
                    extensions_socket=path)
    d.start()
    try:
        d.wait_results("tick", 1)               # the daemon runs on, without extensions
        text = (tmp_path / "stderr.txt").read_text() + d.info()
        assert "An error occurred during extension manager startup" in text
        assert f"--extensions_socket={path} is " in text
    finally:
        assert d.stop() == 0
    return d


def test_stale_socket_path_safety_regular_file(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("do not delete\n")
    _socket_case(tmp_path, str(victim))
    assert victim.read_text() == "do not delete\n"


def test_stale_socket_path_safety_device_nodes(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mknod needs root (and /dev/null's case only matters as root)")
    node = tmp_path / "null-copy"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    _socket_case(tmp_path / "", str(node))
    assert is_char_device(str(node), 1, 3)
    (tmp_path / "b").mkdir()
    _socket_case(tmp_path / "b", "/dev/null")        # osquery's own test flags
    assert is_char_device("/dev/null", 1, 3)


def test_stale_socket_of_a_killed_daemon_is_reused(tmp_path):
    d = daemon_with(tmp_path, {})
    d.start()
    path = em_path(d)
    # The whole daemon dies at once (watcher and worker), as when systemd
    # kills its cgroup: nothing is left to remove the socket.
    psutil = pytest.importorskip("psutil", reason="psutil (test extra) is not installed")
    for p in psutil.Process(d.proc.pid).children(recursive=True):
        p.kill()
    d.proc.kill()
    d.proc.wait()
    d.proc = None
    assert stat.S_ISSOCK(os.lstat(path).st_mode)     # left behind
    d.start()
    try:
        assert extensions(d) == {}
    finally:
        assert d.stop() == 0


def test_disabled_and_required(tmp_path):
    d = daemon_with(tmp_path, {"schedule": {"info": {"query": "SELECT extensions FROM osquery_info",
                                                     "interval": 1}}},
                    disable_extensions="true")
    d.start()
    try:
        assert d.wait_results("info", 1)[0]["columns"] == {"extensions": "inactive"}
        assert not os.path.exists(em_path(d))
    finally:
        assert d.stop() == 0
    (tmp_path / "r").mkdir()
    d = daemon_with(tmp_path / "r", {}, extensions_require="nope", extensions_timeout=1)
    d.start()
    try:
        assert "Required extension not found or not loaded: nope" in d.text("osqueryd.ERROR")
        assert extensions(d) == {}                   # the manager serves on regardless
    finally:
        assert d.stop() == 0


def test_query_skipped_at_load_runs_once_its_table_exists(tmp_path, zoo):
    """A scheduled query on a table no extension has yet is skipped at load;
    when an extension (started by hand, not autoloaded) registers that table,
    the config is loaded again and the query runs."""
    ext, _, contexts = zoo
    d = daemon_with(tmp_path, {"schedule": {"late": {"query": "SELECT name FROM pets",
                                                     "interval": 1}}}, contexts)
    d.start()
    proc = None
    try:
        assert "no such table: pets" in d.warning()
        env = environ({"PETS_CONTEXTS": str(contexts)})
        proc = subprocess.Popen([str(ext), "--socket", em_path(d), "--timeout", "5",
                                 "--interval", "1"], env=env)
        lines = d.wait_results("late", 3)
        assert {x["columns"]["name"] for x in lines} == {"rex", "tweety", "nemo"}
    finally:
        assert d.stop() == 0
        if proc is not None:
            # The extension's own watcher ends it once the manager is gone.
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("the extension outlived the daemon's manager") from None


def test_interactive_shell_serves_extensions(tmp_path, zoo):
    pexpect = pytest.importorskip("pexpect", reason="pexpect (test extra) is not installed")
    ext, _, contexts = zoo
    env = environ({"PETS_CONTEXTS": str(contexts), "HOME": str(tmp_path), "TERM": "dumb"})
    child = pexpect.spawn(sys.executable, ["-m", "osqlite.shell", f"--extension={ext}"],
                          cwd=str(REPO), env=env, timeout=30, encoding="utf-8")
    try:
        child.expect_exact("osquery> ")
        deadline = time.monotonic() + 30
        while True:
            child.sendline("SELECT count(*) AS n FROM pets;")
            i = child.expect([r"\| 3 +\|", "no such table: pets"])
            child.expect_exact("osquery> ")
            if i == 0:
                break
            assert time.monotonic() < deadline, "the extension never registered"
            time.sleep(0.3)
        sock = tmp_path / ".osquery" / "shell.em"
        assert stat.S_ISSOCK(os.lstat(sock).st_mode)
        assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o600
        child.sendline(".socket")
        child.expect_exact(str(sock))
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert not os.path.exists(tmp_path / ".osquery" / "shell.em")
