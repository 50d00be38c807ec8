"""Extensions in osqueryi: its own manager, and ``--connect`` to a daemon's.

* ``socket_path(flags)`` -- where the shell serves extensions: as osquery
  (osquery: osquery/extensions/extensions.cpp initShellSocket),
  ``~/.osquery/shell.em`` unless --extensions_socket is given, with a
  random number appended when another shell answers there or something
  that is not a socket is in the way.
* :class:`ShellHost` -- what the manager needs of its host when the shell
  has no config (then it has no daemon object): connections with
  osquery_flags, osquery_extensions, osquery_registry and the extension
  tables, kept current by a version counter.
* :class:`Remote` -- ``--connect PATH`` / ``.connect PATH``: each statement
  goes to the manager at PATH through ExtensionManager.query, and its
  column order from getQueryColumns (osquery: osquery/devtools/shell.cpp
  shell_exec_remote).  Values come back as osquery's strings.
"""
from __future__ import annotations

import logging
import os
import random
import stat
import threading
from typing import Any

from .. import registry
from .._sqlite import sqlite3
from ..authorizer import Guard
from ..backing import fill, flags_table
from ..diff import decode_text
from .client import CallError, call
from .sockets import answers

log = logging.getLogger("osqlite.extensions")

REGISTRY_COLUMNS = ("registry", "name", "owner_uuid", "internal", "active")


def socket_path(flags: Any) -> str | None:
    """The shell's socket, or None (with a message) when ~/.osquery cannot be had."""
    if not flags.is_default("extensions_socket"):
        return str(flags["extensions_socket"])
    home = os.path.join(os.path.expanduser("~"), ".osquery")
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
    except OSError as exc:
        log.warning("Cannot access or create osquery home: %s (%s); extensions are off",
                    home, exc.strerror)
        return None
    path = os.path.join(home, "shell.em")
    try:
        st = os.lstat(path)
    except OSError:
        return path
    if not stat.S_ISSOCK(st.st_mode) or answers(path, 0.5):
        path += str(random.randint(0, 65535))
    return path


class ShellHost:
    """The manager's host in a shell without a config."""

    def __init__(self, flags: Any) -> None:
        self.flags = flags
        self.manager: Any = None
        self._version = 0
        self._seen: dict[int, int] = {}
        self._lock = threading.Lock()
        self._guards: dict[int, Guard] = {}

    def new_connection(self) -> sqlite3.Connection:
        import osqlite
        conn = osqlite.connect(check_same_thread=False)
        conn.text_factory = decode_text
        conn.isolation_level = None
        self._guards[id(conn)] = Guard(conn)
        return conn

    def guard(self, conn: sqlite3.Connection) -> Guard:
        """The authorizer of a connection new_connection() made."""
        return self._guards[id(conn)]

    def bump(self) -> None:
        with self._lock:
            self._version += 1

    def refresh_backing(self, conn: sqlite3.Connection) -> None:
        version = self._version
        if self._seen.get(id(conn)) == version:
            return
        from . import EXTENSIONS_COLUMNS, iter_rows
        tables: dict[str, Any] = {"osquery_flags": flags_table(self.flags),
                                  "osquery_registry": (REGISTRY_COLUMNS, registry.REGISTRY.rows())}
        if self.manager is not None:
            tables["osquery_extensions"] = (EXTENSIONS_COLUMNS, list(iter_rows(self.manager)))
            self.manager.tables.refresh_connection(None, conn)
        fill(conn, tables)
        self._seen[id(conn)] = version


class RemoteError(Exception):
    pass


class Remote:
    """Statements run by the extension manager at path."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout

    def _call(self, method: str, sql: str) -> Any:
        try:
            resp = call(self.path, self.timeout, method, sql)
        except CallError as exc:
            raise RemoteError(f"Extension call failed: the extension manager at {self.path} "
                              f"{exc}") from None
        if resp.status is not None and resp.status.code != 0:
            raise RemoteError(resp.status.message or f"status {resp.status.code}")
        return resp.response or []

    def run(self, stmt: str) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
        """((name, type) columns, rows) of one statement; RemoteError."""
        rows = self._call("query", stmt)
        columns = []
        for entry in self._call("getQueryColumns", stmt):
            for name, ctype in entry.items():
                columns.append((name, ctype))
        return columns, rows

    def typed_rows(self, sql: str) -> list[tuple]:
        """Rows as tuples in column order, numbers typed by getQueryColumns'
        types, for the shell's own queries (.tables, .schema, .show)."""
        columns, rows = self.run(sql)
        out = []
        for row in rows:
            values: list[Any] = []
            for name, ctype in columns:
                v = row.get(name)
                if ctype in ("INTEGER", "BIGINT", "UNSIGNED BIGINT") and v is not None:
                    try:
                        values.append(int(v))
                        continue
                    except ValueError:
                        v = None if v == "" else v
                values.append(v)
            out.append(tuple(values))
        return out
