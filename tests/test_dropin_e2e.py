"""End to end: osqlite started the way an osquery deployment starts osqueryd.

The real daemon as a subprocess with osquery's own test flags, a
deployment's flagfile, osquery's stock packs, the console scripts, and the
process flags (--daemonize, --force, --database_dump).  Every wait is a
bounded poll (daemon_harness.wait_for).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from daemon_harness import REPO, Daemon, environ, run_until_started, wait_for

from osqlite.packs import platform_matches

PACKS = REPO / "tests" / "fixtures" / "osquery-packs"
TICK = {"query": "SELECT 1 AS t", "interval": 1, "snapshot": True}
BIN = Path(sys.executable).parent


def daemon_cmd() -> list[str]:
    return [sys.executable, "-m", "osqlite.daemon"]


def pack_queries(path: Path) -> dict:
    text = path.read_text().replace("\\\n", "")
    return json.loads("\n".join(ln for ln in text.split("\n") if not ln.strip().startswith("#")))


def warning_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("W")]


# -- osquery's usual test flags ----------------------------------------------------------

def test_osquerys_test_flags_start_write_the_pidfile_and_exit_0_on_sigint(tmp_path):
    pidfile = tmp_path / "osqueryd.pidfile"
    flags = ["--flagfile=/dev/null", "--config_path=/dev/null", f"--pidfile={pidfile}",
             "--extensions_autoload=/dev/null", "--extensions_socket=/dev/null",
             "--disable_database=true", "--disable_extensions=true", "--disable_logging=true",
             "--disable_events=true", "--force=true", "--watchdog_level=3"]
    text = run_until_started(daemon_cmd() + flags, tmp_path, cwd=tmp_path,
                             running=lambda proc: wait_for(
                                 lambda: pidfile.exists() and pidfile.read_text() == str(proc.pid),
                                 what="the pidfile holding the daemon's pid"))
    assert "Traceback" not in text
    assert not pidfile.exists()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not os.path.lexists("/dev/null-journal")
    inert = [ln for ln in text.splitlines() if "accepted but have no effect" in ln]
    assert inert == []     # extensions and the watchdog are implemented: nothing is inert here
    assert "Error reading config: /dev/null: config file is a character device" in text
    assert "logging to nowhere (--disable_logging), 0 scheduled queries" in text


# -- a deployment's flagfile ---------------------------------------------------------------

DEPLOYMENT_FLAGS = """\
# /etc/osquery/osquery.flags from an osquery deployment (TLS manager, extensions, watchdog)
--config_plugin=filesystem
--logger_plugin=filesystem
--host_identifier=uuid
--tls_hostname=fleet.example.com:8080
--tls_server_certs=/etc/osquery/fleet.pem
--enroll_secret_path=/etc/osquery/enroll_secret
--enroll_tls_endpoint=/api/osquery/enroll
--config_tls_endpoint=/api/osquery/config
--config_refresh=10
--logger_tls_endpoint=/api/osquery/log
--logger_tls_period=10
--distributed_plugin=tls
--distributed_interval=10
--distributed_tls_max_attempts=3
--distributed_tls_read_endpoint=/api/osquery/distributed/read
--distributed_tls_write_endpoint=/api/osquery/distributed/write
--disable_distributed=true
--extensions_socket=/var/osquery/osquery.em
--extensions_autoload=/etc/osquery/extensions.load
--extensions_timeout=3
--extensions_interval=3
--watchdog_level=0
--watchdog_memory_limit=350
--watchdog_utilization_limit=130
--watchdog_delay=60
--enable_watchdog_debug=false
--disable_carver=true
--allow_unsafe
--utc
--schedule_splay_percent=101
--logger_mode=0640
--events_expiry=3600
--disable_events=true
--aws_kinesis_stream=osquery-results
"""


def test_a_deployment_flagfile_starts_with_one_warning_line(tmp_path, daemons):
    (tmp_path / "osquery.flags").write_text(DEPLOYMENT_FLAGS)
    d = Daemon(tmp_path, {"schedule": {"tick": TICK}})
    daemons.append(d)
    d.flags = {"flagfile": tmp_path / "osquery.flags", **d.flags}
    d.start()
    d.wait_snapshots("tick", 1)
    warnings = warning_lines(d.warning())
    assert len(warnings) == 1, warnings
    [line] = warnings
    assert "These osquery flags are accepted but have no effect in osqlite:" in line
    for name in ("aws_kinesis_stream",):
        assert f"--{name}" in line
    # The TLS remote API's and the extensions' flags are implemented.
    for name in ("config_refresh", "host_identifier", "logger_mode", "disable_carver", "utc",
                 "extensions_socket", "extensions_timeout", "allow_unsafe",
                 "tls_hostname", "enroll_secret_path", "distributed_interval", "logger_tls_period",
                 "watchdog_level", "watchdog_memory_limit", "watchdog_utilization_limit",
                 "watchdog_delay", "enable_watchdog_debug"):
        assert f"--{name}," not in line and not line.endswith(f"--{name}")
    assert d.stop() == 0


# -- osquery's stock packs -----------------------------------------------------------------

@pytest.mark.parametrize("pack", sorted(p.stem for p in PACKS.glob("*.conf")))
def test_every_stock_pack_passes_config_check(tmp_path, pack):
    d = Daemon(tmp_path, {"packs": {pack: str(PACKS / f"{pack}.conf")}})
    res = d.run("--config_check")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "Error reading config" not in res.stderr


def test_all_stock_packs_through_a_glob(tmp_path):
    d = Daemon(tmp_path, {"packs": {"*": str(PACKS / "*.conf")}})
    res = d.run("--config_check")
    assert res.returncode == 0, res.stderr
    # The one query osquery itself can no longer run (its table is gone).
    assert [ln for ln in res.stderr.splitlines() if "does not compile" in ln] == [
        ln for ln in res.stderr.splitlines() if "opera_extensions" in ln]


def test_incident_response_schedules_exactly_its_linux_queries(tmp_path, daemons):
    raw = pack_queries(PACKS / "incident-response.conf")
    linux = {f"pack_incident-response_{n}" for n, q in raw["queries"].items()
             if platform_matches(q.get("platform", ""))}
    assert len(linux) == 18
    d = Daemon(tmp_path, {"packs": {"incident-response": str(PACKS / "incident-response.conf")},
                          "schedule": {"names": {"query": "SELECT name FROM osquery_schedule",
                                                 "interval": 1, "snapshot": True}}})
    daemons.append(d)
    d.start()
    [snap] = d.wait_snapshots("names", 1)[:1]
    assert {r["name"] for r in snap["snapshot"]} == linux | {"names"}
    assert "19 scheduled queries" in d.info()
    assert warning_lines(d.warning()) == []
    assert d.stop() == 0


# -- bad SQL is that query's problem ---------------------------------------------------------

def test_bad_sql_next_to_good_the_good_one_logs(tmp_path, daemons):
    d = Daemon(tmp_path, {"schedule": {
        "typo": {"query": "SELECT * FROM processs", "interval": 1},
        "good": {"query": "SELECT 'fine' AS status", "interval": 1, "snapshot": True},
        "mac_only": {"query": "SELECT * FROM launchd", "interval": 1, "platform": "darwin"}}})
    daemons.append(d)
    d.start()
    assert d.wait_snapshots("good", 1)[0]["snapshot"] == [{"status": "fine"}]
    [warning] = warning_lines(d.warning())
    assert (f"Scheduled query typo in {d.config_path} does not compile and is skipped: "
            "no such table: processs") in warning
    assert "1 scheduled query" in d.info()


def test_schedule_default_interval_zero_or_negative_through_sighup(tmp_path, daemons):
    d = Daemon(tmp_path, {"schedule": {"tick": TICK}})
    daemons.append(d)
    d.start()
    d.wait_snapshots("tick", 1)
    def reload() -> None:
        count = d.info().count("Config reloaded")
        d.signal(signal.SIGHUP)
        wait_for(lambda: d.info().count("Config reloaded") > count, what="a reload", daemon=d)

    for value in (0, -5, "0", "abc"):
        d.write_config({"options": {"schedule_default_interval": value},
                        "schedule": {"tick": TICK, "noint": {"query": "SELECT 2 AS n"}}})
        reload()      # the options apply; the next read of the schedule uses them (osquery)
        reload()
        before = len(d.snapshots("tick"))
        wait_for(lambda n=before: len(d.snapshots("tick")) > n + 1, what="ticks after reload", daemon=d)
    assert d.proc.poll() is None
    warnings = d.warning()
    assert "Query has invalid interval: noint: 0" in warnings
    assert "illegal value '-5' for a uint64 flag" in warnings
    assert "Traceback" not in warnings + (tmp_path / "stderr.txt").read_text()
    assert d.stop() == 0


# -- paths that are not files ----------------------------------------------------------------

@pytest.mark.parametrize("flag", ["database_path", "pidfile"])
def test_a_device_as_database_or_pidfile_is_refused_and_left_alone(tmp_path, flag):
    d = Daemon(tmp_path, {"schedule": {"tick": TICK}}, **{flag: "/dev/null"})
    res = d.run(timeout=30)
    assert res.returncode == 1
    assert f"--{flag}=/dev/null is a character device, not a regular file" in res.stderr
    assert "Traceback" not in res.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not os.path.lexists("/dev/null-journal") and not os.path.lexists("/dev/null-wal")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log", "osqueryd.conf"]
    assert list((tmp_path / "log").iterdir()) == []


# -- plugins ---------------------------------------------------------------------------------

def test_two_loggers_at_once_and_an_unknown_one(tmp_path):
    d = Daemon(tmp_path, {"schedule": {"tick": TICK}}, logger_plugin="filesystem,stdout")
    out = open(tmp_path / "stdout", "w")
    proc = subprocess.Popen(d.argv(), cwd=REPO, env=d.environ(), stdout=out,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: '"name":"tick"' in (tmp_path / "stdout").read_text(), what="a stdout line")
        wait_for(lambda: d.snapshots("tick"), what="a results-file line")
        line = next(ln for ln in (tmp_path / "stdout").read_text().splitlines() if '"name":"tick"' in ln)
        assert json.loads(line)["snapshot"] == [{"t": "1"}]
    finally:
        proc.terminate()
        proc.wait(30)
        out.close()
    bad = d.run(logger_plugin="filesystem,aws_kinesis")
    assert bad.returncode == 78
    assert "Cannot activate aws_kinesis logger plugin: Unknown registry plugin: aws_kinesis" in bad.stderr
    bad = d.run(config_plugin="nope")
    assert bad.returncode == 78 and "Cannot activate nope config plugin" in bad.stderr


# -- process flags ---------------------------------------------------------------------------

def test_daemonize(tmp_path):
    d = Daemon(tmp_path, {"schedule": {"tick": TICK}})
    res = subprocess.run(d.argv(daemonize="true"), cwd=REPO, env=d.environ(),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    pidfile = Path(d.flags["pidfile"])
    wait_for(lambda: pidfile.exists() and pidfile.read_text().isdigit(), what="pidfile")
    pid = int(pidfile.read_text())
    try:
        wait_for(lambda: d.snapshots("tick"), what="results from the detached daemon")
        assert os.getsid(pid) == pid             # its own session
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pidfile.exists(), what="the daemon to stop")


def test_force_takes_the_pidfile_from_a_running_daemon(tmp_path, daemons):
    first = Daemon(tmp_path / "one" if (tmp_path / "one").mkdir() is None else tmp_path,
                   {"schedule": {"tick": TICK}}, pidfile=tmp_path / "shared.pid")
    daemons.append(first)
    first.start()
    second = Daemon(tmp_path / "two" if (tmp_path / "two").mkdir() is None else tmp_path,
                    {"schedule": {"tick": TICK}}, pidfile=tmp_path / "shared.pid")
    daemons.append(second)
    second.start(force="true")
    assert first.proc.wait(30) == 0              # stopped cleanly by SIGTERM
    wait_for(lambda: (tmp_path / "shared.pid").read_text() == str(second.proc.pid),
             what="the pidfile to change hands")
    # Said by the second daemon's watcher, which holds the pidfile: on its stderr.
    assert "Killing osqueryd process" in (second.tmp / "stderr.txt").read_text()


def test_database_dump(tmp_path, daemons):
    d = Daemon(tmp_path, {"schedule": {"tick": TICK, "diffq": {"query": "SELECT 7 AS seven",
                                                               "interval": 1}}})
    daemons.append(d)
    d.start()
    d.wait_results("diffq", 1)
    live = d.run("--database_dump")               # read-only, beside the running daemon
    assert live.returncode == 0, live.stderr
    assert d.stop() == 0
    res = d.run("--database_dump")
    assert res.returncode == 0 and res.stderr == ""
    lines = res.stdout.splitlines()
    assert any(ln.startswith("kv[instance_uuid_v1]: ") for ln in lines)
    [results] = [ln for ln in lines if ln.startswith("results[diffq]: ")]
    stored = json.loads(results.split(": ", 1)[1])
    assert stored["query"] == "SELECT 7 AS seven" and stored["epoch"] == 0
    assert any(ln.startswith("results[diffq]: ") for ln in live.stdout.splitlines())
    before = sorted(p.name for p in tmp_path.iterdir())
    none = Daemon(tmp_path, database_path=tmp_path / "absent.db").run("--database_dump")
    assert none.returncode == 0 and "no state database" in none.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# -- the commands --------------------------------------------------------------------------------

def scripts() -> dict[str, Path]:
    found = {n: BIN / n for n in ("osqueryd", "osqlited", "osqueryi", "osqlite")}
    missing = [n for n, p in found.items() if not p.exists()]
    if missing:
        pytest.skip(f"console scripts not installed next to {sys.executable}: {missing} "
                    "(pip install -e . installs them)")
    return found


def test_console_scripts(tmp_path):
    s = scripts()
    for name in ("osqueryd", "osqlited"):
        res = subprocess.run([s[name], "--version"], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0 and res.stdout.startswith(f"{name} version 5.23.0 (osqlite ")
        helptext = subprocess.run([s[name], "--help"], capture_output=True, text=True, timeout=30)
        assert helptext.returncode == 0
        assert "osquery command line flags:" in helptext.stdout
        assert "osquery configuration options (set by config or CLI flags):" in helptext.stdout
    # The shell's names, and -S/--S on the daemon's, run osqueryi.
    for argv in ([s["osqueryi"]], [s["osqlite"]], [s["osqueryd"], "-S"], [s["osqlited"], "--S"],
                 [sys.executable, "-m", "osqlite"]):
        res = subprocess.run(argv + ["--json", "SELECT 1 AS one"], capture_output=True, text=True,
                             timeout=30, cwd=tmp_path)
        assert res.returncode == 0 and json.loads(res.stdout) == [{"one": "1"}], (argv, res.stderr)
    # -D makes the shell's names the daemon, as osquery's single binary.
    res = subprocess.run([s["osqueryi"], "-D", "--version"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and "version 5.23.0" in res.stdout
    res = subprocess.run([s["osqueryd"], "SELECT 1"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and "unexpected argument 'SELECT 1'" in res.stderr
    copy = tmp_path / "osqueryd"
    shutil.copy(s["osqlite"], copy)            # a shell script renamed osqueryd is the daemon
    res = subprocess.run([copy, "--version"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and res.stdout.startswith("osqueryd version")


def test_unknown_flag_is_gflags_error(tmp_path):
    res = subprocess.run(daemon_cmd() + ["--verbose", "--tls_hostnam=x", "--db_path=/x"],
                         cwd=tmp_path, env=environ(), capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert res.stderr == "ERROR: unknown command line flag 'tls_hostnam'\n"


# -- the README's quickstart and the seed's sample -----------------------------------------

def readme_block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    return block.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")


def test_readme_daemon_quickstart_logs_where_it_says(tmp_path):
    command = readme_block("quickstart:daemon").replace("/tmp/osq", str(tmp_path / "osq"))
    argv = command.split()
    assert argv[0] == "osqlited"
    logs = tmp_path / "osq"
    # Not the default /var/osquery/osquery.em: a test leaves the machine as it was.
    sockets = tempfile.mkdtemp(prefix="osqem-")
    try:
        text = run_until_started(daemon_cmd() + argv[1:] + [f"--extensions_socket={sockets}/em"],
                                 tmp_path)
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    n = len(json.loads("\n".join(ln for ln in (REPO / "conf" / "linux.conf").read_text().split("\n")
                                 if not ln.strip().startswith("//")))["schedule"])
    assert f"config conf/linux.conf (filesystem), logging to {logs} (filesystem), {n} scheduled queries" in text
    assert warning_lines(text) == []
    for name in ("osqueryd.results.log", "osqueryd.INFO", "osquery.db"):
        assert (logs / name).exists(), name
    assert "daemon started" in (logs / "osqueryd.INFO").read_text()


def test_the_seed_sample_checks_clean_once_its_pack_is_installed(tmp_path):
    sample = (REPO / "conf" / "osqueryd.conf").read_text()
    assert '"/etc/osquery/process-monitor.conf"' in sample
    # As after `make install-packs`: the same file, the pack where the sample says.
    installed = tmp_path / "osqueryd.conf"
    installed.write_text(sample.replace("/etc/osquery/process-monitor.conf",
                                        str(REPO / "conf" / "packs" / "process-monitor.conf")))
    res = subprocess.run(daemon_cmd() + [f"--config_path={installed}", "--config_check_strict"],
                         cwd=tmp_path, env=environ(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    # No warning at all: the sample's enable_monitor is the watchdog, on by default.
    assert warning_lines(res.stderr) == []
