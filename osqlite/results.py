"""One scheduled query run's store and log step, in bounded memory.

The query's rows arrive in chunks straight from the cursor (a few thousand
at a time).  Each chunk is rendered once (diff.Renderer): the columns texts
of its log lines and its type-exact row keys.  For a differential query the
previous result's keys are a multiset (diff.Multiset) that the new rows
consume; added rows' lines are written to the run's staged outbox batch as
they are found, the new keys are kept for the store (spilled to the state
database in chunks when the result is large), and once the cursor is done
the previous result is read again, in stored order, for the rows left over:
the removed lines.  Then one transaction stores the new result and commits
the lines (osqlite.outbox), and delivery follows.

Nothing is held whole: not the rows, not the lines, not the keys of a large
result.  The previous result of more than diff.DIGEST_ABOVE rows is counted
by 16-byte digests.

Outcomes follow osquery (osquery: osquery/core/query.cpp addNewResults,
addNewEvents): a first run or a new epoch logs every row as added with
counter 0; later runs log the diff with counter+1, or nothing and store
nothing when nothing changed; queries on event tables log every row as
added with counter 1, 2, ... and store no rows.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

from ._sqlite import sqlite3
from .diff import Multiset, Renderer, dumps, escape, key_columns, numerics_columns
from .logger import LineShape, batched_line, make_meta
from .outbox import Outbox, Staged
from .state import StateDB

log = logging.getLogger("osqlite.results")

CHUNK = 4096                 # rows fetched and rendered at a time
KEYS_IN_MEMORY = 32 << 20    # new keys kept for the store before spilling to the database


@dataclass
class Run:
    """What the daemon knows of one run before its rows arrive."""
    name: str
    query: str
    host: str
    unix: int
    epoch: int
    numerics: bool
    event_format: bool = True
    removed: bool = True
    snapshot: bool = False
    snapshot_event_type: bool = False
    events: bool = False              # osquery's addNewEvents (an *_events table)
    nullvalue: str = ""
    decorations: dict[str, str] = field(default_factory=dict)
    top_level: bool = False


@dataclass
class Outcome:
    stored: bool = False       # a new result was committed
    lines: int = 0             # lines committed to the outbox
    size: int = 0
    added: int = 0
    removed: int = 0
    first: bool = False
    new_epoch: bool = False    # a first run because schedule_epoch changed
    deferred: bool = False     # not stored: the outbox is full


class _Lines:
    """A run's lines, written part by part into its staged batch."""

    def __init__(self, staged: Staged, shape: LineShape, event_format: bool, numerics: bool) -> None:
        self.staged, self.shape, self.events, self.numerics = staged, shape, event_format, numerics
        self._started: set[str] = set()
        self.count = {"added": 0, "removed": 0}

    def rows(self, part: str, cols: Sequence[str]) -> None:
        if not cols:
            return
        self.count[part] += len(cols)
        if self.events:
            self.staged.add(part, self.shape.events(cols, part), len(cols))
            return
        sep = "," if part in self._started else ""
        self._started.add(part)
        self.staged.add(part, (sep + ",".join(cols)).encode("utf-8"), 0)

    def joined(self, part: str, cols: bytes, n: int) -> None:
        """``n`` rows' columns texts joined by newlines (osqlite_logchunks):
        the lines are made by one replace of the newlines."""
        if not n:
            return
        if self.events and not self.shape.plain_events():
            self.rows(part, cols.decode("utf-8").split("\n"))
            return
        self.count[part] += n
        if self.events:
            self.staged.add(part, self.shape.events_joined(cols, part), n)
            return
        sep = b"," if part in self._started else b""
        self._started.add(part)
        self.staged.add(part, sep + cols.replace(b"\n", b","), 0)

    def removed_keys(self, keys: Sequence[str]) -> None:
        self.rows("removed", numerics_columns(keys) if self.numerics else list(map(key_columns, keys)))

    def finish(self) -> list[str]:
        """Close the batch; the order its parts are delivered in."""
        if self.events:
            return ["removed", "added"]
        parts = self.shape.batched()
        if parts is None:
            # A top-level decoration named diffResults replaces the diff itself.
            line = batched_line(self.shape.meta, [], [], self.shape.decorations, self.shape.top_level)
            self.staged.parts.clear()
            self.staged.lines = self.staged.size = 0
            self.staged.add("line", (line + "\n").encode("utf-8"), 1)
            return ["line"]
        head, mid, tail = parts
        self.staged.add("head", head.encode("utf-8"), 1)
        self.staged.add("mid", mid.encode("utf-8"), 0)
        self.staged.add("tail", tail.encode("utf-8"), 0)
        return ["head", "removed", "mid", "added", "tail"]


_RENAMED = re.compile(r":[0-9]+$")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Rendered(NamedTuple):
    """A chunk of rows rendered by SQLite (osqlite_logchunks): how many,
    their keys joined by newlines (the stored form), their columns texts
    joined by newlines, as UTF-8 bytes."""
    n: int
    keys: str
    cols: bytes


def render_in_sqlite(conn: sqlite3.Connection, stmt: str,
                     nullvalue: str) -> tuple[tuple[str, ...], Iterator[Rendered]] | None:
    """Run one statement wrapped so that SQLite renders each row
    (csrc/logline.c) and hands them over a chunk at a time
    (osqlite_logchunks): the same strings diff.Renderer makes, without a
    Python object per cell or per row.  None when the statement cannot be
    wrapped (not a plain query, repeated or odd column names, too many
    columns, an extension without osqlite_logchunks): the caller reads it
    as it is.  No probe runs the query (a constant LIMIT 0 stops SQLite
    before its first table is opened)."""
    body = stmt.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    if not body:
        return None
    try:
        probe = conn.execute(f"SELECT * FROM (\n{body}\n) LIMIT 0")
        names = [d[0] for d in probe.description or ()]
        probe.close()
        if not names or any(not n or "\x00" in n or _RENAMED.search(n) for n in names):
            return None     # SQLite renamed a repeated column ("a:1"): read it as it is
        columns = tuple(sorted(names))
        refs = ["osqlite_q." + '"' + c.replace('"', '""') + '"' for c in columns]
        sig = ", ".join(refs)
        pairs = ", ".join(f"{_literal(dumps(c) + ':')}, {r}" for c, r in zip(columns, refs))
        sql = (f"SELECT osqlite_logsig({sig}), osqlite_logcols({_literal(dumps(escape(nullvalue)))}, {pairs})"
               f" FROM (\n{body}\n) AS osqlite_q")
        conn.execute(sql + " LIMIT 0").close()      # compiles (e.g. not too many columns)
        chunked = "SELECT n, keys, cols FROM osqlite_logchunks(?, ?)"
        # An extension built before osqlite_logchunks (OSQLITE_EXTENSION): read it as it is.
        conn.execute(chunked + " LIMIT 0", (sql, CHUNK)).close()
    except sqlite3.Error:
        return None
    cur = conn.execute(chunked, (sql, CHUNK))

    def fetch() -> Rendered | None:
        # What SQLite renders is always valid UTF-8 (bytes that were not are
        # escaped): the C decoder can take it, not the per-value one.
        factory = conn.text_factory
        conn.text_factory = str
        try:
            row = cur.fetchone()
        finally:
            conn.text_factory = factory
        return Rendered._make(row) if row is not None else None
    return columns, iter(fetch, None)


class ResultStep:
    """Diff, store and commit one run; the daemon's store/log step."""

    def __init__(self, state: StateDB, outbox: Outbox,
                 in_commit: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self.state, self.outbox, self.in_commit = state, outbox, in_commit

    def snapshot(self, run: Run, names: Sequence[str], chunks: Iterable[Sequence[Sequence[Any]]]) -> Outcome:
        """osquery's snapshot: no state, no diff, no escaping but of bytes
        that are not UTF-8; one line per run (even empty), or one per row."""
        renderer = Renderer(names, run.nullvalue, escaped=False)
        shape = LineShape(make_meta(run.name, run.host, run.unix, run.epoch, 0, run.numerics),
                          run.decorations, run.top_level)
        staged = self.outbox.stage()
        try:
            around = None if run.snapshot_event_type else shape.snapshot()
            if not run.snapshot_event_type and around is None:
                from .logger import snapshot_lines
                [line] = snapshot_lines(shape.meta, [], run.decorations, run.top_level)
                staged.add("rows", (line + "\n").encode("utf-8"), 1)
            first = True
            for chunk in chunks:
                cols, _, body = renderer.render(chunk, numerics=run.numerics, keys=False)
                texts = body if run.numerics else cols
                if not texts:
                    continue
                if run.snapshot_event_type:
                    staged.add("rows", shape.events(texts, "snapshot"), len(texts))
                elif around is not None:
                    staged.add("rows", (("" if first else ",") + ",".join(texts)).encode("utf-8"), 0)
                first = False
            order = ["rows"]
            if around is not None:
                staged.add("head", around[0].encode("utf-8"), 1)
                staged.add("tail", around[1].encode("utf-8"), 0)
                order = ["head", "rows", "tail"]
            if not staged.lines:
                staged.discard()
                return Outcome()
            if not self.outbox.room():
                self.outbox.drop_snapshot(run.name, staged.lines)
                staged.discard()
                return Outcome(deferred=True)
            with self.state.transaction() as tx:
                self.outbox.enqueue(tx, staged, "snapshots", run.name, order)
        except BaseException:
            staged.discard()
            raise
        self.outbox.committed(staged)
        return Outcome(lines=staged.lines, size=staged.size)

    def differential(self, run: Run, names: Sequence[str], chunks: Iterable[Sequence[Sequence[Any]]],
                     rendered: bool = False) -> Outcome:
        """``rendered``: chunks are ``Rendered`` (rows rendered by SQLite)
        from render_in_sqlite, ``names`` its sorted columns."""
        state = self.state
        prev = state.previous(run.name)
        first = prev is None or prev.epoch != run.epoch
        if run.events:
            counter = 1 if first else prev.counter + 1          # type: ignore[union-attr]
        else:
            counter = 0 if first else prev.counter + 1          # type: ignore[union-attr]
        renderer = Renderer(names, run.nullvalue, escaped=True)
        shape = LineShape(make_meta(run.name, run.host, run.unix, run.epoch, counter, run.numerics),
                          run.decorations, run.top_level)
        staged = self.outbox.stage()
        lines = _Lines(staged, shape, run.event_format, run.numerics)
        gen = state.next_gen(run.name)
        kept: list[tuple[int, str]] = []     # (chunk index, stored text) not yet in the database
        kept_size = 0
        spilled = False
        nrows = 0
        try:
            old = None
            if not first and not run.events:
                assert prev is not None
                old = Multiset(state.keys(run.name, prev), prev.nrows)
            for idx, chunk in enumerate(chunks):
                if run.events:
                    cols, _, body = renderer.render(chunk, numerics=run.numerics, keys=False)
                    nrows += len(cols)
                    lines.rows("added", body if run.numerics else cols)
                    continue
                if rendered:
                    if not chunk:
                        continue
                    n, text, joined = chunk        # type: ignore[misc]
                    nrows += n
                    if old is None:
                        lines.joined("added", joined, n)
                    else:
                        lines.rows("added", old.added(joined.decode("utf-8").split("\n"), text.split("\n")))
                elif old is None:
                    # A first run: every row is added, no per-row key is needed.
                    cols, text, body = renderer.render_stored(chunk, numerics=run.numerics)
                    lines.rows("added", body if run.numerics else cols)
                else:
                    cols, keys, body = renderer.render(chunk, numerics=run.numerics)
                    lines.rows("added", old.added(body if run.numerics else cols, keys))  # type: ignore[arg-type]
                    text = "\n".join(keys)      # type: ignore[arg-type]
                if not rendered:
                    nrows += len(cols)
                kept.append((idx, text))
                kept_size += len(text)
                if kept_size > KEYS_IN_MEMORY:
                    for i, k in kept:
                        state.spill_chunk(run.name, gen, i, k)
                    spilled = True
                    kept, kept_size = [], 0
            removed = old.leftover if old is not None else 0
            if removed:
                assert old is not None and prev is not None
                block: list[str] = []
                for k in old.removed(state.keys(run.name, prev)):
                    block.append(k)
                    if len(block) >= CHUNK:
                        self._removed(run, lines, block)
                        block = []
                self._removed(run, lines, block)
            added = lines.count["added"]
            out = Outcome(added=added, removed=removed, first=first,
                          new_epoch=first and prev is not None)
            if run.events:
                if first and not nrows:
                    counter = -1      # the first non-empty run then gets counter 0
                elif not first and not nrows:
                    return self._unchanged(run, staged, gen, spilled, out)
                log_it = nrows > 0
            elif first:
                log_it = True
            else:
                if not added and not removed:
                    return self._unchanged(run, staged, gen, spilled, out)
                log_it = bool(added or lines.count["removed"])
            order = lines.finish() if log_it else []
            if (log_it or first) and not self.outbox.room():
                staged.discard()
                if spilled:
                    state.drop_chunks(run.name, gen)
                out.deferred = True
                return out
            with state.transaction() as tx:
                state.save_result(tx, run.name, run.epoch, counter, run.query, renderer.columns, gen,
                                  0 if run.events else nrows, kept, run.unix)
                if log_it and staged.size:
                    self.outbox.enqueue(tx, staged, "results", run.name, order)
                if self.in_commit is not None:
                    self.in_commit(tx)
        except BaseException:
            staged.discard()
            if spilled:
                try:
                    state.drop_chunks(run.name, gen)
                except sqlite3.Error:
                    pass      # removed at the next start (chunks of no stored generation)
            raise
        if log_it and staged.size:
            self.outbox.committed(staged)
            out.lines, out.size = staged.lines, staged.size
        else:
            staged.discard()
        out.stored = True
        return out

    def _removed(self, run: Run, lines: _Lines, keys: list[str]) -> None:
        if keys and run.removed:
            lines.removed_keys(keys)

    def _unchanged(self, run: Run, staged: Staged, gen: int, spilled: bool, out: Outcome) -> Outcome:
        staged.discard()
        if spilled:
            self.state.drop_chunks(run.name, gen)
        self.state.executed(run.name, run.unix)
        return out
