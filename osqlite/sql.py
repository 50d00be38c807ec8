"""Splitting SQL text into statements, as SQLite's shell and osquery do, and
the column types of a query, as osquery's getQueryColumns gives them.

osquery runs ';'-separated statements in sequence (osquery:
osquery/sql/sqlite_util.cpp, osquery/devtools/shell.cpp shell_exec); Python's
sqlite3 runs one statement per call.  A statement ends at a ';' where
sqlite3.complete_statement says it is complete, so a ';' inside a string, a
comment or a trigger body does not split it.  The text of each statement is
kept as written (its own ';' included), without leading whitespace; what
follows the last ';' is a statement too unless it is only whitespace and
comments.
"""
from __future__ import annotations

import os

from ._sqlite import sqlite3


def blank(text: str) -> bool:
    """Only whitespace, ``--`` comments and closed ``/* */`` comments
    (osquery: shell.cpp _all_whitespace)."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return False
            i = end + 2
        elif text.startswith("--", i):
            end = text.find("\n", i + 2)
            if end < 0:
                return True
            i = end + 1
        else:
            return False
    return True


def complete(sql: str) -> bool:
    """sqlite3.complete_statement, also for text holding bytes that are not
    UTF-8 (as surrogates; such a statement fails when it runs)."""
    try:
        return sqlite3.complete_statement(sql)
    except UnicodeEncodeError:
        return sqlite3.complete_statement(
            sql.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, in order."""
    out: list[str] = []
    start = 0
    pos = sql.find(";")
    while pos >= 0:
        chunk = sql[start:pos + 1]
        if complete(chunk):
            if not blank(chunk[:-1]):
                out.append(chunk.lstrip())
            start = pos + 1
        pos = sql.find(";", pos + 1)
    rest = sql[start:]
    if not blank(rest):
        out.append(rest.lstrip())
    return out


# osquery: osquery/sql/sqlite_util.cpp kSQLOpcodes -- the register an opcode
# writes and the type it gives.
_ARITH = {op: ("p3", "BIGINT") for op in ("BitAnd", "BitOr", "ShiftLeft", "ShiftRight", "Add",
                                          "Subtract", "Multiply", "Divide", "Remainder")}
_COMPARE = {op: ("p2", "INTEGER") for op in ("Not", "IsNull", "NotNull", "Ne", "Eq", "Gt", "Le",
                                             "Lt", "Ge", "IfNeg", "IfNotZero")}
_OPCODES = {"Concat": ("p3", "TEXT"), "AggStep": ("p3", "BIGINT"), "AggStep0": ("p3", "BIGINT"),
            "Integer": ("p2", "INTEGER"), "Int64": ("p2", "BIGINT"), "String": ("p2", "TEXT"),
            "String8": ("p2", "TEXT"), "Or": ("p3", "INTEGER"), "And": ("p3", "INTEGER"),
            **_ARITH, **_COMPARE}
_CASTS = {65: "BLOB", 66: "TEXT", 68: "BIGINT", 69: "DOUBLE"}
_TYPE_NAMES = ("TEXT", "INTEGER", "BIGINT", "UNSIGNED BIGINT", "DOUBLE", "BLOB")


def query_columns(conn: sqlite3.Connection | None, sql: str) -> list[tuple[str, str]]:
    """osquery: sqlite_util.cpp getQueryColumnsInternal -- declared types
    (through a temporary view's table_info), and for columns without one the
    types osquery's QueryPlanner infers from the program's opcodes."""
    assert conn is not None
    view = f"osqlite_types_{os.getpid()}"
    conn.execute(f'CREATE TEMP VIEW "{view}" AS {sql}')
    try:
        info = conn.execute(f'SELECT name, type FROM pragma_table_info(\'{view}\')').fetchall()
    finally:
        conn.execute(f'DROP VIEW IF EXISTS temp."{view}"')
    columns = []
    unknown = False
    for name, ctype in info:
        name = name.decode() if isinstance(name, bytes) else name
        ctype = (ctype.decode() if isinstance(ctype, bytes) else ctype or "").upper()
        if ctype not in _TYPE_NAMES:
            ctype, unknown = "UNKNOWN", True
        columns.append([name, ctype])
    if unknown:
        types: dict[int, str] = {}
        for row in conn.execute("EXPLAIN " + sql):
            op, p1, p2, p3 = row[1], row[2], row[3], row[4]
            op = op.decode() if isinstance(op, bytes) else op
            if op == "ResultRow":
                for reg, ctype in types.items():
                    if 0 <= reg - p1 < len(columns):
                        columns[reg - p1][1] = ctype
            if op == "Copy":
                for i in range(p3 + 1):
                    if p1 + i in types:
                        types[p2 + i] = types.pop(p1 + i)
            elif op == "Cast":
                types[p1] = _CASTS.get(p2, "UNKNOWN")
            if op in _OPCODES:
                reg, ctype = _OPCODES[op]
                types[{"p1": p1, "p2": p2, "p3": p3}[reg]] = ctype
    return [(n, t) for n, t in columns]
