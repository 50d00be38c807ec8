"""osqueryi's printer, byte for byte.

The rows and the expected separator, header, row and widths of the pretty
mode are osquery's own printer tests (osquery: osquery/devtools/tests/
printer_tests.cpp, Copyright (c) 2014-present, The osquery authors,
licensed (Apache-2.0 OR GPL-2.0-only)); the other modes' expectations follow
SQLite's shell (osquery: osquery/devtools/shell.cpp shell_callback) and
rapidjson's writers.
"""
from __future__ import annotations

import io
import json

from osqlite.printer import Printer, Settings, csv_field, json_string, utf8_len

ORDER = ["name", "age", "food", "number"]
ROWS = [
    [b"Mike Jones", b"39", b"mac and cheese", b"1"],
    [b"John Smith", b"44", b"peanut butter and jelly", b"2"],
    [b"Doctor Who", b"2000", b"fish sticks and custard", b"11"],
]


def render(columns, rows, **settings) -> bytes:
    out = io.BytesIO()
    p = Printer(out, Settings(**settings))
    p.statement(columns)
    for r in rows:
        p.row(r)
    p.finish()
    return out.getvalue()


def test_pretty_matches_osquery_printer_tests():
    text = render(ORDER, ROWS).decode()
    lines = text.splitlines(keepends=True)
    # printer_tests.cpp: test_generate_separator, test_generate_header, test_generate_row
    separator = "+------------+------+-------------------------+--------+\n"
    assert lines[0] == separator
    assert lines[1] == "| name       | age  | food                    | number |\n"
    assert lines[3] == "| Mike Jones | 39   | mac and cheese          | 1      |\n"
    assert lines[2] == lines[-1] == separator
    assert len(lines) == 3 + len(ROWS) + 1


def test_pretty_separator_and_row_before_column_names_count():
    # printer_tests.cpp computes the separator and row from the values only
    # ("| 1  |", number width 2); the final table widens to the column name.
    from osqlite.printer import pretty_table
    rows = [dict(zip([c.encode() for c in ORDER], r)) for r in ROWS]
    lengths = {b"name": 10, b"age": 4, b"food": 23, b"number": 2}
    table = pretty_table([c.encode() for c in ORDER], rows, lengths, b"")
    assert table.splitlines()[0] == b"+------------+------+-------------------------+--------+"


def test_unicode_width_counts_characters():
    # printer_tests.cpp test_unicode: "Àlex Smith" is 10 wide.
    assert utf8_len("Àlex Smith".encode()) == 10
    assert utf8_len("日本".encode()) == 2
    assert utf8_len(b"") == 0
    # A stray continuation byte first still counts once (osquery's iterator).
    assert utf8_len(b"\x80a") == 2
    table = render(["name"], [["Àlex Smith".encode()], [b"Bo"]]).decode()
    assert table.splitlines()[3] == "| Àlex Smith |"
    assert table.splitlines()[4] == "| Bo         |"


def test_pretty_prints_nothing_for_no_rows_and_null_as_flag_nullvalue():
    assert render(["a"], []) == b""
    out = render(["a", "b"], [[None, b"x"]], nullvalue=b"N/A", flag_nullvalue=b"")
    assert out == b"+---+---+\n| a | b |\n+---+---+\n|   | x |\n+---+---+\n"


def test_pretty_rows_of_several_statements_share_one_box():
    out = io.BytesIO()
    p = Printer(out, Settings())
    p.statement(["a"])
    p.row([b"1"])
    p.statement(["b"])
    p.row([b"22"])
    p.finish()
    # The first statement's columns; the second row has no "a": the
    # null value padded by the column name's length.
    assert out.getvalue() == b"+---+\n| a |\n+---+\n| 1 |\n|   |\n+---+\n"


def test_json_select_0_is_osqueryis_bytes():
    # osquery: tools/tests/test_osqueryi.py test_json_output / test_json_pretty_output
    assert render(["0"], [[b"0"]], json=True) == b'[\n  {"0":"0"}\n]\n'
    assert render(["0"], [[b"0"]], json_pretty=True) == b'[\n  {\n    "0": "0"\n  }\n]\n'


def test_json_rows_sorted_keys_strings_and_escapes():
    out = render(["b", "a", "c"], [[b"2", b'q"\\/\n\t\x01', None], [b"x", b"y", b"z"]], json=True)
    assert out == (b'[\n  {"a":"q\\"\\\\/\\n\\t\\u0001","b":"2","c":""},\n'
                   b'  {"a":"y","b":"x","c":"z"}\n]\n')
    assert json.loads(out) == [{"a": 'q"\\/\n\t\x01', "b": "2", "c": ""},
                               {"a": "y", "b": "x", "c": "z"}]
    assert render(["a"], [], json=True) == b"[\n\n]\n"
    assert render(["a"], [], json_pretty=True) == b"[]\n"
    pretty = render(["b", "a"], [[b"1", "é".encode()]], json_pretty=True)
    assert pretty == '[\n  {\n    "a": "é",\n    "b": "1"\n  }\n]\n'.encode()
    assert json_string(b"\x1f\x7f") == b'"\\u001F\x7f"'


def test_json_only_in_pretty_mode():
    assert render(["a"], [[b"1"]], mode="csv", json=True, separator=b",") == b"a\n1\n"


def test_line_mode():
    out = render(["a", "longname"], [[b"1", None], [b"2", b"x"]], mode="line", nullvalue=b"NULL")
    assert out == b"       a = 1\nlongname = NULL\n\n       a = 2\nlongname = x\n"
    assert render(["x"], [[b"1"]], mode="line") == b"    x = 1\n"


def test_list_mode_headers_separator_nullvalue():
    rows = [[b"1", None], [b"2", b"b"]]
    assert render(["a", "b"], rows, mode="list") == b"a|b\n1|\n2|b\n"
    assert render(["a", "b"], rows, mode="list", headers=False, separator=b"::",
                  nullvalue=b"-") == b"1::-\n2::b\n"


def test_csv_quoting_is_sqlites():
    sep = b","
    assert csv_field(b"plain", sep, b"") == b"plain"
    assert csv_field(b"has space", sep, b"") == b'"has space"'
    assert csv_field(b'q"uote', sep, b"") == b'"q""uote"'
    assert csv_field(b"it's", sep, b"") == b'"it\'s"'
    assert csv_field(b"a,b", sep, b"") == b'"a,b"'
    assert csv_field("é".encode(), sep, b"") == '"é"'.encode()
    assert csv_field(None, sep, b"NULL") == b"NULL"
    out = render(["n", "v"], [[b"1", b"x y"], [b"2", None]], mode="csv", separator=sep)
    assert out == b'n,v\n1,"x y"\n2,\n'


def test_column_mode_widths_truncation_and_width_setting():
    out = render(["a", "bb"], [[b"1", b"twelve chars"], [b"22", None]], mode="column")
    assert out == (b"a           bb          \n"
                   b"----------  ------------\n"
                   b"1           twelve chars\n"
                   b"22                      \n")
    widths = [3, -4] + [0] * 98
    out = render(["abcdef", "b"], [[b"123456", b"x"]], mode="column", widths=widths)
    assert out == b"abc     b\n---  ----\n123     x\n"
    out = render(["a"], [[b"v"]], mode="column", headers=False)
    assert out == b"v         \n"
