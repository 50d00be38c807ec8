"""Values where osqlite follows osquery 5 exactly, where it used to differ:
etc_hosts' '#' handling, time.local_timezone's buffer, users' NIS lines
and filters (glibc's fgetpwent_r, called through ctypes, is the oracle).
"""
from __future__ import annotations

import ctypes
import os
import time

import pytest
from conftest import rows
from osquery_oracle import osq_split

# ---- etc_hosts -------------------------------------------------------------------

def want_hosts(data: bytes) -> list[dict]:
    """osquery's parseEtcHostsContent (etc_hosts.cpp)."""
    text = b"\n".join(ln.split(b"\0")[0] for ln in data.split(b"\n")).decode("latin-1")
    out = []
    for line in osq_split(text, "\n"):
        tok = osq_split(line, "\t ")
        if not tok or tok[0].startswith("#"):
            continue
        r = {"address": tok[0], "hostnames": None}
        if len(tok) > 1:
            names = []
            for t in tok[1:]:
                if t.startswith("#"):
                    break
                names.append(t)
            r["hostnames"] = " ".join(names)
        out.append(r)
    return out


HOSTS = (b"# comment\n"
         b"127.0.0.1\tlocalhost\n"
         b"10.0.0.1  alpha beta   # trailing comment\n"
         b"10.0.0.2 host#1 other#x  #real comment\n"
         b"10.0.0.3 # only a comment after the address\n"
         b"10.0.0.4#glued name\n"
         b"   # indented comment\n"
         b"::1 gamma\n"
         b"10.0.0.5\n"
         b"\t\t\n"
         b"10.0.0.6 a \x0b b\n"
         b"10.0.0.7 \xff\xfe caf\xe9\n"
         b"10.0.0.8 nul\0 cut\n"
         b"10.0.0.9 after-nul\n")


def test_etc_hosts_hash_inside_names(conn, root, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_bytes(HOSTS)
    root(tmp_path)
    conn.text_factory = lambda b: b.decode("latin-1")
    got = rows(conn, "SELECT address, hostnames FROM etc_hosts")
    assert got == want_hosts(HOSTS)
    by = {r["address"]: r["hostnames"] for r in got}
    assert by["10.0.0.1"] == "alpha beta"
    assert by["10.0.0.2"] == "host#1 other#x"          # '#' inside a name is kept
    assert by["10.0.0.3"] == ""                        # a comment right after: ''
    assert by["10.0.0.4#glued"] == "name"
    assert by["10.0.0.5"] is None
    assert by["10.0.0.6"] == "a  b"                    # the lone \v piece trims to ''
    assert by["10.0.0.8"] == "nul"
    assert by["10.0.0.9"] == "after-nul"


def test_etc_hosts_live(conn):
    try:
        data = open("/etc/hosts", "rb").read()
    except OSError:
        pytest.skip("no /etc/hosts")
    conn.text_factory = lambda b: b.decode("latin-1")
    assert rows(conn, "SELECT address, hostnames FROM etc_hosts") == want_hosts(data)


# ---- time.local_timezone ------------------------------------------------------------

@pytest.fixture
def tz():
    old = os.environ.get("TZ")

    def use(value: str) -> None:
        os.environ["TZ"] = value
        time.tzset()

    yield use
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("zone,want", [
    ("UTC0", "UTC"),
    ("EST5EDT,M3.2.0,M11.1.0", None),     # EST or EDT, as strftime says
    ("<+0530>-5:30", "+0530"),            # 5 characters
    ("<+053012>-5:30:12", "+053012"),     # 7: the most osquery's 8-byte buffer holds
    ("ABCDEFG-3", "ABCDEFG"),
    ("<ABCDEFGH>-3", "UTC"),              # 8: strftime fails, osquery says UTC
])
def test_local_timezone(conn, tz, zone, want):
    tz(zone)
    got = rows(conn, "SELECT local_timezone, timezone FROM time")[0]
    expect = want if want is not None else time.strftime("%Z", time.localtime())
    assert got == {"local_timezone": expect, "timezone": "UTC"}


# ---- users: glibc's fgetpwent_r -----------------------------------------------------

class Passwd(ctypes.Structure):
    _fields_ = [("pw_name", ctypes.c_char_p), ("pw_passwd", ctypes.c_char_p),
                ("pw_uid", ctypes.c_uint32), ("pw_gid", ctypes.c_uint32),
                ("pw_gecos", ctypes.c_char_p), ("pw_dir", ctypes.c_char_p),
                ("pw_shell", ctypes.c_char_p)]


LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.fopen.restype = ctypes.c_void_p
LIBC.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
LIBC.fclose.argtypes = [ctypes.c_void_p]
LIBC.fgetpwent_r.argtypes = [ctypes.c_void_p, ctypes.POINTER(Passwd), ctypes.c_char_p,
                             ctypes.c_size_t, ctypes.POINTER(ctypes.POINTER(Passwd))]
LIBC.sysconf.restype = ctypes.c_long
_SC_GETPW_R_SIZE_MAX = 70


def glibc_users(path: str) -> list[dict]:
    """osquery's genUsersImplLocal: fgetpwent_r with a sysconf-sized
    buffer, stopping at the first error (a line too long for it)."""
    bufsize = LIBC.sysconf(_SC_GETPW_R_SIZE_MAX)
    if bufsize < 0 or bufsize > 16384:
        bufsize = 16384
    buf = ctypes.create_string_buffer(bufsize)
    f = LIBC.fopen(path.encode(), b"r")
    assert f
    out = []
    try:
        pw, res = Passwd(), ctypes.POINTER(Passwd)()
        while True:
            ret = LIBC.fgetpwent_r(f, ctypes.byref(pw), buf, bufsize, ctypes.byref(res))
            if ret != 0 or not res:
                break
            p = res.contents

            def s(v):
                return None if v is None else v.decode("latin-1")
            out.append({"uid": p.pw_uid, "gid": p.pw_gid,
                        "uid_signed": ctypes.c_int32(p.pw_uid).value,
                        "gid_signed": ctypes.c_int32(p.pw_gid).value,
                        "username": s(p.pw_name), "description": s(p.pw_gecos),
                        "directory": s(p.pw_dir), "shell": s(p.pw_shell)})
    finally:
        LIBC.fclose(f)
    return out


PASSWD = (b"root:x:0:0:root:/root:/bin/bash\n"
          b"+\n"
          b"+:\n"
          b"-baduser\n"
          b"+netgroup::::::\n"
          b"+@admins:x:::Admins:/home/admins:/bin/zsh\n"
          b"-excluded:*:1005:1005:::\n"
          b"+x:x\n"
          b"+y:x::\n"
          b"short:x:1001:1001\n"
          b"  spaced:x:1002:1002:Spaced Out:/home/spaced:/bin/sh\n"
          b"#comment:x:1:1::/:/bin/false\n"
          b"signed:x:-1:+7:neg:/:/bin/false\n"
          b"huge:x:99999999999:4294967295::/:\n"
          b"max:x:4294967295:+7::/:\n"
          b"hex:x:0x10:1::/:\n"
          b"colon:x:1003:1003:a:b:c:d\n"
          b"noshell:x:1004:1004:gecos:/home/n\n"
          b"bad:x:12a:1::/:\n"
          b":x:1006:1006::/:/bin/sh\n"
          b"dup:x:1007:1007:first:/:/bin/sh\n"
          b"dup:x:1007:1007:second:/:/bin/sh\n"
          b"nul:x:1008:1008:before\0after:/:/bin/sh\n"
          b"latin:x:1009:1009:caf\xe9:/home/caf\xe9:/bin/sh\n"
          b"\n"
          b"last:x:1010:1010::/:/bin/sh")


@pytest.fixture
def passwd(root, tmp_path):
    def make(data: bytes = PASSWD):
        (tmp_path / "etc").mkdir(exist_ok=True)
        (tmp_path / "etc/passwd").write_bytes(data)
        root(tmp_path)
        return str(tmp_path / "etc/passwd")
    return make


COLS = "uid, gid, uid_signed, gid_signed, username, description, directory, shell"


def test_users_match_glibc(conn, passwd):
    path = passwd()
    conn.text_factory = lambda b: b.decode("latin-1")
    got = rows(conn, f"SELECT {COLS} FROM users")
    assert got == glibc_users(path)
    names = [r["username"] for r in got]
    # The NIS compat lines glibc passes through (uid 0 and NULL fields for
    # a bare "+"), and the ones it rejects ("+x:x", "+y:x::").
    assert names[:6] == ["root", "+", "+", "-baduser", "+netgroup", "+@admins"]
    assert "+x" not in names and "+y" not in names
    plus = got[1]
    assert (plus["uid"], plus["gid"], plus["description"], plus["directory"], plus["shell"]) \
        == (0, 0, None, None, None)
    assert got[5] == {"uid": 0, "gid": 0, "uid_signed": 0, "gid_signed": 0,
                      "username": "+@admins", "description": "Admins",
                      "directory": "/home/admins", "shell": "/bin/zsh"}
    by = {r["username"]: r for r in got}
    assert by["short"]["shell"] == "" and by["short"]["directory"] == ""
    assert by["spaced"]["uid"] == 1002                      # leading blanks skipped
    # glibc 2.36 rejects ids that do not fit 32 bits, negative ones included.
    assert "signed" not in by and "huge" not in by
    assert (by["max"]["uid"], by["max"]["uid_signed"], by["max"]["gid"]) == (4294967295, -1, 7)
    assert by["colon"]["shell"] == "c:d"
    assert by["nul"]["description"] == "before"
    assert "hex" not in by and "bad" not in by and "#comment" not in by
    assert [r["description"] for r in got if r["username"] == "dup"] == ["first", "second"]
    assert names[-1] == "last"


def test_users_filters_scan_the_file(conn, passwd):
    path = passwd()
    everyone = glibc_users(path)
    conn.text_factory = lambda b: b.decode("latin-1")
    # osquery filters its one file scan: every matching entry, file order.
    got = rows(conn, f"SELECT {COLS} FROM users WHERE uid = 0")
    assert got == [r for r in everyone if r["uid"] == 0]
    assert len(got) > 1
    got = rows(conn, f"SELECT {COLS} FROM users WHERE uid IN (1007, 1002)")
    assert got == [r for r in everyone if r["uid"] in (1007, 1002)]
    got = rows(conn, f"SELECT {COLS} FROM users WHERE username IN ('dup', '+')")
    assert got == [r for r in everyone if r["username"] in ("dup", "+")]
    # username wins over uid when both are given (then SQLite re-checks uid).
    got = rows(conn, f"SELECT {COLS} FROM users WHERE username = 'root' AND uid = 0")
    assert [r["username"] for r in got] == ["root"]


def test_users_overlong_line_ends_the_scan(conn, passwd):
    bufsize = LIBC.sysconf(_SC_GETPW_R_SIZE_MAX)
    if bufsize <= 0 or bufsize > 16384:
        bufsize = 16384
    data = (b"a:x:1:1::/:/bin/sh\n"
            b"long:x:2:2:" + b"g" * bufsize + b":/:/bin/sh\n"
            b"after:x:3:3::/:/bin/sh\n")
    path = passwd(data)
    got = rows(conn, "SELECT username FROM users")
    assert got == [{"username": r["username"]} for r in glibc_users(path)]
    assert got == [{"username": "a"}]


def test_users_live_matches_glibc(conn):
    if not os.path.exists("/etc/passwd"):
        pytest.skip("no /etc/passwd")
    conn.text_factory = lambda b: b.decode("latin-1")
    assert rows(conn, f"SELECT {COLS} FROM users") == glibc_users("/etc/passwd")


def test_users_nis_lines_stay_out_of_per_user_tables(conn, passwd, tmp_path):
    # A "+" entry has uid 0 and no home: per-user tables scanning uid 0
    # must not try a NULL directory (they take only real entries).
    passwd()
    got = rows(conn, "SELECT uid FROM shell_history WHERE uid = 0")
    assert all(r["uid"] == 0 for r in got)
    got = rows(conn, "SELECT uid, gid FROM user_groups WHERE uid = 0")
    assert got == [{"uid": 0, "gid": 0}]

