"""Differential results: osquery's typed rows, escaping and multiset diff.

Two layers.  The reference layer works on dict rows (``diff``, ``row_key``,
``rows_from_cursor``) and states the rules plainly.  The daemon uses the fast
layer (``ResultSet``, ``Stored``, ``differential``, ``event_based``): a result
is a column tuple plus value tuples, and each row's identity is its compact
JSON text (``[1]``, ``[1.0]`` and ``["1"]`` differ exactly as osquery's
typed rows do), so storing, reloading and diffing 100,000 rows is string
hashing and joining, not per-cell Python work.  Tests hold the two layers
to the same answers.

A row is a dict column-name -> value where the value keeps SQLite's dynamic
type: int, float or str (NULL is the string "", osquery: osquery/sql/sqlite_util.cpp
readRows; BLOBs become str).  Two rows are equal only when their column
sets, types and values are equal, so 1, 1.0 and "1" all differ
(osquery: osquery/core/sql/diff_results.cpp).

    >>> d = diff([{"a": 1}, {"a": 1}], [{"a": 1}, {"a": 1.0}])
    >>> d.added, d.removed
    ([{'a': 1.0}], [{'a': 1}])

Everything here is a pure function: the scheduler and the benchmark call it
on plain lists.
"""
from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import ujson

Row = dict[str, Any]

# Type tags make a row's identity type-aware: Python itself says 1 == 1.0 == True.
_TAG_INT, _TAG_FLOAT, _TAG_STR = 0, 1, 2


def decode_text(raw: bytes) -> str:
    """sqlite3 text_factory: keep invalid UTF-8 bytes as surrogates so
    escape() can turn them into osquery's \\xHH form instead of failing."""
    return raw.decode("utf-8", "surrogateescape")


# Bytes < 0x20 and bytes not part of valid UTF-8 (surrogate-escaped by
# decode_text) become the four characters \xHH (osquery: osquery/sql/sql.cpp
# escapeNonPrintableBytes).
_NONPRINT = re.compile("[\x00-\x1f\udc80-\udcff]")
_INVALID = re.compile("[\udc80-\udcff]")


def _hex(m: re.Match[str]) -> str:
    c = ord(m.group())
    return "\\x%02X" % (c - 0xDC00 if c >= 0xDC00 else c)


def escape(text: str) -> str:
    """osquery's escaping of differential results (not snapshots)."""
    return _NONPRINT.sub(_hex, text) if _NONPRINT.search(text) else text


def escape_invalid(text: str) -> str:
    """Snapshots are not escaped by osquery; only bytes that are not UTF-8
    must still be made writable, and get the same \\xHH form."""
    return _INVALID.sub(_hex, text) if _INVALID.search(text) else text


def normalise(value: Any, nullvalue: str = "", escaped: bool = True) -> Any:
    """One cell as osquery's row model holds it."""
    if value is None:
        return nullvalue
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "surrogateescape")
    return escape(value) if escaped else escape_invalid(value)


def rows_from_cursor(names: Sequence[str], tuples: Iterable[Sequence[Any]],
                     nullvalue: str = "", escaped: bool = True) -> list[Row]:
    """Rows as dicts; a duplicated column name keeps its last value, as osquery."""
    out: list[Row] = []
    for t in tuples:
        out.append({n: normalise(v, nullvalue, escaped) for n, v in zip(names, t)})
    return out


def row_key(row: Row) -> tuple:
    """Hashable, type-aware identity of a row."""
    items = []
    for name in sorted(row):
        v = row[name]
        tag = _TAG_INT if type(v) is int else _TAG_FLOAT if type(v) is float else _TAG_STR
        items.append((name, tag, v))
    return tuple(items)


@dataclass
class DiffResults:
    added: list[Row] = field(default_factory=list)
    removed: list[Row] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def diff(old: Sequence[Row], new: Sequence[Row]) -> DiffResults:
    """Multiset difference: each new row consumes one equal old row if one
    is left, otherwise it is added; old rows left over are removed.  Added
    rows keep the query's order, removed rows the stored order."""
    remaining: Counter[tuple] = Counter(row_key(r) for r in old)
    added: list[Row] = []
    for row in new:
        k = row_key(row)
        if remaining[k] > 0:
            remaining[k] -= 1
        else:
            added.append(row)
    removed: list[Row] = []
    if sum(remaining.values()):
        for row in old:
            k = row_key(row)
            if remaining[k] > 0:
                remaining[k] -= 1
                removed.append(row)
    return DiffResults(added, removed)


def format_double(value: float) -> str:
    """osquery's untyped double: %.15g, plus ".0" when that has no '.'
    (osquery: osquery/utils/conversions/castvariant.h), e.g. 2.0 -> "2.0",
    1e20 -> "1e+20.0"."""
    text = "%.15g" % value
    return text if "." in text else text + ".0"


def as_string(value: Any) -> str:
    if type(value) is float:
        return format_double(value)
    if type(value) is int:
        return str(value)
    return value


def render_row(row: Row, numerics: bool) -> dict[str, Any]:
    """A row as it appears in a log line: columns sorted by name; values
    strings unless numerics (then ints and doubles stay numbers)."""
    if numerics:
        return {k: row[k] for k in sorted(row)}
    return {k: as_string(row[k]) for k in sorted(row)}




# -- the fast layer used by the daemon ----------------------------------------------------

# In a row's JSON (ujson, ensure_ascii) a value that needs osquery's escaping
# shows as a short escape, \u0000-\u001f, or a surrogate \udc80-\udcff; a
# NULL shows as null.  Rows that match are normalised cell by cell; a false
# positive (e.g. a literal backslash-n, or the text "null") only costs time.
_SUSPECT_ESCAPED = re.compile(r'\\[nrtbf]|\\u00[01]|\\udc[89a-f]|null')
_SUSPECT_RAW = re.compile(r'\\udc[89a-f]|null')


# ensure_ascii keeps surrogates (bytes that were not UTF-8) visible as \udcXX;
# unescaped '/' keeps ordinary paths free of backslashes (see from_cursor).
_key_dumps = functools.partial(ujson.dumps, escape_forward_slashes=False)


def row_json(row: Sequence[Any]) -> str:
    """A row's identity: compact, type-preserving, newline-free JSON."""
    try:
        return _key_dumps(row)
    except (TypeError, OverflowError, ValueError):
        return json.dumps(list(row))


class ResultSet:
    """One query result: column names and typed, normalised value tuples."""

    __slots__ = ("columns", "rows", "_keys")

    def __init__(self, columns: Sequence[str], rows: list[tuple], keys: list[str] | None = None) -> None:
        self.columns = tuple(columns)
        self.rows = rows
        self._keys = keys

    @property
    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = list(map(row_json, self.rows))
        return self._keys

    def __len__(self) -> int:
        return len(self.rows)

    def dicts(self) -> list[Row]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    @classmethod
    def from_cursor(cls, names: Sequence[str], tuples: list[Sequence[Any]], nullvalue: str = "",
                    escaped: bool = True) -> "ResultSet":
        names = list(names)
        if len(set(names)) != len(names):
            # A repeated column name keeps its last value, as osquery's map does.
            last = {n: i for i, n in enumerate(names)}
            idx = sorted(last.values())
            names = [names[i] for i in idx]
            tuples = [tuple(t[i] for i in idx) for t in tuples]
        rows = [t if type(t) is tuple else tuple(t) for t in tuples]
        keys: list[str] | None = None
        try:
            keys = list(map(_key_dumps, rows))
        except (TypeError, OverflowError, ValueError):   # BLOBs and other odd cells
            rows = [tuple(normalise(v, nullvalue, escaped) for v in r) for r in rows]
        else:
            suspect = _SUSPECT_ESCAPED if escaped else _SUSPECT_RAW
            # One scan of the whole result (plain substring tests, which are
            # far faster than the regex); row by row only if something matched.
            text = "\n".join(keys)
            if "null" in text or ("\\" in text and suspect.search(text)):
                for i, k in enumerate(keys):
                    if ("null" in k or "\\" in k) and suspect.search(k):
                        rows[i] = tuple(normalise(v, nullvalue, escaped) for v in rows[i])
                        keys[i] = row_json(rows[i])
            if not escaped:
                keys = None   # snapshots are never stored
        return cls(names, rows, keys)


@dataclass
class Stored:
    """A query's stored previous result: columns and row identities."""
    columns: tuple[str, ...]
    keys: list[str]

    def encode(self) -> str:
        return "\n".join([json.dumps(list(self.columns))] + self.keys)

    @classmethod
    def decode(cls, text: str) -> "Stored":
        lines = text.split("\n")
        return cls(tuple(json.loads(lines[0])), lines[1:] if len(lines) > 1 else [])

    @classmethod
    def of(cls, rs: ResultSet) -> "Stored":
        return cls(rs.columns, rs.keys)

    def rows(self, keys: Iterable[str]) -> list[tuple]:
        return [tuple(ujson.loads(k)) for k in keys]


def diff_sets(old: Stored, new: ResultSet) -> tuple[list[tuple], list[tuple], tuple[str, ...]]:
    """(added, removed, removed's columns); same rules as diff().  Removed rows
    are in new's column order unless the column sets differ."""
    if old.columns != new.columns:
        if set(old.columns) == set(new.columns):
            # Same columns in another order: re-key the old rows in new's order.
            pos = [old.columns.index(c) for c in new.columns]
            old = Stored(new.columns, [row_json([r[i] for i in pos]) for r in old.rows(old.keys)])
        else:
            # Rows with different column sets are never equal.
            return list(new.rows), old.rows(old.keys), old.columns
    new_keys = new.keys
    if old.keys == new_keys:
        return [], [], new.columns
    remaining = Counter(old.keys)
    # As the reference: each new row consumes an equal old row while any is
    # left (so surplus copies of a key are its last occurrences); old rows
    # left over are removed.
    added = []
    get = remaining.get
    for row, k in zip(new.rows, new_keys):
        c = get(k, 0)
        if c:
            remaining[k] = c - 1
        else:
            added.append(row)
    removed_keys = []
    if len(old.keys) - (len(new_keys) - len(added)):
        for k in old.keys:
            c = get(k, 0)
            if c:
                remaining[k] = c - 1
                removed_keys.append(k)
    return added, old.rows(removed_keys), new.columns


@dataclass
class Outcome:
    """What one run of a non-snapshot query produces."""
    added: list[tuple]
    removed: list[tuple]
    counter: int
    store: Stored | None         # what to store, None: leave the stored state alone
    first: bool = False          # first run or new epoch
    log: bool = True             # emit a log item at all
    removed_columns: tuple[str, ...] | None = None   # when not the new result's


Previous = "tuple[int, int, Stored] | None"   # (epoch, counter, stored)


def differential(prev: "tuple[int, int, Stored] | None", rs: ResultSet, epoch: int) -> Outcome:
    """osquery's addNewResults (osquery: osquery/core/query.cpp): a first run or
    a new epoch logs every row as added with counter 0; later runs log the
    diff with counter+1, or nothing when nothing changed."""
    if prev is None or prev[0] != epoch:
        return Outcome(list(rs.rows), [], 0, Stored.of(rs), first=True)
    added, removed, removed_columns = diff_sets(prev[2], rs)
    if not added and not removed:
        return Outcome([], [], prev[1], None, log=False)
    return Outcome(added, removed, prev[1] + 1, Stored.of(rs), removed_columns=removed_columns)


def event_based(prev: "tuple[int, int, Stored] | None", rs: ResultSet, epoch: int) -> Outcome:
    """osquery's addNewEvents for queries on *_events tables: no diff, every
    row is added, nothing removed.  A first run with rows has counter 1, later
    runs with rows count up, empty runs log nothing.  When the first run was
    empty (stored counter -1 here) the first non-empty run gets counter 0."""
    empty = Stored(rs.columns, [])
    if prev is None or prev[0] != epoch:
        if len(rs):
            return Outcome(list(rs.rows), [], 1, empty, first=True)
        return Outcome([], [], -1, empty, first=True, log=False)
    if not len(rs):
        return Outcome([], [], prev[1], None, log=False)
    return Outcome(list(rs.rows), [], prev[1] + 1, empty)


def _cell_str(v: Any) -> Any:
    c = v.__class__
    if c is str:
        return v
    if c is int:
        return str(v)
    if c is float:
        return format_double(v)
    return v


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], numerics: bool) -> list[dict[str, Any]]:
    """Rows as log lines show them: keys sorted by name, values strings unless
    numerics.  Works column by column so a 100,000-row result costs a few C
    loops rather than a Python call per cell."""
    if not rows:
        return []
    order = sorted(range(len(columns)), key=lambda i: columns[i])
    names = [columns[i] for i in order]
    cols = list(zip(*rows))
    out_cols = []
    for i in order:
        col = cols[i]
        if not numerics:
            kinds = set(map(type, col))
            if kinds == {int}:
                col = tuple(map(str, col))
            elif kinds != {str}:
                col = tuple(map(_cell_str, col))
        out_cols.append(col)
    return [dict(zip(names, r)) for r in zip(*out_cols)]
