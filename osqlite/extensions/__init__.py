"""osquery extensions: the Thrift extension manager, extension tables,
config and logger plugins, autoload, and ``osqueryi --connect``.

* manager.py -- the ExtensionManager service on --extensions_socket;
* sockets.py -- making that socket without ever deleting what is not a
  stale socket;
* client.py -- calls into extensions (and into a manager);
* tables.py -- extension tables in every connection;
* plugins.py -- extension config, logger and distributed plugins in
  osqlite.registry;
* autoload.py -- --extensions_autoload, --extension: start, check, restart;
* gen/ -- osquery's Thrift interface, generated (tools/gen_thrift.py).

``start(host, paths)`` is what the daemon and the shell call; see
docs/daemon.md ("Extensions").
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("osqlite.extensions")

# The submodules are imported when first used: the generated Thrift modules
# import osqlite.extensions.gen by its full name, which works only once this
# package has finished importing (and the daemon imports nothing of Thrift
# with --disable_extensions).
_LAZY = {"Manager": "manager", "iter_rows": "manager", "SocketError": "sockets",
         "Autoloader": "autoload", "autoload_paths": "autoload"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(name)

EXTENSIONS_COLUMNS = ("uuid", "name", "version", "sdk_version", "path", "type")

__all__ = ["Manager", "SocketError", "start", "require", "managed", "iter_rows",
           "EXTENSIONS_COLUMNS"]


def managed(flags: Any, shell: bool = False) -> list[str]:
    """The extensions to start: --extensions_autoload's, and in the shell
    --extension's."""
    if flags["disable_extensions"]:
        return []
    from .autoload import autoload_paths
    return autoload_paths(flags["extensions_autoload"], flags["allow_unsafe"],
                          flags["extension"] if shell else "")


def start(host: Any, path: str, paths: list[str], unchecked: str = "") -> Any:
    """Serve on path, start the extensions in paths and wait (at most
    --extensions_timeout) until they have registered.  SocketError when
    the socket cannot be made (nothing was started then)."""
    from .autoload import Autoloader
    from .manager import Manager
    manager = Manager(host, path)
    manager.start()
    if paths:
        manager.autoloader = Autoloader(manager, paths, unchecked)
        manager.autoloader.start()
        manager.autoloader.wait_registered(manager.timeout)
    return manager


def require(manager: Any) -> str | None:
    """--extensions_require: each named extension registered and answering,
    waiting --extensions_timeout for the first (osquery:
    osquery/extensions/extensions.cpp startExtensionManager).  The first
    missing one's message, or None."""
    import time

    from .sockets import answers
    names = [n.strip() for n in manager.flags["extensions_require"].split(",") if n.strip()]
    waited = False
    for name in names:
        # The first one may take --extensions_timeout; the others only the
        # time left (osquery stops early once it has waited).
        deadline = time.monotonic() + (0 if waited else manager.timeout)
        waited = True
        while True:
            ext = next((e for e in manager.extensions().values() if e.name == name), None)
            if ext is not None and answers(ext.path, manager.timeout):
                break
            if time.monotonic() >= deadline:
                message = f"Required extension not found or not loaded: {name}"
                log.warning("%s", message)
                return message
            time.sleep(0.02)
    return None
