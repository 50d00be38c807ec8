"""Splitting SQL text into statements, as SQLite's shell and osquery do.

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
