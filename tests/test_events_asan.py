"""The event readers under AddressSanitizer and UBSan (build/osqlite-asan,
tests/asan_helper.py): hostile audit records, inotify events and syslog
lines, generated from a fixed seed, fed through osqlite_events_feed() on
the driver's own connection, then every event table read back through its
C generator.  Any sanitizer report fails the test; SQL errors are allowed
(hostile input may produce them), crashes, hangs and leaks are not."""
from __future__ import annotations

import os
import random
import struct

import pytest
from asan_helper import run_asan

from osqlite.events import store as S

SEED = 20240611
CHUNK = 40000            # bytes per feed (argv strings stay far below 128 KiB)
ROUNDS = 4               # driver runs per reader (the argv of one stays < 1 MiB)
TABLES = ", ".join(S.TABLES)


@pytest.fixture(autouse=True)
def _built(asan_driver):
    return asan_driver


class Alone(bytes):
    """A message fed on its own (its length lies: it takes the rest of its
    feed)."""


def feeds(data) -> list[str]:
    """Feed statements for bytes (cut in CHUNK pieces), or for a list of
    messages (packed whole into feeds of at most CHUNK bytes)."""
    if isinstance(data, bytes):
        data = [Alone(data[i:i + CHUNK]) for i in range(0, len(data), CHUNK)]
    out, cur = [], b""
    for msg in data:
        if cur and (isinstance(msg, Alone) or len(cur) + len(msg) > CHUNK):
            out.append(cur)
            cur = b""
        if isinstance(msg, Alone):
            out.append(bytes(msg))
            continue
        cur += msg
    if cur or not out:
        out.append(cur)
    return [f"SELECT osqlite_events_feed(x'{c.hex()}')" for c in out]


def read_back() -> list[str]:
    return [f"SELECT * FROM {t}" for t in S.TABLES] + ["SELECT * FROM syslog"]


# -- audit ----------------------------------------------------------------------

KEYS = ["arch", "syscall", "success", "exit", "a0", "a1", "a2", "a3", "items", "ppid", "pid",
        "auid", "uid", "gid", "euid", "suid", "fsuid", "egid", "sgid", "fsgid", "tty", "ses",
        "comm", "exe", "key", "argc", "a0_len", "a0[0]", "a0[1]", "a1[0]", "a99999999",
        "a2147483648", "a1[99999999999]", "cwd", "item", "name", "inode", "mode", "ouid",
        "ogid", "saddr", "fd", "flags", "msg", "addr", "terminal", "apparmor", "operation",
        "profile", "capability", "sig", "code", "ip", "compat", "nametype", "", "=", "a0[",
        "a[1]", "a0]"]
TYPES = [1100, 1107, 1112, 1199, 1200, 1300, 1302, 1305, 1306, 1307, 1309, 1320, 1323, 1326,
         1327, 1400, 1401, 1417, 1418, 1500, 2100, 1, 2, 3, 1000, 65535]
FIM_NR = [0, 1, 2, 3, 9, 17, 18, 19, 20, 32, 33, 56, 57, 58, 59, 76, 77, 82, 85, 87, 88, 133,
          257, 259, 263, 264, 265, 266, 288, 292, 295, 296, 303, 304, 316, 322, 42, 43, 49]


def value(rng: random.Random) -> str:
    choice = rng.randrange(14)
    if choice == 0:
        return '"' + "".join(rng.choice('ab /."=\\') for _ in range(rng.randrange(40)))
    if choice == 1:
        return rng.choice(["", '"', '""', '"x"', "(null)", "'", "'x", "yes", "no"])
    if choice == 2:
        return "".join(rng.choice("0123456789ABCDEFabcdefxX") for _ in range(rng.randrange(1, 70)))
    if choice == 3:
        return str(rng.choice([0, 1, -1, -115, 2 ** 31, 2 ** 32, 2 ** 63, 2 ** 64, 10 ** 30]))
    if choice == 4:
        return "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(rng.randrange(0, 20)))
    if choice == 5:
        return '"/' + "/".join(rng.choice(["..", ".", "", "a", "b c", "x" * 300])
                               for _ in range(rng.randrange(1, 30))) + '"'
    if choice == 6:
        return "c000003e"
    if choice == 7:
        return '"osqlite"'
    if choice == 8:
        return str(rng.choice(FIM_NR))
    if choice == 9:
        return "02" + "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randrange(0, 40)))
    if choice == 10:
        return "01" + "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randrange(0, 40)))
    if choice == 11:
        return "0A" + "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randrange(0, 70)))
    if choice == 12:
        return str(rng.randrange(0, 20))
    return "".join(chr(rng.randrange(1, 256)) for _ in range(rng.randrange(20)))


NAMES = ['"/a"', '"a"', '"/a/b"', '"../a"', "2F61", "(null)", '"/"', '""', '"a/"']
CWDS = ['"/"', '"/a"', "2F", '""', '"/a/../b"']


def audit_msg(mtype: int, text: str) -> bytes:
    body = text.encode("latin-1")
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


def audit_event(rng: random.Random, serial: int) -> list[bytes]:
    """A syscall event the reader assembles: SYSCALL, child records, EOE,
    with plausible values and random damage."""
    head = f"audit(1700000000.500:{serial}): "
    nr = rng.choice(FIM_NR)
    out = [audit_msg(1300, head + f"arch=c000003e syscall={nr} success="
                     f"{rng.choice(['yes', 'yes', 'no'])} exit={rng.choice([3, 4, 5, 101, -115, 0])} "
                     f"a0={rng.choice(['3', '4', '5', 'ffffff9c', 'zz'])} a1=0 "
                     f"a2={rng.choice(['241', '0', '2', 'x'])} items={rng.randrange(6)} ppid=1 "
                     f"pid={rng.choice([100, 101, 102])} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 "
                     'egid=0 sgid=0 fsgid=0 exe="/bin/x" key="osqlite"')]
    kids = []
    for item in range(rng.randrange(7)):
        name = rng.choice(NAMES)
        kids.append(audit_msg(1302, head + f"item={item} name={name} "
                              f"inode={rng.randrange(5)} nametype=NORMAL"))
    if rng.random() < 0.8:
        kids.append(audit_msg(1307, head + "cwd=" + rng.choice(CWDS)))
    if nr in (59, 322):
        kids.append(audit_msg(1309, head + f"argc={rng.choice([0, 2, 5, 4294967295])} "
                              f'a0="x" a1={value(rng)} a2[0]=41 a2[1]=42 a4[0]=43'))
    if nr in (42, 43, 49, 288):
        kids.append(audit_msg(1306, head + f"saddr={value(rng)}"))
    if nr == 9:
        kids.append(audit_msg(1323, head + f"fd={rng.choice(['3', '4', 'x'])} flags=0x3"))
    rng.shuffle(kids)
    out += kids
    if rng.random() < 0.9:
        out.append(audit_msg(1320, head))
    return out


def audit_corpus(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for serial in range(n // 2):
        out += audit_event(rng, 1000 + serial)
    for _ in range(n // 2):
        mtype = rng.choice(TYPES)
        serial = rng.randrange(8)
        head = rng.choice([f"audit(1700000000.{rng.randrange(1000):03d}:{serial}): ",
                           f"audit(1700000000.100:{serial}): ", "audit(", "audit(1:2)",
                           "", "audit(x.y:z): ", "garbage): "])
        fields = []
        if mtype == 1300 and rng.random() < 0.7:
            fields = [f"arch=c000003e syscall={rng.choice(FIM_NR)} success=yes exit="
                      f"{rng.randrange(-5, 200)} a0={rng.randrange(50):x} a1=0 a2=241 items=2 "
                      f"ppid={rng.randrange(5)} pid={rng.randrange(5)} auid=0 uid=0 gid=0 euid=0 "
                      'suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 exe="/bin/x" key="osqlite"']
        for _ in range(rng.randrange(12)):
            fields.append(f"{rng.choice(KEYS)}={value(rng)}")
        body = (head + " ".join(fields)).encode("latin-1")
        if rng.random() < 0.1:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        if rng.random() < 0.02:
            body = body + b"x" * 9000
        length = 16 + len(body)
        msg = struct.pack("=IHHII", length, mtype, 0, 0, 0) + body
        out.append(msg)
        if rng.random() < 0.03:
            # A message whose length lies takes the rest of its feed: one
            # of those ends a feed of its own.
            lie = rng.choice([0, 3, 15, 16, length + 100, 2 ** 31])
            out.append(Alone(struct.pack("=IHHII", lie, mtype, 0, 0, 0) + body))
    return out


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_audit_records_under_asan(round_):
    rng = random.Random(SEED + 100 * round_)
    sqls = S.create_statements() + ["SELECT osqlite_events_open('audit')"]
    for opt in ("process", "sockets", "fim", "user", "selinux", "apparmor", "seccomp",
                "allow_failed_sockets", "allow_unix", "fim_show_accesses", "fim_show_partial"):
        sqls.append(f"SELECT osqlite_events_set('{opt}', 1)")
    for p in ("/bin/x", "/a", "/a/b", "x", "/", ""):
        sqls.append(f"SELECT osqlite_events_set('fim_path', '{p}')")
    sqls.append("SELECT length(osqlite_audit_rule())")
    sqls += feeds(audit_corpus(rng, 700))
    sqls += ["SELECT osqlite_events_close()"] + read_back()
    out = run_asan(None, *sqls)
    assert "error: SELECT osqlite_events_close()" not in out


# -- inotify ----------------------------------------------------------------------

MASKS = [0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800, 0x4000,
         0x8000, 0x40000100, 0x40000080, 0x40000200, 0xFFFFFFFF, 0]


def inotify_corpus(rng: random.Random, n: int) -> bytes:
    out = []
    for _ in range(n):
        name = rng.choice([b"", b"f", b"sub", b"deep", b"new", b"x" * 255, b"a/b", b"..",
                           bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 40)))])
        ln = (len(name) + 16) // 16 * 16 if name else 0
        if rng.random() < 0.05:
            ln = rng.choice([1, 4096, 2 ** 31, 7])
        out.append(struct.pack("iIII", rng.choice([1, 2, 3, 4, -1, 99, 2 ** 31 - 1]),
                               rng.choice(MASKS) | rng.choice([0, 0x40000000]),
                               rng.randrange(3), ln & 0xFFFFFFFF)
                   + name.ljust(ln if ln < 4096 else 0, b"\0"))
    if rng.random() < 0.5:
        out.append(b"\x01\x02\x03")
    return b"".join(out)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_inotify_events_under_asan(tmp_path, round_):
    rng = random.Random(SEED + 1 + 100 * round_)
    w = tmp_path / "w"
    (w / "sub" / "deep").mkdir(parents=True)
    (w / "f").write_bytes(os.urandom(5000))
    (w / "new").mkdir()
    (w / "new" / "x").write_text("x")
    os.symlink("/etc/shadow", w / "link")
    sqls = S.create_statements() + [
        "SELECT osqlite_events_open('inotify')",
        "SELECT osqlite_events_set('read_max', 4096)",
        "SELECT osqlite_inotify_exclude('/tmp/%/skip')",
        "SELECT osqlite_inotify_exclude('%%')",
        "SELECT osqlite_inotify_exclude('////')",
        f"SELECT osqlite_inotify_watch('c', '{w}/', 4095, 1, NULL, 0)",
        f"SELECT osqlite_inotify_watch('acc', '{w}/sub/', 4095, 0, '*', 1)",
        f"SELECT osqlite_inotify_watch('f', '{w}/f', 4095, 0, '[', 0)",
        "SELECT osqlite_inotify_watch('gone', '/nonexistent/x/', 4095, 1, NULL, 0)",
    ]
    sqls += feeds(inotify_corpus(rng, 3000))
    sqls += ["SELECT osqlite_inotify_clear()"] + feeds(inotify_corpus(rng, 200))
    sqls += ["SELECT osqlite_events_close()"] + read_back()
    run_asan(None, *sqls)


# -- syslog -----------------------------------------------------------------------

def syslog_corpus(rng: random.Random, n: int) -> bytes:
    # Mostly six fields: ten more bad lines than good ones stop the reader
    # (for the rest of its feed; the corpus is fed in small pieces).
    out = []
    for _ in range(n):
        k = rng.randrange(10)
        if k >= 5:
            msg = bytes(rng.choice(b'ab ,"\\\xff\x00\r\t') for _ in range(rng.randrange(30)))
            out.append(b'2024-01-01T00:00:00+00:00,h,6,f,t:,"' + msg.replace(b'"', b'""') + b'"')
            continue
        if k == 0:
            out.append(b"")
        elif k == 1:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(100))).replace(
                b"\n", b""))
        elif k == 2:
            out.append(b'"' * rng.randrange(20) + b"," * rng.randrange(10))
        elif k == 3 and rng.random() < 0.02:          # longer than the reader's buffer
            out.append(b"x" * rng.choice([70000, 65535, 65536]))
        else:
            fields = [rng.choice([b"2024-01-01T00:00:00+00:00", b"host", b"6", b"-1",
                                  b"99999999999999999999", b"daemon", b"tag:", b":", b"",
                                  b'"a, ""b"" c"', b' "unterminated', b"\0nul",
                                  b"\xff\xfe"]) for _ in range(rng.randrange(4, 9))]
            out.append(b",".join(fields))
    return [b"\n".join(out[i:i + 20]) + b"\n" for i in range(0, len(out), 20)]



@pytest.mark.parametrize("round_", range(ROUNDS))
def test_syslog_lines_under_asan(round_):
    rng = random.Random(SEED + 2 + 100 * round_)
    sqls = S.create_statements() + ["SELECT osqlite_events_open('syslog')",
                                    "SELECT osqlite_events_set('rate_limit', 3)"]
    for block in syslog_corpus(rng, 700):
        sqls += feeds(block)
    sqls += ["SELECT osqlite_events_close()"] + read_back()
    run_asan(None, *sqls)
