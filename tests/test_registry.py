"""osqlite.registry: back ends by kind, registered at import or at run time, and
the daemon using whatever --config_plugin and --logger_plugin name, in process."""
from __future__ import annotations

import json
import logging

import pytest

from osqlite import registry
from osqlite.config import ConfigError
from osqlite.daemon import Daemon, setup_early_logging
from osqlite.flags import Flags
from osqlite.registry import PackSource, PluginError


class MemoryLogger(registry.LoggerPlugin):
    """A logger plugin as an extension would register one."""
    instances: list["MemoryLogger"] = []

    def __init__(self, daemon):
        super().__init__(daemon)
        self.results: list[str] = []
        self.snapshots: list[str] = []
        self.status: list[str] = []
        self.set_up = self.stopped = False
        MemoryLogger.instances.append(self)

    def setup(self):
        self.set_up = True

    def log_results(self, lines):
        self.results.extend(lines)

    def log_snapshot(self, lines):
        self.snapshots.extend(lines)

    def log_status(self, record):
        self.status.append(record.getMessage())

    def stop(self):
        self.stopped = True


class DictConfig(registry.ConfigPlugin):
    """A config plugin serving sources from memory (as the TLS one serves a server's)."""
    sources: dict[str, str] = {}
    packs: dict[str, str] = {}

    def describe(self):
        return "memory"

    def gen_config(self):
        if not self.sources:
            raise ConfigError("memory", "", "no config yet")
        return dict(self.sources)

    def gen_pack(self, name, value):
        text = self.packs.get(value)
        return [PackSource(name, f"memory:{value}", text, None if text else "no such pack")]


@pytest.fixture
def plugins():
    registry.register("logger", "memory", MemoryLogger)
    registry.register("config", "dict", DictConfig)
    MemoryLogger.instances.clear()
    yield
    registry.unregister("logger", "memory")
    registry.unregister("config", "dict")
    registry.REGISTRY.deactivate()
    root = logging.getLogger("osqlite")
    for h in list(root.handlers):
        root.removeHandler(h)


def test_register_unregister_and_unknown_names():
    reg = registry.Registry()
    reg.register("logger", "a", MemoryLogger, owner=7)
    reg.register("logger", "b", MemoryLogger, owner=7)
    reg.register("config", "c", DictConfig)
    with pytest.raises(PluginError, match="Duplicate registry item exists: a"):
        reg.register("logger", "a", MemoryLogger)
    with pytest.raises(PluginError, match="Unknown registry: tables"):
        reg.register("tables", "x", MemoryLogger)
    assert reg.names("logger") == ["a", "b"]
    plugin = reg.create("logger", "a", None)
    assert isinstance(plugin, MemoryLogger) and plugin.name == "a"
    reg.set_active("logger", ["a"])
    assert reg.rows() == [("config", "c", 0, 1, 0), ("logger", "a", 7, 0, 1), ("logger", "b", 7, 0, 0)]
    reg.unregister("logger", owner=7)              # an extension going away
    assert reg.names("logger") == []
    with pytest.raises(PluginError) as err:
        reg.create("logger", "syslog", None)
    assert str(err.value) == ("Cannot activate syslog logger plugin: Unknown registry plugin: syslog "
                              "(an osquery plugin this osqlite build does not have; it has: none)")
    with pytest.raises(PluginError, match=r"Unknown registry plugin: nope \(this build has: c\)"):
        reg.create("config", "nope", None)


def test_builtins_are_registered():
    registry.load_builtins()
    assert {"filesystem"} <= set(registry.names("config"))
    assert {"filesystem", "stdout"} <= set(registry.names("logger"))
    assert registry.plugin_names(" filesystem, stdout,,") == ["filesystem", "stdout"]


def test_the_daemon_runs_on_plugins_registered_at_run_time(plugins, tmp_path):
    DictConfig.sources = {"memory://main": json.dumps({
        "schedule": {"snap": {"query": "SELECT 1 AS one", "interval": 10, "snapshot": True},
                     "reg": {"query": "SELECT registry, name, active FROM osquery_registry "
                                      "WHERE active = 1 AND registry <> 'table' ORDER BY registry, name", "interval": 10}},
        "packs": {"p": "pack-1", "gone": "pack-2"}})}
    DictConfig.packs = {"pack-1": json.dumps({"queries": {"q": {"query": "SELECT 2 AS two",
                                                                "interval": 10}}})}
    flags = Flags()
    flags.parse_argv(["--config_plugin=dict", "--logger_plugin=filesystem,memory",
                      f"--logger_path={tmp_path}", f"--database_path={tmp_path / 'db'}",
                      f"--pidfile={tmp_path / 'pid'}", "--logger_stderr=false",
                      "--disable_events=true"])
    setup_early_logging(flags)     # as main(): messages before the loggers exist are replayed
    d = Daemon(flags, clock=lambda: 1462228052.0)
    cfg = d.read_config()
    assert cfg.error is None and [p.name for p in cfg.packs] == ["p"]
    d.start()
    d.load_initial_config(cfg)
    d.announce()
    for name in ("snap", "reg", "pack_p_q"):
        d.run_job(d.scheduler.by_name[name])
    d.shutdown()
    [mem] = MemoryLogger.instances
    assert mem.set_up and mem.stopped
    assert [json.loads(x)["snapshot"] for x in mem.snapshots] == [[{"one": "1"}]]
    rows = {(json.loads(x)["columns"]["registry"], json.loads(x)["columns"]["name"])
            for x in mem.results if json.loads(x)["name"] == "reg"}
    assert rows == {("config", "dict"), ("logger", "filesystem"), ("logger", "memory")}
    assert any(json.loads(x)["name"] == "pack_p_q" for x in mem.results)
    # The filesystem logger got the same lines; status went to both.
    assert (tmp_path / "osqueryd.snapshots.log").read_text().strip() == mem.snapshots[0]
    assert any("Error reading the query pack named: gone (no such pack)" in m for m in mem.status)
    started = [m for m in mem.status if "daemon started" in m]
    assert started and ("config memory (dict), logging to "
                        f"{tmp_path} (filesystem), memory (memory), 3 scheduled queries") in started[0]
    assert "daemon started" in (tmp_path / "osqueryd.INFO").read_text()


def test_config_plugin_fetch_failure_and_accelerated_refresh(plugins, tmp_path, monkeypatch):
    DictConfig.sources = {}
    flags = Flags()
    flags.parse_argv(["--config_plugin=dict", "--config_refresh=600",
                      "--config_accelerated_refresh=30"])
    d = Daemon(flags)
    cfg = d.read_config()
    assert str(cfg.error) == "memory: no config yet" and not d.config_valid
    results = iter([False, False, True])
    monkeypatch.setattr(d, "reload", lambda force=True: next(results))
    assert d.refresh_config(1000.0) == 1030.0      # failed: retry sooner
    assert d.refresh_config(1030.0) == 1060.0
    assert d.refresh_config(1060.0) == 1660.0      # back to config_refresh


def test_a_logger_that_cannot_set_up_is_catastrophic(plugins, tmp_path):
    class Broken(MemoryLogger):
        def setup(self):
            raise OSError(28, "No space left on device", str(tmp_path / "full"))

    registry.register("logger", "broken", Broken)
    try:
        flags = Flags()
        flags.parse_argv(["--logger_plugin=broken", f"--database_path={tmp_path / 'db'}",
                          f"--pidfile={tmp_path / 'pid'}"])
        d = Daemon(flags)
        with pytest.raises(PluginError, match=f"Cannot activate broken logger plugin: {tmp_path}/full: "
                                              "No space left on device"):
            d.start()
        assert not (tmp_path / "pid").exists() and not (tmp_path / "db").exists()
    finally:
        registry.unregister("logger", "broken")
