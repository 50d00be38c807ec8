"""Bytes that are not UTF-8, in command lines and file names.

osquery's tables hand such bytes on as they are; Python's sqlite3 would
then fail the whole query ("Could not decode to UTF-8 column 'cmdline'")
whenever one process on the host had such an argument.  osqlite.connect()
decodes with surrogateescape, so os.fsencode() gives the exact bytes back.
The session-wide process of conftest.non_utf8_process is the subject.
"""
from __future__ import annotations

import os
from pathlib import Path

import osqlite


def test_processes_select_star_never_fails(non_utf8_process):
    conn = osqlite.connect()
    rows = conn.execute("SELECT * FROM processes").fetchall()
    assert len(rows) > 1
    got = conn.execute("SELECT cmdline FROM processes WHERE pid = ?",
                       (non_utf8_process.pid,)).fetchone()[0]
    raw = Path(f"/proc/{non_utf8_process.pid}/cmdline").read_bytes()
    assert os.fsencode(got) == raw.replace(b"\0", b" ").strip()
    assert b"arg-\xff\xc3\x28-\x80" in os.fsencode(got)


def test_process_open_files_path_round_trips(non_utf8_process):
    conn = osqlite.connect()
    conn.execute("SELECT * FROM process_open_files").fetchall()
    paths = [os.fsencode(r[0]) for r in conn.execute(
        "SELECT path FROM process_open_files WHERE pid = ?", (non_utf8_process.pid,))]
    fds = Path(f"/proc/{non_utf8_process.pid}/fd")
    real = {os.readlink(os.fsencode(fds / n)) for n in os.listdir(fds)}
    mine = [p for p in paths if b"open-\xff\xfe-\xc3\x28.txt" in p]
    assert len(mine) == 1 and mine[0] in real


def test_file_names_round_trip(tmp_path):
    name = os.fsencode(tmp_path) + b"/f-\xff\xfe"
    with open(name, "wb") as f:
        f.write(b"x")
    conn = osqlite.connect()
    got = conn.execute("SELECT path, filename FROM file WHERE directory = ?",
                       (str(tmp_path),)).fetchall()
    assert [(os.fsencode(p), os.fsencode(f)) for p, f in got] == [(name, b"f-\xff\xfe")]
    # Such a value goes back into a query as bytes cast to TEXT (sqlite3
    # binds str strictly as UTF-8).
    path = got[0][0]
    assert conn.execute("SELECT count(*) FROM file WHERE path = CAST(? AS TEXT)",
                        (os.fsencode(path),)).fetchone() == (1,)


def test_raw_bytes_when_asked(non_utf8_process):
    conn = osqlite.connect()
    conn.text_factory = bytes
    got = conn.execute("SELECT cmdline FROM processes WHERE pid = ?",
                       (non_utf8_process.pid,)).fetchone()[0]
    assert isinstance(got, bytes) and b"\xff\xc3\x28" in got
