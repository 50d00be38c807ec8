"""The syslog logger against a real rsyslogd that the test starts with its
own config and socket (never the system's /dev/log or rsyslog)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from daemon_harness import Daemon, wait_for

from osqlite.syslog_logger import LOG_INFO, SyslogClient

RSYSLOG_CONF = """\
global(workDirectory="{dir}" maxMessageSize="256k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{dir}/log.sock" RateLimit.Interval="0")
template(name="fields" type="string"
         string="%syslogfacility%|%syslogseverity%|%programname%|%procid%|%msg:2:$%\\n")
*.* action(type="omfile" file="{dir}/messages" template="fields")
"""


class Rsyslog:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.sock = tmp / "log.sock"
        self.out = tmp / "messages"
        (tmp / "rsyslog.conf").write_text(RSYSLOG_CONF.format(dir=tmp))
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(tmp / "rsyslog.conf"),
                                      "-i", str(tmp / "rsyslogd.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: self.sock.exists() or self.proc.poll() is not None, what="rsyslogd's socket")
        if self.proc.poll() is not None:
            raise AssertionError("rsyslogd did not start: " + self.proc.stderr.read().decode(errors="replace"))

    def messages(self) -> list[tuple[int, int, str, str, str]]:
        if not self.out.exists():
            return []
        out = []
        for line in self.out.read_text(errors="replace").splitlines():
            fac, sev, prog, pid, msg = line.split("|", 4)
            out.append((int(fac), int(sev), prog, pid, msg))
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def rsyslog(tmp_path):
    if shutil.which("rsyslogd") is None:
        pytest.skip("rsyslogd is not installed (Debian package rsyslog): the syslog logger's "
                    "tests need a real one")
    d = tmp_path / "rsyslog"
    d.mkdir()
    r = Rsyslog(d)
    yield r
    r.stop()


def test_client_frames_as_glibc_syslog(rsyslog):
    c = SyslogClient(str(rsyslog.sock), "osqueryd", 19)
    c.send(LOG_INFO, ['{"name":"a"}', "caf\udce9"])
    got = wait_for(lambda: len(rsyslog.messages()) >= 2 and rsyslog.messages(), what="two messages")
    assert got[0] == (19, 6, "osqueryd", str(os.getpid()), '{"name":"a"}')
    assert got[1][4] == "caf\ufffd"        # the raw byte reached rsyslog (shown replaced)
    bad = SyslogClient(str(rsyslog.sock), "osqueryd", 99)
    assert bad.facility == 19              # out of range: osquery's default


def test_daemon_results_and_status_reach_rsyslog(tmp_path, rsyslog, daemons):
    cfg = {"schedule": {"who": {"query": "SELECT 'me' AS who", "interval": 1, "snapshot": True},
                        "n": {"query": "SELECT 41 + 1 AS n", "interval": 1}}}
    d = Daemon(tmp_path, cfg, logger_plugin="syslog,filesystem", logger_syslog_path=rsyslog.sock,
               logger_syslog_facility=17)
    daemons.append(d.start())
    got = wait_for(lambda: [m for m in rsyslog.messages() if m[4].startswith("{")], what="result lines")
    line = json.loads(got[0][4])
    assert got[0][:3] == (17, 6, "osqueryd") and got[0][3] == str(d.worker_pid())
    assert line["name"] in ("who", "n")
    status = wait_for(lambda: [m for m in rsyslog.messages() if m[4].startswith("severity=")],
                      what="status lines")
    started = [m for m in status if "daemon started" in m[4]]
    assert started and started[0][1] == 5        # INFO is LOG_NOTICE, as osquery
    assert started[0][4].startswith("severity=0 location=daemon.py:")
    d.stop()
    # The same lines as the filesystem logger wrote.
    files = {json.dumps(json.loads(x), sort_keys=True) for x in
             (d.text("osqueryd.results.log") + d.text("osqueryd.snapshots.log")).splitlines()}
    syslogged = {json.dumps(json.loads(m[4]), sort_keys=True) for m in rsyslog.messages()
                 if m[4].startswith("{")}
    assert files and files <= syslogged


def test_prepend_cee_and_a_missing_socket(tmp_path, rsyslog, daemons):
    cfg = {"schedule": {"who": {"query": "SELECT 'me' AS who", "interval": 1, "snapshot": True}}}
    d = Daemon(tmp_path, cfg, logger_plugin="syslog,filesystem", logger_syslog_path=rsyslog.sock,
               logger_syslog_prepend_cee="true")
    daemons.append(d.start())
    got = wait_for(lambda: [m for m in rsyslog.messages() if m[4].startswith("@cee:")], what="@cee lines")
    assert json.loads(got[0][4][5:])["name"] == "who"
    # rsyslog goes away: the daemon keeps running and says so once on stderr.
    rsyslog.stop()
    rsyslog.sock.unlink(missing_ok=True)
    wait_for(lambda: "cannot write to the syslog socket" in (tmp_path / "stderr.txt").read_text(),
             what="the dropped-messages note")
    time.sleep(2)
    assert d.proc.poll() is None
    assert (tmp_path / "stderr.txt").read_text().count("cannot write to the syslog socket") == 1


def test_stream_socket_is_used_when_the_datagram_one_is_refused(tmp_path):
    path = tmp_path / "stream.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    c = SyslogClient(str(path), "osqueryd", 19)
    c.send(LOG_INFO, ["hello"])
    conn, _ = srv.accept()
    data = conn.recv(4096)
    assert data.endswith(b"osqueryd[%d]: hello\x00" % os.getpid()) and data.startswith(b"<158>")
    conn.close()
    srv.close()
    c.close()
