"""osqlite.outbox and logger.FileSink: lines are delivered once, whole and in
order, across failed writes, full disks, rotations and interrupted attempts.

Disk faults are real: a tiny tmpfs mounted for the test (root only; skipped
with the reason otherwise), a read-only remount, chattr +i.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from disk_faults import fill, remount, tmpfs

from osqlite.logger import FileSink, StatusFileHandler
from osqlite.outbox import INLINE_MAX, Outbox
from osqlite.state import StateDB


def batch(outbox, state, lines, kind="results", name="q"):
    """Commit lines as one run would (without a result)."""
    staged = outbox.stage()
    staged.add("added", "".join(x + "\n" for x in lines).encode(), len(lines))
    with state.transaction() as tx:
        outbox.enqueue(tx, staged, kind, name, ["added"])
    outbox.committed(staged)


def lines_of(path: Path) -> list[str]:
    data = path.read_bytes() if path.exists() else b""
    assert not data or data.endswith(b"\n"), f"torn last line in {path}: {data[-80:]!r}"
    return data.decode().splitlines()


def make(tmp: Path, logdir: Path | None = None):
    state = StateDB(str(tmp / "osquery.db"))
    sink = FileSink(str((logdir or tmp) / "osqueryd.results.log"))
    return state, sink, Outbox(state, [sink])


def test_batches_are_delivered_in_order_and_once(tmp_path):
    state, sink, ob = make(tmp_path)
    for i in range(5):
        batch(ob, state, [f'{{"n":{i},"k":{k}}}' for k in range(3)])
    ob.deliver()
    ob.deliver()
    assert lines_of(tmp_path / "osqueryd.results.log") == [f'{{"n":{i},"k":{k}}}' for i in range(5) for k in range(3)]
    assert ob.backlog() == {sink.name: 0} and ob.pending_lines == 0
    assert state.execute("SELECT count(*) FROM outbox") == [(0,)]
    ob.close()
    state.close()


def test_large_batches_go_through_a_segment_file_and_it_is_removed(tmp_path):
    state, sink, ob = make(tmp_path)
    big = [f'{{"row":{i},"pad":"{"x" * 200}"}}' for i in range(INLINE_MAX // 150)]
    batch(ob, state, big)
    segs = os.listdir(tmp_path / "osquery.db.outbox")
    assert len(segs) == 1 and segs[0].endswith(".seg")
    ob.deliver()
    assert lines_of(tmp_path / "osqueryd.results.log") == big
    assert os.listdir(tmp_path / "osquery.db.outbox") == []
    ob.close()
    state.close()


def test_a_restart_finishes_an_interrupted_delivery_without_repeating(tmp_path):
    """A kill after the commit and part-way through the write (the mark is
    committed, half a line is in the file): the next start completes the
    torn line and writes the rest, once."""
    state, sink, ob = make(tmp_path)
    lines = [f'{{"i":{i}}}' for i in range(10)]
    batch(ob, state, lines)
    mark = dict(sink.begin(), seq=1)
    sink.abort()
    state.execute("UPDATE outbox_sinks SET mark = ?", (__import__("json").dumps(mark),))
    data = "".join(x + "\n" for x in lines).encode()
    with open(tmp_path / "osqueryd.results.log", "ab") as f:
        f.write(data[:37])                     # mid-line, as a kill leaves it
    ob.close()
    state.close()
    state, sink, ob = make(tmp_path)
    ob.deliver()
    assert lines_of(tmp_path / "osqueryd.results.log") == lines
    # Killed after the whole write but before it was marked delivered: nothing is repeated.
    batch(ob, state, ["after"])
    mark = dict(sink.begin(), seq=2)
    sink.abort()
    state.execute("UPDATE outbox_sinks SET mark = ?", (__import__("json").dumps(mark),))
    with open(tmp_path / "osqueryd.results.log", "ab") as f:
        f.write(b"after\n")
    ob.close()
    state.close()
    state, sink, ob = make(tmp_path)
    ob.deliver()
    assert lines_of(tmp_path / "osqueryd.results.log") == lines + ["after"]
    ob.close()
    state.close()


def test_external_logrotate_create_and_copytruncate(tmp_path):
    state, sink, ob = make(tmp_path)
    log = tmp_path / "osqueryd.results.log"
    batch(ob, state, ["a1", "a2"])
    ob.deliver()
    os.rename(log, tmp_path / "osqueryd.results.log.1")          # logrotate "create"
    batch(ob, state, ["b1"])
    ob.deliver()
    assert lines_of(tmp_path / "osqueryd.results.log.1") == ["a1", "a2"] and lines_of(log) == ["b1"]
    shutil.copy(log, tmp_path / "osqueryd.results.log.2")         # logrotate "copytruncate"
    os.truncate(log, 0)
    batch(ob, state, ["c1"])
    ob.deliver()
    assert lines_of(log) == ["c1"]
    # A batch written, then the file rotated before it was marked delivered
    # (a kill in between): the restart finds it in the rotated file.
    batch(ob, state, ["d1", "d2"])
    mark = dict(sink.begin(), seq=4)
    sink.abort()
    state.execute("UPDATE outbox_sinks SET mark = ?", (__import__("json").dumps(mark),))
    with open(log, "ab") as f:
        f.write(b"d1\nd2\n")
    ob.close()
    state.close()
    os.rename(log, tmp_path / "osqueryd.results.log.3")
    state, sink, ob = make(tmp_path)
    ob.deliver()
    assert lines_of(tmp_path / "osqueryd.results.log.3") == ["c1", "d1", "d2"]
    assert not log.exists() or lines_of(log) == []
    ob.close()
    state.close()


def test_a_full_disk_leaves_no_torn_line_and_the_backlog_follows(tmp_path):
    with tmpfs(tmp_path / "logs", "64k") as logs:
        state, sink, ob = make(tmp_path, logs)
        sink.touch()
        filler = fill(logs)
        os.truncate(filler, os.path.getsize(filler) - 6000)        # room for part of a batch
        first = [f'{{"first":{i},"pad":"{"p" * 90}"}}' for i in range(200)]
        batch(ob, state, first)
        ob.deliver()                                                 # ENOSPC part-way
        written = lines_of(logs / "osqueryd.results.log")            # whole lines only
        assert 0 < len(written) < len(first) and written == first[:len(written)]
        later = [f'{{"later":{i}}}' for i in range(50)]
        batch(ob, state, later)
        ob.deliver()                                                 # still full: kept, in order
        assert ob.backlog()[sink.name] == 250
        os.unlink(filler)
        ob.deliver()
        assert lines_of(logs / "osqueryd.results.log") == first + later
        assert ob.backlog()[sink.name] == 0
        ob.close()
        state.close()


def test_read_only_remount_and_a_removed_directory(tmp_path):
    with tmpfs(tmp_path / "logs", "1m") as logs:
        state, sink, ob = make(tmp_path, logs)
        batch(ob, state, ["one"])
        ob.deliver()
        remount(logs, "ro")
        batch(ob, state, ["two"])
        ob.deliver()
        assert ob.backlog()[sink.name] == 1
        remount(logs, "rw")
        ob.deliver()
        assert lines_of(logs / "osqueryd.results.log") == ["one", "two"]
        ob.close()
        state.close()
    # The directory itself removed, then restored.
    logs = tmp_path / "gone"
    logs.mkdir()
    state = StateDB(str(tmp_path / "osquery2.db"))
    sink = FileSink(str(logs / "osqueryd.results.log"))
    ob = Outbox(state, [sink])
    batch(ob, state, ["x"])
    ob.deliver()
    shutil.rmtree(logs)
    batch(ob, state, ["y"])
    ob.deliver()
    assert ob.backlog()[sink.name] == 1
    logs.mkdir()
    ob.deliver()
    assert lines_of(logs / "osqueryd.results.log") == ["y"]
    ob.close()
    state.close()


def test_immutable_log_file(tmp_path):
    state, sink, ob = make(tmp_path)
    log = tmp_path / "osqueryd.results.log"
    batch(ob, state, ["one"])
    ob.deliver()
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed (e2fsprogs)")
    r = subprocess.run(["chattr", "+i", str(log)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"this filesystem does not support chattr +i: {r.stderr.strip()}")
    try:
        batch(ob, state, ["two"])
        ob.deliver()
        assert ob.backlog()[sink.name] == 1 and lines_of(log) == ["one"]
    finally:
        subprocess.run(["chattr", "-i", str(log)], check=True)
    ob.deliver()
    assert lines_of(log) == ["one", "two"]
    ob.close()
    state.close()


def test_failures_are_logged_once_per_change_and_retried_with_back_off(tmp_path, caplog):
    now = [100.0]
    logs = tmp_path / "logs"
    logs.mkdir()
    state = StateDB(str(tmp_path / "osquery.db"))
    sink = FileSink(str(logs / "osqueryd.results.log"))
    ob = Outbox(state, [sink], clock=lambda: now[0])
    shutil.rmtree(logs)
    with caplog.at_level("WARNING", logger="osqlite.outbox"):
        for i in range(5):
            batch(ob, state, [f"l{i}"])
            ob.deliver(force=False)
            ob.retry_due()
            now[0] += 0.1
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "No such file or directory" in errors[0].getMessage()
        logs.mkdir()
        ob.retry_due()
        assert ob.backlog()[sink.name] == 5                         # back-off not over yet
        now[0] += 60
        ob.retry_due()
        assert lines_of(logs / "osqueryd.results.log") == [f"l{i}" for i in range(5)]
        assert any("works again" in r.getMessage() for r in caplog.records)
    ob.close()
    state.close()


def test_the_backlog_is_bounded(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    state = StateDB(str(tmp_path / "osquery.db"))
    sink = FileSink(str(logs / "osqueryd.results.log"))
    ob = Outbox(state, [sink], max_lines=3)
    shutil.rmtree(logs)
    assert ob.room()
    batch(ob, state, ["a", "b"])
    ob.deliver()
    assert ob.room()
    batch(ob, state, ["c", "d"])
    assert not ob.room()
    logs.mkdir()
    ob.deliver()
    assert ob.room() and lines_of(logs / "osqueryd.results.log") == ["a", "b", "c", "d"]
    ob.close()
    state.close()


def test_a_sink_no_longer_configured_is_dropped_with_a_warning(tmp_path, caplog):
    state = StateDB(str(tmp_path / "osquery.db"))
    a, b = FileSink(str(tmp_path / "a.log")), FileSink(str(tmp_path / "b.log"))
    ob = Outbox(state, [a, b])
    os.mkdir(tmp_path / "b.log")          # b cannot be written
    batch(ob, state, ["x"])
    ob.deliver()
    assert lines_of(tmp_path / "a.log") == ["x"] and ob.backlog()[b.name] == 1
    ob.close()
    with caplog.at_level("WARNING", logger="osqlite.outbox"):
        ob = Outbox(state, [a])
    assert any("no longer configured" in r.getMessage() for r in caplog.records)
    assert state.execute("SELECT count(*) FROM outbox") == [(0,)]
    ob.close()
    state.close()


def test_status_logs_on_a_full_disk_print_no_traceback(tmp_path, capfd):
    import logging
    with tmpfs(tmp_path / "logs", "16k") as logs:
        h = StatusFileHandler(str(logs), 0o600)
        h.touch()
        fill(logs)
        rec = logging.LogRecord("osqlite.x", logging.ERROR, "x.py", 1, "message %s", ("y" * 500,), None)
        for _ in range(20):
            h.emit(rec)
        err = capfd.readouterr().err
        assert "Traceback" not in err and err.count("cannot write the status logs") == 1
        for name in ("osqueryd.INFO", "osqueryd.WARNING", "osqueryd.ERROR"):
            p = logs / name
            assert not p.exists() or not p.read_bytes() or p.read_bytes().endswith(b"\n")


def test_an_outbox_directory_that_is_not_ours_is_refused(tmp_path):
    from osqlite.errors import DaemonError
    state = StateDB(str(tmp_path / "osquery.db"))
    (tmp_path / "osquery.db.outbox").mkdir(mode=0o777)
    os.chmod(tmp_path / "osquery.db.outbox", 0o777)
    planted = tmp_path / "osquery.db.outbox" / ("0" * 32 + ".seg")
    planted.write_text("not ours")
    with pytest.raises(DaemonError, match="not a private directory"):
        Outbox(state, [FileSink(str(tmp_path / "r.log"))])
    assert planted.exists()                     # never deleted
    planted.unlink()
    os.rmdir(tmp_path / "osquery.db.outbox")
    os.symlink(tmp_path, tmp_path / "osquery.db.outbox")
    with pytest.raises(DaemonError, match="symbolic link"):
        Outbox(state, [FileSink(str(tmp_path / "r.log"))])
    state.close()


def test_a_plugin_with_only_log_results_gets_whole_lines_in_order(tmp_path, monkeypatch):
    import osqlite.outbox
    from osqlite.outbox import plugin_sinks
    monkeypatch.setattr(osqlite.outbox, "BLOCK", 7)        # lines cut across blocks

    class Collect:
        name = "collect"

        def __init__(self):
            self.results, self.snapshots = [], []

        def log_results(self, lines):
            self.results.extend(lines)

        def log_snapshot(self, lines):
            self.snapshots.extend(lines)

    state = StateDB(str(tmp_path / "osquery.db"))
    plugin = Collect()
    ob = Outbox(state, plugin_sinks(plugin))
    batch(ob, state, ['{"a":"first line"}', '{"b":"é"}'])
    batch(ob, state, ['{"snap":1}'], kind="snapshots")
    batch(ob, state, ['{"c":3}'])
    ob.deliver()
    assert plugin.results == ['{"a":"first line"}', '{"b":"é"}', '{"c":3}']
    assert plugin.snapshots == ['{"snap":1}']
    assert state.execute("SELECT count(*) FROM outbox") == [(0,)]
    ob.close()
    state.close()
