"""The plugin registry: the daemon's back ends by kind (config, logger, distributed).

As in osquery (osquery: osquery/registry/registry_factory.cpp), the daemon
never knows which back end it talks to: it asks the registry for the one
``--config_plugin`` names, the ones ``--logger_plugin`` lists (a comma list:
several loggers at once) and, unless ``--disable_distributed``, the one
``--distributed_plugin`` names.  A name nobody registered stops the daemon
with osquery's ``Cannot activate <name> <kind> plugin: ...`` and exit 78.

Registering (at import, or at run time, e.g. by an extension)::

    from osqlite import registry

    @registry.plugin("logger", "mylog")
    class MyLogger(registry.LoggerPlugin):
        def log_results(self, lines): ...

    registry.register("logger", "other", factory, owner=uuid)   # the same, by call
    registry.unregister("logger", "other")

A factory is called with the daemon (``daemon.flags``, ``daemon.state``) and
returns the plugin object.  The interfaces are deliberately small:

* config: ``gen_config() -> {source: text}`` (sources are applied in byte
  order of their names) and ``gen_pack(name, value) -> [PackSource]`` for a
  pack given as a string;
* logger: ``setup()``, ``log_results(lines)``, ``log_snapshot(lines)``,
  ``log_status(record)`` (a logging.LogRecord), ``stop()``;
* distributed: ``get_queries() -> str`` (osquery's JSON read reply) and
  ``write_results(text)``.

``describe()`` gives the start line's word on where a back end reads or
writes.  Base classes below supply no-op defaults.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

log = logging.getLogger("osqlite.registry")

# "table" holds only extensions' tables (osquery_registry lists them with
# their owner); the extension's own tables come from osqlite_tables.
KINDS = ("config", "logger", "distributed", "table")

#: Plugin names osquery 5 has, for a clearer message when this build lacks one.
OSQUERY_PLUGINS = {
    "config": ("filesystem", "tls"),
    "logger": ("filesystem", "tls", "syslog", "stdout", "kinesis", "firehose",
               "kafka_producer", "windows_event_log"),
    "distributed": ("tls",),
    "table": (),
}

Factory = Callable[[Any], Any]


class PluginError(Exception):
    """A plugin cannot be activated; str() is osquery's one-line message."""


class PackSource(NamedTuple):
    """One pack produced by ConfigPlugin.gen_pack: its name, where it came from
    (a file path), and its text, or why it could not be read."""
    name: str
    origin: str
    text: str | None
    error: str | None = None


class Plugin:
    name = ""

    def __init__(self, daemon: Any = None) -> None:
        self.daemon = daemon

    def describe(self) -> str:
        return self.name

    def setup(self) -> None:
        pass

    def stop(self) -> None:
        pass


class ConfigPlugin(Plugin):
    def gen_config(self) -> dict[str, str]:
        raise NotImplementedError

    def gen_pack(self, name: str, value: str) -> list[PackSource]:
        return [PackSource(name, value, None, f"the {self.name} config plugin has no packs")]


class LoggerPlugin(Plugin):
    def log_results(self, lines: Sequence[str]) -> None:
        pass

    def log_snapshot(self, lines: Sequence[str]) -> None:
        pass

    def log_status(self, record: logging.LogRecord) -> None:
        pass


class DistributedPlugin(Plugin):
    def get_queries(self) -> str:
        return "{}"

    def write_results(self, text: str) -> None:
        pass


@dataclass
class Entry:
    kind: str
    name: str
    factory: Factory
    owner: int = 0          # 0: internal; an extension's uuid otherwise

    @property
    def internal(self) -> bool:
        return self.owner == 0


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self.active: dict[str, list[str]] = {k: [] for k in KINDS}

    def register(self, kind: str, name: str, factory: Factory, owner: int = 0,
                 replace: bool = False) -> None:
        if kind not in self._entries:
            raise PluginError(f"Unknown registry: {kind}")
        with self._lock:
            if name in self._entries[kind] and not replace:
                raise PluginError(f"Duplicate registry item exists: {name}")
            self._entries[kind][name] = Entry(kind, name, factory, owner)

    def unregister(self, kind: str, name: str | None = None, owner: int | None = None) -> None:
        """Remove one plugin, or every plugin of an owner (an extension going away)."""
        with self._lock:
            for n in list(self._entries.get(kind, {})):
                entry = self._entries[kind][n]
                if (name is None or n == name) and (owner is None or entry.owner == owner):
                    del self._entries[kind][n]

    def names(self, kind: str) -> list[str]:
        with self._lock:
            return sorted(self._entries[kind])

    def create(self, kind: str, name: str, daemon: Any) -> Any:
        """Build the plugin ``name`` of ``kind`` (osquery: Registry::setActive)."""
        with self._lock:
            entry = self._entries[kind].get(name)
        if entry is None:
            have = ", ".join(self.names(kind)) or "none"
            extra = (f" (an osquery plugin this osqlite build does not have; it has: {have})"
                     if name in OSQUERY_PLUGINS.get(kind, ()) else f" (this build has: {have})")
            raise PluginError(f"Cannot activate {name} {kind} plugin: "
                              f"Unknown registry plugin: {name}{extra}")
        plugin = entry.factory(daemon)
        if not getattr(plugin, "name", ""):
            plugin.name = name
        return plugin

    def set_active(self, kind: str, names: Sequence[str]) -> None:
        """Which plugins of a kind the daemon uses now (osquery_registry.active)."""
        with self._lock:
            self.active[kind] = list(names)

    def deactivate(self, kind: str | None = None) -> None:
        for k in ([kind] if kind else KINDS):
            self.set_active(k, [])

    def rows(self) -> list[tuple[str, str, int, int, int]]:
        """osquery_registry rows: (registry, name, owner_uuid, internal, active)."""
        with self._lock:
            out = []
            for kind in KINDS:
                for name in sorted(self._entries[kind]):
                    e = self._entries[kind][name]
                    # Tables have no active selection: all are (osquery: isActive).
                    active = kind == "table" or name in self.active[kind]
                    out.append((kind, name, e.owner, int(e.internal), int(active)))
            return out


REGISTRY = Registry()
register = REGISTRY.register
unregister = REGISTRY.unregister
names = REGISTRY.names
create = REGISTRY.create


def plugin(kind: str, name: str) -> Callable[[type], type]:
    """Class decorator: register a plugin class under ``name``."""
    def wrap(cls: type) -> type:
        cls.name = name
        register(kind, name, cls)
        return cls
    return wrap


def plugin_names(text: str) -> list[str]:
    """--logger_plugin's comma list (osquery: osquery/logger/logger.cpp)."""
    return [p.strip() for p in text.split(",") if p.strip()]


def load_builtins() -> None:
    """Import the modules that register osqlite's built-in plugins."""
    from . import plugins  # noqa: F401
