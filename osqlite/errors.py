"""osqlite's exceptions.  Every message says what went wrong and what to do."""
from __future__ import annotations


class OsqliteError(Exception):
    """Base class of osqlite's own errors."""


class ExtensionLoadError(OsqliteError, RuntimeError):
    """The extension library cannot be found or loaded."""


class ConfigError(OsqliteError, ValueError):
    """A config file is invalid.  Names the file, the key and the reason.

    ``file`` is the path of the offending file (a config source or a pack
    file), ``key`` a slash-separated path into the JSON (``schedule/foo/interval``)
    or "" when the whole file is at fault.
    """

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(where + reason)


class FlagError(OsqliteError, ValueError):
    """A command-line flag or flagfile line is invalid."""


class DaemonError(OsqliteError, RuntimeError):
    """The daemon cannot start (unwritable path, pidfile held...)."""
