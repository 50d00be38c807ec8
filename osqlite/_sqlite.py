"""The one place osqlite imports the standard library's sqlite3.

Everything else imports it from here, so there is a single seam to swap
or inspect the SQLite binding (for example to find which libsqlite3 the
interpreter's _sqlite3 module is linked against).
"""
from __future__ import annotations

import sqlite3

Connection = sqlite3.Connection
Cursor = sqlite3.Cursor
Error = sqlite3.Error
DatabaseError = sqlite3.DatabaseError
OperationalError = sqlite3.OperationalError
IntegrityError = sqlite3.IntegrityError
Row = sqlite3.Row
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info
connect = sqlite3.connect


def decode_text(raw: bytes) -> str:
    """A text_factory that never fails: bytes that are not UTF-8 (a command
    line, a file name: osquery's tables return them as they are) become lone
    surrogates (U+DC80..U+DCFF), so os.fsencode(value) or
    value.encode("utf-8", "surrogateescape") gives the original bytes back,
    and osqlite.diff.escape() can write them as osquery's \\xHH."""
    return raw.decode("utf-8", "surrogateescape")


__all__ = [
    "sqlite3", "Connection", "Cursor", "Error", "DatabaseError",
    "OperationalError", "IntegrityError", "Row", "sqlite_version",
    "sqlite_version_info", "connect", "decode_text",
]
