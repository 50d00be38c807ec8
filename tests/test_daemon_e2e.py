"""End to end: the real daemon as a subprocess, asserted through its real log files.

Intervals are 1-2 s, splay is off (--schedule_splay_percent=101), and every
wait is a bounded poll of a log file.  Data that changes comes from real
tables: etc_hosts under an OSQLITE_ROOT tree the test edits, processes
(when built), and the daemon's own osquery_* tables.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_harness import REPO, Daemon, wait_for

import osqlite

TICK = {"query": "SELECT 1 AS t", "interval": 1, "snapshot": True}
HOSTS = "etc_hosts_diff"


def hosts_root(tmp_path: Path, *entries: str) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True, exist_ok=True)
    set_hosts(root, *entries)
    return root


def set_hosts(root: Path, *entries: str) -> None:
    tmp = root / "etc" / "hosts.tmp"
    tmp.write_text("".join(e + "\n" for e in entries))
    os.replace(tmp, root / "etc" / "hosts")


def ticks(d: Daemon) -> int:
    return len(d.snapshots("tick"))


def wait_more_ticks(d: Daemon, n: int = 3) -> None:
    start = ticks(d)
    wait_for(lambda: ticks(d) >= start + n, what=f"{n} more ticks", daemon=d)


def make(daemons: list, tmp_path: Path, config, **flags) -> Daemon:
    d = Daemon(tmp_path, config, **flags)
    daemons.append(d)
    return d


def has_table(name: str) -> bool:
    c = osqlite.connect()
    try:
        return c.execute("SELECT count(*) FROM osqlite_tables WHERE name = ?", (name,)).fetchone()[0] > 0
    finally:
        c.close()


# -- differential results -------------------------------------------------------------

def test_added_removed_counter_and_quiet_when_unchanged(tmp_path, daemons):
    root = hosts_root(tmp_path, "10.0.0.1 alpha", "10.0.0.2 beta")
    d = make(daemons, tmp_path, {"schedule": {
        HOSTS: {"query": "SELECT address, hostnames FROM etc_hosts", "interval": 1}, "tick": TICK}})
    d.env["OSQLITE_ROOT"] = str(root)
    d.start()
    first = d.wait_results(HOSTS, 2)
    assert {(x["action"], x["counter"], x["columns"]["address"]) for x in first} == {
        ("added", 0, "10.0.0.1"), ("added", 0, "10.0.0.2")}
    line = first[0]
    assert list(line) == ["name", "hostIdentifier", "calendarTime", "unixTime", "epoch",
                          "counter", "numerics", "columns", "action"]
    assert isinstance(line["unixTime"], int) and line["epoch"] == 0 and line["numerics"] is False
    assert re.fullmatch(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} UTC", line["calendarTime"])
    assert list(line["columns"]) == ["address", "hostnames"]
    # Unchanged data: nothing more is logged while the query keeps running.
    wait_more_ticks(d)
    assert len(d.results(HOSTS)) == 2
    set_hosts(root, "10.0.0.2 beta", "10.0.0.3 gamma")
    lines = d.wait_results(HOSTS, 4)
    change = lines[2:]
    assert [(x["action"], x["columns"]["address"], x["counter"]) for x in change] == [
        ("removed", "10.0.0.1", 1), ("added", "10.0.0.3", 1)]
    assert d.stop() == 0


def test_restart_does_not_relog_and_epoch_change_does(tmp_path, daemons):
    root = hosts_root(tmp_path, "10.0.0.1 alpha")
    config = {"schedule": {HOSTS: {"query": "SELECT address FROM etc_hosts", "interval": 1},
                           "tick": TICK}}
    d = make(daemons, tmp_path, config)
    d.env["OSQLITE_ROOT"] = str(root)
    d.start()
    d.wait_results(HOSTS, 1)
    assert d.stop() == 0
    d.start()
    wait_more_ticks(d)
    assert len(d.results(HOSTS)) == 1          # the restart re-logged nothing
    set_hosts(root, "10.0.0.1 alpha", "10.0.0.9 new")
    lines = d.wait_results(HOSTS, 2)
    assert lines[1]["columns"]["address"] == "10.0.0.9" and lines[1]["counter"] == 1
    assert d.stop() == 0
    d.start(schedule_epoch=5)
    lines = d.wait_results(HOSTS, 4)
    assert [(x["action"], x["epoch"], x["counter"]) for x in lines[2:]] == [("added", 5, 0)] * 2
    assert "New Epoch 5 for scheduled query etc_hosts_diff" in d.info()


def test_removed_false_and_batched_format(tmp_path, daemons):
    root = hosts_root(tmp_path, "10.0.0.1 a")
    d = make(daemons, tmp_path, {"options": {"logger_event_type": "false"}, "schedule": {
        "nrm": {"query": "SELECT address FROM etc_hosts", "interval": 1, "removed": False},
        "all": {"query": "SELECT address FROM etc_hosts", "interval": 1}}})
    d.env["OSQLITE_ROOT"] = str(root)
    d.start()
    d.wait_results("nrm", 1)
    d.wait_results("all", 1)
    set_hosts(root, "10.0.0.2 b")
    [first, second] = d.wait_results("all", 2)
    assert list(first) == ["diffResults", "name", "hostIdentifier", "calendarTime", "unixTime",
                           "epoch", "counter", "numerics"]
    assert first["diffResults"] == {"removed": [], "added": [{"address": "10.0.0.1"}]}
    assert second["diffResults"] == {"removed": [{"address": "10.0.0.1"}],
                                     "added": [{"address": "10.0.0.2"}]}
    nrm = d.wait_results("nrm", 2)
    assert nrm[1]["diffResults"] == {"removed": [], "added": [{"address": "10.0.0.2"}]}
    assert nrm[1]["counter"] == 1


def test_process_start_and_stop(tmp_path, daemons):
    if not has_table("processes"):
        pytest.skip("processes table not built on this branch")
    marker = f"osqlite-e2e-{os.getpid()}"
    d = make(daemons, tmp_path, {"schedule": {"procs": {
        "query": f"SELECT pid, cmdline FROM processes WHERE cmdline LIKE '%{marker}%'",
        "interval": 1}, "tick": TICK}})
    d.start()
    wait_more_ticks(d, 2)
    assert d.results("procs") == []
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", marker])
    try:
        [added] = d.wait_results("procs", 1)
        assert added["action"] == "added" and added["columns"]["pid"] == str(child.pid)
        assert added["counter"] == 1      # the first (empty) run had counter 0
    finally:
        child.kill()
        child.wait()
    lines = d.wait_results("procs", 2)
    assert lines[1]["action"] == "removed" and lines[1]["columns"]["pid"] == str(child.pid)
    assert lines[1]["counter"] == 2


# -- snapshots and decorations --------------------------------------------------------

def test_snapshots_and_decorations_of_all_three_kinds(tmp_path, daemons):
    d = make(daemons, tmp_path, {
        "options": {"host_identifier": "specified", "specified_identifier": "e2e-host"},
        "schedule": {"snap": {"query": "SELECT 2 AS two, 2.0 AS dbl, NULL AS nada, 'a/é' AS s",
                              "interval": 1, "snapshot": True},
                     "empty": {"query": "SELECT 1 WHERE 0", "interval": 1, "snapshot": True}},
        "decorators": {"load": ["SELECT 'loaded' AS at_load, 41 + 1 AS answer"],
                       "always": ["SELECT CAST(strftime('%s','now') AS INTEGER) AS always_now",
                                  "SELECT 'r1' AS multi UNION ALL SELECT 'r2'"],
                       # osquery accepts only multiples of 60 (decorators.cpp): dropped.
                       "interval": {"2": ["SELECT 'every2' AS at_interval"]}}})
    d.start()
    lines = wait_for(lambda: [x for x in d.snapshots("snap") if "multi" in x.get("decorations", {})],
                     what="a snapshot with decorations", daemon=d)
    line = lines[0]
    assert list(line) == ["snapshot", "action", "name", "hostIdentifier", "calendarTime", "unixTime",
                          "epoch", "counter", "numerics", "decorations"]
    assert line["snapshot"] == [{"dbl": "2.0", "nada": "", "s": "a/é", "two": "2"}]
    assert line["hostIdentifier"] == "e2e-host" and line["counter"] == 0
    deco = line["decorations"]
    assert list(deco) == sorted(deco)
    assert deco["at_load"] == "loaded" and deco["answer"] == "42" and deco["multi"] == "r1"
    assert "at_interval" not in deco and deco["always_now"].isdigit()
    assert "Invalid decorator interval rate 2 in config source" in d.warning()
    raw = d.text("osqueryd.snapshots.log")
    assert '"s":"a/é"' in raw                   # '/' unescaped, UTF-8 raw
    empty = d.wait_snapshots("empty", 1)[0]
    assert empty["snapshot"] == []              # logged even when empty
    assert "Multiple rows returned for decorator query" in d.warning()


def test_top_level_decorations_numerics_and_snapshot_event_type(tmp_path, daemons):
    d = make(daemons, tmp_path, {
        "options": {"decorations_top_level": "true", "logger_numerics": "true",
                    "logger_snapshot_event_type": "true"},
        "schedule": {"snap": {"query": "SELECT 2 AS two, 2.5 AS x UNION ALL SELECT 3, 0.5",
                              "interval": 1, "snapshot": True},
                     "diffq": {"query": "SELECT 7 AS seven", "interval": 1}},
        "decorators": {"load": ["SELECT 'v' AS deco, 'clash' AS name"]}})
    d.start()
    snaps = d.wait_snapshots("clash", 2)     # the "name" decoration replaces name
    assert [x["columns"] for x in snaps[:2]] == [{"two": 2, "x": 2.5}, {"two": 3, "x": 0.5}]
    first = snaps[0]
    assert list(first) == ["hostIdentifier", "calendarTime", "unixTime", "epoch", "counter",
                           "numerics", "deco", "name", "columns", "action"]
    assert first["action"] == "snapshot" and first["numerics"] is True and first["deco"] == "v"
    res = wait_for(lambda: d.results("clash"), what="results line", daemon=d)
    assert res[0]["columns"] == {"seven": 7}


# -- packs and discovery --------------------------------------------------------------

PACKS = {
    "p_any": {"discovery": ["SELECT 1 WHERE 0", "SELECT 1"],
              "queries": {"q": {"query": "SELECT 'any' AS p", "interval": 1, "snapshot": True}}},
    "p_none": {"discovery": ["SELECT 1 WHERE 0"],
               "queries": {"q": {"query": "SELECT 'none' AS p", "interval": 1, "snapshot": True}}},
    "p_nodisc": {"queries": {"q": {"query": "SELECT 'nodisc' AS p", "interval": 1, "snapshot": True}}},
    "p_other_os": {"platform": "darwin",
                   "queries": {"q": {"query": "SELECT 'darwin' AS p", "interval": 1, "snapshot": True}}},
}


@pytest.mark.parametrize("mode", ["any", "all"])
def test_discovery_modes(tmp_path, daemons, mode):
    d = make(daemons, tmp_path, {"options": {"pack_discovery_mode": mode, "pack_delimiter": "/"},
                                 "schedule": {"tick": TICK,
                                              "packs": {"query": "SELECT name, active FROM osquery_packs",
                                                        "interval": 1}},
                                 "packs": PACKS})
    d.start()
    d.wait_snapshots("pack/p_nodisc/q", 1)
    wait_more_ticks(d, 2)
    names = {x["name"] for x in d.snapshots()}
    assert ("pack/p_any/q" in names) == (mode == "any")
    assert "pack/p_none/q" not in names and "pack/p_other_os/q" not in names
    active = {x["columns"]["name"]: x["columns"]["active"] for x in d.results("packs")}
    assert active == {"main": "1", "p_any": "1" if mode == "any" else "0", "p_none": "0",
                      "p_nodisc": "1", "p_other_os": "0"}


@pytest.mark.parametrize("refresh", [0, 1])
def test_discovery_refresh(tmp_path, daemons, refresh):
    root = hosts_root(tmp_path, "127.0.0.1 localhost")
    d = make(daemons, tmp_path, {
        "options": {"pack_refresh_interval": str(refresh)},
        "schedule": {"tick": TICK},
        "packs": {"late": {"discovery": ["SELECT 1 FROM etc_hosts WHERE address = '10.9.9.9'"],
                           "queries": {"q": {"query": "SELECT 1 AS x", "interval": 1, "snapshot": True}}}}})
    d.env["OSQLITE_ROOT"] = str(root)
    d.start()
    wait_more_ticks(d, 2)
    assert d.snapshots("pack_late_q") == []
    set_hosts(root, "127.0.0.1 localhost", "10.9.9.9 appears")
    if refresh:
        d.wait_snapshots("pack_late_q", 1)
    else:
        wait_more_ticks(d, 4)
        assert d.snapshots("pack_late_q") == []   # only evaluated at config load
        d.signal(signal.SIGHUP)                   # ... which SIGHUP is
        d.wait_snapshots("pack_late_q", 1)


# -- config errors, reload, signals ---------------------------------------------------

def test_config_check_and_dump(tmp_path):
    d = Daemon(tmp_path, {"schedule": {"a": {"query": "SELECT 1", "interval": 10},
                                       "b_counter": {"query": "SELECT 1", "interval": 10}}})
    ok = d.run("--config_check")
    assert ok.returncode == 0, ok.stderr
    assert "reserved suffixes" in ok.stderr        # a warning, not a failure
    dump = d.run("--config_dump")
    assert dump.returncode == 0
    # osquery's shape: {"<source>": <raw text>} per source, before parsing.
    [(source, config)] = json.loads(dump.stdout).items()
    assert source == str(d.config_path) and config["schedule"]["a"] == {"query": "SELECT 1", "interval": 10}
    d.write_config('{"schedule": {"a": {"query": "SELECT * FROM nope_table", "interval": 10},'
                   ' "b": {"query": "SELECT 1", "interval": 10}}}')
    bad = d.run("--config_check")
    # Bad SQL is that query's problem: reported, the check passes (osquery does not compile SQL there).
    assert bad.returncode == 0, bad.stderr
    assert (f"Scheduled query a in {d.config_path} does not compile and is skipped: "
            "no such table: nope_table") in bad.stderr
    strict = d.run("--config_check_strict")
    assert strict.returncode == 1 and "nope_table" in strict.stderr
    assert "Traceback" not in bad.stderr + strict.stderr
    d.write_config('{"packs": {"pm": "/nonexistent/pm.conf"}}')
    for mode in ("--config_check", "--config_check_strict"):
        missing = d.run(mode)
        assert missing.returncode == 0, missing.stderr   # a missing pack file warns in both modes
        assert "Error reading the query pack named: pm (/nonexistent/pm.conf" in missing.stderr
    d.write_config('{"schedule": {"a": {"query": "SELECT 1", "interval": 10}}')
    broken = d.run("--config_check")
    assert broken.returncode == 1
    assert f"Error reading config: {d.config_path}: Error parsing the config JSON" in broken.stderr
    assert d.run("--config_dump").stdout.startswith('{"' + str(d.config_path) + '": {"schedule"')
    seed = Daemon(tmp_path / "seed" if (tmp_path / "seed").mkdir() is None else tmp_path)
    seed.write_config((REPO / "conf" / "osqueryd.conf").read_text())
    dump = seed.run("--config_dump")
    [(_, sample)] = json.loads(dump.stdout).items()
    assert dump.returncode == 0 and sample["schedule"]["system_info"]["interval"] == 60


def test_bad_config_at_start_then_sighup_reload_keeps_last_good(tmp_path, daemons):
    d = make(daemons, tmp_path, '{"schedule": {"a": {"query": "SELECT 1", "interval": 10}}')
    d.start()
    wait_for(lambda: "Error reading config" in d.warning(), what="config warning", daemon=d)
    assert "Error parsing the config JSON" in d.warning()
    d.write_config({"schedule": {"tick": TICK}})
    d.signal(signal.SIGHUP)
    d.wait_snapshots("tick", 2)
    d.write_config('{"schedule": {"tick": {"query": "SELECT 1", "interval": 1}, }, }} broken')
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.warning().count("Error reading config") >= 2, what="reload warning", daemon=d)
    assert "keeping the last good config" in d.warning()
    wait_more_ticks(d, 2)                        # the old schedule still runs
    d.write_config({"schedule": {"tick": TICK, "new": {"query": "SELECT 5 AS five", "interval": 1}}})
    d.signal(signal.SIGHUP)
    assert d.wait_results("new", 1)[0]["columns"] == {"five": "5"}
    assert d.stop() == 0
    assert not Path(d.flags["pidfile"]).exists()


def test_second_instance_is_refused(tmp_path, daemons):
    d = make(daemons, tmp_path, {"schedule": {"tick": TICK}})
    d.start()
    pid = Path(d.flags["pidfile"]).read_text()
    assert pid == str(d.proc.pid)               # decimal pid, no newline
    other = Daemon(tmp_path / "other" if (tmp_path / "other").mkdir() is None else tmp_path,
                   {"schedule": {"tick": TICK}}, pidfile=d.flags["pidfile"])
    res = other.run(timeout=30)
    assert res.returncode == 1
    assert "Pidfile check failed" in res.stderr and str(d.proc.pid) in res.stderr
    assert d.proc.poll() is None


def test_timeout_interrupts_a_runaway_query_while_others_go_on(tmp_path, daemons):
    runaway = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
               "SELECT count(*) FROM c")
    d = make(daemons, tmp_path, {"options": {"schedule_timeout": "2", "worker_threads": "2"},
                                 "schedule": {"runaway": {"query": runaway, "interval": 1},
                                              "tick": TICK}})
    d.start()
    wait_for(lambda: "exceeded schedule_timeout" in d.warning(), what="timeout warning", daemon=d)
    assert "runaway" in d.warning() and "denylisted" in d.warning()
    wait_more_ticks(d, 3)
    assert d.results("runaway") == []
    assert d.warning().count("exceeded schedule_timeout") == 1   # denylisted: not run again
    assert d.stop() == 0


def test_schedule_table_inside_the_daemon(tmp_path, daemons):
    d = make(daemons, tmp_path, {"schedule": {
        "sched": {"query": "SELECT name, query, interval FROM osquery_schedule ORDER BY name",
                  "interval": 1, "snapshot": True},
        "flags": {"query": "SELECT value FROM osquery_flags WHERE name = 'pack_delimiter'",
                  "interval": 1, "snapshot": True}}})
    d.start()
    snap = d.wait_snapshots("sched", 1)[0]["snapshot"]
    assert snap == [{"name": "flags", "query": "SELECT value FROM osquery_flags WHERE name = 'pack_delimiter'",
                     "interval": "1"},
                    {"name": "sched", "query": "SELECT name, query, interval FROM osquery_schedule ORDER BY name",
                     "interval": "1"}]
    assert d.wait_snapshots("flags", 1)[0]["snapshot"] == [{"value": "_"}]


# -- files and paths ------------------------------------------------------------------

def test_log_file_modes_and_symlink_refusal(tmp_path, daemons):
    d = make(daemons, tmp_path, {"schedule": {"tick": TICK}})
    d.start()
    d.wait_snapshots("tick", 1)
    for name in ("osqueryd.results.log", "osqueryd.snapshots.log", "osqueryd.INFO", "osqueryd.WARNING"):
        assert (d.logs / name).stat().st_mode & 0o777 == 0o640, name   # osquery's logger_mode
    d.stop()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (d.logs / "osqueryd.results.log").unlink()
    (d.logs / "osqueryd.results.log").symlink_to(victim)
    proc = subprocess.run(d.argv(), cwd=REPO, env=d.environ(), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 78
    assert victim.read_text() == "precious\n"


def test_unwritable_default_paths_name_the_flag(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to an unprivileged user")
    config = tmp_path / "c.conf"
    config.write_text('{"schedule": {}}')
    os.chmod(tmp_path, 0o755)

    def drop() -> None:
        os.setgid(65534)
        os.setuid(65534)

    env = dict(os.environ, PYTHONPATH=str(REPO))
    try:
        res = subprocess.run([sys.executable, "-c", "import osqlite"], env=env, cwd="/",
                             preexec_fn=drop, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run as nobody: {exc}")
    if res.returncode != 0:
        pytest.skip("the interpreter or checkout is not readable by nobody")
    res = subprocess.run([sys.executable, "-m", "osqlite.daemon", f"--config_path={config}"],
                         env=env, cwd="/", preexec_fn=drop, capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert re.search(r"pass --(logger_path|database_path|pidfile)=", res.stderr), res.stderr


def test_escaping_identity_and_state_directory(tmp_path, daemons):
    sql = "SELECT 'a' || char(10) || 'b' AS nl, CAST(x'ff41' AS TEXT) AS bad, 'é/ü' AS u"
    (tmp_path / "osquery.db").mkdir()           # an osquery install's RocksDB directory
    d = make(daemons, tmp_path, {"options": {"host_identifier": "uuid"}, "schedule": {
        "esc": {"query": sql, "interval": 1},
        "esc_snap": {"query": sql, "interval": 1, "snapshot": True}}})
    d.start()
    line = d.wait_results("esc", 1)[0]
    assert line["columns"] == {"bad": "\\xFFA", "nl": "a\\x0Ab", "u": "é/ü"}
    raw = d.text("osqueryd.results.log")
    assert '"nl":"a\\\\x0Ab"' in raw and '"u":"é/ü"' in raw
    snap = d.wait_snapshots("esc_snap", 1)[0]
    assert snap["snapshot"] == [{"bad": "\\xFFA", "nl": "a\nb", "u": "é/ü"}]   # snapshots: not escaped
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", line["hostIdentifier"])
    assert (tmp_path / "osquery.db" / "osqlite.db").is_file()


def test_seed_sample_config_runs(tmp_path, daemons):
    """The seed's sample config, as written except logger_path (a config option
    overrides --logger_path, as in osquery, and /var/log/osquery is not ours)."""
    text = (REPO / "conf" / "osqueryd.conf").read_text()
    assert '"logger_path": "/var/log/osquery"' in text
    d = make(daemons, tmp_path, text.replace('"/var/log/osquery"', json.dumps(str(tmp_path / "log"))),
             schedule_run_at_startup="true")
    d.start()
    wait_for(lambda: "Error reading the query pack named: process-monitor" in d.warning()
             or "Error reading config" in d.warning(), what="the pack warning", daemon=d)
    if not (has_table("system_info") and has_table("logged_in_users")):
        assert "no such table: system_info" in d.warning()
        pytest.skip("system_info/logged_in_users not built on this branch")
    assert "/etc/osquery/process-monitor.conf" in d.warning()
    assert "Cannot set unknown or invalid flag" not in d.warning()   # every seed option is known
    line = d.wait_results("system_info", 1)[0]
    assert set(line["columns"]) == {"hostname", "cpu_brand", "physical_memory"}
    assert "host_uuid" in line["decorations"]


def test_stdout_logger_space_separated_flags_and_sigint(tmp_path):
    d = Daemon(tmp_path, {"schedule": {"q": {"query": "SELECT 3 AS three", "interval": 1}}})
    argv = [sys.executable, "-m", "osqlite.daemon", "--config_path", str(d.config_path),
            "--logger_plugin", "stdout", "--database_path", str(tmp_path / "db"),
            "--pidfile", str(tmp_path / "pid"), "--schedule_splay_percent", "101", "--nologger_stderr",
            "--extensions_socket", str(d.flags["extensions_socket"])]
    proc = subprocess.Popen(argv, cwd=REPO, env=d.environ(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        got = None
        pending = b""
        end = time.monotonic() + 30
        # Raw reads: a status line and a result line may arrive in one write,
        # and a buffered readline would hide the second from select().
        while got is None and time.monotonic() < end:
            if sel.select(timeout=1):
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if got is None and line.startswith(b"{"):
                        got = json.loads(line)
        assert got is not None, "no result line on stdout"
        assert got["name"] == "q" and got["columns"] == {"three": "3"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
