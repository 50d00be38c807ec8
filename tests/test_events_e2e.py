"""End-to-end tests of the event publishers through the real daemon
(`python -m osqlite.daemon`): file changes in a watched tree, processes with
marker arguments, a loopback TCP connection, a network interface or loop
device, a restart, and publishers that cannot start.

These need root (audit, netlink); each test that the machine cannot run is
skipped with the reason.  Audit is given back as it was found after every
test, also when a daemon had to be killed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import events_harness as H
import pytest
from events_harness import wait_audit_free

from osqlite._sqlite import sqlite3

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="event publishers need root")


@pytest.fixture(autouse=True)
def audit_restored():
    """Whatever a test does, leave audit as it was."""
    yield from H.audit_restored()


@pytest.fixture
def daemons():
    yield from H.daemons()


# -- file_events ---------------------------------------------------------------

def test_file_events_exact_actions(tmp_path, daemons):
    w = tmp_path / "w"
    w.mkdir()
    cfg = {"schedule": {"fim": {"query": "SELECT target_path, action, category FROM file_events",
                                "interval": 1}},
           "file_paths": {"tree": [f"{w}/%%"]},
           "exclude_paths": {"other": [f"{w}/skip"]}}
    d = daemons(tmp_path, cfg, ["--enable_file_events=true"])
    f, g = w / "f", w / "g"
    f.write_text("one")                     # CREATED, UPDATED (modify), UPDATED (close)
    os.chmod(f, 0o600)                      # ATTRIBUTES_MODIFIED
    with open(f, "a") as fh:                # UPDATED, UPDATED
        fh.write("two")
    os.rename(f, g)                         # MOVED_FROM f, MOVED_TO g
    (w / "skip").mkdir()                    # excluded (its own path)
    (w / "skip" / "x").write_text("x")      # excluded (its parent)
    sub = w / "sub"
    sub.mkdir()                             # CREATED, and now watched
    time.sleep(0.5)
    (sub / "h").write_text("h")             # CREATED, UPDATED, UPDATED
    g.unlink()                              # DELETED
    want = [(f, "CREATED"), (f, "UPDATED"), (f, "UPDATED"), (f, "ATTRIBUTES_MODIFIED"),
            (f, "UPDATED"), (f, "UPDATED"), (f, "MOVED_FROM"), (g, "MOVED_TO"),
            (sub, "CREATED"), (sub / "h", "CREATED"), (sub / "h", "UPDATED"),
            (sub / "h", "UPDATED"), (g, "DELETED")]
    want = [(str(p), a) for p, a in want]

    def got():
        return [(c["target_path"], c["action"]) for c in d.columns("fim")]
    assert d.wait_for(lambda: len(got()) >= len(want))
    time.sleep(1.5)                         # nothing more may arrive
    assert got() == want
    assert {c["category"] for c in d.columns("fim")} == {"tree"}
    # Event queries: counters 1, 2, ... over the runs that had rows.
    counters = sorted({i["counter"] for i in d.results("fim")})
    assert counters == list(range(counters[0], counters[0] + len(counters)))


def test_file_events_hashes_and_stat(tmp_path, daemons):
    import hashlib
    w = tmp_path / "w"
    w.mkdir()
    cfg = {"schedule": {"fim": {"query": "SELECT target_path, action, md5, sha1, sha256, "
                                         "hashed, size, inode, mode FROM file_events "
                                         "WHERE action = 'UPDATED'", "interval": 1}},
           "file_paths": {"c": [f"{w}/"]}}
    d = daemons(tmp_path, cfg, ["--enable_file_events=true"])
    data = os.urandom(100000)
    p = w / "blob"
    p.write_bytes(data)
    assert d.wait_for(lambda: len(d.columns("fim")) >= 2)
    last = d.columns("fim")[-1]
    st = os.stat(p)
    assert last["md5"] == hashlib.md5(data).hexdigest()
    assert last["sha1"] == hashlib.sha1(data).hexdigest()
    assert last["sha256"] == hashlib.sha256(data).hexdigest()
    assert (last["hashed"], last["size"], last["inode"]) == ("1", "100000", str(st.st_ino))
    assert last["mode"] == "%04o" % (st.st_mode & 0o7777)


def test_yara_events_from_file_events(tmp_path, daemons):
    """yara_events subscribes to file_events: the inotify reader's stored
    rows reach the YARA subscriber, which scans the files."""
    if not any(os.path.exists(os.path.join(d, f"libyara.so.{v}"))
               for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib")
               for v in (10, 9, 8)):
        pytest.skip("libyara is absent (Debian package libyara10 / libyara9)")
    w = tmp_path / "w"
    w.mkdir()
    rules = tmp_path / "rules.yar"
    rules.write_text('rule evil_rule : tagA { strings: $a = "evil" condition: $a }\n')
    cfg = {"schedule": {"y": {"query": "SELECT target_path, category, action, matches, count, "
                                       "tags FROM yara_events", "interval": 1}},
           "file_paths": {"watched": [f"{w}/"]},
           "yara": {"signatures": {"g": [str(rules)]}, "file_paths": {"watched": ["g"]}}}
    d = daemons(tmp_path, cfg, ["--enable_file_events=true", "--disable_hardware_events=true"])
    (w / "good.txt").write_text("nothing here")
    (w / "bad.txt").write_text("an evil string")
    assert d.wait_for(lambda: d.columns("y"), timeout=30), d.text("osqueryd.WARNING")
    time.sleep(1.5)
    got = {(r["target_path"], r["action"], r["matches"], r["tags"]) for r in d.columns("y")}
    assert got == {(str(w / "bad.txt"), "CREATED", "evil_rule", "tagA"),
                   (str(w / "bad.txt"), "UPDATED", "evil_rule", "tagA")}


# -- process_events ------------------------------------------------------------

def marker_runs(tag, n):
    pids = []
    for i in range(n):
        p = subprocess.Popen(["/bin/echo", f"{tag}-{i}", "second arg"], stdout=subprocess.DEVNULL)
        p.wait()
        pids.append(p.pid)
    return pids


def test_process_events_markers(tmp_path, daemons):
    tag = "osqe2e" + uuid.uuid4().hex[:8]
    cfg = {"schedule": {"procs": {
        "query": "SELECT pid, parent, path, cmdline, cwd, uid, euid, auid, syscall "
                 f"FROM process_events WHERE cmdline LIKE '%{tag}-%'", "interval": 1}}}
    d = daemons(tmp_path, cfg, ["--disable_audit=false", "--audit_allow_process_events=true"],
                audit=True)
    if "process_events falls back" in d.text("osqueryd.WARNING"):
        pytest.skip("audit is not available here: " + d.text("osqueryd.WARNING")[-300:])
    pids = marker_runs(tag, 5)
    assert d.wait_for(lambda: len(d.columns("procs")) >= 5)
    time.sleep(1.5)
    rows = d.columns("procs")
    assert sorted(int(r["pid"]) for r in rows) == sorted(pids)
    for r in rows:
        i = pids.index(int(r["pid"]))
        assert r["cmdline"] == f"/bin/echo {tag}-{i} second arg"
        assert r["path"] == os.path.realpath("/bin/echo")
        assert int(r["parent"]) == os.getpid()
        assert r["cwd"] == os.getcwd()
        assert (r["uid"], r["euid"], r["syscall"]) == ("0", "0", "execve")


# -- socket_events -------------------------------------------------------------

CHILD = r"""
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
a, _ = s.accept()
print(os.getpid())
"""


def test_socket_events_loopback(tmp_path, daemons):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    cfg = {"schedule": {"socks": {
        "query": "SELECT action, pid, fd, family, local_address, local_port, remote_address, "
                 "remote_port, status FROM socket_events WHERE family = 2", "interval": 1}}}
    d = daemons(tmp_path, cfg, ["--disable_audit=false", "--audit_allow_sockets=true",
                                "--audit_allow_process_events=false"], audit=True)
    if "socket_events is unavailable" in d.text("osqueryd.WARNING"):
        pytest.skip("audit is not available here")
    out = subprocess.run([sys.executable, "-c", CHILD, str(port)], capture_output=True,
                         text=True, check=True)
    pid = out.stdout.strip()

    def mine():
        return [r for r in d.columns("socks") if r["pid"] == pid]
    assert d.wait_for(lambda: len(mine()) >= 3)
    rows = {r["action"]: r for r in mine()}
    assert rows["bind"]["local_address"] == "127.0.0.1"
    assert rows["bind"]["local_port"] == str(port)
    assert rows["connect"]["remote_address"] == "127.0.0.1"
    assert rows["connect"]["remote_port"] == str(port)
    assert rows["accept"]["remote_address"] == "127.0.0.1"
    assert all(r["status"] == "succeeded" and r["family"] == "2" for r in rows.values())


# -- the other audit tables ----------------------------------------------------

def send_user_message(mtype: int, text: str) -> None:
    """Send a user-space audit message (what PAM or sudo send through
    libaudit); the kernel relays it to the audit daemon."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
    try:
        s.bind((0, 0))
        body = text.encode() + b"\0"
        s.send(struct.pack("=IHHII", 16 + len(body), mtype, 5, 1, 0) + body)
        err = struct.unpack_from("=i", s.recv(1000), 16)[0]
        if err:
            raise OSError(-err, os.strerror(-err))
    finally:
        s.close()


def test_user_events_from_the_kernel(tmp_path, daemons):
    tag = "osqlitetest" + uuid.uuid4().hex[:8]
    cfg = {"schedule": {"users": {"query": "SELECT type, pid, uid, auid, message, terminal, "
                                           f"path FROM user_events WHERE message = 'op={tag}'",
                                  "interval": 1}}}
    d = daemons(tmp_path, cfg, ["--disable_audit=false", "--audit_allow_process_events=false"],
                audit=True)
    send_user_message(1112, f'op={tag} acct="root" exe="/usr/bin/osqtest" hostname=? '
                            "addr=? terminal=pts/9 res=success")
    assert d.wait_for(lambda: d.columns("users"))
    [r] = d.columns("users")
    assert (r["type"], r["pid"], r["uid"]) == ("1112", str(os.getpid()), "0")
    assert (r["message"], r["terminal"], r["path"]) == (f"op={tag}", "pts/9", "/usr/bin/osqtest")
    with open("/proc/self/loginuid") as f:
        assert r["auid"] == f.read().strip()


SECCOMP_CHILD = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
# arch == x86_64 and nr == getppid: SECCOMP_RET_LOG, else SECCOMP_RET_ALLOW
prog = [(0x20, 0, 0, 4), (0x15, 0, 3, 0xC000003E), (0x20, 0, 0, 0), (0x15, 0, 1, 110),
        (0x06, 0, 0, 0x7FFC0000), (0x06, 0, 0, 0x7FFF0000)]
raw = b"".join(struct.pack("=HBBI", *i) for i in prog)
buf = ctypes.create_string_buffer(raw, len(raw))
fprog = struct.pack("=HxxxxxxQ", len(prog), ctypes.addressof(buf))
fbuf = ctypes.create_string_buffer(fprog, len(fprog))
assert libc.prctl(38, 1, 0, 0, 0) == 0                       # PR_SET_NO_NEW_PRIVS
if libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:      # PR_SET_SECCOMP, FILTER
    sys.exit("seccomp: errno %d" % ctypes.get_errno())
os.getppid()
print(os.getpid())
"""


def test_seccomp_events_from_the_kernel(tmp_path, daemons):
    if os.uname().machine != "x86_64":
        pytest.skip("the test's seccomp filter is written for x86_64")
    try:
        with open("/proc/sys/kernel/seccomp/actions_logged") as f:
            if "log" not in f.read().split():
                pytest.skip("kernel.seccomp.actions_logged does not include log")
    except OSError:
        pytest.skip("no seccomp filter support in this kernel")
    cfg = {"schedule": {"sc": {"query": "SELECT pid, comm, exe, arch, syscall, code, sig "
                                        "FROM seccomp_events", "interval": 1}}}
    d = daemons(tmp_path, cfg, ["--disable_audit=false", "--audit_allow_process_events=false",
                                "--audit_allow_seccomp_events=true"], audit=True)
    out = subprocess.run([sys.executable, "-c", SECCOMP_CHILD], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("cannot install a seccomp filter here: " + out.stderr.strip()[-200:])
    pid = out.stdout.strip()
    assert d.wait_for(lambda: any(r["pid"] == pid for r in d.columns("sc")))
    [r] = [r for r in d.columns("sc") if r["pid"] == pid]
    assert (r["arch"], r["syscall"], r["code"], r["sig"]) == ("X86_64", "getppid", "LOG", "0")
    assert r["exe"] == os.path.realpath(sys.executable)
    assert r["comm"] == os.path.basename(sys.executable)[:15]     # the name it was run by


FIM_CHILD = r"""
import os, sys
w = sys.argv[1]
with open(os.path.join(w, "a"), "w") as f:       # open+truncate, write
    f.write("new")
os.rename(os.path.join(w, "a"), os.path.join(w, "c"))
os.unlink(os.path.join(w, "b"))
with open(os.path.join(w, "keep")) as f:         # a read: not shown by default
    f.read()
with open(os.path.join(w, "../outside"), "w") as f:   # not a watched path
    f.write("x")
print(os.getpid())
"""


def test_process_file_events_from_the_kernel(tmp_path, daemons):
    w = tmp_path / "w"
    w.mkdir()
    for name in ("a", "b", "keep"):
        (w / name).write_text("old")
    # osquery resolves file_paths once, at configure time: the files that
    # exist now.
    cfg = {"schedule": {"fim": {"query": "SELECT operation, pid, ppid, path, dest_path, "
                                         "executable, partial, cwd FROM process_file_events",
                                "interval": 1}},
           "file_paths": {"w": [f"{w}/%%"]}}
    d = daemons(tmp_path, cfg, ["--disable_audit=false", "--audit_allow_process_events=false",
                                "--audit_allow_fim_events=true"], audit=True)
    out = subprocess.run([sys.executable, "-c", FIM_CHILD, str(w)], capture_output=True,
                         text=True, check=True, cwd=str(tmp_path))
    pid = out.stdout.strip()

    def mine():
        return [r for r in d.columns("fim") if r["pid"] == pid]
    assert d.wait_for(lambda: len(mine()) >= 4)
    time.sleep(1.5)
    got = [(r["operation"], r["path"], r.get("dest_path")) for r in mine()]
    assert got == [("open+truncate", f"{w}/a", ""), ("write", f"{w}/a", ""),
                   ("rename", f"{w}/a", f"{w}/c"), ("unlink", f"{w}/b", "")]
    for r in mine():
        # The kernel gives a working directory with the calls that look a
        # path up, not with write(2).
        cwd = "" if r["operation"] == "write" else str(tmp_path)
        assert (r["partial"], r["executable"], r["cwd"], r["ppid"]) == (
            "false", os.path.realpath(sys.executable), cwd, str(os.getpid())), r


# -- bytes that are not UTF-8 --------------------------------------------------

def test_non_utf8_names_and_arguments_reach_the_logs(tmp_path, daemons):
    """A file with a name that is not UTF-8 next to a good one, and an exec
    with such an argument: every event is stored and logged."""
    w = tmp_path / "w"
    w.mkdir()
    tag = "osqu8" + uuid.uuid4().hex[:8]
    cfg = {"schedule": {
        "fim": {"query": "SELECT target_path, action FROM file_events", "interval": 1},
        "procs": {"query": f"SELECT pid, cmdline FROM process_events WHERE cmdline LIKE '%{tag}%'",
                  "interval": 1}},
        "file_paths": {"c": [f"{w}/"]}}
    d = daemons(tmp_path, cfg, ["--enable_file_events=true", "--disable_audit=false"],
                audit=True)
    bad = os.fsencode(str(w)) + b"/bad\xff\xfe"
    with open(bad, "wb") as f:
        f.write(b"x")
    (w / "good").write_text("y")
    p = subprocess.Popen([b"/bin/true", tag.encode() + b"-\xff\xfe", b"after"])
    p.wait()

    def fim():
        return [(c["target_path"], c["action"]) for c in d.columns("fim")]
    assert d.wait_for(lambda: len(fim()) >= 6)
    good = [a for t, a in fim() if t == f"{w}/good"]
    badrows = [a for t, a in fim() if t.startswith(f"{w}/bad")]
    assert good == ["CREATED", "UPDATED", "UPDATED"] and badrows == good
    if "process_events falls back" not in d.text("osqueryd.WARNING"):
        assert d.wait_for(lambda: d.columns("procs"))
        [r] = d.columns("procs")
        assert r["pid"] == str(p.pid)
        assert r["cmdline"].startswith(f"/bin/true {tag}-") and r["cmdline"].endswith(" after")
    assert "Could not store" not in d.text("osqueryd.WARNING")


# -- hardware_events -----------------------------------------------------------

def make_device():
    """Create something that emits uevents; returns (cleanup, path fragment)."""
    name = "osq" + uuid.uuid4().hex[:6]
    ip = shutil.which("ip")
    reasons = []
    if ip:
        for args in (["type", "dummy"], ["type", "veth", "peer", "name", name + "p"]):
            r = subprocess.run([ip, "link", "add", name] + args, capture_output=True, text=True)
            if r.returncode == 0:
                return (lambda: subprocess.run([ip, "link", "del", name], capture_output=True),
                        f"/net/{name}", "add", "remove")
            reasons.append(f"ip link add {' '.join(args)}: {r.stderr.strip()}")
    losetup = shutil.which("losetup")
    if losetup:
        img = f"/tmp/{name}.img"
        with open(img, "wb") as f:
            f.truncate(1 << 20)
        r = subprocess.run([losetup, "-f", "--show", img], capture_output=True, text=True)
        if r.returncode == 0:
            dev = r.stdout.strip()

            def cleanup():
                subprocess.run([losetup, "-d", dev], capture_output=True)
                os.unlink(img)
            return cleanup, dev, "change", "change"
        os.unlink(img)
        reasons.append("losetup: " + r.stderr.strip())
    pytest.skip("cannot create a device here: " + "; ".join(reasons))


def test_hardware_events_device(tmp_path, daemons):
    cfg = {"schedule": {"hw": {"query": "SELECT action, path, type, driver FROM hardware_events",
                               "interval": 1}}}
    d = daemons(tmp_path, cfg)
    if "udev failed" in d.text("osqueryd.WARNING"):
        pytest.skip("uevent socket unavailable: " + d.text("osqueryd.WARNING")[-300:])
    cleanup, frag, first, last = make_device()
    try:
        assert d.wait_for(lambda: any(c["path"].endswith(frag) and c["action"] == first
                                      for c in d.columns("hw")))
    finally:
        cleanup()
    assert d.wait_for(lambda: sum(c["path"].endswith(frag) for c in d.columns("hw")) >= 2)
    mine = [c for c in d.columns("hw") if c["path"].endswith(frag)]
    assert mine[0]["action"] == first and mine[-1]["action"] == last
    assert all(c["type"] for c in mine)


# -- persistence and optimisation across restarts -------------------------------

def test_events_survive_restart_exactly_once(tmp_path, daemons):
    w = tmp_path / "w"
    w.mkdir()
    base = {"file_paths": {"c": [f"{w}/"]}}
    d1 = daemons(tmp_path, dict(base, schedule={}), ["--enable_file_events=true"], name="one")
    (w / "before").write_text("1")
    db = tmp_path / "state.db"

    def stored():
        c = sqlite3.connect(db)
        try:
            return c.execute("SELECT count(*) FROM osqlite_data_file_events").fetchone()[0]
        finally:
            c.close()
    assert d1.wait_for(lambda: stored() >= 3)
    d1.stop()
    cfg = dict(base, schedule={"fim": {"query": "SELECT target_path, action FROM file_events",
                                       "interval": 1}})
    d2 = daemons(tmp_path, cfg, ["--enable_file_events=true"], name="two")
    assert d2.wait_for(lambda: len(d2.columns("fim")) >= 3)
    (w / "during").write_text("2")
    assert d2.wait_for(lambda: len(d2.columns("fim")) >= 6)
    d2.stop()
    d3 = daemons(tmp_path, cfg, ["--enable_file_events=true"], name="three")
    (w / "after").write_text("3")
    assert d3.wait_for(lambda: len(d3.columns("fim")) >= 3)
    time.sleep(1.5)
    got2 = [(Path(c["target_path"]).name, c["action"]) for c in d2.columns("fim")]
    got3 = [(Path(c["target_path"]).name, c["action"]) for c in d3.columns("fim")]
    assert got2 == [("before", "CREATED"), ("before", "UPDATED"), ("before", "UPDATED"),
                    ("during", "CREATED"), ("during", "UPDATED"), ("during", "UPDATED")]
    assert got3 == [("after", "CREATED"), ("after", "UPDATED"), ("after", "UPDATED")]


# -- publishers that cannot start ------------------------------------------------

def claim_audit():
    """Register this test process as the audit daemon (audit stays as it
    was otherwise); returns the socket, to be released with release()."""
    holder = wait_audit_free()
    if holder is not None:
        pytest.skip(f"audit stayed busy: {holder}")
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
    s.bind((0, 0))
    payload = struct.pack("=11I", 0x04, 0, 0, os.getpid(), 0, 0, 0, 0, 0, 0, 0)
    s.send(struct.pack("=IHHII", 16 + len(payload), 1001, 5, 1, 0) + payload)
    err = struct.unpack_from("=i", s.recv(1000), 16)[0]
    if err:
        s.close()
        pytest.skip(f"cannot claim the audit socket: errno {-err}")
    return s


def release(s):
    payload = struct.pack("=11I", 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    s.send(struct.pack("=IHHII", 16 + len(payload), 1001, 5, 2, 0) + payload)
    s.close()


def test_audit_owned_by_another_daemon_falls_back(tmp_path, daemons):
    tag = "osqfb" + uuid.uuid4().hex[:8]
    owner = claim_audit()
    try:
        cfg = {"schedule": {"procs": {"query": "SELECT pid, cmdline FROM process_events "
                                               f"WHERE cmdline LIKE '%{tag}%'", "interval": 1}}}
        d = daemons(tmp_path, cfg, ["--disable_audit=false"])
        warn = d.text("osqueryd.WARNING")
        assert "another audit daemon (pid %d" % os.getpid() in warn
        assert "falls back to the proc connector" in warn
        p = subprocess.Popen(["/bin/sh", "-c", "sleep 0.5", tag])
        p.wait()
        assert d.wait_for(lambda: any(c["pid"] == str(p.pid) for c in d.columns("procs")))
        row = [c for c in d.columns("procs") if c["pid"] == str(p.pid)][0]
        assert row["cmdline"] == f"/bin/sh -c sleep 0.5 {tag}"
    finally:
        release(owner)


def test_no_privilege_warns_and_runs_on(tmp_path, daemons):
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    w = tmp_path / "w"
    w.mkdir()
    cfg = {"schedule": {"fim": {"query": "SELECT target_path, action FROM file_events",
                                "interval": 1}},
           "file_paths": {"c": [f"{w}/"]}}
    d = daemons(tmp_path, cfg, ["--enable_file_events=true", "--disable_audit=false",
                                "--audit_allow_sockets=true"],
                prefix=[setpriv, "--bounding-set", "-audit_control,-audit_read,-audit_write"])
    warn = d.text("osqueryd.WARNING")
    assert "Event publisher auditeventpublisher failed to start" in warn
    assert "socket_events is unavailable without audit" in warn
    (w / "x").write_text("x")
    assert d.wait_for(lambda: ("%s/x" % w, "CREATED") in
                      [(c["target_path"], c["action"]) for c in d.columns("fim")])


def test_osquery_events_counts(tmp_path, daemons):
    w = tmp_path / "w"
    w.mkdir()
    cfg = {"schedule": {"ev": {"query": "SELECT name, publisher, type, subscriptions, events, "
                                        "active FROM osquery_events", "interval": 1,
                               "snapshot": True},
                        "fim": {"query": "SELECT target_path FROM file_events", "interval": 1}},
           "file_paths": {"a": [f"{w}/"], "b": [f"{w}/x%"]}}
    d = daemons(tmp_path, cfg, ["--enable_file_events=true", "--disable_hardware_events=true"])
    for i in range(4):
        (w / f"f{i}").write_text("x")

    def snap():
        lines = [json.loads(x) for x in d.text("osqueryd.snapshots.log").splitlines() if x]
        return {r["name"]: r for r in lines[-1]["snapshot"]} if lines else {}
    assert d.wait_for(lambda: snap().get("file_events", {}).get("events") == "12")
    s = snap()
    assert s["inotify"]["type"] == "publisher" and s["inotify"]["active"] == "1"
    assert s["inotify"]["subscriptions"] == "2" and s["inotify"]["events"] == "12"
    assert s["file_events"]["publisher"] == "inotify"
    assert s["udev"]["active"] == "0" and s["process_events"]["active"] == "0"


# -- the acceptance run --------------------------------------------------

def test_done_criteria_200_writes_200_execs(tmp_path, daemons):
    w = tmp_path / "w"
    w.mkdir()
    tag = "osqdone" + uuid.uuid4().hex[:8]
    cfg = {"schedule": {
        "fim": {"query": "SELECT target_path, action FROM file_events", "interval": 2},
        "procs": {"query": "SELECT pid, cmdline FROM process_events", "interval": 2}},
        "file_paths": {"watched": [f"{w}/%%"]}}
    d = daemons(tmp_path, cfg, ["--disable_events=false", "--enable_file_events=true",
                                "--disable_audit=false", "--audit_allow_process_events=true"],
                audit=True)
    if "process_events falls back" in d.text("osqueryd.WARNING"):
        pytest.skip("audit is not available here")
    paths = []
    for i in range(200):
        p = w / f"file{i}"
        p.write_text(str(i))
        paths.append(str(p))
    pids = []
    for i in range(200):
        pr = subprocess.Popen(["/bin/true", f"{tag}-{i}"])
        pr.wait()
        pids.append(pr.pid)

    def done():
        created = {c["target_path"] for c in d.columns("fim") if c["action"] == "CREATED"}
        seen = {c["pid"] for c in d.columns("procs") if tag in c["cmdline"]}
        return created >= set(paths) and seen >= {str(p) for p in pids}
    assert d.wait_for(done, timeout=40)
    fim = [(c["target_path"], c["action"]) for c in d.columns("fim")
           if c["target_path"].startswith(str(w))]
    assert sorted(fim) == sorted([(p, a) for p in paths
                                  for a in ("CREATED", "UPDATED", "UPDATED")])
    procs = {c["pid"]: c["cmdline"] for c in d.columns("procs") if tag in c["cmdline"]}
    assert procs == {str(p): f"/bin/true {tag}-{i}" for i, p in enumerate(pids)}


def test_config_reload_moves_watches(tmp_path, daemons):
    w1, w2 = tmp_path / "w1", tmp_path / "w2"
    w1.mkdir()
    w2.mkdir()
    sched = {"fim": {"query": "SELECT target_path, action FROM file_events", "interval": 1}}
    d = daemons(tmp_path, {"schedule": sched, "file_paths": {"c": [f"{w1}/"]}},
                ["--enable_file_events=true"])
    (w1 / "a").write_text("1")
    assert d.wait_for(lambda: len(d.columns("fim")) >= 3)
    d.conf.write_text(json.dumps({"schedule": sched, "file_paths": {"c": [f"{w2}/"]}}))
    d.proc.send_signal(signal.SIGHUP)
    time.sleep(2.0)
    (w1 / "b").write_text("1")
    (w2 / "c").write_text("1")
    assert d.wait_for(lambda: len(d.columns("fim")) >= 6)
    time.sleep(1.5)
    got = [(Path(c["target_path"]).parent.name, Path(c["target_path"]).name, c["action"])
           for c in d.columns("fim")]
    assert got == [("w1", "a", "CREATED"), ("w1", "a", "UPDATED"), ("w1", "a", "UPDATED"),
                   ("w2", "c", "CREATED"), ("w2", "c", "UPDATED"), ("w2", "c", "UPDATED")]
