"""The daemon in process: an injected clock, and the seam event publishers use
(hooks, backing tables, event-table semantics) without a subprocess."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from osqlite.daemon import Daemon
from osqlite.flags import Flags

# The event store's shape: the C reader orders and windows rows by eid.
FE_COLUMNS = ("eid", "target_path", "action", "time")


class Hook:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.config = None

    def start(self, daemon):
        self.calls.append("start")

    def configure(self, daemon, config):
        self.calls.append("configure")
        self.config = config

    def prepare_connection(self, daemon, conn):
        self.calls.append("prepare")

    def stop(self, daemon):
        self.calls.append("stop")


@pytest.fixture
def daemon(tmp_path):
    flags = Flags()
    flags.parse_argv([f"--config_path={tmp_path / 'c.conf'}", f"--logger_path={tmp_path}",
                      f"--database_path={tmp_path / 'db'}", f"--pidfile={tmp_path / 'pid'}",
                      "--logger_stderr=false"])
    (tmp_path / "c.conf").write_text(json.dumps({
        "schedule": {"fe": {"query": "SELECT target_path, action FROM file_events", "interval": 10},
                     "sched": {"query": "SELECT name FROM osquery_schedule WHERE name = 'fe'",
                               "interval": 10}},
        "file_paths": {"etc": ["/etc/%%"]}, "exclude_paths": {"etc": ["/etc/x"]}}))
    d = Daemon(flags, clock=lambda: 1462228052.5)
    yield d
    root = logging.getLogger("osqlite")
    for h in list(root.handlers):
        root.removeHandler(h)
    root.propagate = True


def test_hooks_backing_and_event_semantics(daemon, tmp_path):
    hook = Hook()
    events: list[tuple] = [(1, "/etc/a", "CREATED", 1)]
    daemon.hooks.append(hook)
    daemon.backing["file_events"] = lambda: (FE_COLUMNS, list(events))
    daemon.start()
    daemon.load_initial_config(daemon.read_config(), None)
    assert hook.calls[:2] == ["start", "prepare"] and "configure" in hook.calls
    assert hook.config.file_paths == {"etc": ["/etc/%%"]}
    assert hook.config.exclude_paths == {"etc": ["/etc/x"]}
    job = daemon.scheduler.by_name["fe"]
    daemon.run_job(job)
    events.append((2, "/etc/b", "DELETED", 2))
    daemon.bump()
    daemon.run_job(job)
    daemon.run_job(job)                      # same buffer: event rows are logged again, no diff
    daemon.run_job(daemon.scheduler.by_name["sched"])
    daemon.shutdown()
    assert hook.calls[-1] == "stop"
    lines = [json.loads(x) for x in (tmp_path / "osqueryd.results.log").read_text().splitlines()]
    fe = [x for x in lines if x["name"] == "fe"]
    assert [(x["columns"]["target_path"], x["counter"]) for x in fe] == [
        ("/etc/a", 1), ("/etc/a", 2), ("/etc/b", 2), ("/etc/a", 3), ("/etc/b", 3)]
    assert {x["action"] for x in fe} == {"added"}
    assert fe[0]["unixTime"] == 1462228052 and fe[0]["calendarTime"] == "Mon May  2 22:27:32 2016 UTC"
    [sched] = [x for x in lines if x["name"] == "sched"]
    assert sched["columns"] == {"name": "fe"}
    assert not Path(tmp_path / "pid").exists()
