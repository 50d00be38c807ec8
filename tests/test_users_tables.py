"""users, groups, user_groups, shadow: /etc files parsed without NSS.

Live results are compared with Python's pwd/grp (NSS, files-only on this
host); hostile trees built in tmp_path exercise the parsers directly.
"""
from __future__ import annotations

import grp
import os
import pwd

import pytest
from conftest import rows
from test_osquery_values import glibc_users


def _nss_files_only() -> bool:
    try:
        with open("/etc/nsswitch.conf") as f:
            for line in f:
                parts = line.split("#")[0].split()
                if parts and parts[0] in ("passwd:", "group:"):
                    if any(p not in ("files", "compat", "systemd") for p in parts[1:]):
                        return False
    except OSError:
        pass
    return True


def _s32(v: int) -> int:
    return v - (1 << 32) if v >= (1 << 31) else v


def _tree(tmp_path, files: dict[str, bytes | str]):
    for rel, data in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        p.write_bytes(data)
    return tmp_path


# ---- live ---------------------------------------------------------------

def test_users_live_matches_pwd(conn):
    if not _nss_files_only():
        pytest.skip("NSS has non-file sources; pwd would see more users")
    got = rows(conn, "SELECT * FROM users")
    want = pwd.getpwall()
    assert [r["username"] for r in got] == [p.pw_name for p in want]
    for r, p in zip(got, want):
        assert r["uid"] == p.pw_uid and r["gid"] == p.pw_gid
        assert r["uid_signed"] == _s32(p.pw_uid)
        assert r["gid_signed"] == _s32(p.pw_gid)
        assert r["description"] == p.pw_gecos
        assert r["directory"] == p.pw_dir and r["shell"] == p.pw_shell
        assert r["uuid"] is None


def test_users_pushdown_and_hidden_columns(conn):
    root = rows(conn, "SELECT * FROM users WHERE uid = 0")
    assert len(root) == 1 and root[0]["username"] == pwd.getpwuid(0).pw_name
    by_name = rows(conn, "SELECT uid FROM users WHERE username = ?", root[0]["username"])
    assert by_name == [{"uid": 0}]
    assert rows(conn, "SELECT uid FROM users WHERE uid IN (0, 0)") == [{"uid": 0}]
    assert rows(conn, "SELECT uid FROM users WHERE uid = 987654321") == []
    r = rows(conn, "SELECT pid_with_namespace, include_remote, type, is_hidden "
                   "FROM users WHERE uid = 0")[0]
    # type is Windows' column: '' on Linux, as osquery's missing TEXT columns
    # (osquery/sql/dynamic_table_row.cpp); is_hidden (macOS, INTEGER) is NULL.
    assert r["pid_with_namespace"] == 0 and r["type"] == "" and r["is_hidden"] is None
    # include_remote is accepted: same /etc/passwd rows.
    assert (rows(conn, "SELECT uid FROM users WHERE include_remote = 1")
            == rows(conn, "SELECT uid FROM users"))


def test_groups_live_matches_grp(conn):
    if not _nss_files_only():
        pytest.skip("NSS has non-file sources")
    got = rows(conn, "SELECT gid, gid_signed, groupname FROM groups")
    seen, want = set(), []
    for g in grp.getgrall():
        if g.gr_gid in seen:
            continue
        seen.add(g.gr_gid)
        want.append({"gid": g.gr_gid, "gid_signed": _s32(g.gr_gid), "groupname": g.gr_name})
    assert got == want
    assert rows(conn, "SELECT groupname FROM groups WHERE gid = 0") == [
        {"groupname": grp.getgrgid(0).gr_name}]


def test_user_groups_live_matches_getgrouplist(conn):
    if not _nss_files_only():
        pytest.skip("NSS has non-file sources")
    got = rows(conn, "SELECT uid, gid FROM user_groups")
    want, seen = [], set()
    for p in pwd.getpwall():
        if p.pw_uid in seen:
            continue
        seen.add(p.pw_uid)
        for g in os.getgrouplist(p.pw_name, p.pw_gid):
            want.append({"uid": p.pw_uid, "gid": g})
    assert got == want
    assert rows(conn, "SELECT gid FROM user_groups WHERE uid = 0")[0] == {
        "gid": pwd.getpwuid(0).pw_gid}


# ---- fixtures -----------------------------------------------------------

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "# a comment line\n"
    "\n"
    "+nisuser::::::\n"
    "nobody:x:4294967294:4294967294:Kernel Overflow User,,,:/nonexistent:/usr/sbin/nologin\n"
    "short:x:1:1\n"
    "badid:x:abc:1:x:/:/bin/sh\n"
    "toobig:x:4294967296:1:x:/:/bin/sh\n"
    ":x:5:5::/:/bin/sh\n"
    "alice:x:1000:1000:Alice A,Room 1,,:/home/alice:/bin/zsh\n"
    "dup:x:1000:1001:second 1000:/home/dup:/bin/sh\n"
    "bob:x:1001:100::/home/bob:\n"
    "colons:x:1002:1002:a:b:c:/bin/sh\n"
)
GROUP = (
    "root:x:0:\n"
    "# comment\n"
    "users:x:100:alice,bob\n"
    "wheel:x:10:alice, bob ,,carol\n"
    "alice:x:1000:\n"
    "dupe:x:100:alice\n"
    "nogid:x::alice\n"
    "badgid:x:1x:alice\n"
    "nomembers:x:20\n"
    "audio:x:29:bob,alice\n"
    "nogroup:x:4294967294:\n"
)


def test_users_fixture(conn, root, tmp_path):
    root(_tree(tmp_path, {"etc/passwd": PASSWD, "etc/group": GROUP}))
    got = rows(conn, "SELECT uid, gid, uid_signed, gid_signed, username, "
                     "description, directory, shell FROM users")
    # glibc's fgetpwent_r (osquery's reader) is the oracle.
    assert got == glibc_users(str(tmp_path / "etc/passwd"))
    names = [r["username"] for r in got]
    # Comments and bad ids are skipped; the NIS entry, the short line and
    # the empty name are entries for glibc.  The shell is the rest of the
    # line, colons included.
    assert names == ["root", "+nisuser", "nobody", "short", "", "alice", "dup", "bob",
                     "colons"]
    assert got[-1]["shell"] == "c:/bin/sh"
    nobody = got[2]
    assert nobody["uid"] == 4294967294 and nobody["uid_signed"] == -2
    assert nobody["gid_signed"] == -2
    assert nobody["description"] == "Kernel Overflow User,,,"
    assert got[7]["shell"] == ""
    assert (got[1]["uid"], got[1]["gid"], got[1]["shell"]) == (0, 0, "")
    # uid = N keeps every entry with that uid, in file order (osquery
    # filters its one scan of the file).
    assert rows(conn, "SELECT username FROM users WHERE uid = 1000") == [
        {"username": "alice"}, {"username": "dup"}]
    assert rows(conn, "SELECT uid FROM users WHERE username = 'dup'") == [{"uid": 1000}]


def test_groups_fixture(conn, root, tmp_path):
    root(_tree(tmp_path, {"etc/passwd": PASSWD, "etc/group": GROUP}))
    got = rows(conn, "SELECT gid, gid_signed, groupname FROM groups")
    assert [(r["gid"], r["groupname"]) for r in got] == [
        (0, "root"), (100, "users"), (10, "wheel"), (1000, "alice"),
        (20, "nomembers"), (29, "audio"), (4294967294, "nogroup")]
    assert got[-1]["gid_signed"] == -2
    assert rows(conn, "SELECT groupname FROM groups WHERE gid = 100") == [
        {"groupname": "users"}]


def test_user_groups_fixture(conn, root, tmp_path):
    root(_tree(tmp_path, {"etc/passwd": PASSWD, "etc/group": GROUP}))
    got = [(r["uid"], r["gid"]) for r in rows(conn, "SELECT uid, gid FROM user_groups")]
    # alice: primary 1000, then users(100), wheel(10), dupe(100 again: once),
    # audio(29).  uid 1000 is processed once (dup is skipped).  bob: primary
    # 100 then wheel, audio (users is his primary already).  The NIS entry
    # is not an account; "short" and the empty name are.
    assert got == [(0, 0), (4294967294, 4294967294), (1, 1), (5, 5),
                   (1000, 1000), (1000, 100), (1000, 10), (1000, 29),
                   (1001, 100), (1001, 10), (1001, 29), (1002, 1002)]
    assert rows(conn, "SELECT gid FROM user_groups WHERE uid = 1001") == [
        {"gid": 100}, {"gid": 10}, {"gid": 29}]


def test_hostile_account_files(conn, root, tmp_path):
    huge = "x" * (2 * 1024 * 1024)
    root(_tree(tmp_path, {
        "etc/passwd": (b"\x01\xff\xfe:binary\n" + huge.encode() + b"\n"
                       + b"ok:x:7:7:" + huge.encode() + b":/h:/s\n"
                       + b"\xc3\x28:x:8:8:bad utf8:/:/bin/sh\n"
                       + b"trunc:x:9:9:no newline at end"),
        "etc/group": b"g:x:7:" + b",".join([b"m%d" % i for i in range(50000)]) + b"\n\x00\x01\x02\n",
        "etc/shadow": (b"\xff\xfe\x00garbage\n" + huge.encode() + b"\n"
                       + b"nul:pw:1:2:3:4:5:6:7\x00tail:::\n"
                       + b"fine:pw:1:2:3:4:5:6:7\n"),
    }))
    # The huge second line is too long for fgetpwent_r's buffer: osquery's
    # users scan stops there (so, before it, only the binary line, which
    # glibc rejects).  user_groups reads on.
    users = rows(conn, "SELECT uid FROM users")
    assert users == [{"uid": r["uid"]} for r in glibc_users(str(tmp_path / "etc/passwd"))]
    assert users == []
    assert len(rows(conn, "SELECT * FROM groups")) == 1
    # A NUL byte ends its line, not the file (fgetpwent reads line by line).
    (tmp_path / "etc/passwd").write_bytes(
        b"\x00junk\nroot:x:0:0::/root:/bin/sh\x00tail\nu:x:5:5::/:/bin/sh\n")
    assert [(r["uid"], r["shell"]) for r in rows(conn, "SELECT uid, shell FROM users")] == [
        (0, "/bin/sh"), (5, "/bin/sh")]
    assert [(r["uid"], r["shell"]) for r in glibc_users(str(tmp_path / "etc/passwd"))] == [
        (0, "/bin/sh"), (5, "/bin/sh")]
    assert len(rows(conn, "SELECT * FROM user_groups")) == 2
    # A NUL ends its line: "nul" is parsed from the text before it.
    assert [r["username"] for r in rows(conn, "SELECT username FROM shadow")] == [
        "nul", "fine"]


def test_missing_account_files(conn, root, tmp_path):
    root(tmp_path)
    for t in ("users", "groups", "user_groups", "shadow"):
        assert rows(conn, f"SELECT * FROM {t}") == []
    # passwd present, group missing: user_groups still gives primary gids.
    _tree(tmp_path, {"etc/passwd": PASSWD})
    assert rows(conn, "SELECT gid FROM user_groups WHERE uid = 1000") == [{"gid": 1000}]


SHADOW = (
    "root:$6$salt$hash:19000:0:99999:7:::\n"
    "daemon:*:19000:0:99999:7:::\n"
    "notset:!!:19000::::::\n"
    "locked:!$y$j9T$abc$def:19000:0:99999:7:30:20000:0\n"
    "empty::19000:0:99999:7:::\n"
    "xpw:x:1:2:3:4:5:6:7\n"
    "bcrypt:$2b$10$abcdefg:1:2:3:4:5:6:\n"
    "oldstyle:$1$a$b\n"
    "badnum:pw:12x:0:0:0:::\n"
    "tooshort:pw:1:2\n"
    "dollar:$$x:1:2:3:4:5:6:\n"
    "# comment\n"
)


def test_shadow_fixture(conn, root, tmp_path):
    root(_tree(tmp_path, {"etc/shadow": SHADOW}))
    got = {r["username"]: r for r in rows(conn, "SELECT * FROM shadow")}
    assert list(got) == ["root", "daemon", "notset", "locked", "empty", "xpw",
                         "bcrypt", "oldstyle", "dollar"]
    r = got["root"]
    assert (r["password_status"], r["hash_alg"]) == ("active", "6")
    assert (r["last_change"], r["min"], r["max"], r["warning"]) == (19000, 0, 99999, 7)
    assert (r["inactive"], r["expire"], r["flag"]) == (-1, -1, None)
    assert got["daemon"]["password_status"] == "locked"
    assert got["notset"]["password_status"] == "not_set"
    assert got["notset"]["min"] == -1
    assert got["locked"]["password_status"] == "locked"
    assert got["locked"]["hash_alg"] is None
    assert (got["locked"]["inactive"], got["locked"]["expire"], got["locked"]["flag"]) == (30, 20000, 0)
    assert got["empty"]["password_status"] == "empty"
    assert got["xpw"]["password_status"] == "locked" and got["xpw"]["flag"] == 7
    assert got["bcrypt"]["hash_alg"] == "2b"
    assert got["oldstyle"]["last_change"] == -1 and got["oldstyle"]["hash_alg"] == "1"
    assert got["dollar"]["hash_alg"] is None
    assert [r["username"] for r in rows(
        conn, "SELECT username FROM shadow WHERE username IN ('empty', 'root', 'nope')")] == [
        "root", "empty"]


def test_shadow_live(conn):
    if not os.access("/etc/shadow", os.R_OK):
        pytest.skip("/etc/shadow not readable")
    want = []
    with open("/etc/shadow", encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split(":")
            if len(parts) == 9 and parts[0] and not parts[0].startswith("#"):
                want.append(parts[0])
    got = [r["username"] for r in rows(conn, "SELECT username FROM shadow")]
    assert got == want
