"""osqueryi on osqlite's tables: ``osqueryi``, ``python -m osqlite``, ``osqueryd -S``.

    $ osqueryi                                    # the interactive shell
    $ osqueryi --json "SELECT pid, name FROM processes LIMIT 2"
    $ echo "SELECT * FROM time;" | osqueryi --line
    $ osqueryi -A osquery_info                    # .all osquery_info
    $ osqueryi --config_path=/etc/osquery/osquery.conf --pack incident-response

This is osquery's shell (osquery: osquery/devtools/shell.cpp, itself SQLite's
shell) with the same prompts, meta-commands, output modes (osqlite.printer),
messages and exit statuses:

* Input: one positional argument (SQL or a meta-command), ``--query``,
  ``--query_file``, ``-A TABLE``, ``-L``, ``--pack NAME``, or standard input
  -- interactive with readline editing, history in ~/.osquery/.history and
  tab completion when it is a terminal, read line by line otherwise (errors
  then say ``near line N``).  Flags may come before or after the SQL.
* A statement runs on a worker thread while the main thread waits, so
  Ctrl-C interrupts SQLite (Connection.interrupt) and the shell returns to
  its prompt; at the prompt Ctrl-C clears the line, Ctrl-D exits.
* Exit status: one-shot SQL exits with the SQLite result code of a failure
  (1 for most errors, 19 for a missing required column, 9 when interrupted),
  input read from a file or a terminal exits 1 after any error, 0 otherwise.
* The config (``--config_path``) is loaded as the daemon loads it, so
  osquery_schedule, osquery_packs and --pack see it, and its
  auto_table_construction tables and views exist; a config that cannot be
  read leaves a working shell and a warning.  ``--config_check`` and
  ``--config_dump`` behave as in the daemon.

Values print as osqueryi prints sqlite3_column_text: integers in decimal,
reals as SQLite renders them (``1.0``, ``1.0e+20``), text as it is, except
that bytes that are not UTF-8, and NUL bytes (where osqueryi's C strings end),
are shown as osquery's ``\\xHH`` escapes.  See docs/shell.md.
"""
from __future__ import annotations

import logging
import os
import resource
import signal
import stat
import sys
import threading
import time
from typing import IO, Any, BinaryIO, Callable, Sequence

from ._sqlite import sqlite3
from .errors import ConfigError, ExtensionLoadError, FlagError
from .flags import FLAGS, SHELL_ONLY, Flags, render
from .printer import Printer, Settings
from .sql import blank, complete, query_columns, split_statements

log = logging.getLogger("osqlite.shell")

HISTORY_LENGTH = 100        # osquery: linenoiseHistorySetMaxLen(100)
PROMPT, CONTINUE = "osquery> ", "    ...> "
# SQLite result codes the shell reports (osquery returns them as exit status).
SQLITE_ERROR, SQLITE_INTERRUPT, SQLITE_CONSTRAINT = 1, 9, 19

HELP = """\
Welcome to the osquery shell. Please explore your OS!
You are connected to a transient 'in-memory' virtual database.

.all [TABLE]     Select all from a table
.bail ON|OFF     Stop after hitting an error
.connect PATH    Connect to an osquery extension socket
.disconnect      Disconnect from a connected extension socket
.echo ON|OFF     Turn command echo on or off
.exit            Exit this program
.features        List osquery's features and their statuses
.headers ON|OFF  Turn display of headers on or off
.help            Show this message
.mode MODE       Set output mode where MODE is one of:
                   csv      Comma-separated values
                   column   Left-aligned columns see .width
                   line     One value per line
                   list     Values delimited by .separator string
                   pretty   Pretty printed SQL results (default)
.nullvalue STR   Use STRING in place of NULL values
.print STR...    Print literal STRING
.quit            Exit this program
.schema [TABLE]  Show the CREATE statements
.separator STR   Change separator used by output mode
.socket          Show the local osquery extensions socket path
.show            Show the current values for various settings
.summary         Alias for the show meta command
.tables [TABLE]  List names of tables
.types [SQL]     Show result of getQueryColumns for the given query
.width [NUM1]+   Set column widths for "column" mode
.timer ON|OFF      Turn the CPU timer measurement on or off
"""


# osquery: osquery/utils/conversions/tryto.cpp stringToBool
_BOOLS = {"1": True, "0": False, "y": True, "yes": True, "n": False, "no": False,
          "t": True, "true": True, "f": False, "false": False, "ok": True,
          "disable": False, "enable": True, "on": True, "off": False}

KEYWORDS = (
    "ABORT ACTION ADD AFTER ALL ALTER ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN "
    "BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS "
    "CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DELETE DESC DETACH DISTINCT "
    "DROP EACH ELSE END ESCAPE EXCEPT EXISTS EXPLAIN FILTER FOR FOREIGN FROM FULL GLOB GROUP "
    "HAVING IF IN INDEX INNER INSERT INSTEAD INTERSECT INTO IS ISNULL JOIN KEY LEFT LIKE LIMIT "
    "MATCH NATURAL NOT NOTNULL NULL OF OFFSET ON OR ORDER OUTER OVER PARTITION PLAN PRAGMA "
    "PRIMARY QUERY RECURSIVE REGEXP REPLACE RIGHT ROW SELECT SET TABLE TEMP TEMPORARY THEN TO "
    "TRIGGER UNION UNIQUE UPDATE USING VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH").split()
META_COMMANDS = (".all", ".bail", ".connect", ".disconnect", ".echo", ".exit", ".features",
                 ".headers", ".help", ".mode", ".nullvalue", ".print", ".quit", ".schema",
                 ".separator", ".socket", ".show", ".summary", ".tables", ".timeout", ".timer",
                 ".types", ".version", ".width")


# -- small parsers (SQLite's shell.c, as osquery's copy has them) --------------------

def resolve_backslashes(z: str) -> str:
    """C-style dequoting: \\t \\n \\r \\\\ and \\NNN octal."""
    out, i = [], 0
    while i < len(z):
        c = z[i]
        if c == "\\" and i + 1 < len(z):
            i += 1
            c = z[i]
            if c == "n":
                c = "\n"
            elif c == "t":
                c = "\t"
            elif c == "r":
                c = "\r"
            elif "0" <= c <= "7":
                v = ord(c) - 48
                for _ in range(2):
                    if i + 1 < len(z) and "0" <= z[i + 1] <= "7":
                        i += 1
                        v = (v << 3) + ord(z[i]) - 48
                c = chr(v & 0xFF)
        out.append(c)
        i += 1
    return "".join(out)


def meta_args(line: str) -> list[str]:
    """Tokens of a meta-command line (quotes group, double quotes and bare
    words get backslash escapes); at most 50."""
    args: list[str] = []
    i, n = 1, len(line)
    while i < n and len(args) < 50:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            break
        if line[i] in "'\"":
            delim = line[i]
            i += 1
            start = i
            while i < n and line[i] != delim:
                if line[i] == "\\" and delim == '"' and i + 1 < n:
                    i += 1
                i += 1
            arg = line[start:i]
            if i < n:
                i += 1
            args.append(resolve_backslashes(arg) if delim == '"' else arg)
        else:
            start = i
            while i < n and not line[i].isspace():
                i += 1
            args.append(resolve_backslashes(line[start:i]))
    return args


def integer_value(z: str) -> int:
    """Decimal or 0x hex with an optional KiB/MiB/GiB/KB/MB/GB/K/M/G suffix."""
    neg = z.startswith("-")
    if z[:1] in "-+" and z:
        z = z[1:]
    v, i = 0, 0
    if z.startswith("0x"):
        i = 2
        while i < len(z) and z[i] in "0123456789abcdefABCDEF":
            v = (v << 4) + int(z[i], 16)
            i += 1
    else:
        while i < len(z) and z[i].isdigit():
            v = v * 10 + int(z[i])
            i += 1
    mult = {"kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "kb": 1000, "mb": 10 ** 6,
            "gb": 10 ** 9, "k": 1000, "m": 10 ** 6, "g": 10 ** 9}.get(z[i:].lower())
    if mult:
        v *= mult
    return -v if neg else v


def boolean_value(z: str, err: Callable[[str], None]) -> bool:
    if z.startswith("0x"):
        digits = len(z) > 2 and all(c in "0123456789abcdefABCDEF" for c in z[2:])
        if digits or len(z) == 2:
            return (integer_value(z) & 0xFFFFFFFF) != 0
    elif z and z.isdigit():
        return (integer_value(z) & 0xFFFFFFFF) != 0
    value = _BOOLS.get(z.lower())
    if value is None:
        err(f'ERROR: Not a boolean value: "{z}". Assuming "no".\n')
        return False
    return value


def c_string(z: bytes) -> bytes:
    """SQLite's output_c_string (for .show)."""
    out = bytearray(b'"')
    for b in z:
        if b == 0x5C:
            out += b"\\\\"
        elif b == 0x22:
            out += b'\\"'
        elif b == 0x09:
            out += b"\\t"
        elif b == 0x0A:
            out += b"\\n"
        elif b == 0x0D:
            out += b"\\r"
        elif b < 0x20 or b >= 0x7F:
            out += b"\\%03o" % b
        else:
            out.append(b)
    out += b'"'
    return bytes(out)


def escape_text(raw: bytes) -> bytes:
    """Text as osqueryi prints it, except that bytes that are not UTF-8 and
    NUL bytes become osquery's \\xHH (osquery: osquery/sql/sql.cpp)."""
    if b"\0" not in raw:
        try:
            raw.decode("utf-8")
            return raw
        except UnicodeDecodeError:
            pass
    text = raw.decode("utf-8", "surrogateescape")
    out = []
    for ch in text:
        o = ord(ch)
        if o == 0:
            out.append("\\x00")
        elif 0xDC80 <= o <= 0xDCFF:
            out.append("\\x%02X" % (o - 0xDC00))
        else:
            out.append(ch)
    return "".join(out).encode("utf-8")


def sqlite_code(exc: BaseException) -> int:
    """The primary SQLite result code of an error (Python 3.11+ has it)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code > 0:
        return code & 0xFF
    if isinstance(exc, sqlite3.IntegrityError):
        return SQLITE_CONSTRAINT
    if "interrupted" in str(exc):
        return SQLITE_INTERRUPT
    return SQLITE_ERROR


class RealText:
    """REAL values as sqlite3_column_text gives them ("%!.15g": 1.0,
    1.0e+20), from SQLite itself so every digit matches."""

    def __init__(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __call__(self, value: float) -> bytes:
        key = value.hex()          # unlike the float, tells 0.0 from -0.0
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        with self._lock:
            if self._conn is None:
                self._conn = sqlite3.connect(":memory:", check_same_thread=False)
            text = self._conn.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0]
        data = text.encode()
        if len(self._cache) < 100000:
            self._cache[key] = data
        return data


# -- the shell ----------------------------------------------------------------------

class _InputState:
    """process_input's variables."""

    def __init__(self) -> None:
        self.sql = ""            # the statement being accumulated
        self.startline = 0       # its first line
        self.lineno = 0
        self.types_query = False
        self.errors = 0


class Exit(Exception):
    """.exit CODE: leave with that status."""

    def __init__(self, code: int) -> None:
        self.code = code


class Shell:
    def __init__(self, flags: Flags, stdin: BinaryIO | None = None,
                 stdout: BinaryIO | None = None, stderr: IO[str] | None = None) -> None:
        self.flags = flags
        self.stdin = stdin or sys.stdin.buffer
        self.stdout = stdout or sys.stdout.buffer
        self.stderr = stderr or sys.stderr
        self.out: BinaryIO = self.stdout
        self.outfile = ""
        try:
            self.interactive = self.stdin.isatty()
        except (ValueError, OSError):
            self.interactive = False
        self.echo = False
        self.bail = False
        self.timer = False
        self.interrupted = False
        self.settings = Settings()
        self.settings.widths = [0] * 100
        self.real = RealText()
        self.daemon: Any = None
        self.host: Any = None              # osqlite.extensions.shell.ShellHost, no config
        self.extensions: Any = None        # the shell's extension manager
        self.remote: Any = None            # --connect / .connect: the daemon's manager
        self._ext_thread: threading.Thread | None = None
        self.conn: sqlite3.Connection | None = None
        self.completer: Completer | None = None
        prompt_color = "xterm-256color" in os.environ.get("TERM", "")
        # osquery colours the prompt on xterm-256color; \001..\002 tell
        # readline those bytes take no room on the screen.
        self.prompt = "\001\033[38;5;147m\002osquery> \001\033[0m\002" if prompt_color else PROMPT
        self.cont_prompt = ("\001\033[38;5;147m\002    ...> \001\033[0m\002" if prompt_color
                            else CONTINUE)

    # -- output helpers ---------------------------------------------------------

    def err(self, text: str) -> None:
        self.out.flush()
        if self.out is not self.stdout:
            self.stdout.flush()
        self.stderr.write(text)
        self.stderr.flush()

    def write_stdout(self, data: bytes | str) -> None:
        self.stdout.write(data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data)

    def write_out(self, data: bytes | str) -> None:
        self.out.write(data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data)

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.interactive else text

    # -- setting up -----------------------------------------------------------

    def open(self) -> None:
        """The connection, the config, the introspection tables.

        With a config the daemon's own machinery loads it (osqlite.daemon:
        packs, discovery, decorators, osquery_schedule and osquery_packs,
        views and atc tables through osqlite.config_tables); without one the
        shell needs only osquery_flags filled, and starts faster for not
        importing it."""
        self.force_shell_flags()
        if not self.flags["disable_events"]:
            log.warning("The shell does not run event publishers: the *_events tables stay "
                        "empty here; run the daemon (python -m osqlite.daemon) to collect events")
        path = self.flags["config_path"]
        if not self.flags.is_default("config_path") or os.path.exists(path):
            self.load_config(path)
        else:
            import osqlite

            from .backing import fill, flags_table

            self.conn = osqlite.connect(check_same_thread=False)
            self.conn.isolation_level = None
            if self.flags["enable_foreign"]:
                self.conn.execute("SELECT osqlite_enable_foreign()")
            fill(self.conn, {"osquery_flags": flags_table(self.flags)})
        assert self.conn is not None
        self.conn.text_factory = bytes

    def force_shell_flags(self) -> None:
        # osquery: init.cpp forces these in the shell, after parsing (and
        # config options cannot change them); no state database either.
        self.flags.set("disable_logging", True)
        self.flags.set("disable_watchdog", True)
        if self.flags.is_default("database_path") and self.flags.is_default("disable_database"):
            self.flags.set("disable_database", True)

    def load_config(self, path: str) -> None:
        """osquery: osquery/core/init.cpp Initializer::start -- the shell
        loads the config too; a failure leaves a working shell and a warning."""
        from .config_tables import ConfigTables
        from .daemon import Daemon

        self.daemon = Daemon(self.flags)
        self.daemon.hooks.append(ConfigTables())
        self.conn = self.daemon.new_connection()
        try:
            cfg = self.daemon.read_config()
            if cfg.error is not None:   # the sources before it still apply, as in the daemon
                log.warning("Error reading config: %s", cfg.error)
            self.flags.apply_options(cfg.options, cfg.options_source)
            self.force_shell_flags()
            self.daemon.apply_config(cfg, options_applied=True)
        except ConfigError as exc:
            log.warning("Error reading config: %s", exc)
        except sqlite3.Error as exc:
            log.warning("Error reading config: %s: %s", path, exc)
        self.daemon.bump()

    def refresh(self) -> None:
        """osquery_schedule, osquery_flags... the config tables and the
        extension tables, current (a no-op unless that state changed)."""
        if self.conn is None:
            return
        if self.daemon is not None:
            self.daemon.refresh_backing(self.conn)
        elif self.host is not None:
            self.host.refresh_backing(self.conn)

    # -- extensions -------------------------------------------------------------

    def extension_mode(self, positional: Sequence[str]) -> str:
        """'off', 'background' (the prompt does not wait for the manager) or
        'wait' (one-shot: extensions registered before the query runs).  As
        osquery (osquery: osquery/main/main.cpp startShell), a one-shot shell
        has no manager unless it loads extensions or --disable_extensions=false
        says so."""
        f = self.flags
        if f["disable_extensions"] or f["connect"]:
            return "off"
        one_shot = (bool(positional) or bool(f["A"]) or f["L"] or bool(f["pack"])
                    or bool(f["query"]) or bool(f["query_file"]) or f["profile"] > 0
                    or not self.interactive)
        if not one_shot:
            return "background"
        from .extensions import managed
        if managed(f, shell=True) or not f.is_default("disable_extensions"):
            return "wait"
        return "off"

    def start_extensions(self) -> None:
        """The shell's extension manager, and --extension / --extensions_autoload."""
        from . import extensions
        from .extensions.shell import ShellHost, socket_path
        path = socket_path(self.flags)
        if path is None:
            return
        self.flags.set("extensions_socket", path)
        paths = extensions.managed(self.flags, shell=True)
        unchecked = self.flags["extension"]
        if self.daemon is not None:
            self.daemon.start_extensions(paths, path, unchecked)
            self.extensions = self.daemon.extensions
            return
        host = ShellHost(self.flags)
        try:
            manager = extensions.start(host, path, paths, unchecked)
        except extensions.SocketError as exc:
            log.error("An error occurred during extension manager startup: %s", exc)
            return
        host.manager = manager
        host.bump()
        self.extensions = manager
        self.host = host
        problem = extensions.require(manager)
        if problem:
            log.error("An error occurred during extension manager startup: %s", problem)

    def start_extensions_in_background(self) -> None:
        self._ext_thread = threading.Thread(target=self.start_extensions, daemon=True,
                                            name="osqlite-shell-extensions")
        self._ext_thread.start()

    def stop_extensions(self) -> None:
        if self._ext_thread is not None:
            self._ext_thread.join(timeout=30)
        if self.extensions is not None:
            self.extensions.stop()

    def connect_socket(self, path: str) -> None:
        """osquery: shell.cpp connect_socket -- SQL goes to the manager at path."""
        from .extensions.shell import Remote
        self.flags.set("connect", path)
        self.remote = Remote(path, float(self.flags["thrift_timeout"]) or 300.0)
        self.write_stdout(self.bold(f"Connected to extension socket {path} for debugging\n"))
        self.prompt, self.cont_prompt = "[*]" + self.prompt, "[*]" + self.cont_prompt

    def disconnect_socket(self) -> None:
        path = self.flags["connect"]
        self.write_stdout(self.bold(f"Disconnected from extension socket {path}\n"))
        self.flags.set("connect", "")
        self.remote = None
        self.prompt, self.cont_prompt = self.prompt[3:], self.cont_prompt[3:]

    def run_remote(self, sql: str, printer: Printer | None) -> tuple[int, str | None]:
        """osquery: shell.cpp shell_exec_remote, one statement at a time."""
        from .extensions.shell import RemoteError
        try:
            for stmt in split_statements(sql):
                if self.echo:
                    self.write_out(stmt + "\n")
                try:
                    columns, rows = self.remote.run(stmt)
                except RemoteError as exc:
                    return SQLITE_ERROR, str(exc)
                if printer is None or not columns:
                    continue
                names = [c[0] for c in columns]
                printer.statement(names)
                for row in rows:
                    printer.row([None if row.get(n) is None
                                 else row[n].encode("utf-8", "surrogateescape") for n in names])
            return 0, None
        finally:
            if printer is not None:
                printer.finish()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """An internal query's rows, text decoded (the daemon's, when connected)."""
        if self.remote is not None and not params:
            from .extensions.shell import RemoteError
            try:
                return self.remote.typed_rows(sql)
            except RemoteError as exc:
                raise sqlite3.OperationalError(str(exc)) from None
        assert self.conn is not None
        self.refresh()
        out = []
        for row in self.conn.execute(sql, params):
            out.append(tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                             for v in row))
        return out

    # -- running SQL ------------------------------------------------------------

    def render(self, value: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return escape_text(value)
        if isinstance(value, int):
            return b"%d" % value
        if isinstance(value, float):
            return self.real(value)
        return escape_text(str(value).encode("utf-8", "surrogateescape"))

    def run_statements(self, sql: str, printer: Printer | None) -> tuple[int, str | None]:
        """osquery: shell.cpp shell_exec.  Returns (SQLite code, error text)."""
        assert self.conn is not None
        conn = self.conn
        try:
            for stmt in split_statements(sql):
                if self.echo:
                    self.write_out(stmt + "\n")
                if self.flags["planner"]:
                    self.plan(stmt)
                # Lone surrogates (bytes that were not UTF-8): Python 3.10's
                # sqlite3 reports them as a misleading type Warning, so check here.
                stmt.encode("utf-8")
                cur = conn.execute(stmt)
                if cur.description is None or printer is None:
                    cur.fetchall()
                    continue
                printer.statement([d[0] for d in cur.description])
                render = self.render
                while True:
                    batch = cur.fetchmany(256)
                    if not batch:
                        break
                    for row in batch:
                        printer.row([render(v) for v in row])
            return 0, None
        except sqlite3.Error as exc:
            return sqlite_code(exc), str(exc)
        except UnicodeEncodeError:
            return SQLITE_ERROR, "the SQL text is not valid UTF-8"
        except (ValueError, OverflowError, MemoryError) as exc:
            return SQLITE_ERROR, str(exc) or type(exc).__name__
        finally:
            if printer is not None:
                printer.finish()

    def plan(self, stmt: str) -> None:
        """--planner: SQLite's plan of each statement on stderr, with the
        engine's constraint push-down (idxStr) for every virtual table."""
        assert self.conn is not None
        try:
            rows = self.conn.execute("EXPLAIN QUERY PLAN " + stmt).fetchall()
        except sqlite3.Error:
            return
        for row in rows:
            detail = row[-1].decode("utf-8", "replace") if isinstance(row[-1], bytes) else row[-1]
            self.err(f"osquery planner: {detail}\n")

    def execute(self, sql: str, printer: Printer | None) -> tuple[int, str | None]:
        """run_statements on a worker thread; Ctrl-C interrupts SQLite."""
        assert self.conn is not None
        try:
            self.refresh()
        except sqlite3.Error as exc:
            return sqlite_code(exc), str(exc)
        result: list[tuple[int, str | None]] = []
        done = threading.Event()

        def work() -> None:
            try:
                if self.remote is not None:
                    result.append(self.run_remote(sql, printer))
                else:
                    result.append(self.run_statements(sql, printer))
            except BrokenPipeError:
                result.append((SQLITE_ERROR, None))
            except Exception as exc:    # never a traceback for a query
                result.append((SQLITE_ERROR, f"{type(exc).__name__}: {exc}"))
            finally:
                done.set()

        threading.Thread(target=work, name="osqlite-query", daemon=True).start()
        # An Event, not Thread.join: a KeyboardInterrupt inside join() can
        # leave the thread marked as finished while it still runs.
        while not done.is_set():
            try:
                done.wait()
            except KeyboardInterrupt:
                self.interrupted = True
                self.conn.interrupt()
        self.out.flush()
        return result[0] if result else (SQLITE_ERROR, "the query did not finish")

    def printer(self) -> Printer:
        return Printer(self.out, self.settings)

    def run_query(self, sql: str) -> int:
        """osquery: shell.cpp runQuery (one-shot SQL)."""
        rc, error = self.execute(sql, self.printer())
        if error is not None:
            self.err(f"Error: {error}\n")
            rc = rc or 1
        elif rc != 0:
            self.err(f'Error: unable to process SQL "{sql}"\n')
        return rc

    def types(self, sql: str) -> None:
        """.types SQL: each result column's name and osquery type."""
        try:
            columns = query_columns(self.conn, sql.rstrip().rstrip(";"))
        except sqlite3.Error as exc:
            self.write_stdout(f"Error 1: {exc}\n")
            return
        p = self.printer()
        p.statement(["name", "type"])
        for name, ctype in columns:
            p.row([name.encode("utf-8", "surrogateescape"), ctype.encode()])
        p.finish()

    # -- meta-commands ----------------------------------------------------------

    def meta(self, line: str) -> int:
        """osquery: shell.cpp do_meta_command.  1 on error, 2 to exit."""
        try:
            return self._meta(line)
        except sqlite3.Error as exc:
            self.err(f"Error: {exc}\n")
            return 1

    def _meta(self, line: str) -> int:
        args = meta_args(line)
        if not args:
            return 0
        cmd, n_arg = args[0], len(args)
        n, c = len(cmd), cmd[:1]

        def is_(word: str) -> bool:        # strncmp(azArg[0], word, n) == 0
            return word.startswith(cmd)

        if c == "a" and is_("all") and n_arg == 2:
            rc, _ = self.execute("SELECT * FROM " + args[1], self.printer())
            if rc != 0:
                self.err(f"Error querying table: {args[1]}\n")
                return 1
            return 0
        if c == "s" and is_("socket") and n_arg == 1:
            connected = f" (connected to {self.flags['connect']})" if self.remote else ""
            self.write_out(self.flag("extensions_socket", "/var/osquery/osquery.em")
                           + connected + "\n")
            return 0
        if c == "c" and is_("connect") and n_arg == 2:
            if self.remote is not None:
                self.err("Error: Please disconnect from the current socket\n")
                return 1
            self.connect_socket(args[1])
            return 0
        if c == "d" and is_("disconnect") and n_arg == 1:
            if self.remote is None:
                self.err("Error: Not connected to a socket\n")
                return 1
            self.disconnect_socket()
            return 0
        rc = 0
        if c == "b" and n >= 3 and is_("bail") and 1 < n_arg < 3:
            self.bail = boolean_value(args[1], self.err)
        elif c == "e" and is_("echo") and 1 < n_arg < 3:
            self.echo = boolean_value(args[1], self.err)
        elif c == "e" and is_("exit"):
            code = integer_value(args[1]) if n_arg > 1 else 0
            if code != 0:
                raise Exit(code)
            rc = 2
        elif c == "f" and is_("features") and n_arg == 1:
            for name, value in self.rows(
                    "SELECT name, value FROM osquery_flags WHERE (name LIKE 'disable_%' "
                    "OR name LIKE 'enable_%') AND type = 'bool'"):
                self.write_out(f"{name}: {value}\n")
        elif c == "h" and (is_("header") or is_("headers")) and 1 < n_arg < 3:
            self.settings.headers = boolean_value(args[1], self.err)
        elif c == "h" and is_("help"):
            self.err(HELP)
        elif c == "m" and is_("mode") and n_arg == 2:
            mode = {"line": "line", "lines": "line", "column": "column", "columns": "column",
                    "list": "list", "pretty": "pretty", "csv": "csv"}.get(args[1])
            if mode is None:
                self.err("Error: mode should be one of: column csv line list pretty\n")
                rc = 1
            else:
                self.settings.mode = mode
                if mode == "csv":
                    self.settings.separator = b","
        elif c == "n" and is_("nullvalue") and n_arg == 2:
            self.settings.nullvalue = args[1].encode("utf-8", "surrogateescape")[:19]
        elif c == "p" and n >= 3 and is_("print"):
            self.write_out(" ".join(args[1:]) + "\n")
        elif c == "q" and is_("quit") and n_arg == 1:
            rc = 2
        elif c == "s" and is_("schema") and n_arg < 3:
            self.schema(args[1] if n_arg > 1 else "")
        elif c == "s" and is_("separator") and n_arg == 2:
            self.settings.separator = args[1].encode("utf-8", "surrogateescape")[:19]
        elif c == "s" and (is_("show") or is_("summary")) and n_arg == 1:
            self.show()
        elif (c == "t" and n > 1 and is_("tables") and n_arg < 3) or \
                (c == "l" and n > 1 and is_("list") and n_arg < 3):
            self.tables(args[1] if n_arg > 1 else "")
        elif c == "t" and n > 4 and is_("timeout") and n_arg == 2:
            try:
                self.conn.execute(f"PRAGMA busy_timeout = {int(integer_value(args[1]))}")
            except sqlite3.Error as exc:
                self.err(f"Error: {exc}\n")
                rc = 1
        elif c == "t" and n >= 5 and is_("timer") and n_arg == 2:
            self.timer = boolean_value(args[1], self.err)
        elif c == "v" and is_("version"):
            self.version()
        elif c == "w" and is_("width") and n_arg > 1:
            for j in range(1, min(n_arg, 101)):
                self.settings.widths[j - 1] = integer_value(args[j])
        else:
            self.err(f'Error: unknown command or invalid arguments:  "{cmd}". '
                     'Enter ".help" for help\n')
            rc = 1
        return rc

    def flag(self, name: str, default: str) -> str:
        try:
            return render(self.flags[name])
        except KeyError:
            return default

    def table_names(self) -> list[str]:
        return sorted(name for (name,) in self.rows("SELECT name FROM osqlite_tables"))

    def tables(self, prefix: str) -> None:
        """osquery: shell.cpp meta_tables ("  => name", sorted, prefix)."""
        for name in self.table_names():
            if name.startswith(prefix):
                self.write_stdout(f"  => {name}\n")

    def schema(self, prefix: str) -> None:
        """osquery: shell.cpp meta_schema with osquery/core/tables.cpp
        columnDefinition: CREATE TABLE name(`col` TYPE[ HIDDEN][ COLLATE X], ...
        [, PRIMARY KEY (...)])[ WITHOUT ROWID];  Views print their CREATE VIEW."""
        tables = {}
        for name, origin, sql in self.rows("SELECT name, origin, sql FROM osqlite_tables"):
            if name.startswith(prefix):
                tables[name] = (origin, sql)
        columns: dict[str, list[tuple]] = {}
        for row in self.rows("SELECT table_name, name, type, hidden, \"index\", additional, "
                             "\"collate\" FROM osqlite_columns ORDER BY table_name, cid"):
            if row[0] in tables:
                columns.setdefault(row[0], []).append(row[1:])
        for name in sorted(tables):
            origin, sql = tables[name]
            if origin == "view":
                self.write_stdout(sql.rstrip(";") + ";\n")
                continue
            self.write_stdout(f"CREATE TABLE {name}{column_definition(columns.get(name, []))};\n")

    def version(self) -> None:
        rows = self.rows("SELECT version FROM osquery_info")
        self.write_out(f"osquery {rows[0][0] if rows else ''}\n")
        self.write_out(f"using SQLite {sqlite3.sqlite_version}\n")

    def show(self) -> None:
        """osquery: shell.cpp meta_show."""
        w = self.write_out
        self.write_stdout(self.bold("osquery") + " - being built, with love.\n"
                          "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n")
        self.stdout.flush()
        self.version()
        w("\nGeneral settings:\n")
        w("%13.13s: %s\n" % ("Flagfile", self.flagfile))
        plugin = self.flag("config_plugin", "filesystem")
        w("%13.13s: %s" % ("Config", plugin))
        w(f" ({self.flags['config_path']})\n" if plugin == "filesystem" else "\n")
        logger = self.flag("logger_plugin", "filesystem")
        w("%13.13s: %s" % ("Logger", logger))
        w(f" ({self.flags['logger_path']})\n" if logger == "filesystem" else "\n")
        w("%13.13s: %s\n" % ("Distributed", self.flag("distributed_plugin", "tls")))
        w("%13.13s: %s\n" % ("Database", "ephemeral"))
        extensions = [r[0] for r in self.rows("SELECT name FROM osquery_extensions")]
        w("%13.13s: %s\n" % ("Extensions", ", ".join(str(e) for e in extensions)))
        w("%13.13s: %s\n" % ("Socket", self.flag("extensions_socket", "/var/osquery/osquery.em")))
        w("\nShell settings:\n")
        w("%13.13s: %s\n" % ("echo", "on" if self.echo else "off"))
        w("%13.13s: %s\n" % ("headers", "on" if self.settings.headers else "off"))
        w("%13.13s: %s\n" % ("mode", self.settings.mode))
        w("%13.13s: " % "nullvalue")
        w(c_string(self.settings.nullvalue) + b"\n")
        w("%13.13s: %s\n" % ("output", self.outfile or "stdout"))
        w("%13.13s: " % "separator")
        w(c_string(self.settings.separator) + b"\n")
        w("%13.13s: " % "width")
        for width in self.settings.widths:
            if width == 0:
                break
            w(f"{width} ")
        w("\n")
        w("\nNon-default flags/options:\n")
        for name, value in self.rows("SELECT name, value FROM osquery_flags "
                                     "WHERE default_value <> value"):
            w(f"  {name}: {value}\n")

    flagfile = ""

    # -- input ----------------------------------------------------------------

    def read_line(self, stream: BinaryIO | None, continuation: bool) -> str | None:
        """A line without its newline, None at the end of input.  Bytes that
        are not UTF-8 survive as surrogates (the statement then fails with
        a message instead of the shell)."""
        if stream is not None:
            raw = stream.readline()
            if not raw:
                return None
            line = raw.decode("utf-8", "surrogateescape")
            if line.endswith("\n"):
                line = line[:-1]
        else:
            self.out.flush()
            self.stdout.flush()
            try:
                line = input(self.cont_prompt if continuation else self.prompt)
            except EOFError:
                return None
        return line[:-1] if line.endswith("\r") else line

    def process_input(self, stream: BinaryIO | None) -> int:
        """osquery: shell.cpp process_input.  stream None: the terminal.
        Returns 1 if any command failed, else 0."""
        st = _InputState()
        tty = stream is None and self.interactive
        while st.errors == 0 or not self.bail or tty:
            try:
                line = self.read_line(stream, bool(st.sql))
            except KeyboardInterrupt:
                if not tty:
                    break
                # Ctrl-C at the prompt forgets the statement being typed.
                self.write_stdout("\n")
                st.sql, st.types_query = "", False
                continue
            if line is None:
                if tty:
                    self.write_stdout("\n")
                break
            st.lineno += 1
            self.interrupted = False
            try:
                stop = self.handle_line(line, st, tty)
            except KeyboardInterrupt:      # during a meta-command's own query
                self.interrupted = True
                st.sql, st.types_query, stop = "", False, False
                st.errors += 1
                self.write_stdout("\n")
            if stop or (self.interrupted and not tty):
                break
        if st.sql and not blank(st.sql) and not self.interrupted:
            # At the end of input, SQL without its final ';' still runs.
            rc, error = self.execute(st.sql, self.printer())
            if rc != 0 or error is not None:
                if error is not None:
                    self.err(f"Error: {error}\n")
                st.errors += 1
        return 1 if st.errors else 0

    def handle_line(self, line: str, st: _InputState, tty: bool) -> bool:
        """One input line: a meta-command, or more SQL, run once complete.
        True when the shell should stop (.exit, .quit)."""
        if not st.sql and blank(line):
            if self.echo:
                self.write_stdout(line + "\n")
            return False
        if line.startswith(".") and not st.sql:
            if self.echo:
                self.write_stdout(line + "\n")
            if line.startswith(".types "):
                st.types_query = True
            else:
                rc = self.meta(line)
                self.out.flush()
                if rc == 2:
                    return True
                if rc != 0:
                    st.errors += 1
                return False
        prior = len(st.sql)
        if not st.sql:
            st.sql = (line[7:] if st.types_query else line).lstrip()
            st.startline = st.lineno
        else:
            st.sql += "\n" + line
        if ";" in st.sql[prior:] and complete(st.sql):
            sql, st.sql = st.sql, ""
            if st.types_query:
                st.types_query = False
                self.types(sql)
                return False
            rc, error = self.timed(sql)
            if rc != 0 or error is not None:
                prefix = "Error:" if tty else f"Error: near line {st.startline}:"
                if error is not None:
                    self.err(f"{prefix} {error}\n")
                st.errors += 1
        elif st.sql and blank(st.sql):
            if self.echo:
                self.write_stdout(st.sql + "\n")
            st.sql = ""
        return False

    def timed(self, sql: str) -> tuple[int, str | None]:
        if not self.timer:
            return self.execute(sql, self.printer())
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
        result = self.execute(sql, self.printer())
        r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.time()
        self.write_stdout("Run Time: real %.3f user %f sys %f\n"
                          % (t1 - t0, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
        return result

    # -- the modes of launchIntoShell -------------------------------------------

    def run(self, positional: Sequence[str]) -> int:
        """osquery: shell.cpp launchIntoShell."""
        f = self.flags
        output = f["output"]
        if output and output != "-":
            try:
                self.out = open(output, "wb")
            except OSError as exc:
                self.err(f"Error: Cannot open output file '{output}'\n")
                log.debug("%s: %s", output, exc)
                return 1
            self.outfile = output
        s = self.settings
        s.headers = f["header"]
        s.mode = "list" if f["list"] else "line" if f["line"] else "csv" if f["csv"] else "pretty"
        s.json, s.json_pretty = f["json"], f["json_pretty"]
        # osquery copies --separator after the mode, so --csv alone keeps '|'.
        s.separator = f["separator"].encode("utf-8", "surrogateescape")[:19]
        s.nullvalue = f["nullvalue"].encode("utf-8", "surrogateescape")[:19]
        s.flag_nullvalue = f["nullvalue"].encode("utf-8", "surrogateescape")
        try:
            mode = self.extension_mode(positional)
            if mode == "wait":
                self.start_extensions()
            elif mode == "background":
                self._start_in_repl = True
            if f["connect"]:
                self.connect_socket(f["connect"])
            if f["profile"] > 0:
                return self.profile(f["profile"], positional)
            if f["L"] or f["A"]:
                rc = self.meta(".tables" if f["L"] else ".all " + f["A"])
                return 0 if rc == 2 else rc
            if f["pack"]:
                return self.run_pack(f["pack"])
            if f["query"]:
                return self.run_query(f["query"])
            if f["query_file"]:
                try:
                    with open(f["query_file"], encoding="utf-8", errors="surrogateescape") as fh:
                        text = fh.read()
                except OSError as exc:
                    self.err(f"Error reading query file '{f['query_file']}': {exc.strerror}\n")
                    return 1
                return self.run_query(text)
            if positional:
                query = positional[0]
                if query.startswith("."):
                    rc = self.meta(query)
                    return 0 if rc == 2 else rc
                return self.run_query(query)
            if self.interactive:
                return self.repl()
            return self.process_input(self.stdin)
        except Exit as exc:
            return exc.code
        finally:
            self.out.flush()
            if self.out is not self.stdout:
                self.out.close()

    def profile(self, rounds: int, positional: Sequence[str]) -> int:
        """--profile N (osquery: osquery/main/main.cpp profile): run the query
        (standard input when it is not a terminal, else the argument) N
        times without printing it."""
        if not self.interactive:
            query = self.stdin.readline().decode("utf-8", "surrogateescape").rstrip("\n")
        elif positional:
            query = positional[0]
        else:
            self.err("No query provided via stdin or args to profile...\n")
            return 2
        for _ in range(rounds):
            rc, error = self.execute(query, None)
            if error is not None:
                self.err(f"Query failed ({rc}): {error}\n")
                return rc or 1
        return 0

    def run_pack(self, name: str) -> int:
        """osquery: shell.cpp runPack -- every query of the packs of that
        name (the schedule is the pack "main"), in name order."""
        cfg = self.daemon.config if self.daemon is not None else None
        packs: list[list[Any]] = []
        if cfg is not None:
            if name == "main" and cfg.schedule:
                packs.append(cfg.schedule)
            packs.extend(p.queries for p in cfg.packs if p.name == name)
        rc = 0
        for queries in packs:
            for q in sorted(queries, key=lambda q: q.name):
                rc = self.run_query(q.query)
                if rc != 0:
                    self.err(f"Could not execute query {q.name}: {q.query}\n")
                    return rc
        return rc

    _start_in_repl = False

    def repl(self) -> int:
        self.write_stdout("Using a " + self.bold("virtual database")
                          + ". Need help, type '.help'\n")
        self.stdout.flush()
        history = History(self.err)
        self.completer = Completer(self)
        history.load()
        if self._start_in_repl:
            # After the prompt's set-up: the manager starts while the user types.
            self.start_extensions_in_background()
        try:
            return self.process_input(None)
        finally:
            history.save()


def column_definition(columns: Sequence[tuple]) -> str:
    """osquery: osquery/core/tables.cpp columnDefinition, from osqlite_columns
    rows (name, type, hidden, index, additional, collate)."""
    parts, pkeys = [], []
    indexed = additional = False
    for name, ctype, hidden, index, extra, collate in columns:
        # osquery's .schema names DATETIME columns TEXT (the spec type's affinity).
        text = f"`{name}` {'TEXT' if ctype in ('DATETIME', 'UNKNOWN') else ctype}"
        if index:
            indexed = True
        if index or extra:
            pkeys.append(name)
            additional = True
        if hidden:
            text += " HIDDEN"
        if collate:
            text += f" COLLATE {collate}"
        parts.append(text)
    if not indexed and additional:
        pkeys = [c[0] for c in columns]
    out = "(" + ", ".join(parts)
    if pkeys:
        out += ", PRIMARY KEY (" + ", ".join(f"`{k}`" for k in pkeys) + ")"
    out += ")"
    if pkeys:
        out += " WITHOUT ROWID"
    return out


# -- terminal: history and completion -------------------------------------------------

class History:
    """~/.osquery/.history (osquery: osquery/filesystem/filesystem.cpp
    osqueryHomeDirectory), the last 100 lines.  Read only if it is a regular
    file of this user, written through a new file renamed into place, so a
    link planted there is replaced, never followed."""

    def __init__(self, err: Callable[[str], None]) -> None:
        self.err = err
        home = os.path.expanduser("~")
        self.dir = os.path.join(home, ".osquery") if home and home != "~" else ""
        self.path = os.path.join(self.dir, ".history") if self.dir else ""

    def usable_dir(self) -> bool:
        if not self.dir:
            return False
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            st = os.lstat(self.dir)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()

    def load(self) -> None:
        try:
            import readline
        except ImportError:
            return
        readline.set_history_length(HISTORY_LENGTH)
        if not self.usable_dir():
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                return
            data = fh.read(1 << 20)
        for line in data.decode("utf-8", "replace").splitlines()[-HISTORY_LENGTH:]:
            if line:
                readline.add_history(line)

    def save(self) -> None:
        try:
            import readline
        except ImportError:
            return
        if not self.usable_dir():
            return
        n = readline.get_current_history_length()
        lines = [readline.get_history_item(i) for i in range(max(1, n - HISTORY_LENGTH + 1), n + 1)]
        data = "".join(f"{x}\n" for x in lines if x).encode("utf-8", "replace")
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.path)
        except OSError as exc:
            self.err(f"Cannot write the history file {self.path}: {exc.strerror}\n")
            try:
                os.unlink(tmp)
            except OSError:
                pass


class Completer:
    """Tab completion: meta-commands, SQL keywords, table and column names
    (from osqlite_tables and osqlite_columns, read on first use)."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.words: list[str] | None = None
        self.tables: list[str] = []
        self.matches: list[str] = []
        try:
            import readline
        except ImportError:
            return
        self.readline = readline
        readline.set_completer(self.complete)
        readline.set_completer_delims(" \t\n`~!@#$%^&*()=+[{]}\\|;:'\",<>/?")
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")

    def load(self) -> None:
        try:
            self.tables = self.shell.table_names()
            columns = sorted({r[0] for r in self.shell.rows("SELECT DISTINCT name FROM osqlite_columns")})
        except sqlite3.Error:
            self.tables, columns = [], []
        self.words = sorted(set(self.tables) | set(columns))

    def candidates(self, line: str, text: str) -> list[str]:
        if self.words is None:
            self.load()
        assert self.words is not None
        stripped = line.lstrip()
        if stripped.startswith("."):
            if " " not in stripped:
                return [m for m in META_COMMANDS if m.startswith(text)]
            return [t for t in self.tables if t.startswith(text)]
        # "p.na": a column after a table alias.
        prefix, dot, word = text.rpartition(".")
        if dot:
            return [f"{prefix}.{w}" for w in self.words if w.startswith(word)]
        upper = text.upper()
        keys = [k if text[:1].isupper() or not text else k.lower()
                for k in KEYWORDS if k.startswith(upper)]
        return sorted(set(keys + [w for w in self.words if w.startswith(text)]))

    def complete(self, text: str, state: int) -> str | None:
        try:
            if state == 0:
                self.matches = self.candidates(self.readline.get_line_buffer(), text)
            return self.matches[state] if state < len(self.matches) else None
        except Exception:      # readline swallows errors; never break the prompt
            return None


# -- entry point ------------------------------------------------------------------------

def usage() -> str:
    """osquery: osquery/core/init.cpp printUsage, for the shell's flags."""
    lines = ["osqlite's osqueryi: your OS as a high-performance relational database",
             "Usage: osqueryi [OPTION]... [SQL STATEMENT]", "",
             "osquery shell-only CLI flags:", ""]
    for f in FLAGS:
        if f.name in SHELL_ONLY:
            name = f.name if f.type == "bool" else f"{f.name} VALUE"
            lines.append(f"    --{name:<20}  {f.description}")
    lines += ["", "Every osqueryd flag is accepted as well (python -m osqlite.daemon --help);",
              "see docs/shell.md."]
    return "\n".join(lines) + "\n"


class _StatusHandler(logging.StreamHandler):
    """stderr in glog's format (osqlite.logger.GlogFormatter, imported at the
    first message so a quiet start does not pay for it)."""

    def format(self, record: logging.LogRecord) -> str:
        if self.formatter is None:
            from .logger import GlogFormatter
            self.setFormatter(GlogFormatter())
        return super().format(record)


def setup_logging(flags: Flags) -> None:
    """Status messages go to stderr, WARNING and up unless --verbose
    (osquery's shell logs at WARNING)."""
    root = logging.getLogger("osqlite")
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = _StatusHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if flags["verbose"] else logging.WARNING)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if flags["verbose"] else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # osquery: osquery/core/init.cpp -- -S/--S is the shell (this), -D/--D the
    # daemon, and a program named like osqueryd is the daemon.
    from .flags import personality
    if personality(sys.argv[0] if argv is None else "osqueryi", args, "shell") == "daemon":
        from .daemon import main as daemon_main
        return daemon_main(args, program=sys.argv[0] if argv is None else "osqueryd")
    args = [a for a in args if a not in ("-S", "--S")]
    if any(a in ("--help", "-help", "--h", "-h") for a in args):
        sys.stdout.write(usage())
        return 0
    flags = Flags()
    # The shell's defaults (osquery: init.cpp): events off unless asked for.
    flags.set("disable_events", True)
    try:
        positional = flags.parse_argv(args)
    except FlagError as exc:
        print(exc, file=sys.stderr)       # gflags' own lines, "ERROR: ..."
        return 1
    if (flags["config_check"] or flags["config_check_strict"] or flags["config_dump"]
            or flags["database_dump"]):
        from .daemon import main as daemon_main
        return daemon_main(args)
    if argv is None:
        # As a C program: a closed pipe ends the shell quietly.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    setup_logging(flags)
    if sys.stdin is not None and hasattr(sys.stdin, "reconfigure"):
        # A terminal may send bytes that are not UTF-8: keep them, as the
        # file input does, rather than failing in input().
        sys.stdin.reconfigure(errors="surrogateescape")
    shell = Shell(flags)
    shell.flagfile = next((a.split("=", 1)[1] for a in args if a.startswith("--flagfile=")), "")
    try:
        shell.open()
        return shell.run(positional)
    except ExtensionLoadError as exc:
        print(f"osqueryi: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    finally:
        shell.stop_extensions()


if __name__ == "__main__":
    sys.exit(main())
