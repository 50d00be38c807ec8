"""ssh_configs and user_ssh_keys.  Keys are made here with ssh-keygen and
openssl; oracles: ssh-keygen -y (is a passphrase needed?), and OpenSSL's
own EVP_PKEY getters called through ctypes on the same files; Python
reading the same config files.  Hostile entries in ~/.ssh: FIFOs,
directories, link loops, truncated and binary files, non-UTF-8 names.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from asan_helper import run_asan
from conftest import rows
from test_packages import write

SSH_CONFIG = """\
# global
Include /etc/ssh/ssh_config.d/*.conf
  Compression YES
Host github.com  gitlab.com
    User Git
\tIdentityFile ~/.ssh/ID_work
Host\tTabbed
    Port 2222
MATCH host *.internal exec "true"
    ProxyJump Bastion

Hostname trap.example
"""


def python_ssh_config(path: Path, uid: int, name: str) -> list[dict]:
    """The documented rules, applied in Python to the same file."""
    out, block = [], ""
    for line in path.read_text().split("\n"):
        line = line.strip().lower()
        if not line or line.startswith("#"):
            continue
        if line.startswith("host ") or line.startswith("match "):
            block = line
            continue
        out.append({"uid": uid, "block": block, "option": line, "ssh_config_file": name})
    return out


def passwd(tmp_path: Path) -> None:
    write(tmp_path / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
          "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
          "bob:x:1001:1001::/home/bob/:/bin/sh\n")


def test_ssh_configs(conn, root, tmp_path):
    passwd(tmp_path)
    write(tmp_path / "home/alice/.ssh/config", SSH_CONFIG)
    write(tmp_path / "home/bob/.ssh/config", b"Host b\xff\n  User \xfe\x00x\n")
    write(tmp_path / "etc/ssh/ssh_config", "Host *\n    SendEnv LANG LC_*\n")
    root(tmp_path)
    got = rows(conn, "SELECT * FROM ssh_configs WHERE uid = 1000")
    assert got == python_ssh_config(tmp_path / "home/alice/.ssh/config", 1000,
                                    "/home/alice/.ssh/config")
    assert got[2]["block"] == "host github.com  gitlab.com"
    assert {"uid": 1000, "block": "host github.com  gitlab.com", "option": "host\ttabbed",
            "ssh_config_file": "/home/alice/.ssh/config"} in got
    # The system file is always read, as uid 0.
    every = rows(conn, "SELECT u.username, c.uid, c.option FROM users u "
                       "JOIN ssh_configs c USING (uid) WHERE u.uid IN (0, 1000)")
    assert [(r["username"], r["option"]) for r in every if r["uid"] == 0] == \
        [("root", "sendenv lang lc_*")]
    assert {r["username"] for r in every} == {"root", "alice"}
    raw = conn.execute("SELECT CAST(block AS BLOB), CAST(option AS BLOB), ssh_config_file "
                       "FROM ssh_configs WHERE uid = 1001").fetchall()
    # bob's home ends in '/': no doubled separator.
    assert raw == [(b"host b\xff", b"user \xfe\x00x", "/home/bob/.ssh/config")]


def test_ssh_configs_live(conn):
    path = Path("/etc/ssh/ssh_config")
    if not path.is_file():
        pytest.skip("no /etc/ssh/ssh_config on this machine")
    got = [r for r in rows(conn, "SELECT * FROM ssh_configs") if r["uid"] == 0
           and r["ssh_config_file"] == str(path)]
    assert got == python_ssh_config(path, 0, str(path))


class Libcrypto:
    """OpenSSL's getters through ctypes: the oracle for key type, size and
    curve, called on the same file."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("crypto")
        if not name:
            pytest.skip("no libcrypto for the oracle")
        c = ctypes.CDLL(name)
        c.BIO_new_mem_buf.restype = ctypes.c_void_p
        c.BIO_new_mem_buf.argtypes = [ctypes.c_char_p, ctypes.c_int]
        c.PEM_read_bio_PrivateKey.restype = ctypes.c_void_p
        c.PEM_read_bio_PrivateKey.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                              ctypes.c_void_p, ctypes.c_void_p]
        for f in ("EVP_PKEY_get_base_id", "EVP_PKEY_get_bits", "EVP_PKEY_get_security_bits"):
            getattr(c, f).argtypes = [ctypes.c_void_p]
        c.EVP_PKEY_get_group_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                              ctypes.c_size_t, ctypes.c_void_p]
        c.EVP_PKEY_free.argtypes = [ctypes.c_void_p]
        c.BIO_free.argtypes = [ctypes.c_void_p]
        self.c = c

    def describe(self, data: bytes):
        c = self.c
        bio = c.BIO_new_mem_buf(data, len(data))
        # A passphrase callback that is asked refuses: with NULL and no
        # terminal, OpenSSL fails the same way for an encrypted key.
        cb_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                   ctypes.c_int, ctypes.c_void_p)
        asked = []
        cb = cb_type(lambda *a: (asked.append(1), -1)[1])
        pkey = c.PEM_read_bio_PrivateKey(bio, None, ctypes.cast(cb, ctypes.c_void_p), None)
        c.BIO_free(bio)
        if not pkey:
            return None, bool(asked)
        buf = ctypes.create_string_buffer(64)
        n = ctypes.c_size_t(0)
        group = buf.raw[:n.value].decode() if c.EVP_PKEY_get_group_name(
            pkey, buf, 64, ctypes.byref(n)) == 1 else ""
        out = (c.EVP_PKEY_get_base_id(pkey), c.EVP_PKEY_get_bits(pkey),
               c.EVP_PKEY_get_security_bits(pkey), group)
        c.EVP_PKEY_free(pkey)
        return out, bool(asked)


TYPES = {6: "rsa", 116: "dsa", 28: "dh", 408: "ec", 855: "hmac", 894: "cmac"}


def make_keys(d: Path, owner: int = 1000) -> None:
    """Private keys as ssh-keygen writes them (0600), owned by the user
    whose ~/.ssh this is: the table reads them with that user's rights."""
    d.mkdir(parents=True, exist_ok=True)

    def keygen(name: str, *args: str) -> None:
        subprocess.run(["ssh-keygen", "-q", "-f", str(d / name), *args], check=True,
                       capture_output=True)

    keygen("id_rsa", "-t", "rsa", "-b", "2048", "-N", "")
    keygen("id_rsa_pem", "-t", "rsa", "-b", "3072", "-m", "PEM", "-N", "")
    keygen("id_ecdsa_p8", "-t", "ecdsa", "-b", "384", "-m", "PKCS8", "-N", "")
    keygen("id_ed25519_enc", "-t", "ed25519", "-N", "correct horse")
    keygen("id_rsa_pem_enc", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "correct horse")
    keygen("id_ecdsa_p8_enc", "-t", "ecdsa", "-m", "PKCS8", "-N", "correct horse")
    if shutil.which("openssl"):
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                        str(d / "ed25519.pem")], check=True, capture_output=True)
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-out",
                        str(d / "ec_traditional.pem")], check=True, capture_output=True)
    if os.geteuid() == 0:
        for p in [d, *d.iterdir()]:
            os.chown(p, owner, owner)


def hostile_ssh_dir(d: Path) -> None:
    write(d / "config", "Host x\n")
    write(d / "known_hosts", "github.com ssh-ed25519 AAAA\n")
    os.mkfifo(d / "fifo_key")
    (d / "subdir").mkdir()
    os.symlink("loop", d / "loop")
    write(d / "truncated", (d / "id_rsa_pem").read_bytes()[:200])
    write(d / "garbage", bytes(range(256)) * 64)
    write(d / "openssh_header_only", b"-----BEGIN OPENSSH PRIVATE KEY-----")
    write(d / "openssh_short", b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn")
    write(d / b"caf\xe9".decode("latin-1"), b"not a key")
    with open(d / "huge", "wb") as f:
        f.truncate(60 * 1024 * 1024)   # above osquery's read_max: skipped


def test_user_ssh_keys(conn, root, tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is not installed (Debian package openssh-client)")
    lib = Libcrypto()
    passwd(tmp_path)
    d = tmp_path / "home/alice/.ssh"
    make_keys(d)
    hostile_ssh_dir(d)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM users JOIN user_ssh_keys USING (uid) WHERE uid = 1000")
    by_path = {r["path"]: r for r in got}
    assert [r["path"] for r in got] == sorted(by_path)
    keys = sorted(p.name for p in d.iterdir() if p.name.startswith(("id_", "ed", "ec"))
                  and not p.name.endswith(".pub"))
    want_paths = [f"/home/alice/.ssh/{k}" for k in keys] + ["/home/alice/.ssh/openssh_header_only",
                                                            "/home/alice/.ssh/openssh_short"]
    assert sorted(by_path) == sorted(want_paths)
    for k in keys:
        r = by_path[f"/home/alice/.ssh/{k}"]
        data = (d / k).read_bytes()
        # Independent oracle for "encrypted": can ssh-keygen read it
        # without a passphrase?
        desc, asked = lib.describe(data)
        if k.startswith("id_"):
            os.chmod(d / k, 0o600)
            needs_pass = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(d / k)],
                                        capture_output=True).returncode != 0
        else:
            # Made by openssl (ssh-keygen cannot read PKCS#8 ed25519): did
            # OpenSSL ask for a passphrase?
            needs_pass = asked
        assert r["encrypted"] == int(needs_pass), k
        if desc is None:
            assert (r["key_type"], r["key_group_name"], r["key_length"],
                    r["key_security_bits"]) == ("", "", -1, -1), k
        else:
            kid, bits, sec, group = desc
            assert (r["key_type"], r["key_length"], r["key_security_bits"],
                    r["key_group_name"]) == (TYPES.get(kid, ""), bits, sec, group), k
        assert r["uid"] == 1000 and r["username"] == "alice"
    assert by_path["/home/alice/.ssh/id_rsa_pem"]["key_length"] == 3072
    assert by_path["/home/alice/.ssh/id_ecdsa_p8"]["key_group_name"] == "secp384r1"
    assert by_path["/home/alice/.ssh/openssh_header_only"]["encrypted"] == 1
    assert by_path["/home/alice/.ssh/openssh_short"]["encrypted"] == 1
    # The spec example.
    plain = rows(conn, "select * from users join user_ssh_keys using (uid) where encrypted = 0")
    assert {r["path"] for r in plain} == {p for p, r in by_path.items() if r["encrypted"] == 0}
    # Without a uid constraint only the current user (root here) is scanned.
    assert rows(conn, "SELECT * FROM user_ssh_keys") == []


def test_user_ssh_keys_canonical_dir(conn, root, tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is not installed (Debian package openssh-client)")
    passwd(tmp_path)
    real = tmp_path / "home/alice/dotfiles/ssh"
    make_keys(real)
    (tmp_path / "home/alice").mkdir(exist_ok=True)
    os.symlink("dotfiles/ssh", tmp_path / "home/alice/.ssh")
    root(tmp_path)
    got = rows(conn, "SELECT path FROM user_ssh_keys WHERE uid = 1000 AND path LIKE '%id_rsa'")
    # osquery's glob canonicalises the directory: the link is resolved.
    assert got == [{"path": "/home/alice/dotfiles/ssh/id_rsa"}]


def test_ssh_tables_under_sanitizers(tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is not installed (Debian package openssh-client)")
    passwd(tmp_path)
    d = tmp_path / "home/alice/.ssh"
    make_keys(d)
    hostile_ssh_dir(d)
    (d / "huge").unlink()
    write(d / "config", SSH_CONFIG + "\x00\xff\nHost\n" + "x" * 100000)
    run_asan(tmp_path, "SELECT * FROM user_ssh_keys WHERE uid IN (0, 1000, 1001)",
             "SELECT * FROM ssh_configs WHERE uid IN (0, 1000, 1001)")
