"""Per-user tables (user_data scoping) and crontab, against fixture trees.

Trees are built in tmp_path; expectations come from independent Python
parsing of the same files (written here, not by the C code).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import rows

ME = os.getuid()


def make_home_tree(base: Path) -> Path:
    """A root with etc/passwd: the current user (as 'me'), alice 1000,
    bob 1001 (no home dir on disk), carol 1002 sharing uid with nobody."""
    (base / "etc").mkdir(parents=True)
    (base / "etc/passwd").write_text(
        f"me:x:{ME}:{ME}:Me:/home/me:/bin/bash\n"
        "alice:x:1000:1000:Alice:/home/alice:/bin/zsh\n"
        "# comment\n"
        "bob:x:1001:1001::/home/bob:/bin/sh\n"
        "broken line without colons\n"
        "carol:x:1002:1002::/home/carol/:/bin/sh\n"
    )
    for user in ("me", "alice", "carol"):
        (base / "home" / user).mkdir(parents=True)
    return base


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


# ---------------------------------------------------------------- shell_history

def test_shell_history_current_user_only(conn, root, tmp_path):
    base = make_home_tree(tmp_path)
    write(base / "home/me/.bash_history", "ls -la\n#1700000000\nmake\necho hi\n")
    write(base / "home/alice/.bash_history", "alice-cmd\n")
    root(base)
    got = rows(conn, "SELECT uid, time, command, history_file FROM shell_history")
    assert got == [
        {"uid": ME, "time": 0, "command": "ls -la", "history_file": "/home/me/.bash_history"},
        {"uid": ME, "time": 1700000000, "command": "make", "history_file": "/home/me/.bash_history"},
        {"uid": ME, "time": 0, "command": "echo hi", "history_file": "/home/me/.bash_history"},
    ]


def test_shell_history_formats(conn, root, tmp_path):
    base = make_home_tree(tmp_path)
    write(base / "home/alice/.zsh_history",
          ": 1600000000:0;git status\n"
          ":   1600000001:12;echo a;b\n"
          ": 123456789012:0;too many digits\n"
          ": 1600000002:0;with cr\r\n"
          "plain\n"
          "\n"
          "last line without newline")
    # Two bash timestamps in a row: the second one is the command.
    write(base / "home/alice/.history", "#100\n#200\nx\n")
    write(base / "home/alice/.bash_sessions/b.history", "sess-b\n")
    write(base / "home/alice/.bash_sessions/a.history", "sess-a\n")
    write(base / "home/alice/.bash_sessions/ignored.txt", "no\n")
    root(base)
    got = rows(conn, "SELECT time, command, history_file FROM shell_history WHERE uid = 1000")
    expect = [
        (1600000000, "git status", ".zsh_history"),
        (1600000001, "echo a;b", ".zsh_history"),
        (0, ": 123456789012:0;too many digits", ".zsh_history"),
        (0, ": 1600000002:0;with cr\r", ".zsh_history"),
        (0, "plain", ".zsh_history"),
        (0, "", ".zsh_history"),
        (0, "last line without newline", ".zsh_history"),
        (100, "#200", ".history"),
        (0, "x", ".history"),
        (0, "sess-a", ".bash_sessions/a.history"),
        (0, "sess-b", ".bash_sessions/b.history"),
    ]
    assert [(r["time"], r["command"], r["history_file"]) for r in got] == [
        (t, c, "/home/alice/" + f) for t, c, f in expect]


def test_shell_history_binary_garbage(conn, root, tmp_path):
    base = make_home_tree(tmp_path)
    blob = bytes(range(256)) * 64 + b"\x00\x00tail"
    huge = b"A" * (2 * 1024 * 1024)
    write(base / "home/me/.bash_history", blob)
    write(base / "home/me/.sh_history", huge + b"\n#1\n")
    root(base)
    got = rows(conn, "SELECT length(CAST(command AS BLOB)) AS n, history_file "
                     "FROM shell_history")
    # Lines are split only on '\n'; NUL bytes stay inside the command.
    expect_lines = blob.split(b"\n")
    bash = [r for r in got if r["history_file"].endswith(".bash_history")]
    assert [r["n"] for r in bash] == [len(x) for x in expect_lines]
    sh = [r for r in got if r["history_file"].endswith(".sh_history")]
    assert [r["n"] for r in sh] == [len(huge)]   # the dangling "#1" is no row


def test_shell_history_all_users_via_join(conn, root, tmp_path):
    base = make_home_tree(tmp_path)
    write(base / "home/me/.bash_history", "mine\n")
    write(base / "home/alice/.zsh_history", "hers\n")
    write(base / "home/carol/.ash_history", "carols\n")
    root(base)
    # The uid list as the users table would give it (independent of C).
    sql = ("WITH u(uid) AS (VALUES (%d), (1000), (1001), (1002), (4242)) "
           "SELECT u.uid, h.command, h.history_file FROM u JOIN shell_history h USING (uid) "
           "ORDER BY u.uid" % ME)
    got = [(r["uid"], r["command"], r["history_file"]) for r in rows(conn, sql)]
    assert (1000, "hers", "/home/alice/.zsh_history") in got
    assert (1002, "carols", "/home/carol/.ash_history") in got   # no doubled '/'
    assert (ME, "mine", "/home/me/.bash_history") in got
    assert len(got) == 3
    # IN lists arrive whole.
    got = rows(conn, "SELECT DISTINCT uid FROM shell_history WHERE uid IN (1000, 1002) ORDER BY uid")
    assert [r["uid"] for r in got] == [1000, 1002]


def test_shell_history_join_users_table(conn, root, tmp_path):
    try:
        conn.execute("SELECT * FROM users LIMIT 0")
    except Exception:
        pytest.skip("users table not in this build")
    base = make_home_tree(tmp_path)
    write(base / "home/me/.bash_history", "mine\n")
    write(base / "home/alice/.zsh_history", "hers\n")
    root(base)
    got = rows(conn, "SELECT username, command FROM users JOIN shell_history USING (uid) "
                     "ORDER BY username")
    assert [(r["username"], r["command"]) for r in got] == [("alice", "hers"), ("me", "mine")]


def test_user_data_without_passwd(conn, root, tmp_path):
    root(tmp_path)   # no etc/passwd: nobody to scan, no error
    for t in ("shell_history", "authorized_keys", "known_hosts", "chrome_extensions",
              "firefox_addons"):
        assert rows(conn, f"SELECT * FROM {t}") == []


# ------------------------------------------------------------- authorized_keys

def py_authorized_keys(text: str):
    """An independent reading of osquery's rules."""
    types = ["ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com",
             "sk-ssh-ed25519@openssh.com"]
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = False
        for t in types:
            pos = line.find(t)
            if pos < 0:
                continue
            end = pos + len(t)
            if end >= len(line) or line[end] not in " \t":
                continue
            found = True
            rest = line[end:].lstrip(" \t")
            if not rest:
                break
            opts = line[:pos].rstrip(" \t") if pos > 0 else None
            key = rest
            comment = None
            for i, ch in enumerate(rest):
                if ch in " \t":
                    key = rest[:i]
                    comment = rest[i:].lstrip(" \t")
                    break
            out.append({"algorithm": t, "key": key, "options": opts, "comment": comment})
            break
        if not found and any(o.strip().startswith("zos-key-ring-label=")
                             for o in line.split(",")):
            out.append({"algorithm": None, "key": None, "options": line, "comment": None})
    return out


AUTH_KEYS = (
    "# comment\n"
    "ssh-rsa AAAAB3NzaC1yc2E user@host\n"
    "   ssh-ed25519 AAAAC3NzaC1lZDI1NTE5   two  words comment  \n"
    'command="echo hello world",no-pty,from="10.0.0.1" ecdsa-sha2-nistp256 AAAAE2Vj tag\n'
    "ssh-dss AAAAB3NzaC1kc3M dsa-is-ignored\n"
    "sk-ssh-ed25519@openssh.com AAAAGnNr\n"
    "ssh-rsa\n"
    "ssh-rsa-cert-v01@openssh.com AAAA cert-not-recognised\n"
    'zos-key-ring-label="KeyRingOwner/SSHAuthKeysRing uniq-ssh-rsa"\n'
    "\n"
    "garbage \x01\x02 line\n"
    # osquery does not parse quotes: a key type inside a quoted option wins.
    'command="ssh-rsa x" ssh-ed25519 AAAAC3 quirk\n'
)


def test_authorized_keys(conn, root, tmp_path):
    base = make_home_tree(tmp_path)
    write(base / "home/me/.ssh/authorized_keys", AUTH_KEYS)
    write(base / "home/me/.ssh/authorized_keys2", "ssh-rsa BBBB second-file\n")
    root(base)
    got = rows(conn, "SELECT uid, algorithm, key, options, comment, key_file FROM authorized_keys")
    expect = py_authorized_keys(AUTH_KEYS)
    assert len(expect) == 6
    assert expect[-1] == {"algorithm": "ssh-rsa", "key": 'x"', "options": 'command="',
                          "comment": "ssh-ed25519 AAAAC3 quirk"}
    assert [{k: r[k] for k in ("algorithm", "key", "options", "comment")} for r in got[:-1]] == expect
    assert got[1]["comment"] == "two  words comment"
    assert got[2]["options"] == 'command="echo hello world",no-pty,from="10.0.0.1"'
    assert all(r["algorithm"] != "ssh-dss" for r in got)
    assert got[-1] == {"uid": ME, "algorithm": "ssh-rsa", "key": "BBBB", "options": None,
                       "comment": "second-file", "key_file": "/home/me/.ssh/authorized_keys2"}
    assert {r["key_file"] for r in got[:-1]} == {"/home/me/.ssh/authorized_keys"}


def test_authorized_keys_hostile(conn, root, tmp_path):
    base = make_home_tree(tmp_path)
    write(base / "home/me/.ssh/authorized_keys",
          b"ssh-rsa " + b"K" * (1024 * 1024) + b" c\n" + bytes(range(256)) * 100)
    os.makedirs(base / "home/me/.ssh/authorized_keys2")   # a directory: unreadable
    root(base)
    got = rows(conn, "SELECT key, comment FROM authorized_keys")
    assert len(got) == 1 and len(got[0]["key"]) == 1024 * 1024 and got[0]["comment"] == "c"


# ----------------------------------------------------------------- known_hosts

def test_known_hosts(conn, root, tmp_path):
    base = make_home_tree(tmp_path)
    text = ("# comment\n"
            "github.com ssh-ed25519 AAAAC3Nz\n"
            "  |1|abc=|def= ecdsa-sha2-nistp256 AAAAE2  \n"
            "\n"
            "@cert-authority *.example.com ssh-rsa AAAAB3\n")
    write(base / "home/alice/.ssh/known_hosts", text)
    write(base / "home/me/.ssh/known_hosts", "mine ssh-rsa X\n")
    root(base)
    got = rows(conn, "SELECT uid, key, key_file FROM known_hosts WHERE uid = 1000")
    expect = [l.strip() for l in text.split("\n") if l.strip() and not l.strip().startswith("#")]
    assert [r["key"] for r in got] == expect
    assert {r["key_file"] for r in got} == {"/home/alice/.ssh/known_hosts"}
    got = rows(conn, "SELECT uid, key FROM known_hosts")
    assert got == [{"uid": ME, "key": "mine ssh-rsa X"}]


# --------------------------------------------------------------------- crontab

def py_crontab(path: str, text: str):
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = line.replace("\t", " ").split()
        if f[0].startswith("@"):
            if len(f) < 2:
                continue
            out.append((f[0], None, None, None, None, None, " ".join(f[1:]), path))
        else:
            if len(f) < 6:
                continue
            out.append((None, *f[:5], " ".join(f[5:]), path))
    return out


def test_crontab(conn, root, tmp_path):
    files = {
        "etc/crontab": "SHELL=/bin/sh\nPATH=/usr/bin\n# m h dom mon dow user command\n"
                       "17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n"
                       "@reboot root /usr/bin/boot-thing --flag\n@daily\n",
        "etc/cron.d/b-job": "*/5 * * * * nobody /bin/true   x\n",
        "etc/cron.d/a-job": "  0 0 1 1 0 root  echo 'a  b'\n",
        "etc/cron.d/.hidden": "* * * * * root hidden\n",
        "var/spool/cron/crontabs/alice": "MAILTO=x\n30 2 * * 1-5 /home/alice/backup.sh\n",
        "var/spool/cron/root": "1 2 3 4 5 spool-root\n",
    }
    for rel, text in files.items():
        write(tmp_path / rel, text)
    (tmp_path / "etc/cron.d/subdir").mkdir()
    root(tmp_path)
    got = [tuple(r.values()) for r in rows(
        conn, "SELECT event, minute, hour, day_of_month, month, day_of_week, command, path "
              "FROM crontab")]
    expect = []
    for rel in ["etc/crontab", "etc/cron.d/a-job", "etc/cron.d/b-job", "var/spool/cron/root",
                "var/spool/cron/crontabs/alice"]:
        expect += py_crontab("/" + rel, files[rel])
    assert got == expect
    assert got[0][6] == "root cd / && run-parts --report /etc/cron.hourly"


def test_crontab_hostile(conn, root, tmp_path):
    write(tmp_path / "etc/crontab", b"* * * * * " + b"x " * 300000 + b"\n" + bytes(range(256)) * 50)
    write(tmp_path / "etc/cron.d/empty", b"")
    root(tmp_path)
    got = rows(conn, "SELECT command FROM crontab")
    assert len(got[0]["command"]) == len("x " * 300000) - 1
    root(tmp_path / "nonexistent")
    assert rows(conn, "SELECT * FROM crontab") == []


def test_crontab_live(conn):
    got = rows(conn, "SELECT path FROM crontab")
    if os.access("/etc/crontab", os.R_OK):
        expect = py_crontab("/etc/crontab", Path("/etc/crontab").read_text(errors="replace"))
        assert [r for r in got if r["path"] == "/etc/crontab"] == [{"path": "/etc/crontab"}] * len(expect)
