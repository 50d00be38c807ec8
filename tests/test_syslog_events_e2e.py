"""syslog_events end to end: the real daemon with --enable_syslog, and a real
rsyslogd that this test starts with its own configuration (osquery's
template, its own input socket and work directory; never the system's
rsyslogd or /dev/log), writing to the daemon's pipe.

Needs root (the daemon chowns the pipe to group "syslog") and rsyslogd
(Debian's rsyslog package; CI installs it); skipped with the reason when
either is missing.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import time
import uuid

import events_harness as H
import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the syslog publisher test runs as root")

# osquery's documented template (docs/wiki/deployment/syslog.md).
RSYSLOG_CONF = """
global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" CreatePath="on" RateLimit.Interval="0")
template(
  name="OsqueryCsvFormat"
  type="string"
  string="%timestamp:::date-rfc3339,csv%,%hostname:::csv%,%syslogseverity:::csv%,%syslogfacility-text:::csv%,%syslogtag:::csv%,%msg:::csv%\\n"
)
*.* action(type="ompipe" Pipe="{pipe}" template="OsqueryCsvFormat")
"""


@pytest.fixture
def daemons():
    yield from H.daemons()


@pytest.fixture
def rsyslogd(tmp_path):
    exe = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd")
                                       else None)
    if exe is None:
        pytest.skip("rsyslogd is not installed (apt-get install rsyslog)")
    procs = []

    def start(pipe):
        work = tmp_path / "rsyslog"
        work.mkdir(exist_ok=True)
        sock = tmp_path / "log.sock"
        conf = tmp_path / "rsyslog.conf"
        conf.write_text(RSYSLOG_CONF.format(work=work, sock=sock, pipe=pipe))
        p = subprocess.Popen([exe, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
                             stdout=subprocess.DEVNULL, stderr=open(tmp_path / "rsyslog.err", "w"))
        procs.append(p)
        deadline = time.monotonic() + 15
        while not sock.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("rsyslogd did not start: "
                                     + (tmp_path / "rsyslog.err").read_text()[-1000:])
            time.sleep(0.1)
        return sock

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def send(sock_path, line: bytes) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(line, str(sock_path))
    finally:
        s.close()


def test_syslog_events_from_rsyslogd(tmp_path, daemons, rsyslogd):
    pipe = tmp_path / "syslog_pipe"
    tag = "osqtest" + uuid.uuid4().hex[:6]
    cfg = {"schedule": {"sys": {"query": "SELECT host, severity, facility, tag, message, datetime "
                                         f"FROM syslog_events WHERE tag LIKE '{tag}%'",
                                "interval": 1},
                        "alias": {"query": f"SELECT tag FROM syslog WHERE tag LIKE '{tag}%'",
                                  "interval": 1}}}
    d = daemons(tmp_path, cfg, ["--enable_syslog=true", f"--syslog_pipe_path={pipe}",
                                "--disable_hardware_events=true"])
    st = os.lstat(pipe)
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o460   # osquery's mode
    sock = rsyslogd(pipe)                 # after the pipe exists, as osquery documents
    send(sock, f"<13>{tag}[42]: hello, \"quoted\" world".encode())
    send(sock, f"<11>{tag}: second \xe9 line".encode())
    send(sock, f"<13>{tag}: bytes \xff\xfe here".encode("latin-1"))
    assert d.wait_for(lambda: len(d.columns("sys")) >= 3, timeout=30), d.text("osqueryd.WARNING")
    rows = d.columns("sys")
    assert [(r["tag"], r["severity"], r["facility"]) for r in rows] == [
        (f"{tag}[42]", "5", "user"), (tag, "3", "user"), (tag, "5", "user")]
    assert rows[0]["message"] == 'hello, "quoted" world'
    assert rows[1]["message"] == "second \xe9 line"
    # rsyslogd itself escapes bytes that are not UTF-8 (as \xFF text).
    assert rows[2]["message"] in ("bytes \\xFF\\xFE here", "bytes \udcff\udcfe here")
    assert {r["host"] for r in rows} == {socket.gethostname().split(".")[0]}
    assert rows[0]["datetime"][:4].isdigit() and "T" in rows[0]["datetime"]
    assert d.wait_for(lambda: len(d.columns("alias")) >= 3)


def test_syslog_pipe_that_is_not_a_fifo_is_refused(tmp_path, daemons):
    path = tmp_path / "not_a_pipe"
    path.write_text("a regular file\n")
    cfg = {"schedule": {"sys": {"query": "SELECT * FROM syslog_events", "interval": 1}}}
    d = daemons(tmp_path, cfg, ["--enable_syslog=true", f"--syslog_pipe_path={path}",
                                "--disable_hardware_events=true"])
    assert f"Not a FIFO file: {path}" in d.text("osqueryd.WARNING")
    assert path.read_text() == "a regular file\n"          # untouched


def test_second_reader_of_the_pipe_is_refused(tmp_path, daemons):
    pipe = tmp_path / "pipe"
    cfg = {"schedule": {}}
    daemons(tmp_path, cfg, ["--enable_syslog=true", f"--syslog_pipe_path={pipe}",
                            "--disable_hardware_events=true"], name="one")
    d2 = daemons(tmp_path, cfg, ["--enable_syslog=true", f"--syslog_pipe_path={pipe}",
                                 "--disable_hardware_events=true",
                                 f"--database_path={tmp_path}/two.db"], name="two")
    assert "Unable to acquire pipe lock" in d2.text("osqueryd.WARNING")
