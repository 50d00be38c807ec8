"""--config_dump and --database_dump: what the daemon reads and keeps, printed.

``config_dump`` prints each config source exactly as osquery does
(osquery: osquery/config/config.cpp Config::refresh), before any parsing, so
a config that does not parse is shown as it is:

    {"/etc/osquery/osquery.conf": <the file's text>}

``database_dump`` prints every key and value of the state database, one
per line, as osquery's ``<domain>[<key>]: <value>`` (osquery:
osquery/database/database.cpp dumpDatabase), with the table as the domain:
``kv[interval.users]: 3600:3412``, ``results[users]: {"epoch": 0, ...}``.
The database is opened read-only (a running daemon may hold it; nothing is
created when it does not exist).
"""
from __future__ import annotations

import json
import os
import sys
import urllib.parse
from typing import Any, Iterator

from ._sqlite import sqlite3
from .config import ConfigError
from .errors import DaemonError
from .files import check_output_path
from .flags import Flags
from .state import resolve_path

EXIT_OK, EXIT_FAILURE = 0, 1


def config_dump(plugin: Any) -> int:
    try:
        sources = plugin.gen_config()
    except ConfigError as exc:
        print(f"Error reading config: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    out = sys.stdout.buffer
    for name in sorted(sources, key=lambda n: n.encode("utf-8", "surrogateescape")):
        out.write(b'{"' + name.encode("utf-8", "surrogateescape") + b'": '
                  + sources[name].encode("utf-8", "surrogateescape") + b"}\n")
    out.flush()
    return EXIT_OK


def database_dump(flags: Flags) -> int:
    if flags["disable_database"]:
        return EXIT_OK      # an in-memory store is empty before the daemon runs
    try:
        lines = list(dump_state(flags["database_path"]))
    except DaemonError as exc:
        print(f"{flags.program}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    return EXIT_OK


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def dump_state(database_path: str) -> Iterator[str]:
    check_output_path(database_path, "database_path")
    path = resolve_path(database_path)
    check_output_path(path, "database_path")
    if not os.path.isfile(path):
        print(f"no state database at {path}: nothing to dump", file=sys.stderr)
        return
    uri = "file:" + urllib.parse.quote(os.path.abspath(path))
    try:
        conn = sqlite3.connect(uri + "?mode=ro", uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        # A WAL database without its -shm cannot be opened read-only
        # unless declared immutable (nothing else writes it then).
        try:
            conn = sqlite3.connect(uri + "?immutable=1", uri=True)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise DaemonError(f"cannot read the state database {path}: {exc}") from None
    conn.text_factory = bytes
    try:
        tables = [_text(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
            "ESCAPE '\\' ORDER BY name")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            info = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
            columns = [_text(c[1]) for c in info]
            keys = [_text(c[1]) for c in sorted(info, key=lambda c: c[5]) if c[5]]
            order = ", ".join('"' + k.replace('"', '""') + '"' for k in keys) or "rowid"
            for row in conn.execute(f"SELECT rowid, * FROM {quoted} ORDER BY {order}"):
                values = dict(zip(columns, row[1:]))
                key = ",".join(_text(values.pop(k)) for k in keys) if keys else str(row[0])
                if len(values) == 1:
                    rest = _text(next(iter(values.values())))
                else:
                    rest = json.dumps({k: _text(v) if isinstance(v, bytes) else v
                                       for k, v in values.items()}, ensure_ascii=False)
                yield f"{table}[{key}]: {rest}"
    finally:
        conn.close()
