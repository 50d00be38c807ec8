"""Differential results: osquery's typed rows, escaping and multiset diff.

Two layers.  The reference layer works on dict rows (``diff``, ``row_key``,
``rows_from_cursor``, ``render_rows``) and states the rules plainly.  The
daemon uses the fast layer (``Renderer``, ``Multiset``): a result is
rendered chunk by chunk into the ``columns`` texts of its log lines and
type-exact row keys, so storing, reloading and diffing 100,000 rows is
string formatting and hashing, not per-cell Python work, and no step holds
more than one copy of a result.  Tests hold the two layers to the same
answers.

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
import hashlib
import json
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Callable, Iterable, Iterator, Sequence

import ujson

from ._sqlite import decode_text  # noqa: F401  (the daemon's text_factory, re-exported)

Row = dict[str, Any]

# Type tags make a row's identity type-aware: Python itself says 1 == 1.0 == True.
_TAG_INT, _TAG_FLOAT, _TAG_STR = 0, 1, 2



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
    """One cell as osquery's row model holds it (NULL is the nullvalue text,
    escaped like any other text: osquery escapes the rows after reading them)."""
    if value is None:
        value = nullvalue
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
#
# A result is rendered chunk by chunk (a few thousand cursor rows at a time,
# never the whole result at once) into two strings per row:
#
# * its *columns text*: the ``columns`` object of its log line, exactly as
#   osquery writes it with logger_numerics off (keys sorted, every value a
#   JSON string: ``{"name":"sshd","pid":"42"}``);
# * its *key*: ``<types>\t<columns text>``, where <types> names each value's
#   SQLite type in column order (``s`` text, ``i`` integer, ``f<hex>`` real,
#   with the exact double), so 1, 1.0 and "1" stay distinct rows although
#   they render alike.  The key is the row's identity in the multiset diff
#   and what the state database stores.
#
# A log line is then ``prefix + columns text + suffix``: lines of added rows
# come from the rendering, lines of removed rows from the stored keys, with
# no per-cell work at all.  Rendering is one %-format per row built from a
# per-column template: a text column that needs no JSON escaping is
# substituted raw, an integer column with %d, and only columns that need it
# (escaping, doubles, NULLs, BLOBs, mixed types) are encoded cell by cell.

# osquery's rapidjson writer leaves '/' alone and writes UTF-8 raw.
dumps = functools.partial(ujson.dumps, ensure_ascii=False, escape_forward_slashes=False)


def _plain_text(text: str) -> bool:
    """Does JSON take this text as it is (nothing to escape)?  One C-level
    encode of a whole column is faster than any scan for the characters."""
    if not text.isascii():
        try:
            text.encode("utf-8")       # bytes that were not UTF-8 (surrogates) need \xHH
        except UnicodeEncodeError:
            return False
    return len(dumps(text)) == len(text) + 2


def _dumps_number(v: Any) -> str:
    try:
        return dumps(v)
    except (OverflowError, ValueError):    # inf/nan are not JSON numbers: log their text
        return dumps(format_double(v))


def _sig(v: Any) -> str:
    c = v.__class__
    if c is int:
        return "i"
    if c is float:
        return "f" + v.hex()
    return "s"


class Renderer:
    """Renders cursor rows of one result (its column names fixed) as osquery
    log ``columns`` texts and row keys; see the comment above."""

    def __init__(self, names: Sequence[str], nullvalue: str = "", escaped: bool = True) -> None:
        last = {n: i for i, n in enumerate(names)}     # a repeated name keeps its last value
        self.columns: tuple[str, ...] = tuple(sorted(last))
        # Source position of each sorted column: rows are transposed as they
        # come and the column tuples picked in that order (no per-row work).
        self._src = [last[c] for c in self.columns]
        self._names = [dumps(c).replace("%", "%%") for c in self.columns]
        self.nullvalue = nullvalue
        self.escaped = escaped

    def _transpose(self, rows: Sequence[Sequence[Any]]) -> list[tuple]:
        cols = list(zip(*rows))
        return [cols[i] for i in self._src]

    def _column(self, col: tuple, numerics: bool) -> tuple[str, Any, str, Any, Any]:
        """(plain piece, plain args, numerics piece, numerics args, types):
        types is one letter for the column or a per-row list."""
        kinds = set(map(type, col))
        if kinds == {str}:
            if _plain_text("".join(col)):
                return '"%s"', col, '"%s"', col, "s"
            fix = escape if self.escaped else escape_invalid
            enc = list(map(dumps, map(fix, col)))
            return "%s", enc, "%s", enc, "s"
        if kinds == {int}:
            return '"%d"', col, "%d", col, "i"
        if kinds == {float}:
            text = list(map("%.15g".__mod__, col))
            if not all(map(operator.contains, text, repeat("."))):
                text = [t if "." in t else t + ".0" for t in text]
            return '"%s"', text, "%s", (list(map(_dumps_number, col)) if numerics else None), \
                list(map("f".__add__, map(float.hex, col)))
        # NULLs, BLOBs, mixed types: normalise each cell.
        vals = [normalise(v, self.nullvalue, self.escaped) for v in col]
        plain = [dumps(as_string(v)) for v in vals]
        num = [(dumps(v) if v.__class__ is str else _dumps_number(v)) for v in vals] if numerics else None
        return "%s", plain, "%s", num, list(map(_sig, vals))

    def render(self, rows: Sequence[Sequence[Any]], numerics: bool = False,
               keys: bool = True) -> tuple[list[str], list[str] | None, list[str] | None]:
        """(columns texts, keys or None, numerics columns texts or None) of a chunk."""
        cols, out_keys, body = self._render(rows, numerics, "list" if keys else None)
        return cols, out_keys, body      # type: ignore[return-value]

    def render_stored(self, rows: Sequence[Sequence[Any]],
                      numerics: bool = False) -> tuple[list[str], str, list[str] | None]:
        """(columns texts, the chunk's keys as stored text, numerics texts):
        for runs that need no per-row key (first runs), one join builds the
        stored chunk."""
        cols, text, body = self._render(rows, numerics, "text")
        return cols, text, body          # type: ignore[return-value]

    def _render(self, rows: Sequence[Sequence[Any]], numerics: bool,
                keys: str | None) -> tuple[list[str], Any, list[str] | None]:
        n = len(rows)
        if not n:
            return [], ("" if keys == "text" else [] if keys else None), ([] if numerics else None)
        if not self.columns:
            k = ["\t{}"] * n
            return ["{}"] * n, ("\n".join(k) if keys == "text" else k if keys else None), \
                (["{}"] * n if numerics else None)
        plain_t, plain_a, num_t, num_a, types = [], [], [], [], []
        for name, col in zip(self._names, self._transpose(rows)):
            pp, pa, npc, na, ty = self._column(col, numerics)
            plain_t.append(f"{name}:{pp}")
            plain_a.append(pa)
            num_t.append(f"{name}:{npc}")
            num_a.append(na)
            types.append(ty)
        template = "{" + ",".join(plain_t) + "}"
        cols = list(map(template.__mod__, zip(*plain_a)))
        body = None
        if numerics:
            ntemplate = "{" + ",".join(num_t) + "}"
            body = cols if ntemplate == template and num_a == plain_a else \
                list(map(ntemplate.__mod__, zip(*num_a)))
        out_keys: Any = None
        if keys:
            varying = [t for t in types if t.__class__ is not str]
            if not varying:
                sig = ",".join(types) + "\t"
                if keys == "text":
                    out_keys = sig + ("\n" + sig).join(cols)
                else:
                    out_keys = list(map(sig.__add__, cols))
            else:
                sig = ",".join(t if t.__class__ is str else "%s" for t in types) + "\t"
                it = map(operator.add, map(sig.__mod__, zip(*varying)), cols)
                out_keys = "\n".join(it) if keys == "text" else list(it)
        return cols, out_keys, body


def key_columns(key: str) -> str:
    """The columns text of a stored key."""
    return key[key.index("\t") + 1:]


def key_values(key: str) -> tuple[tuple[str, ...], tuple]:
    """(column names, typed values) of a stored key: the inverse of rendering."""
    sig, _, text = key.partition("\t")
    obj = ujson.loads(text)
    out = []
    for t, v in zip(sig.split(","), obj.values()):
        out.append(int(v) if t == "i" else float.fromhex(t[1:]) if t[:1] == "f" else v)
    return tuple(obj), tuple(out)


def numerics_columns(keys: Sequence[str]) -> list[str]:
    """logger_numerics columns texts of stored keys (removed rows)."""
    out = []
    for k in keys:
        names, values = key_values(k)
        out.extend(Renderer(names).render([values], numerics=True, keys=False)[2] or [])
    return out


def legacy_keys(text: str) -> tuple[tuple[str, ...], list[str]]:
    """Keys of a result stored by earlier osqlite releases (a JSON array of
    the column names, then one JSON array of typed values per line)."""
    lines = text.split("\n")
    names = tuple(json.loads(lines[0]))
    r = Renderer(names)
    rows = [tuple(ujson.loads(x)) for x in lines[1:] if x]
    return r.columns, (r.render(rows)[1] or [])


# Results with more stored rows than this are counted by a 128-bit digest of
# each key rather than the key itself, so the previous result of a very large
# query costs ~50 bytes a row in memory, not its text.
DIGEST_ABOVE = 200_000


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Multiset:
    """The previous result's keys as a multiset, consumed by the new rows
    (osquery: osquery/core/sql/diff_results.cpp): each new row takes one equal
    old row while any is left, otherwise it is added; old rows left over are
    removed."""

    def __init__(self, keys: Iterable[str], size: int) -> None:
        self.ident: Callable[[str], Any] = _digest if size > DIGEST_ABOVE else str
        self.left: Counter[Any] = Counter(map(self.ident, keys)) if self.ident is _digest else Counter(keys)
        self.leftover = sum(self.left.values())

    def added(self, cols: Sequence[str], keys: Sequence[str]) -> list[str]:
        """Columns texts of the rows of a chunk that are added."""
        left, ident, out = self.left, self.ident, []
        get = left.get
        for c, k in zip(cols, map(ident, keys) if ident is _digest else keys):
            n = get(k, 0)
            if n:
                left[k] = n - 1
                self.leftover -= 1
            else:
                out.append(c)
        return out

    def removed(self, keys: Iterable[str]) -> Iterator[str]:
        """The keys left over, in stored order (old keys read again)."""
        if not self.leftover:
            return
        left, ident = self.left, self.ident
        for k in keys:
            i = ident(k)
            n = left.get(i, 0)
            if n:
                left[i] = n - 1
                yield k


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
    """Rows as log lines show them (dicts): keys sorted by name, values
    strings unless numerics.  The reference for Renderer's texts."""
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
