"""osquery's extension manager: the Thrift service extensions register with.

The manager listens on --extensions_socket (osqlite/extensions/sockets.py
makes it safely) and answers osquery's ExtensionManager service (osquery:
osquery/extensions/thrift/osquery.thrift, interface.cpp):

* ``ping()`` -- ``pong``;
* ``extensions()`` -- the registered extensions by uuid;
* ``options()`` -- every flag with its value, default and type;
* ``registerExtension(info, registry)`` -- osquery's checks: a unique name,
  an SDK of at least 1.7.7, known registries (table, config, logger,
  distributed), no plugin name that exists already, usable table route
  info; a uuid in 1..65535 comes back;
* ``deregisterExtension(uuid)``;
* ``query(sql)`` and ``getQueryColumns(sql)`` -- SQL on a connection of the
  daemon or shell, with its tables, extension tables and live state
  (osquery_schedule...), rows as osquery's strings;
* ``call(registry, item, request)`` -- an extension's plugin is called in
  that extension; the core answers ``table`` (columns, generate) and
  ``config`` (genConfig, genPack) itself.

Each registered extension serves its plugins on ``<socket>.<uuid>``; the
manager calls it there (osqlite/extensions/client.py), opening one
connection per call with --extensions_timeout as the limit, so a hung or
dead extension fails only the query that needed it.  A watcher pings every
extension each --extensions_interval seconds (at least 0.2 s, as osquery)
and deregisters one whose ping fails (osquery:
osquery/extensions/extensions.cpp ExtensionManagerWatcher); an autoloaded
extension whose process exits is deregistered at once.

Its table plugins become tables in every connection of the host
(osqlite/extensions/tables.py), its config and logger plugins entries of
osqlite.registry owned by its uuid (osqlite/extensions/plugins.py), so
``--config_plugin`` and ``--logger_plugin`` reach them.

The host is the daemon (osqlite.daemon.Daemon) or the shell's stand-in: it
has ``flags``, ``new_connection()``, ``refresh_backing(conn)`` and
``bump()`` (call after the extension set changed).
"""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import ujson
from thrift.Thrift import TException

from .. import registry
from .._sqlite import sqlite3
from ..diff import escape_invalid, format_double
from ..sql import query_columns, split_statements
from . import client, sockets
from .client import CallError
from .gen import ExtensionManager
from .gen.ttypes import (
    ExtensionResponse,
    ExtensionStatus,
    InternalExtensionInfo,
    InternalOptionInfo,
)
from .tables import ExtensionTables, TableSpec, spec_from_routes

log = logging.getLogger("osqlite.extensions")

SDK_MINIMUM = "1.7.7"          # osquery: interface.cpp kSDKVersionChanges
REGISTRIES = ("table", "config", "logger", "distributed")
MIN_INTERVAL = 0.2             # osquery: ExtensionWatcher, 200 ms
MAX_HANDLERS = 64              # concurrent client connections served

# osquery's operator numbers (SQLite's) -> SQL, for core table calls.
_OPS = {2: "=", 4: ">", 8: "<=", 16: "<", 32: ">=", 64: "MATCH", 65: "LIKE", 66: "GLOB",
        67: "REGEXP", 68: "!=", 69: "IS NOT", 72: "IS"}
# osqlite_columns flags -> osquery's ColumnOptions, for "columns" answers.
_OPTION_BITS = (("index", 1), ("required", 2), ("additional", 4), ("optimized", 8),
                ("hidden", 16))


def seconds(text: Any) -> float:
    """A duration flag the way osquery reads it (atoi: leading digits)."""
    digits = ""
    for ch in str(text).strip():
        if not ch.isdigit():
            break
        digits += ch
    return float(digits or 0)


def version_at_least(version: str, minimum: str) -> bool:
    """osquery's versionAtLeast: numeric dotted chunks compared in order."""
    def chunks(v: str) -> list[int]:
        out = []
        for part in v.split("."):
            digits = "".join(ch for ch in part if ch.isdigit())
            if not digits:
                return []
            out.append(int(digits))
        return out
    have, need = chunks(version), chunks(minimum)
    if not have:
        return False
    width = max(len(have), len(need))
    return have + [0] * (width - len(have)) >= need + [0] * (width - len(need))


def status(code: int, message: str, uuid: int = 0) -> ExtensionStatus:
    return ExtensionStatus(code=code, message=message, uuid=uuid)


def failed(message: str) -> ExtensionResponse:
    return ExtensionResponse(status=status(1, message), response=[])


def text_value(value: Any, nullvalue: str) -> str:
    """A cell as osquery's query() gives it (osquery: castvariant.h)."""
    if value is None:
        return nullvalue
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "surrogateescape")
    return escape_invalid(str(value))


@dataclass
class Extension:
    uuid: int
    name: str
    version: str
    sdk_version: str
    min_sdk_version: str
    path: str                                   # <socket>.<uuid>
    pid: int = 0                                # the process that registered
    tables: dict[str, TableSpec] = field(default_factory=dict)
    plugins: dict[str, list[str]] = field(default_factory=dict)   # kind -> names
    seen: bool = False                          # its socket answered once

    def info(self) -> InternalExtensionInfo:
        return InternalExtensionInfo(name=self.name, version=self.version,
                                     sdk_version=self.sdk_version,
                                     min_sdk_version=self.min_sdk_version)


class Manager:
    def __init__(self, host: Any, path: str) -> None:
        self.host = host
        self.flags = host.flags
        self.path = path
        self.timeout = max(MIN_INTERVAL, seconds(self.flags["extensions_timeout"]))
        self.interval = max(MIN_INTERVAL, seconds(self.flags["extensions_interval"]))
        self.string_limit = max(0, int(self.flags["thrift_string_size_limit"]))
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._exts: dict[int, Extension] = {}
        self._tables: dict[str, int] = {}            # lower-case table name -> uuid
        self._reserved: set[int] = set()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._ident = (0, 0)
        self._threads: list[threading.Thread] = []
        self._slots = threading.BoundedSemaphore(MAX_HANDLERS)
        self._peer = threading.local()
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self.autoloader: Any = None
        self.tables = ExtensionTables(self.table_specs, self.generate)
        self.running = False

    # -- life -------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the socket and start serving; SocketError when it cannot."""
        self._reserved = sockets.clean_extension_sockets(self.path)
        # The default path's directory is made by root only (as the daemon's
        # other default paths under /var/osquery would be).
        create = (self.path != self.flags["extensions_socket"]
                  or not self.flags.is_default("extensions_socket") or os.geteuid() == 0)
        self._sock, self._ident = sockets.bind(self.path, create_parent=create)
        self.running = True
        self._spawn(self._accept_loop, "osqlite-em")
        self._spawn(self._watch, "osqlite-em-watch")
        log.debug("Extension manager service starting: %s", self.path)

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Ask every extension to shut down, stop the autoloaded ones, close
        the socket and remove it (only the socket this manager made)."""
        if not self.running:
            return
        self.running = False
        self._stop.set()
        with self._lock:
            exts = list(self._exts.values())
        # osquery: ExtensionManagerWatcher::start -- shutdown() to each one.
        for ext in exts:
            try:
                client.call(ext.path, 0.5, "shutdown")
            except CallError:
                pass
        if self.autoloader is not None:
            self.autoloader.stop()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            sockets.unlink_own(self.path, self._ident)
        for t in self._threads:
            t.join(timeout=2)
        for ext in exts:
            self.deregister(ext.uuid, "the extension manager stopped", quiet=True)
        sockets.clean_extension_sockets(self.path)
        with self._pool_lock:
            self._pool.clear()     # the host closes its connections

    # -- the registry of extensions -----------------------------------------------------

    def extensions(self) -> dict[int, Extension]:
        with self._lock:
            return dict(self._exts)

    def table_specs(self) -> dict[str, TableSpec]:
        with self._lock:
            return {name: spec for ext in self._exts.values() for name, spec in ext.tables.items()}

    def register(self, info: InternalExtensionInfo, broadcast: Mapping[str, Any],
                 pid: int = 0) -> ExtensionStatus:
        """osquery: ExtensionManagerInterface::registerExtension and
        RegistryFactory::addBroadcast, with their messages."""
        name = info.name or ""
        with self._lock:
            if any(e.name == name for e in self._exts.values()):
                log.error("Refusing to register duplicate extension %s", name)
                return status(1, "Duplicate extension registered")
            if not version_at_least(info.sdk_version or "", SDK_MINIMUM):
                log.warning("Could not add extension %s: incompatible extension SDK %s, "
                            "minimum required is %s", name, info.sdk_version, SDK_MINIMUM)
                return status(1, "Incompatible extension SDK version")
            problem, tables, plugins = self._check_broadcast(broadcast or {})
            if problem:
                log.error("Could not add extension %s: %s", name, problem)
                return status(1, "Failed adding registry: " + problem)
            uuid = self._new_uuid()
            log.info("Registering extension (%s, %d, version=%s, sdk=%s)", name, uuid,
                     info.version, info.sdk_version)
            ext = Extension(uuid, name, info.version or "", info.sdk_version or "",
                            info.min_sdk_version or "", f"{self.path}.{uuid}", pid, tables,
                            plugins)
            self._exts[uuid] = ext
            for table in tables:
                self._tables[table.lower()] = uuid
                registry.register("table", table, _no_factory, owner=uuid)
            from .plugins import factory
            for kind, names in plugins.items():
                for item in names:
                    registry.register(kind, item, factory(self, kind, item), owner=uuid)
            self._changed.notify_all()
        self.host.bump()
        added = getattr(self.host, "extension_tables_added", None)
        if tables and added is not None:
            added(list(tables))
        return status(0, "OK", uuid)

    def _check_broadcast(self, broadcast: Mapping[str, Any]
                         ) -> tuple[str, dict[str, TableSpec], dict[str, list[str]]]:
        taken = self._core_table_names() | set(self._tables)
        # Conflicts first, then unknown registries (osquery's order).
        for kind, items in broadcast.items():
            for item in (items or {}):
                if kind == "table" and item.lower() in taken:
                    return (f"Registry item {item} conflicts with another item of the same "
                            "name.", {}, {})
                if kind in registry.KINDS and item in registry.names(kind):
                    return (f"Registry item {item} conflicts with another item of the same "
                            "name.", {}, {})
        tables: dict[str, TableSpec] = {}
        plugins: dict[str, list[str]] = {}
        for kind, items in broadcast.items():
            if kind not in REGISTRIES:
                return f"Unknown registry: {kind}", {}, {}
            for item, routes in (items or {}).items():
                if kind == "table":
                    try:
                        tables[item] = spec_from_routes(item, routes or [],
                                                        self.flags["extensions_default_index"])
                    except ValueError as exc:
                        return str(exc), {}, {}
                else:
                    if not item or "\0" in item:
                        return f"invalid {kind} plugin name {item!r}", {}, {}
                    plugins.setdefault(kind, []).append(item)
        return "", tables, plugins

    def _core_table_names(self) -> set[str]:
        try:
            with self.connection() as conn:
                return {str(n).lower() for (n,) in conn.execute(
                    "SELECT name FROM osqlite_tables WHERE origin NOT IN ('extension', 'view')")}
        except sqlite3.Error:
            return set()

    def _new_uuid(self) -> int:
        # osquery: interface.cpp UuidGenerator -- a random 16-bit value.
        while True:
            uuid = random.randint(1, 65535)
            if uuid not in self._exts and uuid not in self._reserved:
                return uuid

    def deregister(self, uuid: int, reason: str = "", quiet: bool = False) -> bool:
        with self._lock:
            ext = self._exts.pop(uuid, None)
            if ext is None:
                return False
            for table in ext.tables:
                self._tables.pop(table.lower(), None)
            for kind in REGISTRIES:
                registry.unregister(kind, owner=uuid)
            self._changed.notify_all()
        if not quiet:
            log.info("Extension %s (uuid %d) deregistered%s", ext.name, uuid,
                     f": {reason}" if reason else "")
        self.host.bump()
        return True

    def process_exited(self, pid: int, why: str) -> None:
        """An autoloaded extension's process ended: drop what it registered."""
        for ext in list(self.extensions().values()):
            if pid and ext.pid == pid:
                self.deregister(ext.uuid, why)

    def wait(self, predicate: Any, timeout: float) -> bool:
        """Wait (at most timeout seconds) until predicate() is true; it is
        re-checked whenever the set of extensions changes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return bool(predicate())
                self._changed.wait(min(left, 0.2))
            return True

    def owner(self, kind: str, item: str) -> Extension | None:
        with self._lock:
            if kind == "table":
                uuid = self._tables.get(item.lower())
                return self._exts.get(uuid) if uuid is not None else None
            for ext in self._exts.values():
                if item in ext.plugins.get(kind, ()):
                    return ext
        return None

    # -- calling extensions -------------------------------------------------------------

    def call(self, ext: Extension, kind: str, item: str, request: dict[str, str],
             timeout: float | None = None) -> ExtensionResponse:
        """The extension's answer; CallError when it cannot be had."""
        if not ext.seen:
            self.until_serving(ext)
        answer = client.call(ext.path, self.timeout if timeout is None else timeout, "call",
                             kind, item, request, string_limit=self.string_limit)
        ext.seen = True
        return answer

    def until_serving(self, ext: Extension) -> bool:
        """An extension starts serving just after it registered: allow it
        --extensions_timeout for its socket to answer."""
        deadline = time.monotonic() + self.timeout
        while not sockets.answers(ext.path, 0.2):
            if time.monotonic() >= deadline or self._stop.wait(0.02):
                return False
        ext.seen = True
        return True

    def call_plugin(self, kind: str, item: str, request: dict[str, str]) -> ExtensionResponse:
        """Call the plugin ``item`` wherever it is now (an extension restarted
        by autoload registers again under a new uuid)."""
        ext = self.owner(kind, item)
        if ext is None:
            raise CallError(f"no extension provides the {kind} plugin {item} now")
        try:
            resp = self.call(ext, kind, item, request)
        except CallError as exc:
            raise CallError(f"the extension {ext.name} (uuid {ext.uuid}) {exc}") from None
        return resp

    def generate(self, table: str, context: bytes) -> bytes | str:
        """The SQL function osqlite_extension_generate (csrc/tables/extension.c):
        the rows as a JSON BLOB, or the reason as TEXT."""
        ext = self.owner("table", table)
        if ext is None:
            return (f"{table}: the extension that provided this table has gone away "
                    "(it is dropped from this connection at the next query)")
        ctx = context.decode("utf-8", "replace") if isinstance(context, bytes) else str(context)
        try:
            resp = self.call(ext, "table", table, {"action": "generate", "context": ctx})
        except CallError as exc:
            return f"{table}: the extension {ext.name} (uuid {ext.uuid}) {exc}"
        except Exception as exc:   # never a traceback out of a SQL function
            return f"{table}: the extension {ext.name} (uuid {ext.uuid}) failed: {exc}"
        code = resp.status.code if resp.status is not None else 0
        if code != 0:
            return (f"{table}: the extension {ext.name} failed the query: "
                    f"{resp.status.message or f'status {code}'}")
        try:
            return ujson.dumps(resp.response or [], ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError, OverflowError) as exc:
            return f"{table}: the extension {ext.name} sent rows that are not strings: {exc}"

    # -- the watcher --------------------------------------------------------------------

    def _watch(self) -> None:
        """osquery: ExtensionManagerWatcher::watch."""
        while not self._stop.wait(self.interval):
            for ext in list(self.extensions().values()):
                if self._stop.is_set():
                    return
                self._check(ext)

    def _check(self, ext: Extension) -> None:
        if not ext.seen:
            self.until_serving(ext)
        try:
            # A single-threaded extension answers after the call it is serving.
            answer = client.call(ext.path, 2 * self.timeout, "ping")
        except CallError as exc:
            if ext.uuid in self._exts:
                log.info("Extension UUID %d has gone away", ext.uuid)
                self.deregister(ext.uuid, f"its ping failed: it {exc}")
                if self.autoloader is not None:
                    # Hung, not dead: an autoloaded one is stopped, so that it is
                    # started again rather than left running unregistered.
                    self.autoloader.kill(ext.pid)
            return
        ext.seen = True
        if getattr(answer, "code", 0) != 0:
            log.info("Extension UUID %d ping failed", ext.uuid)
            self.deregister(ext.uuid, f"its ping answered status {answer.code}")

    # -- serving ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._sock is not None
        handler = Handler(self)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.05)
                continue
            self._slots.acquire()
            t = threading.Thread(target=self._serve_one, args=(conn, handler),
                                 name="osqlite-em-client", daemon=True)
            t.start()

    def _serve_one(self, conn: socket.socket, handler: Handler) -> None:
        transport = None
        try:
            try:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                        struct.calcsize("3i"))
                self._peer.pid = struct.unpack("3i", creds)[0]
            except OSError:
                self._peer.pid = 0
            idle = int(self.flags["thrift_timeout"])
            conn.settimeout(idle if idle > 0 else None)
            transport = client.wrap_socket(conn)
            prot = client.protocol(transport, self.string_limit)
            processor = ExtensionManager.Processor(handler)
            while not self._stop.is_set():
                processor.process(prot, prot)
        except (TException, OSError, EOFError):
            pass      # the client closed the connection, or sent garbage
        except Exception as exc:   # pragma: no cover - never take the manager down
            log.debug("Extension manager connection ended: %s", exc)
        finally:
            if transport is not None:
                transport.close()
            else:
                conn.close()
            self._slots.release()

    def peer_pid(self) -> int:
        return getattr(self._peer, "pid", 0)

    # -- SQL for extensions -------------------------------------------------------------

    def connection(self) -> _Borrowed:
        return _Borrowed(self)

    def query(self, sql: str) -> ExtensionResponse:
        nullvalue = self.flags["nullvalue"]
        rows: list[dict[str, str]] = []
        try:
            # An extension's SQL is untrusted as a server's: osquery's
            # authorizer applies (no ATTACH, no writes to osqlite's state).
            with self.connection() as conn, self.host.guard(conn).enforced():
                for stmt in split_statements(sql):
                    cur = conn.execute(stmt)
                    if cur.description is None:
                        cur.fetchall()
                        continue
                    names = [d[0] for d in cur.description]
                    for t in cur:
                        rows.append({n: text_value(v, nullvalue) for n, v in zip(names, t)})
        except sqlite3.Error as exc:
            return failed(str(exc))
        return ExtensionResponse(status=status(0, "OK"), response=rows)

    def query_columns(self, sql: str) -> ExtensionResponse:
        try:
            with self.connection() as conn:
                stmts = split_statements(sql)
                columns = query_columns(conn, stmts[0].rstrip().rstrip(";")) if stmts else []
        except sqlite3.Error as exc:
            return failed(str(exc))
        return ExtensionResponse(status=status(0, "OK"),
                                 response=[{name: ctype} for name, ctype in columns])

    def options(self) -> dict[str, InternalOptionInfo]:
        return {r["name"]: InternalOptionInfo(value=r["value"], default_value=r["default_value"],
                                              type=r["type"]) for r in self.flags.rows()}

    # -- the core's own plugins, for call() ---------------------------------------------

    def core_call(self, kind: str, item: str, request: Mapping[str, str]) -> ExtensionResponse:
        ext = self.owner(kind, item)
        if ext is not None:
            try:
                return self.call(ext, kind, item, dict(request))
            except CallError as exc:
                return failed(f"the extension {ext.name} (uuid {ext.uuid}) {exc}")
        if kind == "table":
            return self._core_table(item, request)
        if kind == "config":
            return self._core_config(item, request)
        return failed(f"osqlite's core answers table and config calls; not {kind}")

    def _core_table(self, table: str, request: Mapping[str, str]) -> ExtensionResponse:
        action = request.get("action")
        try:
            with self.connection() as conn:
                cols = conn.execute(
                    "SELECT name, type, hidden, \"index\", required, additional, optimized "
                    "FROM osqlite_columns WHERE table_name = ? ORDER BY cid", (table,)).fetchall()
                if not cols:
                    return failed(f"Unknown table plugin: {table}")
                if action == "columns":
                    out = []
                    for name, ctype, hidden, index, required, additional, optimized in cols:
                        flags = dict(hidden=hidden, index=index, required=required,
                                     additional=additional, optimized=optimized)
                        op = sum(bit for key, bit in _OPTION_BITS if flags[key])
                        out.append({"id": "column", "name": str(name), "type": str(ctype),
                                    "op": str(op)})
                    return ExtensionResponse(status=status(0, "OK"), response=out)
                if action == "generate":
                    sql, params = _select_from_context(table, {str(c[0]) for c in cols},
                                                       request.get("context", ""))
                    return self.query_with(conn, sql, params)
        except sqlite3.Error as exc:
            return failed(str(exc))
        return failed(f"Unknown table plugin action: {action}")

    def query_with(self, conn: sqlite3.Connection, sql: str, params: list[str]) -> ExtensionResponse:
        cur = conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        nullvalue = self.flags["nullvalue"]
        rows = [{n: text_value(v, nullvalue) for n, v in zip(names, t)} for t in cur]
        return ExtensionResponse(status=status(0, "OK"), response=rows)

    def _core_config(self, item: str, request: Mapping[str, str]) -> ExtensionResponse:
        from ..errors import ConfigError
        from ..registry import PluginError
        try:
            plugin = registry.create("config", item, self.host)
        except PluginError as exc:
            return failed(str(exc))
        action = request.get("action")
        try:
            if action == "genConfig":
                return ExtensionResponse(status=status(0, "OK"), response=[plugin.gen_config()])
            if action == "genPack":
                name, value = request.get("name", ""), request.get("value", "")
                packs = plugin.gen_pack(name, value)
                text = next((p.text for p in packs if p.text is not None), "")
                return ExtensionResponse(status=status(0, "OK"), response=[{name: text or ""}])
        except ConfigError as exc:
            return failed(str(exc))
        return failed(f"the {item} config plugin does not answer {action!r} in osqlite")


def _no_factory(daemon: Any) -> Any:
    raise registry.PluginError("an extension's table is not a plugin to activate")


def _select_from_context(table: str, columns: set[str], context: str) -> tuple[str, list[str]]:
    """SELECT * FROM table with the query context's constraints as WHERE."""
    where, params = [], []
    try:
        doc = json.loads(context) if context else {}
    except ValueError:
        doc = {}
    for cons in doc.get("constraints", []) if isinstance(doc, dict) else []:
        if not isinstance(cons, dict) or cons.get("name") not in columns:
            continue
        for c in cons.get("list", []):
            op = _OPS.get(c.get("op")) if isinstance(c, dict) else None
            if op is None or not isinstance(c.get("expr"), str):
                continue
            where.append(f'"{cons["name"]}" {op} ?')
            params.append(c["expr"])
    quoted = '"' + table.replace('"', '""') + '"'
    return f"SELECT * FROM {quoted}" + (" WHERE " + " AND ".join(where) if where else ""), params


class _Borrowed:
    """A pooled host connection for the manager's SQL, current on entry."""

    def __init__(self, manager: Manager) -> None:
        self.m = manager
        self.conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        with self.m._pool_lock:
            self.conn = self.m._pool.pop() if self.m._pool else None
        if self.conn is None:
            self.conn = self.m.host.new_connection()
        self.m.host.refresh_backing(self.conn)
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        assert self.conn is not None
        # The pool grows to the number of concurrent callers (MAX_HANDLERS).
        with self.m._pool_lock:
            self.m._pool.append(self.conn)


class Handler:
    """The ExtensionManager service (gen's Iface): every method answers,
    whatever happens inside it."""

    def __init__(self, manager: Manager) -> None:
        self.m = manager

    def ping(self) -> ExtensionStatus:
        return status(0, "pong")

    def call(self, registry_name: str, item: str, request: dict[str, str]) -> ExtensionResponse:
        try:
            return self.m.core_call(registry_name or "", item or "", request or {})
        except Exception as exc:
            log.debug("call(%s, %s) failed: %s", registry_name, item, exc)
            return failed(f"{type(exc).__name__}: {exc}")

    def shutdown(self) -> None:
        return None     # the manager does not shut down on request (osquery neither)

    def extensions(self) -> dict[int, InternalExtensionInfo]:
        return {uuid: ext.info() for uuid, ext in self.m.extensions().items()}

    def options(self) -> dict[str, InternalOptionInfo]:
        return self.m.options()

    def registerExtension(self, info: InternalExtensionInfo, registry_: dict) -> ExtensionStatus:
        try:
            return self.m.register(info or InternalExtensionInfo(), registry_ or {},
                                   self.m.peer_pid())
        except Exception as exc:
            log.error("Could not add extension %s: %s", getattr(info, "name", "?"), exc)
            return status(1, f"Failed adding registry: {exc}")

    def deregisterExtension(self, uuid: int) -> ExtensionStatus:
        if self.m.deregister(int(uuid or 0), "it asked to be deregistered"):
            return status(0, "OK")
        return status(1, "No extension UUID found")

    def query(self, sql: str) -> ExtensionResponse:
        try:
            return self.m.query(sql or "")
        except Exception as exc:
            return failed(f"{type(exc).__name__}: {exc}")

    def getQueryColumns(self, sql: str) -> ExtensionResponse:
        try:
            return self.m.query_columns(sql or "")
        except Exception as exc:
            return failed(f"{type(exc).__name__}: {exc}")


def iter_rows(manager: Manager) -> Iterator[tuple]:
    """osquery_extensions' rows (osquery: osquery/tables/utility/osquery.cpp
    genOsqueryExtensions): the core first, then each extension.  As in
    osquery, the sdk_version column shows an extension's min_sdk_version
    (osquery: extensions.cpp getExtensions fills the fields in that order)."""
    from .. import OSQUERY_VERSION
    yield (0, "core", OSQUERY_VERSION, "0.0.0", manager.path, "core")
    for uuid, ext in sorted(manager.extensions().items()):
        yield (uuid, ext.name, ext.version, ext.min_sdk_version, ext.path, "extension")
