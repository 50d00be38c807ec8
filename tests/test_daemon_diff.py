"""osqlite.diff: osquery's typed multiset diff and escaping, as pure functions."""
from __future__ import annotations

import random

from osqlite.diff import (
    ResultSet,
    Stored,
    as_string,
    decode_text,
    diff,
    diff_sets,
    differential,
    escape,
    event_based,
    format_double,
    normalise,
    render_row,
    render_rows,
    rows_from_cursor,
)


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


def rs(rows, columns=("a",)):
    return ResultSet.from_cursor(list(columns), [tuple(r) for r in rows])


def test_differential_outcomes():
    first = differential(None, rs([(1,)]), 0)
    assert (first.added, first.removed, first.counter, first.first) == ([(1,)], [], 0, True)
    stored = first.store
    assert Stored.decode(stored.encode()) == stored
    same = differential((0, 4, stored), rs([(1,)]), 0)
    assert not same.log and same.store is None
    changed = differential((0, 4, stored), rs([(2,)]), 0)
    assert (changed.added, changed.removed, changed.counter) == ([(2,)], [(1,)], 5)
    typed = differential((0, 4, stored), rs([(1.0,)]), 0)
    assert (typed.added, typed.removed) == ([(1.0,)], [(1,)])
    epoch = differential((0, 4, stored), rs([(1,)]), 1)
    assert epoch.first and epoch.counter == 0 and epoch.added == [(1,)]
    empty_first = differential(None, rs([]), 0)
    assert empty_first.log and empty_first.counter == 0     # batched format logs it


def test_changed_columns():
    old = Stored.of(rs([(1, "x")], ("a", "b")))
    reordered = differential((0, 0, old), rs([("x", 1)], ("b", "a")), 0)
    assert not reordered.log                                 # same rows, other column order
    other = differential((0, 0, old), rs([(1,)], ("a",)), 0)
    assert other.added == [(1,)] and other.removed == [(1, "x")]
    assert other.removed_columns == ("a", "b")


def test_event_based_outcomes():
    first = event_based(None, rs([(1,)]), 0)
    assert (first.added, first.counter, first.store.keys) == ([(1,)], 1, [])
    later = event_based((0, 1, first.store), rs([(2,), (2,)]), 0)
    assert (later.added, later.removed, later.counter) == ([(2,), (2,)], [], 2)
    assert not event_based((0, 2, first.store), rs([]), 0).log
    empty = event_based(None, rs([]), 0)
    assert not empty.log and empty.counter == -1
    assert event_based((0, -1, empty.store), rs([(1,)]), 0).counter == 0


def test_result_set_normalises_like_the_reference():
    tuples = [(None, "a\nb", b"\xffz", 1, 2.0, "null"), ("\\n", "é/", None, 0, 0.5, "")]
    names = ["a", "b", "c", "d", "e", "f"]
    fast = ResultSet.from_cursor(names, tuples)
    assert fast.dicts() == rows_from_cursor(names, tuples)
    raw = ResultSet.from_cursor(names, tuples, escaped=False)
    assert raw.dicts() == rows_from_cursor(names, tuples, escaped=False)
    assert render_rows(fast.columns, fast.rows, False) == [render_row(r, False) for r in fast.dicts()]
    dup = ResultSet.from_cursor(["x", "y", "x"], [(1, 2, 3)])
    assert dup.dicts() == [{"y": 2, "x": 3}]


def test_fast_diff_agrees_with_the_reference():
    rng = random.Random(11)
    values = [0, 1, 1.0, "1", "", "x", None, -5, 2.5]
    for _ in range(300):
        cols = ("a", "b")
        old = [(rng.choice(values), rng.choice(values)) for _ in range(rng.randint(0, 7))]
        new = [(rng.choice(values), rng.choice(values)) for _ in range(rng.randint(0, 7))]
        o, n = rs(old, cols), rs(new, cols)
        added, removed, _ = diff_sets(Stored.decode(Stored.of(o).encode()), n)
        ref = diff(o.dicts(), n.dicts())
        assert [dict(zip(cols, r)) for r in added] == ref.added
        assert sorted(map(repr, (dict(zip(cols, r)) for r in removed))) == sorted(map(repr, ref.removed))


def test_state_store_purge_and_directory(tmp_path):
    from osqlite.state import StateDB
    (tmp_path / "osquery.db").mkdir()
    st = StateDB(str(tmp_path / "osquery.db"))
    assert st.path == str(tmp_path / "osquery.db" / "osqlite.db")
    st.store("kept", 0, 0, "SELECT 1", Stored.of(rs([(1,)])))
    st.store("old", 0, 3, "SELECT 2", Stored.of(rs([("x",)])))
    st.store("recent", 0, 0, "SELECT 3", Stored.of(rs([])))
    st.executed("old", 1000)
    st.executed("recent", 1_000_000)
    epoch, counter, stored = st.previous("old")
    assert (epoch, counter, stored.keys) == (0, 3, ['["x"]'])
    assert st.purge({"kept"}, now=1_000_000) == ["old"]
    assert st.stored_names() == ["kept", "recent"]
    st.close()
    assert (tmp_path / "osquery.db" / "osqlite.db").stat().st_mode & 0o777 == 0o600
