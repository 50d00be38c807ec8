"""Differential results: osquery's typed rows, escaping and multiset diff.

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

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

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


@dataclass
class Outcome:
    """What one run of a non-snapshot query produces."""
    added: list[Row]
    removed: list[Row]
    counter: int
    store: list[Row] | None      # rows to store, None: leave the stored state alone
    first: bool = False          # first run or new epoch
    log: bool = True             # emit a log item at all


def differential(prev: tuple[int, int, list[Row]] | None, rows: list[Row], epoch: int) -> Outcome:
    """osquery's addNewResults (osquery: osquery/core/query.cpp): a first run or
    a new epoch logs every row as added with counter 0; later runs log the
    diff with counter+1, or nothing when nothing changed."""
    if prev is None or prev[0] != epoch:
        return Outcome(rows, [], 0, rows, first=True)
    d = diff(prev[2], rows)
    if not d:
        return Outcome([], [], prev[1], None, log=False)
    return Outcome(d.added, d.removed, prev[1] + 1, rows)


def event_based(prev: tuple[int, int, list[Row]] | None, rows: list[Row], epoch: int) -> Outcome:
    """osquery's addNewEvents for queries on *_events tables: no diff, every
    row is added, nothing removed.  A first run with rows has counter 1, later
    runs with rows count up, empty runs log nothing.  When the first run was
    empty (stored counter -1 here) the first non-empty run gets counter 0."""
    if prev is None or prev[0] != epoch:
        if rows:
            return Outcome(rows, [], 1, [], first=True)
        return Outcome([], [], -1, [], first=True, log=False)
    if not rows:
        return Outcome([], [], prev[1], None, log=False)
    return Outcome(rows, [], prev[1] + 1, [])
