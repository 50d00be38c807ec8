"""vscode_extensions and jetbrains_plugins on fixture homes.  Oracles:
Python's json on the same extensions.json files, Python's zipfile and re
(osquery's own pattern) on the same jars; hostile files: broken JSON and
ZIPs, a zip bomb, FIFOs and link loops where files belong.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

from asan_helper import run_asan
from conftest import rows
from test_packages import write

EDITIONS = [(".vscode-server", "vscode"), (".vscode", "vscode"),
            (".vscode-server-insiders", "vscode_insiders"), (".vscode-insiders", "vscode_insiders"),
            (".vscode-oss", "vscodium"), (".vscodium-server", "vscodium"),
            (".vscodium-insiders", "vscodium_insiders"),
            (".vscodium-server-insiders", "vscodium_insiders"),
            (".cursor", "cursor"), (".cursor-server", "cursor"), (".windsurf", "windsurf"),
            (".windsurf-server", "windsurf"), (".devin", "windsurf"), (".trae", "trae"),
            (".trae-server", "trae")]


def passwd(tmp_path: Path) -> None:
    write(tmp_path / "etc/passwd", "root:x:0:0::/root:/bin/sh\n"
          "dev:x:1000:1000::/home/dev:/bin/sh\nops:x:999:999::/home/ops:/bin/sh\n")


def ext(ident: str, version, path: str, **meta) -> dict:
    return {"identifier": {"id": ident, "uuid": "ignored"}, "version": version,
            "location": {"$mid": 1, "path": path, "scheme": "file"},
            "relativeLocation": ident, "metadata": meta}


def vscode_oracle(path: Path, uid: int, edition: str) -> list[dict]:
    """osquery's rules, applied with Python's json to the same file."""
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, OSError):
        return []
    if not isinstance(doc, list):
        return []
    out = []
    for e in doc:
        if not (isinstance(e, dict) and all(isinstance(e.get(k), dict)
                                            for k in ("identifier", "metadata", "location"))):
            continue
        m = e["metadata"]

        def s(d, k):
            return d[k] if isinstance(d.get(k), str) else None

        ts = m.get("installedTimestamp")
        pre = m.get("isPreReleaseVersion")
        out.append({"name": s(e["identifier"], "id"), "uuid": s(m, "id"),
                    "version": s(e, "version"), "path": s(e["location"], "path"),
                    "publisher": s(m, "publisherDisplayName"), "publisher_id": s(m, "publisherId"),
                    "installed_at": ts if type(ts) is int and -2**63 <= ts < 2**63 else None,
                    "prerelease": int(pre) if isinstance(pre, bool) else None,
                    "uid": uid, "vscode_edition": edition})
    return out


def vscode_tree(tmp_path: Path) -> None:
    passwd(tmp_path)
    home = tmp_path / "home/dev"
    write(home / ".vscode/extensions/extensions.json", json.dumps([
        ext("ms-python.python", "2024.2.1", "/home/dev/.vscode/extensions/ms-python.python-2024.2.1",
            id="f1f59ae4-9318-4f3c-a9b5-81b2eaa5f8a5", publisherId="998b010b-e2af-44a5-a6cd-0b5fd3b9b6f8",
            publisherDisplayName="Microsoft", installedTimestamp=1708000000000,
            isPreReleaseVersion=False),
        ext("golang.go", "0.41.0", "/home/dev/.vscode/extensions/golang.go-0.41.0",
            id="d6f6cfea-4b6f-41f4-b571-6ad2ab7918da", publisherDisplayName="Go Team at Google",
            installedTimestamp=1.5e12, isPreReleaseVersion="yes"),
        ext("odd.types", 3, "/x", id=7, publisherId=None, installedTimestamp=2**64),
        {"identifier": "not an object", "metadata": {}, "location": {}},
        {"identifier": {"id": "no.location"}, "metadata": {}},
        "a string element", 12,
    ]))
    write(home / ".cursor/extensions/extensions.json", json.dumps(
        [ext("cursor.one", "1.0.0", "/p", id="u1", isPreReleaseVersion=True)]))
    write(home / ".trae/extensions/extensions.json", b'{"not": "an array"}')
    write(home / ".windsurf/extensions/extensions.json", b'[{"identifier": ')
    write(home / ".devin/extensions/extensions.json", b"\xef\xbb\xbf[]")
    write(home / ".vscode-oss/extensions/extensions.json",
          b'[{"identifier": {"id": "nu\\u0000l"}, "metadata": {}, "location": {}}]\x00trailing')
    (home / ".vscode-insiders/extensions").mkdir(parents=True)
    os.mkfifo(home / ".vscode-insiders/extensions/extensions.json")
    (home / ".vscode-server/extensions").mkdir(parents=True)
    os.symlink("extensions.json", home / ".vscode-server/extensions/extensions.json")
    write(tmp_path / "home/ops/.vscode-server/extensions/extensions.json", json.dumps(
        [ext("redhat.vscode-yaml", "1.14.0", "/home/ops/.vscode-server/extensions/y",
             id="2061917f-f76a-458a-8da9-f162de22b97e", publisherDisplayName="Red Hat")]))


def test_vscode_extensions(conn, root, tmp_path):
    vscode_tree(tmp_path)
    root(tmp_path)
    # One scan of both users: uid order is text order ("1000" < "999"),
    # then path, then edition.
    got = rows(conn, "SELECT * FROM vscode_extensions WHERE uid IN (1000, 999)")
    want = []
    for uid, home in ((1000, "home/dev"), (999, "home/ops")):
        for d, edition in sorted(EDITIONS):
            f = tmp_path / home / d / "extensions/extensions.json"
            if d == ".vscode-oss" and uid == 1000:
                # rapidjson reads up to the NUL byte (Python's json refuses
                # the bytes after it), and the C string of the id ends at
                # the escaped NUL.
                want.append({"name": "nu", "uuid": None, "version": None, "path": None,
                             "publisher": None, "publisher_id": None, "installed_at": None,
                             "prerelease": None, "uid": 1000, "vscode_edition": "vscodium"})
            elif f.is_file():
                want += vscode_oracle(f, uid, edition)
    assert got == want
    got = rows(conn, "SELECT * FROM users CROSS JOIN vscode_extensions USING (uid) "
                     "WHERE uid IN (1000, 999)")
    assert {r["username"] for r in got} == {"dev", "ops"}
    assert [r["name"] for r in got if r["uid"] == 1000] == \
        ["cursor.one", "ms-python.python", "golang.go", "odd.types", "nu"]
    # The spec example: the current user only (root has none here).
    assert rows(conn, "select * from vscode_extensions") == []
    # Fleet's software query shape.
    sw = rows(conn, "SELECT name, version, vscode_extensions.uuid AS extension_id, "
                    "vscode_edition AS extension_for, publisher AS vendor, path AS installed_path "
                    "FROM users CROSS JOIN vscode_extensions USING (uid)")
    assert {r["name"] for r in sw} >= {"ms-python.python", "redhat.vscode-yaml"}


# ------------------------------------------------------------ jetbrains_plugins

TAG = r"<{0}[\s\S]*?>([\s\S]*?)<\/{0}>"


def xml_fields(xml: str) -> dict:
    """osquery's regex, run by Python's re on the same plugin.xml."""
    out = {}
    for tag, probe in (("name", "<name>"), ("vendor", "<vendor"), ("version", "<version>")):
        m = re.search(TAG.format(tag), xml) if probe in xml else None
        out[tag] = m.group(1) if m else ""
    return out


PLUGIN_XML = """<idea-plugin>
  <id>com.example.tool</id>
  <name>Example Tool</name>
  <version>1.3.18</version>
  <vendor
      url="https://example.invalid"
      email="help@example.invalid">
    Example Inc
  </vendor>
  <idea-version since-build="233"/>
</idea-plugin>
"""


def jar(path: Path, xml: str | bytes | None, method=zipfile.ZIP_DEFLATED, extra=()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", method) as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        for name, data in extra:
            z.writestr(name, data)
        if xml is not None:
            z.writestr("META-INF/plugin.xml", xml)


def jar_oracle(path: Path):
    try:
        with zipfile.ZipFile(path) as z:
            data = z.read("META-INF/plugin.xml")
    except (zipfile.BadZipFile, KeyError, OSError, __import__("zlib").error):
        return None
    return xml_fields(data.decode("latin-1")) if data else None


def jetbrains_tree(tmp_path: Path) -> Path:
    passwd(tmp_path)
    base = tmp_path / "home/dev/.local/share/JetBrains"
    idea = base / "IntelliJIdea2024.1"
    jar(idea / "standalone.jar", PLUGIN_XML)
    jar(idea / "stored.jar", PLUGIN_XML.replace("Example Tool", "Stored"), zipfile.ZIP_STORED)
    write(idea / "notazip.jar", b"PK\x03\x04 but not really a zip")
    write(idea / "readme.txt", "hello")
    jar(idea / "noxml.jar", None)
    jar(idea / "emptyxml.jar", "")
    jar(idea / "minimal.jar", "<name>Only</name><vendor>V</vendor>")
    # A plugin with dependencies: lib/ holds the main jar among others.
    lib = idea / "aws-toolkit/lib"
    jar(lib / "resources_en.jar", PLUGIN_XML.replace("Example Tool", "Resources"))
    jar(lib / "gson-2.8.0.jar", PLUGIN_XML.replace("Example Tool", "Gson"))
    jar(lib / "aws-toolkit-core.jar", PLUGIN_XML.replace("Example Tool", "AWS Toolkit"))
    jar(lib / "zz.jar", PLUGIN_XML.replace("Example Tool", "Short"))
    jar(idea / "nolib/lib/helper.jar", None)
    (idea / "emptylib/lib").mkdir(parents=True)
    # Hostile jars.
    good = (idea / "standalone.jar").read_bytes()
    write(idea / "truncated.jar", good[:len(good) // 2])
    bomb = idea / "bomb.jar"
    jar(bomb, "<name>Bomb</name>" + " " * (17 * 1024 * 1024))
    damaged = bytearray((idea / "standalone.jar").read_bytes())
    i = damaged.find(b"META-INF/plugin.xml", 0) + 19
    damaged[i + 5: i + 40] = b"\xff" * 35
    write(idea / "damaged.jar", bytes(damaged))
    os.mkfifo(idea / "fifo.jar")
    os.symlink("loop.jar", idea / "loop.jar")
    # PyCharm% matches PyCharmCE% too, as osquery's glob does.
    jar(base / "PyCharmCE2023.3/ce.jar", "<name>CE</name><version>2</version>")
    write(base / "GoLand2024.1", "a file, not a directory")
    jar(base / ".hidden/h.jar", "<name>Hidden</name>")
    return idea


def test_jetbrains_plugins(conn, root, tmp_path):
    idea = jetbrains_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM users CROSS JOIN jetbrains_plugins USING (uid) "
                     "WHERE uid = 1000")
    logical = "/home/dev/.local/share/JetBrains/IntelliJIdea2024.1"
    want = []
    for name in sorted(os.listdir(idea)):
        p = idea / name
        if p.is_file() and not name.startswith("."):
            f = jar_oracle(p)
            if f:
                want.append({"product_type": "intellij_idea", "path": f"{logical}/{name}", **f})
    want.append({"product_type": "intellij_idea", "path": f"{logical}/aws-toolkit",
                 **jar_oracle(idea / "aws-toolkit/lib/aws-toolkit-core.jar")})
    ce = jar_oracle(tmp_path / "home/dev/.local/share/JetBrains/PyCharmCE2023.3/ce.jar")
    for ptype in ("pycharm", "pycharm_community_edition"):
        want.append({"product_type": ptype,
                     "path": "/home/dev/.local/share/JetBrains/PyCharmCE2023.3/ce.jar", **ce})
    got_cmp = [{k: r[k] for k in ("product_type", "path", "name", "vendor", "version")}
               for r in got if not r["path"].endswith(("bomb.jar", "damaged.jar"))]
    want = [w for w in want if not w["path"].endswith(("bomb.jar", "damaged.jar"))]
    assert got_cmp == want
    assert all(r["username"] == "dev" and r["uid"] == 1000 for r in got)
    vendor = next(r for r in got if r["path"].endswith("standalone.jar"))["vendor"]
    assert vendor == "\n    Example Inc\n  "
    # The zip bomb is read up to the cap and still has its name.
    assert next(r for r in got if r["path"].endswith("bomb.jar"))["name"] == "Bomb"
    # A deflate stream damaged from its first bytes inflates to nothing: no
    # plugin.xml, no row (the truncated jar has no central directory).
    assert not [r for r in got if r["path"].endswith(("damaged.jar", "truncated.jar"))]
    # The spec example runs (current user: root, none).
    assert rows(conn, "select * from users cross join jetbrains_plugins using (uid) "
                      "where uid = 0") == []


def test_ide_tables_under_sanitizers(tmp_path):
    jetbrains_tree(tmp_path)
    vscode_tree(tmp_path)
    run_asan(tmp_path, "SELECT * FROM jetbrains_plugins WHERE uid = 1000",
             "SELECT * FROM vscode_extensions WHERE uid IN (1000, 999)")
