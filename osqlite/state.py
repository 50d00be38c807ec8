"""The daemon's state store: a SQLite database at database_path.

osquery keeps the same facts in RocksDB (osquery: osquery/core/query.cpp,
osquery/database/database.cpp); osqlite uses one SQLite file:

* ``results(name, epoch, counter, query, columns, gen, nrows, executed)`` —
  one row per differential query: its last stored result is the rows of
  ``result_chunks`` with that name and generation ``gen``, each chunk a
  newline-separated run of row keys (diff.Renderer: the row's log
  ``columns`` text behind its value types, so 1, 1.0 and "1" survive a
  restart distinctly).  ``executed`` is the last run, for purging.  Results
  stored by earlier releases (a ``rows`` text) are read and rewritten.
* ``outbox`` / ``outbox_sinks`` — log lines committed but not yet delivered
  to every sink (osqlite.outbox).
* ``kv(key, value)`` — everything else: splayed intervals (``interval.<name>``),
  the denylist (``denylist.<name>`` = expiry), the queries running now
  (``executing_query.<name>`` = start time, osqlite.worker), ``instance_uuid_v1``,
  ``host_uuid_v3``.

If database_path is an existing directory (an osquery install's RocksDB
directory), the file is ``<database_path>/osqlite.db`` inside it.  One
connection is shared by all worker threads behind a lock; each query run is
one transaction (``transaction()``), holding the new result and its log
lines together.  Other subsystems (events) may use ``conn`` and ``lock`` for
tables of their own.

Safety, as a root daemon must:

* the file is locked (``flock``) for the daemon's life, so a second daemon on
  the same database is refused even when the pidfile was deleted;
* a symlink, FIFO or device at the database path or beside it (``-wal``,
  ``-shm``, ``-journal``) is refused with a message, never followed and
  never deleted;
* ``check()`` notices the database being deleted (or its directory) while the
  daemon runs, and recreates it from the still-open copy (VACUUM INTO), so no
  stored result is lost and nothing is logged twice after a restart.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from typing import Any, Iterator, Sequence

from ._sqlite import sqlite3
from .diff import legacy_keys
from .errors import DaemonError
from .files import check_output_path

log = logging.getLogger("osqlite.state")

STATE_FILE_IN_DIR = "osqlite.db"
PURGE_AGE = 592200   # ~6.85 days, osquery's
SIDECARS = ("-wal", "-shm", "-journal")
LOCK_ATTEMPTS, LOCK_PAUSE = 25, 0.2


def resolve_path(database_path: str) -> str:
    if os.path.isdir(database_path):
        return os.path.join(database_path, STATE_FILE_IN_DIR)
    return database_path


class Previous:
    """What is stored of a query's last result."""

    __slots__ = ("epoch", "counter", "columns", "gen", "nrows", "legacy")

    def __init__(self, epoch: int, counter: int, columns: tuple[str, ...], gen: int, nrows: int,
                 legacy: list[str] | None = None) -> None:
        self.epoch, self.counter, self.columns = epoch, counter, columns
        self.gen, self.nrows, self.legacy = gen, nrows, legacy


class StateDB:
    def __init__(self, database_path: str | None) -> None:
        """database_path None keeps the state in memory (--disable_database)."""
        self.path = resolve_path(database_path) if database_path else ":memory:"
        self.lock = threading.RLock()
        self._lockfd = -1
        self._identity: tuple[int, int] | None = None
        self._gone_logged = False
        if self.path != ":memory:":
            self._lockfd = self._open_locked(self.path)
        self.conn = self._connect(self.path)
        self._schema()

    # -- opening -----------------------------------------------------------------------

    @staticmethod
    def _open_locked(path: str) -> int:
        # A symlink planted there (e.g. osquery.db-shm -> /etc/shadow) is
        # refused, never followed nor removed.
        for suffix in ("",) + SIDECARS:
            check_output_path(path + suffix, "database_path")
        # Created 0600: stored results may hold sensitive rows.
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DaemonError(f"cannot open the state database {path} ({exc.strerror}): "
                              "pass --database_path=<a writable path>") from None
        # A daemon that is still stopping (a worker whose watcher was just
        # killed, a restart) may hold it for a moment: osquery retries its
        # database open 25 times, 200 ms apart (osquery: osquery/database/database.cpp).
        for attempt in range(LOCK_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if attempt + 1 < LOCK_ATTEMPTS:
                    time.sleep(LOCK_PAUSE)
        else:
            os.close(fd)
            raise DaemonError(f"another osqlite daemon is using the state database {path}; "
                              "stop it first, or pass a different --database_path") from None
        # This descriptor stays open until after SQLite closes the file: closing
        # any descriptor of a file drops the process's POSIX locks SQLite holds on it.
        return fd

    def _connect(self, path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            # Large results are written and freed in big runs: keep the WAL file
            # from staying at its largest size after a checkpoint.
            conn.execute("PRAGMA journal_size_limit=67108864")
        except BaseException:
            conn.close()
            raise
        if self._lockfd >= 0:
            st = os.fstat(self._lockfd)
            self._identity = (st.st_dev, st.st_ino)
        return conn

    def _schema(self) -> None:
        with self.lock:
            c = self.conn
            c.execute("CREATE TABLE IF NOT EXISTS results(name TEXT PRIMARY KEY, epoch INTEGER,"
                      " counter INTEGER, query TEXT, rows TEXT, executed INTEGER)")
            columns = {r[1] for r in c.execute("PRAGMA table_info(results)")}
            for col, decl in (("executed", "INTEGER"), ("columns", "TEXT"), ("gen", "INTEGER"),
                              ("nrows", "INTEGER")):
                if col not in columns:   # a state file from an earlier release
                    c.execute(f"ALTER TABLE results ADD COLUMN {col} {decl}")
            c.execute("CREATE TABLE IF NOT EXISTS result_chunks(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                      " gen INTEGER NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL)")
            c.execute("CREATE INDEX IF NOT EXISTS result_chunks_by_name ON result_chunks(name, gen, idx)")
            c.execute("CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value TEXT)")
            # Chunks of a run killed before its commit belong to no stored result.
            c.execute("DELETE FROM result_chunks WHERE NOT EXISTS (SELECT 1 FROM results r"
                      " WHERE r.name = result_chunks.name AND r.gen = result_chunks.gen)")

    def close(self) -> None:
        with self.lock:
            self.conn.close()
            if self._lockfd >= 0:
                os.close(self._lockfd)
                self._lockfd = -1

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything done on the yielded connection commits
        together or not at all."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise

    # -- liveness ----------------------------------------------------------------------

    def directory(self) -> str | None:
        return None if self.path == ":memory:" else os.path.dirname(os.path.abspath(self.path))

    def check(self) -> bool:
        """Is the database still at its path?  If it (or its directory) was
        removed, recreate it there from the open copy and say so loudly.
        Returns True when the database was recreated (callers reopen what
        they keep beside it)."""
        if self._identity is None:
            return False
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._identity:
                return False
        except OSError:
            pass
        with self.lock:
            return self._recreate()

    def _recreate(self) -> bool:
        path = self.path
        tmp = f"{path}.recreate"
        if not self._gone_logged:
            log.error("The state database %s was removed while the daemon was running; "
                      "recreating it from the open copy", path)
        made = False
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
            if os.path.lexists(path):
                raise OSError(f"{path} exists again but is not the daemon's database")
            # VACUUM INTO wants a new or empty file: create it ours, 0600, no symlink.
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
            made = True
            self.conn.execute("VACUUM INTO ?", (tmp,))
            os.link(tmp, path)          # fails rather than replace a file someone put there
        except (OSError, sqlite3.Error) as exc:
            if made:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if not self._gone_logged:
                log.error("Cannot recreate the state database %s (%s); the daemon keeps its "
                          "results in the removed file and tries again", path, exc)
            self._gone_logged = True
            return False
        os.unlink(tmp)
        old_conn, old_fd = self.conn, self._lockfd
        try:
            self._lockfd = self._open_locked(path)
        except DaemonError as exc:
            log.error("%s", exc)
            self._gone_logged = True
            return False
        self.conn = self._connect(path)
        old_conn.close()
        os.close(old_fd)
        self._gone_logged = False
        log.warning("The state database %s was recreated; stored results were kept", path)
        return True

    # -- key/value ------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", (key, value))

    def delete(self, key: str) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM kv WHERE key=?", (key,))

    def prefixed(self, prefix: str) -> dict[str, str]:
        with self.lock:
            cur = self.conn.execute("SELECT key, value FROM kv WHERE substr(key, 1, ?) = ?",
                                    (len(prefix), prefix))
            return {k[len(prefix):]: v for k, v in cur}

    # -- differential results -------------------------------------------------------

    def previous(self, name: str) -> Previous | None:
        """What is stored of a query's last run, or None (a first run)."""
        with self.lock:
            row = self.conn.execute("SELECT epoch, counter, columns, gen, nrows, rows FROM results"
                                    " WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        epoch, counter, columns, gen, nrows, legacy = row
        if gen is None:
            # Stored by an earlier release: convert once, rewritten by the next store.
            cols, keys = legacy_keys(legacy or "[]")
            return Previous(epoch, counter, cols, -1, len(keys), keys)
        return Previous(epoch, counter, tuple(json.loads(columns)), gen, nrows)

    def keys(self, name: str, prev: Previous) -> Iterator[str]:
        """The stored keys of a result, chunk by chunk (bounded memory)."""
        if prev.legacy is not None:
            yield from prev.legacy
            return
        idx = -1
        while True:
            with self.lock:
                rows = self.conn.execute("SELECT idx, data FROM result_chunks WHERE name=? AND gen=?"
                                         " AND idx>? ORDER BY idx LIMIT 16", (name, prev.gen, idx)).fetchall()
            if not rows:
                return
            idx = rows[-1][0]
            for _, data in rows:
                if data:
                    yield from data.split("\n")

    def spill_chunk(self, name: str, gen: int, idx: int, text: str) -> None:
        """Write part of a large new result (its keys, newline-separated)
        before its run commits; the chunks count only once ``save_result``
        commits their generation."""
        with self.lock:
            self.conn.execute("INSERT INTO result_chunks(name, gen, idx, data) VALUES (?, ?, ?, ?)",
                              (name, gen, idx, text))

    def drop_chunks(self, name: str, gen: int) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM result_chunks WHERE name=? AND gen=?", (name, gen))

    def next_gen(self, name: str) -> int:
        """A generation no chunk of ``name`` has (not even a failed run's)."""
        with self.lock:
            return self.conn.execute("SELECT coalesce(max(gen), 0) + 1 FROM (SELECT gen FROM result_chunks"
                                     " WHERE name = ? UNION ALL SELECT gen FROM results WHERE name = ?"
                                     " AND gen IS NOT NULL)", (name, name)).fetchone()[0]

    @staticmethod
    def save_result(tx: sqlite3.Connection, name: str, epoch: int, counter: int, query: str,
                    columns: Sequence[str], gen: int, nrows: int, chunks: Sequence[tuple[int, str]],
                    executed: int) -> None:
        """Inside a transaction: make generation ``gen`` the stored result
        (``chunks``: (index, keys joined by newlines) not yet spilled)."""
        tx.executemany("INSERT INTO result_chunks(name, gen, idx, data) VALUES (?, ?, ?, ?)",
                       [(name, gen, idx, text) for idx, text in chunks])
        tx.execute("DELETE FROM result_chunks WHERE name=? AND gen<>?", (name, gen))
        tx.execute("INSERT OR REPLACE INTO results(name, epoch, counter, query, rows, executed, columns,"
                   " gen, nrows) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?)",
                   (name, epoch, counter, query, executed, json.dumps(list(columns)), gen, nrows))

    def executed(self, name: str, when: int) -> None:
        """Record a run (for purge) even when the result did not change."""
        with self.lock:
            self.conn.execute("UPDATE results SET executed = ? WHERE name = ?", (when, name))

    def purge(self, scheduled: set[str], now: float, age: int = PURGE_AGE) -> list[str]:
        """Forget results of queries no longer scheduled and not run for ``age``
        seconds (osquery: osquery/config/config.cpp purge, 592200 s)."""
        with self.lock:
            stale = [name for name, executed in self.conn.execute("SELECT name, executed FROM results")
                     if name not in scheduled and (executed or 0) < now - age]
            for name in stale:
                self.conn.execute("DELETE FROM results WHERE name = ?", (name,))
                self.conn.execute("DELETE FROM result_chunks WHERE name = ?", (name,))
                self.conn.execute("DELETE FROM kv WHERE key = ?", (f"denylist.{name}",))
        return stale

    def stored_names(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT name FROM results ORDER BY name")]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()
