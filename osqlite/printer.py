"""osqueryi's output modes, byte for byte.

osqueryi is SQLite's shell with osquery's printer added (osquery:
osquery/devtools/shell.cpp shell_callback, osquery/devtools/printer.cpp).
This module writes the same bytes for every mode:

* ``pretty`` (the default): the ``+---+`` box.  Rows are collected, the width
  of a column is the longest value or name in UTF-8 characters, and nothing
  is printed for zero rows.  All rows of one input (several ``;``-separated
  statements) go into one box under the first statement's column names, and
  a row is a map, so a repeated column name shows its last value.
* ``--json`` / ``--json_pretty`` (only where the mode is pretty): the same
  rows as an array of objects with sorted keys and every value a string,
  written the way osquery's rapidjson writers do (``[\\n  {..},\\n  {..}\\n]``;
  the pretty writer indents by 2).
* ``line``, ``list``, ``csv``, ``column``: SQLite's classic modes, one
  statement at a time (the header is printed again for each statement).
  ``column`` widths and truncation are in bytes, as printf's are.

NULL prints as ``--nullvalue`` in pretty and JSON output, and as the
``.nullvalue`` setting in the other modes, as in osqueryi.

Values reach the printer as bytes (already escaped by the shell: invalid
UTF-8 is shown as ``\\xHH``), or None for NULL; column names as str.

    >>> import io
    >>> out = io.BytesIO()
    >>> p = Printer(out, Settings())
    >>> p.statement(["a"]); p.row([b"1"]); p.finish()
    >>> out.getvalue()
    b'+---+\\n| a |\\n+---+\\n| 1 |\\n+---+\\n'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import BinaryIO, Sequence

MODES = ("line", "column", "list", "semi", "csv", "pretty")   # osquery's modeDescr order

# 93 dashes: the underline of a header in column mode (SQLite's shell).
_DASHES = b"-" * 93


def utf8_len(data: bytes) -> int:
    """osquery's utf8StringSize: the first byte, then every byte that does
    not continue a UTF-8 sequence (osquery: osquery/utils/chars.cpp)."""
    if not data:
        return 0
    cont = sum(1 for b in data[1:] if 0x80 <= b < 0xC0)
    return len(data) - cont


# -- JSON as rapidjson's Writer writes it: '"', '\\' and control bytes
# escaped (\b \t \n \f \r, else \u00XX with upper-case hex), every other byte
# as it is, '/' included.
_JSON_SPECIAL = re.compile(rb'[\x00-\x1f"\\]')
_JSON_ESCAPES = {i: b"\\u%04X" % i for i in range(0x20)}
_JSON_ESCAPES.update({0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r",
                      0x22: b'\\"', 0x5C: b"\\\\"})


def json_string(data: bytes) -> bytes:
    if _JSON_SPECIAL.search(data) is None:
        return b'"' + data + b'"'
    return b'"' + _JSON_SPECIAL.sub(lambda m: _JSON_ESCAPES[m.group()[0]], data) + b'"'


def json_rows(rows: Sequence[dict[bytes, bytes]]) -> bytes:
    """--json (osquery: printer.cpp jsonPrint): one compact object per line."""
    lines = []
    for r in rows:
        body = b",".join(json_string(k) + b":" + json_string(r[k]) for k in sorted(r))
        lines.append(b"  {" + body + b"}")
    return b"[\n" + b",\n".join(lines) + b"\n]\n"


def json_pretty_rows(rows: Sequence[dict[bytes, bytes]]) -> bytes:
    """--json_pretty (osquery: printer.cpp jsonPrettyPrint, rapidjson's
    PrettyWriter with an indent of 2)."""
    if not rows:
        return b"[]\n"
    objs = []
    for r in rows:
        if not r:
            objs.append(b"  {}")
            continue
        items = b",\n".join(b"    " + json_string(k) + b": " + json_string(r[k]) for k in sorted(r))
        objs.append(b"  {\n" + items + b"\n  }")
    return b"[\n" + b",\n".join(objs) + b"\n]\n"


# -- CSV (SQLite's shell output_csv and its needCsvQuote table) ---------------------

_CSV_QUOTE = bytes(1 if (b <= 0x20 or b in (0x22, 0x27) or b >= 0x7F) else 0 for b in range(256))


def csv_field(value: bytes | None, separator: bytes, nullvalue: bytes) -> bytes:
    if value is None:
        return nullvalue
    quote = any(_CSV_QUOTE[b] for b in value)
    if not quote and separator:
        # SQLite's test: a byte equal to the separator's first byte, when the
        # separator is one byte long or the value starts with the separator.
        first = separator[0]
        if any(b == first for b in value) and (len(separator) == 1 or value.startswith(separator)):
            quote = True
    if quote:
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value


@dataclass
class Settings:
    """The shell's output settings (osquery: shell.cpp callback_data)."""
    mode: str = "pretty"
    headers: bool = True
    separator: bytes = b"|"
    nullvalue: bytes = b""          # .nullvalue: line, list, csv, column
    flag_nullvalue: bytes = b""     # --nullvalue: pretty and JSON
    json: bool = False
    json_pretty: bool = False
    widths: list[int] = field(default_factory=list)   # .width, column mode


def _pad_left(data: bytes, width: int) -> bytes:
    """printf("%-*.*s", w, w, s): truncated to w bytes, padded on the right."""
    return data[:width].ljust(width)


def _pad_right(data: bytes, width: int) -> bytes:
    """printf("%*.*s", w, w, s)."""
    return data[:width].rjust(width)


class Printer:
    """The output of one input: call statement() for each statement that
    returns columns, row() for each of its rows, finish() at the end (or
    after an error: rows collected so far are still printed, as osqueryi
    prints them before the error message)."""

    def __init__(self, out: BinaryIO, settings: Settings) -> None:
        self.out = out
        self.s = settings
        self.cnt = 0
        self.columns: list[str] = []
        self.enc: list[bytes] = []
        # pretty/JSON state, kept across the statements of one input
        self.pretty_columns: list[bytes] = []
        self.rows: list[dict[bytes, bytes]] = []
        self.lengths: dict[bytes, int] = {}
        self.widths: list[int] = []

    def statement(self, columns: Sequence[str]) -> None:
        self.cnt = 0
        self.columns = list(columns)
        self.enc = [c.encode("utf-8", "surrogateescape") for c in columns]

    # -- rows -----------------------------------------------------------------

    def row(self, values: Sequence[bytes | None]) -> None:
        mode = self.s.mode
        if mode == "pretty":
            self._pretty_row(values)
        elif mode == "line":
            self._line_row(values)
        elif mode == "column":
            self._column_row(values)
        elif mode == "csv":
            self._csv_row(values)
        else:
            self._list_row(values, semi=mode == "semi")

    def _pretty_row(self, values: Sequence[bytes | None]) -> None:
        if not self.pretty_columns:
            self.pretty_columns = list(self.enc)
        null = self.s.flag_nullvalue
        r = {}
        for name, v in zip(self.enc, values):
            r[name] = null if v is None else v
        lengths = self.lengths
        for k, v in r.items():   # osquery: printer.cpp computeRowLengths
            lengths[k] = max(utf8_len(v), lengths.get(k, 0))
        self.rows.append(r)

    def _line_row(self, values: Sequence[bytes | None]) -> None:
        w = max([5] + [len(c) for c in self.enc])
        parts = [b"\n"] if self.cnt > 0 else []
        self.cnt += 1
        null = self.s.nullvalue
        for name, v in zip(self.enc, values):
            parts.append(name.rjust(w) + b" = " + (null if v is None else v) + b"\n")
        self.out.write(b"".join(parts))

    def _column_row(self, values: Sequence[bytes | None]) -> None:
        null = self.s.nullvalue
        n = len(self.enc)
        parts = []
        if self.cnt == 0:
            self.widths = []
            for i, name in enumerate(self.enc):
                w = self.s.widths[i] if i < len(self.s.widths) else 0
                if w == 0:
                    w = max(len(name), 10)
                    v = values[i] if i < len(values) else None
                    w = max(w, len(null if v is None else v))
                self.widths.append(w)
                if self.s.headers:
                    cell = _pad_right(name, -w) if w < 0 else _pad_left(name, w)
                    parts.append(cell + (b"\n" if i == n - 1 else b"  "))
            if self.s.headers:
                for i in range(n):
                    parts.append(_pad_left(_DASHES, abs(self.widths[i]))
                                 + (b"\n" if i == n - 1 else b"  "))
        self.cnt += 1
        for i, v in enumerate(values):
            w = self.widths[i] if i < len(self.widths) else 10
            cell = null if v is None else v
            cell = _pad_right(cell, -w) if w < 0 else _pad_left(cell, w)
            parts.append(cell + (b"\n" if i == n - 1 else b"  "))
        self.out.write(b"".join(parts))

    def _list_row(self, values: Sequence[bytes | None], semi: bool) -> None:
        sep, null = self.s.separator, self.s.nullvalue
        parts = []
        if self.cnt == 0 and self.s.headers:
            parts.append(sep.join(self.enc) + b"\n")
        self.cnt += 1
        parts.append(sep.join(null if v is None else v for v in values)
                     + (b";\n" if semi else b"\n"))
        self.out.write(b"".join(parts))

    def _csv_row(self, values: Sequence[bytes | None]) -> None:
        sep, null = self.s.separator, self.s.nullvalue
        parts = []
        if self.cnt == 0 and self.s.headers:
            parts.append(sep.join(csv_field(c, sep, null) for c in self.enc) + b"\n")
        self.cnt += 1
        parts.append(sep.join(csv_field(v, sep, null) for v in values) + b"\n")
        self.out.write(b"".join(parts))

    # -- the end of an input ----------------------------------------------------

    def finish(self) -> None:
        """osquery: shell.cpp pretty_print_if_needed."""
        if self.s.mode != "pretty":
            return
        rows = self.rows
        if self.s.json_pretty:
            self.out.write(json_pretty_rows(rows))
        elif self.s.json:
            self.out.write(json_rows(rows))
        elif rows:
            self.out.write(pretty_table(self.pretty_columns, rows, self.lengths,
                                        self.s.flag_nullvalue))
        self.rows = []
        self.pretty_columns = []
        self.lengths = {}


def pretty_table(columns: Sequence[bytes], rows: Sequence[dict[bytes, bytes]],
                 lengths: dict[bytes, int], nullvalue: bytes) -> bytes:
    """osquery: printer.cpp prettyPrint (generateToken, generateHeader,
    generateRow); ``lengths`` holds the longest value of each column."""
    lengths = dict(lengths)
    # The column names of the first row are the minimum widths.
    for name in rows[0]:
        n = utf8_len(name)
        lengths[name] = max(n, lengths.get(name, 0))
    sep = b"+" + b"".join(b"-" * (lengths.get(c, len(c)) + 2) + b"+" for c in columns) + b"\n"
    header = [b"|"]
    for c in columns:
        pad = lengths[c] - utf8_len(c) if c in lengths else 0
        header.append(b" " + c + b" " * max(pad, 0) + b" |")
    out = [sep, b"".join(header) + b"\n", sep]
    null_len = utf8_len(nullvalue)
    for r in rows:
        line = []
        for c in columns:
            line.append(b"| ")
            if c not in r or c not in lengths:
                # osquery pads a missing cell by the name's length in bytes.
                line.append(nullvalue + b" " * (max(len(c) - null_len, 0) + 1))
            else:
                v = r[c]
                line.append(v + b" " * (lengths[c] - utf8_len(v) + 1))
        if line:
            line.append(b"|\n")
        out.append(b"".join(line))
    out.append(sep)
    return b"".join(out)
