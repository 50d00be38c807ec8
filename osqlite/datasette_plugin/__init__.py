"""Datasette plugin: the host's live tables as a database named ``host``.

    pip install osqlite datasette
    datasette                      # then open http://127.0.0.1:8001/host

osqlite registers this module under Datasette's ``datasette`` entry point,
so installing both is all it takes.  It works on every interpreter:
where the sqlite3 module has ``enable_load_extension`` each connection
loads the library; elsewhere (pyenv builds) the extension is registered as
an auto-extension when Datasette imports this plugin, before it opens any
connection (osqlite/extension.py).  Datasette's own ``--load-extension``
is not needed.

The ``host`` database is an in-memory SQLite database per connection in
which every table of this build is declared with ``CREATE VIRTUAL TABLE``
(osqlite/schema.py), so Datasette lists them, with osquery's descriptions,
and its table pages (filters, sort, facets, row counts, JSON and CSV)
work.  The declarations are all it holds: every query reads /proc, /sys
and /etc again, and responses carry ``Cache-Control: no-store``.  The
database page shows no row counts, because counting means running every
table (the cloud metadata tables wait for their service).

Tables with required columns (``file``, ``hash``, ``curl``, ``yara_file``
...) cannot be listed whole; their page explains that and offers a form
for the column instead of an error.

Every other database of the Datasette instance gets osqlite's tables and
functions too (prepare_connection), so ``datasette host.db`` on a file
written by ``python -m osqlite.schema`` can be queried.

Configuration (``metadata.json`` / ``-s``): ``plugins.osqlite.database``
names the database (default ``host``); an empty name adds none.

Datasette has no authentication by default: whoever reaches the port can
read every table Datasette's user can (``shadow`` when it is root) and
make the host send HTTP requests (``curl``).  It listens on 127.0.0.1
unless told otherwise; a warning is logged when it runs as root.
"""
from __future__ import annotations

import logging
import os
import socket
import weakref
from dataclasses import dataclass, field
from typing import Any

from datasette import hookimpl
from datasette.database import Database
from datasette.utils import tilde_decode, to_css_class
from datasette.utils.asgi import Response

from .. import __version__, extension, schema

log = logging.getLogger("osqlite.datasette")

DEFAULT_NAME = "host"
REQUIRED_MARK = "without a required column"   # the engine's message (csrc/engine.c)
# Filter operators that reach a required column's generator (pushed down
# as =, LIKE, GLOB by csrc/engine.c's xBestIndex).
REQUIRED_OPS = (("exact", "="), ("like", "like"), ("glob", "glob"),
                ("startswith", "starts with"))

# The auto-extension must be registered before Datasette opens its first
# connection; plugins are imported before that.
_load_error = extension.prepare_early()


@dataclass
class TableInfo:
    description: str
    required: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


@dataclass
class HostState:
    name: str                      # the database's name (and route)
    tables: dict[str, TableInfo]
    metadata: dict = field(default_factory=dict)   # what get_metadata returns


_states: weakref.WeakKeyDictionary[Any, HostState] = weakref.WeakKeyDictionary()


def _catalog() -> dict[str, TableInfo]:
    """Descriptions and required columns of this build's tables, from the
    engine's own descriptors (osqlite_tables / osqlite_columns)."""
    from .. import connect

    conn = connect()
    try:
        tables = {name: TableInfo(desc or "") for name, desc in conn.execute(
            "SELECT name, description FROM osqlite_tables WHERE origin IN (?, ?)",
            schema.ORIGINS)}
        for table, name, required, hidden in conn.execute(
                "SELECT table_name, name, required, hidden FROM osqlite_columns"
                " ORDER BY table_name, cid"):
            info = tables.get(table)
            if info is None:
                continue
            if required:
                info.required.append(name)
            if not hidden:
                info.columns.append(name)
    finally:
        conn.close()
    return tables


class HostDatabase(Database):
    """In-memory, per connection, holding only the tables' declarations."""

    def __init__(self, ds: Any) -> None:
        super().__init__(ds, is_mutable=True, is_memory=True)

    def connect(self, write: bool = False) -> Any:
        conn = super().connect(write=write)
        try:
            extension.load(conn)
            for _, sql in schema.declarations(conn):
                conn.execute(sql)
        except BaseException:
            conn.close()
            raise
        return conn

    async def table_counts(self, limit: int = 10) -> dict[str, int | None]:
        # Counting a live table runs it: on the list pages that would be
        # every generator, services included, at every view.  Table pages
        # still count their (filtered) rows.
        return {name: None for name in await self.table_names()}


def _state(datasette: Any) -> HostState | None:
    return _states.get(datasette)


@hookimpl
def prepare_connection(conn: Any, database: str, datasette: Any) -> None:
    why = extension.ensure(conn, _load_error)
    if why is not None and why != _load_error:
        # Datasette keeps serving the database, without osqlite's tables
        # (startup has said why already when the extension cannot load).
        log.error("osqlite: database %s: %s", database, why)


@hookimpl
def startup(datasette: Any) -> None:
    config = datasette.plugin_config("osqlite") or {}
    name = config.get("database", DEFAULT_NAME)
    if not name:
        return
    if _load_error is not None:
        log.error("osqlite: no %s database: %s", name, _load_error)
        return
    db = datasette.add_database(HostDatabase(datasette), name=name)
    tables = _catalog()
    _states[datasette] = HostState(db.name, tables, _metadata(db.name, tables))
    if os.geteuid() == 0:
        log.warning(
            "osqlite: Datasette runs as root: anyone who can reach it can read "
            "every table of database %s (shadow included) and make this host send "
            "HTTP requests (curl); keep it on 127.0.0.1 or add authentication",
            db.name)


def _metadata(name: str, tables: dict[str, TableInfo]) -> dict:
    described: dict[str, dict] = {}
    for table, info in tables.items():
        meta: dict[str, Any] = {"description": info.description}
        if info.required:
            meta["columns"] = {col: "required: the query must constrain it"
                               for col in info.required}
        described[table] = meta
    return {"databases": {name: {
        "description": (f"The live tables of {socket.gethostname()}, read again at "
                        f"every request (osqlite {__version__}). This database "
                        "holds no rows."),
        "source": "osquery's table specs",
        "tables": described,
    }}}


@hookimpl
def get_metadata(datasette: Any) -> dict | None:
    state = _state(datasette)
    return state.metadata if state is not None else None


@hookimpl
def prepare_jinja2_environment(env: Any, datasette: Any) -> None:
    """Serve osqlite_database.html as the host database's page template,
    whatever name the database got (Datasette looks for
    database-<name>.html first)."""
    from jinja2 import BaseLoader, ChoiceLoader, TemplateNotFound

    base = env.loader

    class HostPageLoader(BaseLoader):
        def get_source(self, environment: Any, template: str) -> Any:
            state = _state(datasette)
            if state is None or template != f"database-{to_css_class(state.name)}.html":
                raise TemplateNotFound(template)
            return base.get_source(environment, "osqlite_database.html")

        def list_templates(self) -> list[str]:
            return []

    env.loader = ChoiceLoader([HostPageLoader(), base])


@hookimpl
def extra_template_vars(template: str, database: str | None, table: str | None,
                        datasette: Any) -> dict | None:
    state = _state(datasette)
    if state is None or database != state.name:
        return None
    return {"osqlite_tables": state.tables, "osqlite_version": __version__}


def _is_host_path(path: str, name: str) -> bool:
    root = "/" + name
    return path == root or path.startswith(root + "/") or path.startswith(root + ".")


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    """Cache-Control: no-store on the host database's responses: the next
    request must read the system again, not a copy five seconds old."""
    def wrap(app: Any) -> Any:
        async def wrapped(scope: dict, receive: Any, send: Any) -> None:
            state = _state(datasette)
            if (scope.get("type") != "http" or state is None
                    or not _is_host_path(scope.get("path", ""), state.name)):
                await app(scope, receive, send)
                return

            async def send_no_store(message: dict) -> None:
                if message.get("type") == "http.response.start":
                    headers = [(k, v) for k, v in message.get("headers", [])
                               if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                    message = dict(message, headers=headers)
                await send(message)

            await app(scope, receive, send_no_store)
        return wrapped
    return wrap


@hookimpl(hookwrapper=True)
def handle_exception(datasette: Any, request: Any, exception: Exception) -> Any:
    """A table with required columns queried without them (SQLite's
    SQLITE_CONSTRAINT, which Datasette would answer with a 500 and a
    traceback in its log): explain and offer the form (HTML) or name the
    columns (JSON, status 400).  A wrapper, so that Datasette's default
    handler is not run for it."""
    outcome = yield
    response = _required_columns_response(datasette, request, exception)
    if response is not None:
        outcome.force_result([response])


def _required_columns_response(datasette: Any, request: Any, exception: Exception) -> Any:
    state = _state(datasette)
    if state is None or REQUIRED_MARK not in str(exception):
        return None
    url_vars = request.scope.get("url_route", {}).get("kwargs", {})
    if tilde_decode(url_vars.get("database") or "") != state.name:
        return None
    table = tilde_decode(url_vars.get("table") or "")
    info = state.tables.get(table)
    if info is None or not info.required:
        return None
    message = getattr(exception, "message", None) or str(exception)

    async def inner() -> Response:
        if url_vars.get("format") == "json" or request.path.endswith(".json"):
            return Response.json({
                "ok": False, "status": 400, "title": "Required column",
                "error": message, "table": table, "required_columns": info.required,
            }, status=400)
        html = await datasette.render_template(
            "osqlite_required.html",
            {"database": state.name, "table": table, "info": info, "error": message,
             "ops": REQUIRED_OPS, "database_color": lambda _name: "ff0000"},
            request=request)
        return Response.html(html)

    return inner
