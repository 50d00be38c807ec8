"""osqlite's exceptions.  Every message says what went wrong and what to do."""
from __future__ import annotations


class OsqliteError(Exception):
    """Base class of osqlite's own errors."""


class ExtensionLoadError(OsqliteError, RuntimeError):
    """The extension library cannot be found or loaded."""
