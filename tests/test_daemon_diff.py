"""osqlite.diff and osqlite.results: osquery's typed multiset diff and escaping, and the
daemon's store/log step held to the same answers."""
from __future__ import annotations

import functools
import json
import os
import random

import pytest

from osqlite.diff import (
    Renderer,
    as_string,
    decode_text,
    diff,
    dumps,
    escape,
    format_double,
    normalise,
    numerics_columns,
    render_row,
    row_key,
    rows_from_cursor,
)
from osqlite.logger import FileSink
from osqlite.outbox import Outbox
from osqlite.results import ResultStep, Run
from osqlite.state import StateDB


def test_identical_results_give_no_diff():
    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert not diff(rows, [dict(r) for r in reversed(rows)])


def test_added_and_removed_rows():
    d = diff([{"a": 1}, {"a": 2}], [{"a": 2}, {"a": 3}])
    assert d.added == [{"a": 3}]
    assert d.removed == [{"a": 1}]


def test_duplicates_count():
    d = diff([{"a": 1}], [{"a": 1}, {"a": 1}, {"a": 1}])
    assert d.added == [{"a": 1}, {"a": 1}]
    assert d.removed == []
    d = diff([{"a": 1}, {"a": 1}], [{"a": 1}])
    assert d.removed == [{"a": 1}] and d.added == []


def test_types_are_part_of_identity():
    # Python says 1 == 1.0 == True; osquery's rows do not.
    d = diff([{"a": 1}], [{"a": 1.0}])
    assert d.added == [{"a": 1.0}] and d.removed == [{"a": 1}]
    d = diff([{"a": 1}], [{"a": "1"}])
    assert d.added == [{"a": "1"}] and d.removed == [{"a": 1}]
    assert normalise(True) == 1 and type(normalise(True)) is int


def test_column_sets_differ():
    d = diff([{"a": 1}], [{"a": 1, "b": ""}])
    assert len(d.added) == 1 and len(d.removed) == 1


def test_null_is_the_empty_string():
    rows = rows_from_cursor(["a", "b"], [(None, b"\x00z")])
    assert rows == [{"a": "", "b": "\\x00z"}]
    assert not diff([{"a": ""}], rows_from_cursor(["a"], [(None,)]))


def test_escaping_of_non_printable_and_invalid_utf8():
    assert escape("a\nb") == "a\\x0Ab"
    assert escape("tab\there") == "tab\\x09here"
    assert escape("héllo ✓") == "héllo ✓"
    raw = decode_text(b"ok\xff\xfe")
    assert escape(raw) == "ok\\xFF\\xFE"
    # Snapshots keep control characters (JSON escapes them) but not bad bytes.
    assert normalise(raw, escaped=False) == "ok\\xFF\\xFE"
    assert normalise("a\nb", escaped=False) == "a\nb"


def test_double_and_numerics_rendering():
    assert format_double(2.0) == "2.0"
    assert format_double(1e20) == "1e+20.0"
    assert format_double(0.5) == "0.5"
    assert as_string(7) == "7"
    row = {"b": 2.5, "a": 3, "c": "x"}
    assert list(render_row(row, False).items()) == [("a", "3"), ("b", "2.5"), ("c", "x")]
    assert list(render_row(row, True).items()) == [("a", 3), ("b", 2.5), ("c", "x")]


def test_diff_against_a_counting_oracle():
    rng = random.Random(7)
    for _ in range(200):
        pool = [{"v": rng.choice([0, 1, 1.0, "1", "x"])} for _ in range(8)]
        old = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
        new = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
        d = diff(old, new)
        key = lambda r: (type(r["v"]).__name__, r["v"])  # noqa: E731
        for k in {key(r) for r in old + new}:
            n_old = sum(key(r) == k for r in old)
            n_new = sum(key(r) == k for r in new)
            assert sum(key(r) == k for r in d.added) == max(0, n_new - n_old)
            assert sum(key(r) == k for r in d.removed) == max(0, n_old - n_new)


# -- the daemon's fast layer, against the reference ---------------------------------


class Pipeline:
    """The daemon's store/log step on a real state database, outbox and log file."""

    def __init__(self, tmp, **run):
        self.tmp = tmp
        self.state = StateDB(str(tmp / "osquery.db"))
        self.sink = FileSink(str(tmp / "osqueryd.results.log"))
        self.outbox = Outbox(self.state, [self.sink])
        self.step = ResultStep(self.state, self.outbox)
        self.run_args = dict(name="q", query="SELECT", host="h", unix=0, epoch=0, numerics=False)
        self.run_args.update(run)
        self.seen = 0
        self.sink.touch()

    def __call__(self, rows, columns=("a",), chunk=3, **over):
        args = dict(self.run_args, **over)
        run = Run(**args)
        chunks = [rows[i:i + chunk] for i in range(0, len(rows), chunk)]
        out = (self.step.snapshot if run.snapshot else self.step.differential)(run, list(columns), iter(chunks))
        self.outbox.deliver()
        return out, self.new_lines()

    def new_lines(self):
        text = (self.tmp / "osqueryd.results.log").read_text()
        lines = [json.loads(x) for x in text.splitlines()]
        out, self.seen = lines[self.seen:], len(lines)
        return out

    def close(self):
        self.outbox.close()
        self.state.close()


def cols(lines, action):
    return [x["columns"] for x in lines if x["action"] == action]


def test_differential_outcomes(tmp_path):
    p = Pipeline(tmp_path)
    out, lines = p([(1,)])
    assert out.first and out.stored and [(x["counter"], x["columns"], x["action"]) for x in lines] == \
        [(0, {"a": "1"}, "added")]
    out, lines = p([(1,)])
    assert not lines and not out.added and not out.removed          # nothing changed, nothing logged
    out, lines = p([(2,)])
    assert [(x["counter"], x["columns"], x["action"]) for x in lines] == \
        [(1, {"a": "1"}, "removed"), (1, {"a": "2"}, "added")]      # removed lines come first
    out, lines = p([(2.0,)])                                          # 2 and 2.0 are different rows
    assert cols(lines, "removed") == [{"a": "2"}] and cols(lines, "added") == [{"a": "2.0"}]
    out, lines = p([("2.0",)])
    assert cols(lines, "removed") == [{"a": "2.0"}] and cols(lines, "added") == [{"a": "2.0"}]
    out, lines = p([("2.0",)], epoch=1)                               # a new epoch: all added, counter 0
    assert out.first and out.new_epoch and [(x["counter"], x["action"]) for x in lines] == [(0, "added")]
    p.close()


def test_empty_first_run_and_batched_format(tmp_path):
    p = Pipeline(tmp_path, event_format=False)
    out, lines = p([])
    assert lines == [{"diffResults": {"removed": [], "added": []}, "name": "q", "hostIdentifier": "h",
                      "calendarTime": "Thu Jan  1 00:00:00 1970 UTC", "unixTime": 0, "epoch": 0,
                      "counter": 0, "numerics": False}]
    out, lines = p([(i,) for i in range(10)], chunk=4)
    assert lines[0]["diffResults"] == {"removed": [], "added": [{"a": str(i)} for i in range(10)]}
    out, lines = p([(i,) for i in range(1, 12)], chunk=4)
    assert lines[0]["diffResults"] == {"removed": [{"a": "0"}], "added": [{"a": "10"}, {"a": "11"}]}
    p.close()


def test_changed_columns_and_removed_false(tmp_path):
    p = Pipeline(tmp_path)
    p([(1, "x")], ("a", "b"))
    out, lines = p([("x", 1)], ("b", "a"))
    assert not lines                                                  # same rows, other column order
    out, lines = p([(1,)], ("a",))
    assert cols(lines, "added") == [{"a": "1"}] and cols(lines, "removed") == [{"a": "1", "b": "x"}]
    out, lines = p([], ("a",), removed=False)                         # only removed rows: no line
    assert not lines and out.stored
    out, lines = p([(5,)], ("a",), removed=False)
    assert [x["action"] for x in lines] == ["added"]
    p.close()


def test_event_based_outcomes(tmp_path):
    p = Pipeline(tmp_path, events=True)
    out, lines = p([(1,)])
    assert [x["counter"] for x in lines] == [1]
    out, lines = p([(2,), (2,)])
    assert [(x["counter"], x["columns"]) for x in lines] == [(2, {"a": "2"}), (2, {"a": "2"})]
    out, lines = p([])
    assert not lines
    (tmp_path / "x").mkdir()
    q = Pipeline(tmp_path / "x", events=True)
    out, lines = q([])
    assert not lines
    out, lines = q([(1,)])
    assert [x["counter"] for x in lines] == [0]      # first run was empty: the first rows get 0
    p.close()
    q.close()


def test_renderer_matches_the_reference_on_hostile_values():
    rng = random.Random(5)
    alphabet = ["a", "é", "\n", "\x00", '"', "\\", "/", "\u2028", "\udcff", "%", "%s", "\U0001F600"]
    values = [None, 0, 1, -5, 2.0, 0.1, 1e20, b"\xff", b"ok", "", "null", 2 ** 62]
    for _ in range(1500):
        ncol = rng.randint(1, 4)
        names = [rng.choice(["a", "b", "c%", 'd"', "é"]) for _ in range(ncol)]
        rows = [tuple("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
                      if rng.random() < 0.5 else rng.choice(values) for _ in range(ncol))
                for _ in range(rng.randint(1, 6))]
        for escaped in (True, False):
            r = Renderer(names, "N", escaped)
            plain, keys, num = r.render(rows, numerics=True)
            ref = rows_from_cursor(names, rows, "N", escaped)
            assert plain == [dumps(render_row(x, False)) for x in ref]
            assert num == [dumps(render_row(x, True)) for x in ref]
            if escaped:
                # Keys are equal exactly when the reference's typed rows are.
                for a, ka in zip(ref, keys):
                    for b, kb in zip(ref, keys):
                        assert (ka == kb) == (row_key(a) == row_key(b))
                assert numerics_columns(keys) == num
                assert r.render_stored(rows)[1] == "\n".join(keys)
    assert Renderer(["x", "y", "x"]).render([(1, 2, 3)])[0] == ['{"x":"3","y":"2"}']


def test_pipeline_agrees_with_the_reference_diff(tmp_path):
    rng = random.Random(11)
    values = [0, 1, 1.0, "1", "", "x", None, -5, 2.5]
    p = Pipeline(tmp_path)
    old: list = []
    for n in range(200):
        new = [(rng.choice(values), rng.choice(values)) for _ in range(rng.randint(0, 7))]
        out, lines = p(new, ("a", "b"), chunk=rng.randint(1, 4))
        ref = diff(rows_from_cursor(["a", "b"], old), rows_from_cursor(["a", "b"], new))
        if n == 0:
            assert cols(lines, "added") == [render_row(r, False) for r in rows_from_cursor(["a", "b"], new)]
        else:
            assert cols(lines, "added") == [render_row(r, False) for r in ref.added]
            assert sorted(map(repr, cols(lines, "removed"))) == \
                sorted(repr(render_row(r, False)) for r in ref.removed)
        old = new
    p.close()


def test_large_previous_results_are_counted_by_digest(tmp_path, monkeypatch):
    import osqlite.diff
    monkeypatch.setattr(osqlite.diff, "DIGEST_ABOVE", 5)
    p = Pipeline(tmp_path)
    p([(i,) for i in range(20)], chunk=7)
    out, lines = p([(i,) for i in range(3, 25)], chunk=7)
    assert cols(lines, "removed") == [{"a": str(i)} for i in range(3)]
    assert cols(lines, "added") == [{"a": str(i)} for i in range(20, 25)]
    p.close()


def test_state_store_purge_and_directory(tmp_path):
    (tmp_path / "osquery.db").mkdir()
    st = StateDB(str(tmp_path / "osquery.db"))
    assert st.path == str(tmp_path / "osquery.db" / "osqlite.db")
    for name, when in (("kept", 0), ("old", 1000), ("recent", 1_000_000)):
        with st.transaction() as tx:
            st.save_result(tx, name, 0, 3, "SELECT 1", ("a",), 1, 1, [(0, 's\t{"a":"x"}')], when)
    prev = st.previous("old")
    assert (prev.epoch, prev.counter, list(st.keys("old", prev))) == (0, 3, ['s\t{"a":"x"}'])
    assert st.purge({"kept"}, now=1_000_000) == ["old"]
    assert st.stored_names() == ["kept", "recent"]
    assert st.execute("SELECT count(*) FROM result_chunks WHERE name = 'old'") == [(0,)]
    st.close()
    assert (tmp_path / "osquery.db" / "osqlite.db").stat().st_mode & 0o777 == 0o600


def test_results_stored_by_an_earlier_release_are_read(tmp_path):
    from osqlite._sqlite import sqlite3
    db = sqlite3.connect(str(tmp_path / "osquery.db"))
    db.execute("CREATE TABLE results(name TEXT PRIMARY KEY, epoch INTEGER, counter INTEGER, query TEXT,"
               " rows TEXT, executed INTEGER)")
    db.execute("INSERT INTO results VALUES ('q', 0, 4, 'SELECT', ?, 0)", ('["b","a"]\n["x",1]\n["y",2.0]',))
    db.commit()
    db.close()
    p = Pipeline(tmp_path)
    out, lines = p([(1, "x"), (3, "z")], ("a", "b"))
    assert [(x["counter"], x["action"], x["columns"]) for x in lines] == \
        [(5, "removed", {"a": "2.0", "b": "y"}), (5, "added", {"a": "3", "b": "z"})]
    p.close()


def test_large_new_results_spill_and_a_failed_run_leaves_the_stored_one(tmp_path, monkeypatch):
    import osqlite.results
    monkeypatch.setattr(osqlite.results, "KEYS_IN_MEMORY", 50)     # spill after a few rows
    p = Pipeline(tmp_path)
    p([(i,) for i in range(30)], chunk=4)
    spilled_chunks = p.state.execute("SELECT count(*) FROM result_chunks")[0][0]
    assert spilled_chunks == 8

    def broken():
        yield [(100,), (101,)]
        yield [(102,)]
        raise RuntimeError("the query failed half-way")

    run = Run(**p.run_args)
    with pytest.raises(RuntimeError):
        p.step.differential(run, ["a"], broken())
    assert p.state.execute("SELECT count(*) FROM result_chunks")[0][0] == spilled_chunks
    assert os.listdir(tmp_path / "osquery.db.outbox") == []
    out, lines = p([(i,) for i in range(2, 32)], chunk=4)
    assert cols(lines, "removed") == [{"a": "0"}, {"a": "1"}]
    assert cols(lines, "added") == [{"a": "30"}, {"a": "31"}]
    p.close()


# -- rows rendered inside SQLite (csrc/logline.c) --------------------------------------

def _hostile_table(conn, rng, n=400):
    pieces = ["a", "é", "\n", "\x00", '"', "\\", "/", "\u2028", "%", "\U0001F600", "\x7f", "\t"]
    bad = [b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82\xac", b"ok"]
    conn.execute("CREATE TEMP TABLE h(a, b, c, d)")
    rows = []
    for _ in range(n):
        row = []
        for _ in range(4):
            kind = rng.random()
            if kind < 0.3:
                row.append("".join(rng.choice(pieces) for _ in range(rng.randint(0, 4))))
            elif kind < 0.45:
                row.append(b"".join(rng.choice(bad) for _ in range(rng.randint(0, 3))))
            elif kind < 0.6:
                row.append(rng.choice([0, 1, -1, 2 ** 63 - 1, -2 ** 63, 42]))
            elif kind < 0.8:
                row.append(rng.choice([0.0, -0.0, 2.0, 0.1, 1e20, 1e-300, 5e-324, float("inf"),
                                       -float("inf"), rng.random() * 1000]))
            else:
                row.append(None)
        rows.append(row)
    conn.executemany("INSERT INTO h VALUES (?, ?, ?, ?)", rows)
    # Text that is not UTF-8 (as /proc gives it): stored as TEXT, not BLOB.
    conn.execute("INSERT INTO h VALUES (CAST(x'61ff62' AS TEXT), CAST(x'e282' AS TEXT), 'x', NULL)")


def test_sqlite_rendering_is_the_python_rendering():
    import osqlite
    from osqlite.results import render_in_sqlite
    conn = osqlite.connect()
    conn.text_factory = decode_text
    _hostile_table(conn, random.Random(3))
    for sql in ("SELECT * FROM h", "SELECT d AS z, a, c AS \"q'\"\"x\", b FROM h ORDER BY rowid DESC"):
        for nullvalue in ("", "NULL\n"):
            columns, chunks = render_in_sqlite(conn, sql + " ;", nullvalue)
            got = list(chunks)
            cur = conn.execute(sql)
            names = [d[0] for d in cur.description]
            r = Renderer(names, nullvalue)
            plain, keys, _ = r.render(cur.fetchall())
            assert columns == r.columns
            assert sum(c.n for c in got) == len(plain)
            # same columns texts, same order; same identities
            assert [t for c in got for t in c.cols.decode("utf-8").split("\n")] == plain
            assert [k for c in got for k in c.keys.split("\n")] == keys


def test_sqlite_rendering_falls_back_when_it_cannot_wrap():
    import osqlite
    from osqlite.results import render_in_sqlite
    conn = osqlite.connect()
    assert render_in_sqlite(conn, "SELECT 1 AS a, 2 AS a", "") is None      # SQLite would rename one
    assert render_in_sqlite(conn, "PRAGMA user_version", "") is None
    assert render_in_sqlite(conn, "SELECT * FROM no_such_table", "") is None
    wide = ", ".join(f"{i} AS c{i}" for i in range(200))
    assert render_in_sqlite(conn, f"SELECT {wide}", "") is None             # too many function arguments
    cols, chunks = render_in_sqlite(conn, "SELECT 1 AS x -- a comment", "")
    assert [tuple(c) for c in chunks] == [(1, 'i\t{"x":"1"}', b'{"x":"1"}')]


def test_wrapping_keeps_column_names_and_order_of_osquerys_pack_queries():
    from test_pack_corpus import GONE_FROM_OSQUERY, QUERIES

    import osqlite
    from osqlite.results import render_in_sqlite
    conn = osqlite.connect()
    conn.text_factory = decode_text
    checked = 0
    for q in QUERIES:
        if (q["pack"], q["name"]) in GONE_FROM_OSQUERY:
            continue
        cur = conn.execute(q["query"])
        names = [d[0] for d in cur.description]
        wrapped = render_in_sqlite(conn, q["query"], "")
        if len(set(names)) != len(names):
            assert wrapped is None
            continue
        assert wrapped is not None, q["query"]
        assert wrapped[0] == tuple(sorted(names)), q["query"]
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("event_format,decorations,top_level", [
    (True, {"host_uuid": "u"}, False), (False, {"host_uuid": "u"}, False),
    (True, {"columns": "x", "h": "y"}, True)])       # a top-level decoration named like a line key
def test_rows_rendered_by_sqlite_log_the_same_bytes(tmp_path, event_format, decorations, top_level):
    """A first run and a diff run, with rows in several chunks, log the same
    bytes and store the same result whether SQLite renders the rows
    (osqlite_logchunks) or Python does."""
    import osqlite
    from osqlite.results import CHUNK, render_in_sqlite
    conn = osqlite.connect()
    conn.text_factory = decode_text
    _hostile_table(conn, random.Random(5), n=CHUNK + 300)
    logs = {}
    for how in ("sqlite", "python"):
        d = tmp_path / how
        d.mkdir()
        state = StateDB(str(d / "osquery.db"))
        outbox = Outbox(state, [FileSink(str(d / "results.log"))])
        step = ResultStep(state, outbox)
        for sql in ("SELECT * FROM h", "SELECT * FROM h WHERE rowid % 7 <> 3 UNION ALL SELECT 'new', 2, 3.5, NULL"):
            run = Run(name="q", query=sql, host="h", unix=0, epoch=0, numerics=False,
                      event_format=event_format, decorations=decorations, top_level=top_level)
            if how == "sqlite":
                columns, chunks = render_in_sqlite(conn, sql, "")
                step.differential(run, columns, chunks, rendered=True)
            else:
                cur = conn.execute(sql)
                names = [x[0] for x in cur.description]
                step.differential(run, names, iter(functools.partial(cur.fetchmany, CHUNK), []))
            outbox.deliver()
        stored = list(state.keys("q", state.previous("q")))
        logs[how] = ((d / "results.log").read_bytes(), stored)
        outbox.close()
        state.close()
    assert logs["sqlite"] == logs["python"]
    n, gone = conn.execute("SELECT count(*), sum(rowid % 7 = 3) FROM h").fetchone()
    assert n > CHUNK and logs["sqlite"][0].count(b"\n") == (n + gone + 1 if event_format else 2)


def test_logchunks_takes_one_read_only_statement_and_keeps_its_errors():
    import osqlite
    from osqlite._sqlite import sqlite3
    conn = osqlite.connect()
    two = ("WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < 5)"
           " SELECT osqlite_logsig(value), osqlite_logcols('\"\"', '\"v\":', value) FROM s")
    assert [r[0] for r in conn.execute("SELECT n FROM osqlite_logchunks(?, 2)", (two,))] == [2, 2, 1]
    for bad in ("CREATE TABLE z(a)", "SELECT 1", two + "; SELECT 1, 2", "SELECT 1, 2; DROP TABLE x",
                "PRAGMA user_version = 3"):
        with pytest.raises(sqlite3.Error, match="osqlite_logchunks: sql must be one read-only"):
            conn.execute("SELECT * FROM osqlite_logchunks(?)", (bad,)).fetchall()
    assert conn.execute("PRAGMA user_version").fetchone() == (0,)
    with pytest.raises(sqlite3.Error, match="integer overflow"):        # the statement's own error
        conn.execute("SELECT * FROM osqlite_logchunks('SELECT 1, abs(-9223372036854775807 - 1)')").fetchall()
    with pytest.raises(sqlite3.Error, match="no such table: nowhere"):
        conn.execute("SELECT * FROM osqlite_logchunks('SELECT 1, 2 FROM nowhere')").fetchall()
    with pytest.raises(sqlite3.Error, match="size from 1"):
        conn.execute("SELECT * FROM osqlite_logchunks(?, 0)", (two,)).fetchall()


def test_sqlite_signatures_and_integers_match_python_on_random_bit_patterns():
    """logsig's exact doubles are float.hex(), logcols' integers %d, for
    any 64-bit pattern (subnormals, extremes, negative zero)."""
    import struct

    import osqlite
    conn = osqlite.connect()
    rng = random.Random(11)
    doubles = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1]
    doubles += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    doubles = [d for d in doubles if d == d and abs(d) != float("inf")]
    ints = [0, -1, 9, 10, -10, 2**63 - 1, -2**63] + [rng.randrange(-2**63, 2**63) for _ in range(3000)]
    got = [conn.execute("SELECT osqlite_logsig(?)", (d,)).fetchone()[0] for d in doubles]
    assert got == ["f" + d.hex() for d in doubles]
    got = [conn.execute("SELECT osqlite_logcols('\"\"', '\"a\":', ?)", (i,)).fetchone()[0] for i in ints]
    assert got == ['{"a":"%d"}' % i for i in ints]
