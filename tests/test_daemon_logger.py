"""osqlite.logger: osquery's exact line shapes, file safety, rotation, concurrency."""
from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest

from osqlite.daemon import Pidfile, check_paths, split_statements
from osqlite.diff import render_rows
from osqlite.errors import DaemonError
from osqlite.flags import Flags
from osqlite.logger import (
    FileSink,
    GlogFormatter,
    batched_line,
    calendar_time,
    event_lines,
    make_meta,
    snapshot_lines,
)


def meta(**kw):
    m = {"name": "test_query", "hostIdentifier": "unknown_test_host", "calendarTime": "no_time",
         "unixTime": 0, "epoch": 0, "counter": 0, "numerics": False}
    m.update(kw)
    return m


def test_event_line_is_osquerys():
    # osquery: osquery/logger/tests/logger.cpp expectation, byte for byte.
    [line] = event_lines(meta(), [{"test_column": "test_value"}], [], {})
    assert line == ('{"name":"test_query","hostIdentifier":"unknown_test_host","calendarTime":"no_time",'
                    '"unixTime":0,"epoch":0,"counter":0,"numerics":false,'
                    '"columns":{"test_column":"test_value"},"action":"added"}')


def test_removed_lines_come_first_and_decorations_follow_numerics():
    lines = event_lines(meta(counter=3), [{"a": "1"}], [{"a": "2"}], {"host_uuid": "u", "b": "x"})
    assert [json.loads(x)["action"] for x in lines] == ["removed", "added"]
    assert lines[0] == ('{"name":"test_query","hostIdentifier":"unknown_test_host","calendarTime":"no_time",'
                        '"unixTime":0,"epoch":0,"counter":3,"numerics":false,'
                        '"decorations":{"host_uuid":"u","b":"x"},"columns":{"a":"2"},"action":"removed"}')


def test_batched_and_snapshot_lines():
    line = batched_line(meta(name="processes", counter=3), [{"pid": "1"}], [{"pid": "2"}], {})
    assert line == ('{"diffResults":{"removed":[{"pid":"2"}],"added":[{"pid":"1"}]},"name":"processes",'
                    '"hostIdentifier":"unknown_test_host","calendarTime":"no_time","unixTime":0,'
                    '"epoch":0,"counter":3,"numerics":false}')
    [row] = render_rows(("pid", "path"), [(1, "/sbin/launchd")], False)
    [snap] = snapshot_lines(meta(name="process_snapshot"), [row], {})
    assert snap == ('{"snapshot":[{"path":"/sbin/launchd","pid":"1"}],"action":"snapshot",'
                    '"name":"process_snapshot","hostIdentifier":"unknown_test_host","calendarTime":"no_time",'
                    '"unixTime":0,"epoch":0,"counter":0,"numerics":false}')
    assert snapshot_lines(meta(), [], {}, event_type=True) == []
    [empty] = snapshot_lines(meta(), [], {})
    assert json.loads(empty)["snapshot"] == []


def test_top_level_decorations_replace_and_move_keys():
    [line] = event_lines(meta(), [{"a": "1"}], [], {"name": "deco", "z": "1"}, top_level=True)
    obj = json.loads(line)
    assert list(obj) == ["hostIdentifier", "calendarTime", "unixTime", "epoch", "counter", "numerics",
                         "name", "z", "columns", "action"]
    assert obj["name"] == "deco"


def test_escaping_non_ascii_and_slashes():
    rows = render_rows(("p", "n", "i"), [("/a/é", 1.0, 2)], True)
    [line] = event_lines(meta(numerics=True), rows, [], {})
    assert '"columns":{"i":2,"n":1.0,"p":"/a/é"}' in line


def test_calendar_time():
    assert make_meta("n", "h", 1462228052, 0, 0, False)["calendarTime"] == "Mon May  2 22:27:32 2016 UTC"
    assert calendar_time(1412098650) == "Tue Sep 30 17:37:30 2014 UTC"


def test_glog_prefix():
    rec = logging.LogRecord("osqlite.x", logging.WARNING, "/a/scheduler.py", 115, "hello %s", ("w",), None)
    text = GlogFormatter().format(rec)
    t = time.localtime(rec.created)
    assert text.startswith("W%02d%02d %02d:%02d:" % (t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min))
    assert text.endswith(" scheduler.py:115] hello w")
    assert len(text.split("]")[0].split()[2]) >= 1


def test_file_sink_mode_symlink_and_rotation(tmp_path):
    sink = FileSink(str(tmp_path / "r.log"), 0o640, rotate=True, rotate_size=100, rotate_max_files=3)
    for i in range(20):
        sink.write([f"line {i:02d} " + "x" * 40])
    assert (tmp_path / "r.log").stat().st_mode & 0o777 == 0o640
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r.log", "r.log.1", "r.log.2", "r.log.3"]
    # Nothing beyond max files; every kept line is whole and the newest is last.
    assert (tmp_path / "r.log").read_text().splitlines()[-1].startswith("line 19")
    assert all(len(line) == 48 for p in tmp_path.iterdir() for line in p.read_text().splitlines())
    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / "link.log").symlink_to(target)
    with pytest.raises(OSError):
        FileSink(str(tmp_path / "link.log")).write(["x"])
    assert target.read_text() == "keep"


def test_concurrent_writers_never_interleave(tmp_path):
    sink = FileSink(str(tmp_path / "c.log"))

    def writer(n: int) -> None:
        for i in range(50):
            sink.write([json.dumps({"w": n, "i": i, "pad": "p" * 5000})] * 3)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "c.log").read_text().splitlines()
    assert len(lines) == 6 * 50 * 3
    objs = [json.loads(x) for x in lines]
    # Each batch of three identical lines stays together.
    for k in range(0, len(objs), 3):
        assert objs[k] == objs[k + 1] == objs[k + 2]


def test_split_statements():
    # Each statement as written, without leading whitespace.
    assert split_statements("SELECT 1; SELECT 'a;b';") == ["SELECT 1;", "SELECT 'a;b';"]
    assert split_statements("SELECT 1") == ["SELECT 1"]
    assert split_statements(" ; ") == []
    assert split_statements("SELECT 1; -- done") == ["SELECT 1;"]


def test_pidfile_lock(tmp_path):
    path = str(tmp_path / "p")
    first = Pidfile(path)
    assert open(path).read() == str(os.getpid())
    with pytest.raises(DaemonError, match="Pidfile check failed"):
        Pidfile(path)
    first.release()
    Pidfile(path).release()


def test_unwritable_paths_name_the_flag(tmp_path, monkeypatch):
    # As root everything is writable; simulate an unprivileged user.
    monkeypatch.setattr(os, "access", lambda path, mode: not str(path).startswith("/var"))

    def makedirs(path, mode=0o777, exist_ok=False):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "makedirs", makedirs)
    flags = Flags()
    flags.set("logger_path", str(tmp_path))
    flags.set("pidfile", str(tmp_path / "pid"))
    with pytest.raises(DaemonError, match=r"pass --database_path="):
        check_paths(flags)
    flags = Flags()
    with pytest.raises(DaemonError, match=r"pass --(logger_path|database_path|pidfile)="):
        check_paths(flags)


@pytest.mark.parametrize("numerics", [False, True])
def test_line_shapes_match_the_reference(numerics):
    """The daemon's lines (columns texts from diff.Renderer inside LineShape)
    are byte for byte the reference functions' lines, for every format."""
    from osqlite.diff import Renderer
    from osqlite.logger import LineShape
    cols = ("pid", "name", "ratio", "mixed", "pct%s")
    tuples = [(1, "a/é", 0.5, 3, "x"), (2, 'q"uote\\\\', 2.0, "s", "100%"), (3, "", 1e20, 2.5, "%d")]
    m = meta(numerics=numerics, hostIdentifier="h%s")
    c, _, nb = Renderer(cols).render(tuples, numerics=numerics)
    body = nb if numerics else c
    for deco in ({}, {"d%": "v%s"}, {"action": "x", "name": "y"}, {"diffResults": "z"}, {"snapshot": "q"}):
        for top in (False, True):
            shape = LineShape(m, deco, top)
            added, removed = render_rows(cols, tuples[1:], numerics), render_rows(cols, tuples[:1], numerics)
            got = (shape.events(body[:1], "removed") + shape.events(body[1:], "added")).decode()
            assert got.splitlines() == event_lines(m, added, removed, deco, top)
            batched = shape.batched()
            ref = batched_line(m, added, removed, deco, top)
            if batched is None:     # a top-level diffResults decoration replaces the diff
                assert "diffResults" in deco and top and json.loads(ref)["diffResults"] == "z"
            else:
                head, mid, tail = batched
                assert head + ",".join(body[:1]) + mid + ",".join(body[1:]) + tail == ref + "\n"
            snap = shape.snapshot()
            [ref] = snapshot_lines(m, render_rows(cols, tuples, numerics), deco, top)
            if snap is None:
                assert "snapshot" in deco and top
            else:
                assert snap[0] + ",".join(body) + snap[1] == ref + "\n"
            assert shape.events(body, "snapshot").decode().splitlines() == \
                snapshot_lines(m, render_rows(cols, tuples, numerics), deco, top, event_type=True)
    assert LineShape(m, {}).events([], "added") == b""
