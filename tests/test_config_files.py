"""Configuration-file tables: yum_sources, carbon_black_info,
startup_items, npm_packages.  Oracles: Python's configparser and json
reading the same files, os.stat/os.walk over the same trees; fixture trees
under OSQLITE_ROOT with hostile files (continuation lines, duplicates,
binary and non-UTF-8 bytes, FIFOs and directories where files belong,
symlink loops).
"""
from __future__ import annotations

import configparser
import json
import os
from pathlib import Path

from conftest import rows
from test_packages import write

from asan_helper import run_asan

YUM_KEYS = ("name", "baseurl", "mirrorlist", "metalink", "enabled", "gpgcheck", "gpgkey")

# ------------------------------------------------------------------ yum_sources

GOOD_REPO = """\
# Fedora repositories
[fedora]
name=Fedora $releasever - $basearch
metalink=https://mirrors.fedoraproject.org/metalink?repo=fedora-$releasever&arch=$basearch
enabled=1
countme=1
metadata_expire=7d
repo_gpgcheck=0
type=rpm
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-$releasever-$basearch
skip_if_unavailable=False

; a comment in the other style
[fedora-debuginfo]
  name = Fedora - Debug\t
baseurl=http://example.invalid/debug/
enabled=0
mirrorlist=
"""


def configparser_rows(path: Path, source: str) -> list[dict]:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str      # keys are case-sensitive, as in yum's parser
    cp.read(path)
    out = []
    for section in cp.sections():
        if section == "main":
            continue
        r = {k: cp[section].get(k) for k in YUM_KEYS}
        r["source"] = source
        out.append(r)
    return out


def yum_tree(tmp_path: Path) -> None:
    write(tmp_path / "etc/yum.conf", "[main]\ngpgcheck=1\nreposdir=/etc/myrepos\n"
          "[local]\nname=from yum.conf\nbaseurl=file:///srv/repo\n")
    d = tmp_path / "etc/myrepos"
    write(d / "fedora.repo", GOOD_REPO)
    write(d / "continuation.repo", "[multi]\nname=Multi\nbaseurl=http://a/\n"
          "        http://b/\n")
    write(d / "dupkey.repo", "[x]\nname=a\nname=b\n")
    write(d / "dupsection.repo", "[x]\nname=a\n[x]\nname=b\n")
    write(d / "toplevel.repo", "stray=1\n[emptysec]\n[real]\nenabled=1\n[emptysec]\nname=again\n")
    write(d / "binary.repo", b"[bin\xff]\nname=caf\xe9\x00x\nbaseurl=\x01\x02\n")
    write(d / "bom.repo", b"\xef\xbb\xbf[bom]\nname=bom\n")
    write(d / "unmatched.repo", "[open\nname=x\n")
    write(d / ".hidden.repo", "[hidden]\nname=h\n")
    write(d / "notrepo.txt", "[txt]\nname=t\n")
    (d / "dir.repo").mkdir()
    os.mkfifo(d / "fifo.repo")


def test_yum_sources_vs_configparser(conn, root, tmp_path):
    yum_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM yum_sources WHERE source = '/etc/myrepos/fedora.repo'")
    assert got == configparser_rows(tmp_path / "etc/myrepos/fedora.repo",
                                    "/etc/myrepos/fedora.repo")
    assert got[1]["name"] == "Fedora - Debug" and got[1]["mirrorlist"] == ""


def test_yum_sources_boost_ini_rules(conn, root, tmp_path):
    yum_tree(tmp_path)
    root(tmp_path)
    got = conn.execute("SELECT source, CAST(name AS BLOB), CAST(baseurl AS BLOB), enabled "
                       "FROM yum_sources").fetchall()
    assert got == [
        ("/etc/yum.conf", b"from yum.conf", b"file:///srv/repo", None),
        ("/etc/myrepos/binary.repo", b"caf\xe9\x00x", b"\x01\x02", None),
        ("/etc/myrepos/fedora.repo", b"Fedora $releasever - $basearch", None, "1"),
        ("/etc/myrepos/fedora.repo", b"Fedora - Debug", b"http://example.invalid/debug/", "0"),
        # A key before any section is a node of its own; the first empty
        # [emptysec] was dropped, so the second one is no duplicate.
        ("/etc/myrepos/toplevel.repo", None, None, None),
        ("/etc/myrepos/toplevel.repo", None, None, "1"),
        ("/etc/myrepos/toplevel.repo", b"again", None, None),
    ]


def test_yum_sources_default_dir(conn, root, tmp_path):
    write(tmp_path / "etc/yum.conf", "[main]\nbroken line\n")
    write(tmp_path / "etc/yum.repos.d/a.repo", "[a]\nname=A\n")
    root(tmp_path)
    assert rows(conn, "SELECT name, source FROM yum_sources") == \
        [{"name": "A", "source": "/etc/yum.repos.d/a.repo"}]
    (tmp_path / "etc/yum.conf").unlink()
    assert rows(conn, "SELECT name FROM yum_sources") == [{"name": "A"}]
