"""chrome_extensions and firefox_addons against fixture profiles built here.
Expected values are computed in Python (hashlib, base64, json)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from conftest import rows

ME = os.getuid()


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def passwd(base: Path) -> None:
    write(base / "etc/passwd", f"me:x:{ME}:{ME}::/home/me:/bin/sh\n"
                               "alice:x:1000:1000::/home/alice:/bin/sh\n")


def ext_id(key_b64: str) -> str:
    h = hashlib.sha256(base64.b64decode(key_b64)).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in h)


KEY = base64.b64encode(b"\x30\x82\x01\x22" + bytes(range(200))).decode()

MANIFEST_A = {
    "manifest_version": 2,
    "name": "__MSG_appName__",
    "description": "__MSG_appDesc__",
    "version": "1.2.3",
    "default_locale": "fr",
    "author": "Some Author",
    "update_url": "https://clients2.google.com/service/update2/crx",
    "background": {"Persistent": True, "scripts": ["bg.js"]},
    "permissions": ["tabs", "https://*/*", {"fileSystem": ["write"]}, "storage"],
    "key": KEY,
    "icons": {"16": "i/16.png"},
    "x": "caf\u00e9 \U0001F600",
}

MANIFEST_B = {"name": "Plain", "version": "0.1", "optional_permissions": ["cookies"]}


def chrome_tree(base: Path) -> dict:
    passwd(base)
    prof = base / "home/me/.config/google-chrome/Default"
    a_dir = prof / "Extensions/aaaa/1.2.3_0"
    b_dir = prof / "Extensions/bbbb/0.1_0"
    man_a = json.dumps(MANIFEST_A, ensure_ascii=False).encode()
    write(a_dir / "manifest.json", man_a)
    write(a_dir / "_locales/fr/messages.json",
          json.dumps({"APPNAME": {"message": "Mon \u00e9xtension"},
                      "appDesc": {"message": "Desc \\/ \"q\""}}))
    write(a_dir / "_locales/en/messages.json", json.dumps({"appName": {"message": "English"}}))
    man_b = json.dumps(MANIFEST_B).encode()
    write(b_dir / "manifest.json", man_b)
    write(prof / "Extensions/cccc/1.0/manifest.json", "{not json")
    write(prof / "Extensions/dddd/1.0/README", "no manifest")
    unpacked = base / "opt/unpacked"
    write(unpacked / "manifest.json", json.dumps({"name": "Unpacked", "version": "9"}))
    write(prof / "Preferences", json.dumps({
        "profile": {"name": "Person 1"},
        "extensions": {"settings": {
            "aaaaid": {"path": "aaaa/1.2.3_0", "state": 1, "from_webstore": True,
                       "install_time": "13300000000000000"},
            "unpackedid": {"path": "/opt/unpacked", "state": 0, "install_time": "bogus"},
            "noext": {"path": "zzzz/1.0"},
        }}}))
    write(prof / "Secure Preferences", json.dumps({"extensions": {"settings": {}}}))
    # A second profile whose Secure Preferences is malformed: skipped.
    bad = base / "home/me/.config/google-chrome/Profile 1"
    write(bad / "Preferences", json.dumps({"profile": {"name": "Bad"}}))
    write(bad / "Secure Preferences", b"\xff\xfe garbage {")
    write(bad / "Extensions/eeee/1/manifest.json", json.dumps({"name": "never"}))
    # A Brave profile directly in the browser directory, no profile name: skipped.
    brave = base / "home/me/.config/BraveSoftware/Brave-Browser"
    write(brave / "Preferences", "{}")
    write(brave / "Secure Preferences", "{}")
    # Opera: no profile name needed.
    opera = base / "home/me/.config/opera"
    write(opera / "Preferences", "{}")
    write(opera / "Secure Preferences", "{}")
    write(opera / "Extensions/ffff/2/manifest.json", json.dumps({"name": "OperaExt", "version": "2"}))
    return {"man_a": man_a, "man_b": man_b}


def test_chrome_extensions(conn, root, tmp_path):
    info = chrome_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT *, permissions_json, optional_permissions_json, manifest_json, key "
                     "FROM chrome_extensions")
    assert [(r["browser_type"], r["name"]) for r in got] == [
        ("chrome", "Plain"), ("chrome", "Mon \u00e9xtension"), ("chrome", "Unpacked"),
        ("opera", "OperaExt")]
    plain, a, unpacked, opera = got
    base = "/home/me/.config/google-chrome/Default"
    assert a["path"] == base + "/Extensions/aaaa/1.2.3_0"
    assert a["profile"] == "Person 1" and a["profile_path"] == base and a["uid"] == ME
    assert a["description"] == 'Desc \\/ "q"'
    assert a["version"] == "1.2.3" and a["author"] == "Some Author"
    assert a["default_locale"] == "fr" and a["current_locale"] == ""
    assert a["persistent"] == 1
    assert a["permissions"] == "tabs, https://*/*, , storage"
    assert a["permissions_json"] == '["tabs","https:\\/\\/*\\/*",{"fileSystem":["write"]},"storage"]\n'
    assert a["optional_permissions"] == "" and a["optional_permissions_json"] == "{}"
    assert a["manifest_hash"] == hashlib.sha256(info["man_a"]).hexdigest()
    assert a["identifier"] == ext_id(KEY) and a["key"] == KEY
    assert a["referenced"] == 1 and a["referenced_identifier"] == "aaaaid"
    assert a["state"] == "1" and a["from_webstore"] == "true"
    assert a["install_time"] == "13300000000000000"
    assert a["install_timestamp"] == 13300000000000000 // 1000000 - 11644473600
    mj = a["manifest_json"]
    assert mj.endswith("\n") and mj.startswith('{"manifest_version":"2","name":"__MSG_appName__"')
    assert '"x":"caf\\u00C3\\u00A9 \\u00F0\\u009F\\u0098\\u0080"' in mj   # property_tree escapes
    assert plain["referenced"] == 0 and plain["referenced_identifier"] == ""
    assert plain["state"] == "" and plain["install_timestamp"] == 0
    assert plain["optional_permissions"] == "cookies"
    assert plain["optional_permissions_json"] == '["cookies"]\n'
    assert plain["permissions_json"] == "{}" and plain["identifier"] == ""
    assert plain["manifest_hash"] == hashlib.sha256(info["man_b"]).hexdigest()
    assert plain["persistent"] == 0 and plain["author"] == ""
    assert unpacked["path"] == "/opt/unpacked" and unpacked["referenced_identifier"] == "unpackedid"
    assert unpacked["install_time"] == "bogus" and unpacked["install_timestamp"] == 0
    assert opera["profile"] == "" and opera["profile_path"] == "/home/me/.config/opera"
    assert rows(conn, "SELECT locale FROM chrome_extensions WHERE name = 'Plain'") == [{"locale": ""}]
    # user scoping: alice has nothing; the join brings "me" back.
    assert rows(conn, "SELECT * FROM chrome_extensions WHERE uid = 1000") == []
    sql = f"WITH u(uid) AS (VALUES ({ME}), (1000)) SELECT count(*) AS n FROM u JOIN chrome_extensions USING (uid)"
    assert rows(conn, sql) == [{"n": 4}]


def test_chrome_hostile_json(conn, root, tmp_path):
    passwd(tmp_path)
    prof = tmp_path / "home/me/.config/chromium/Default"
    write(prof / "Preferences", json.dumps({"profile": {"name": "P"}}))
    write(prof / "Secure Preferences", "{}")
    cases = {
        "deep": "[" * 100000 + "]" * 100000,
        "surrogate": '{"name": "\\ud83d\\ude00 ok", "version": "1"}',
        "lone": '{"name": "\\ud83d x"}',
        "trailing": '{"name": "t",}',
        "binary": bytes(range(256)) * 10,
        "huge": '{"name": "' + "n" * (4 * 1024 * 1024) + '"}',
        "empty": "",
        "nul": '{"name": "a\\u0000b", "version": "2"}',
    }
    for k, v in cases.items():
        write(prof / f"Extensions/{k}/1/manifest.json", v)
    root(tmp_path)
    got = rows(conn, "SELECT name, version, length(name) AS n FROM chrome_extensions")
    names = {r["name"][:20] for r in got}
    assert "\U0001F600 ok" in names
    assert any(r["n"] == 4 * 1024 * 1024 for r in got)
    # surrogate, huge, nul; deep nesting is refused (depth limit), like the rest
    assert len(got) == 3


FF_EXT = {
    "schemaVersion": 36,
    "addons": [
        {"id": "uBlock0@raymondhill.net", "type": "extension", "version": "1.50.0",
         "defaultLocale": {"name": "uBlock Origin", "creator": "Raymond Hill",
                           "description": "Finally, an efficient blocker."},
         "sourceURI": "https://addons.mozilla.org/x.xpi", "visible": True, "active": True,
         "userDisabled": False, "appDisabled": False, "softDisable": False,
         "applyBackgroundUpdates": 1, "location": "app-profile",
         "path": "/home/me/.mozilla/firefox/abc.default/extensions/uBlock0@raymondhill.net.xpi"},
        {"id": "disabled@x", "type": "theme", "version": 2.5, "visible": False,
         "active": False, "userDisabled": "TRUE", "defaultLocale": None,
         "sourceURI": None, "location": {"nested": 1}},
        "not an object",
        {"id": 12345678901234567890, "softDisable": 1},
    ],
}


def test_firefox_addons(conn, root, tmp_path):
    passwd(tmp_path)
    ff = tmp_path / "home/me/.mozilla/firefox"
    write(ff / "abc.default/extensions.json", json.dumps(FF_EXT))
    write(ff / "profiles.ini", "[Profile0]\nPath=abc.default\n")
    write(ff / "Crash Reports/extensions.json", json.dumps(FF_EXT))
    write(ff / "broken.profile/extensions.json", "{\"addons\": [")
    write(ff / "noaddons/extensions.json", "{\"addons\": {}}")
    write(tmp_path / "home/alice/.config/mozilla/firefox/p1/extensions.json",
          json.dumps({"addons": [{"id": "alice@x"}]}))
    root(tmp_path)
    got = rows(conn, "SELECT * FROM firefox_addons")
    assert got == [
        {"uid": ME, "name": "uBlock Origin", "identifier": "uBlock0@raymondhill.net",
         "creator": "Raymond Hill", "type": "extension", "version": "1.50.0",
         "description": "Finally, an efficient blocker.",
         "source_url": "https://addons.mozilla.org/x.xpi", "visible": 1, "active": 1,
         "disabled": 0, "autoupdate": 1, "location": "app-profile",
         "path": "/home/me/.mozilla/firefox/abc.default/extensions/uBlock0@raymondhill.net.xpi"},
        {"uid": ME, "name": None, "identifier": "disabled@x", "creator": None, "type": "theme",
         "version": "2.500000", "description": None, "source_url": "null", "visible": 0,
         "active": 0, "disabled": 1, "autoupdate": None, "location": None, "path": None},
        {"uid": ME, "name": None, "identifier": "12345678901234567890", "creator": None,
         "type": None, "version": None, "description": None, "source_url": None,
         "visible": None, "active": None, "disabled": 1, "autoupdate": None,
         "location": None, "path": None},
    ]
    got = rows(conn, "SELECT identifier FROM firefox_addons WHERE uid = 1000")
    assert got == [{"identifier": "alice@x"}]


def test_chrome_canonical_paths(conn, root, tmp_path):
    """osquery canonicalises profile and extension paths (fs::canonical)."""
    passwd(tmp_path)
    real = tmp_path / "data/chromium-real"
    prof = real / "Default"
    write(prof / "Extensions/abc/1.0/manifest.json", json.dumps({"name": "E", "version": "1.0"}))
    write(prof / "Preferences", json.dumps({
        "profile": {"name": "P"},
        "extensions": {"settings": {"abcid": {"path": "abc/./1.0", "state": 1}}}}))
    write(prof / "Secure Preferences", "{}")
    (tmp_path / "home/me/.config").mkdir(parents=True)
    os.symlink("../../../data/chromium-real", tmp_path / "home/me/.config/chromium")
    root(tmp_path)
    got = rows(conn, "SELECT profile_path, path, referenced, referenced_identifier "
                     "FROM chrome_extensions")
    assert got == [{"profile_path": "/data/chromium-real/Default",
                    "path": "/data/chromium-real/Default/Extensions/abc/1.0",
                    "referenced": 1, "referenced_identifier": "abcid"}]
