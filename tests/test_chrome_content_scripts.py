"""chrome_extension_content_scripts on fixture profiles.  The oracle is
Python's json reading the same manifests with osquery's rules (member
names without case, every (match, js) pair of entries that have both)."""
from __future__ import annotations

import json
import os

from asan_helper import run_asan
from conftest import rows
from test_browsers import KEY, ME, ext_id, passwd, write

MANIFEST = {
    "name": "Scripted", "version": "__MSG_ver__", "default_locale": "en", "key": KEY,
    "content_scripts": [
        {"matches": ["https://*.example.com/*", "http://a.invalid/*"],
         "js": ["content.js", "lib/jquery.js"], "css": ["c.css"]},
        {"matches": ["<all_urls>"]},                         # no js: skipped
        {"js": ["orphan.js"]},                               # no matches: skipped
        {"Matches": ["*://case.invalid/*"], "JS": ["case.js"]},
        {"matches": [{"an": "object"}], "js": ["obj.js"]},   # an object's text is ''
        {"matches": "not-a-list", "js": ["x.js"]},           # a scalar has no elements
    ],
}


def oracle(manifest: dict, version: str) -> list[tuple]:
    out = []
    cs = next((v for k, v in manifest.items() if k.lower() == "content_scripts"), None)
    for entry in (cs if isinstance(cs, list) else []):
        low = {k.lower(): v for k, v in entry.items()}
        if "matches" not in low or "js" not in low:
            continue
        ms = low["matches"] if isinstance(low["matches"], (list, dict)) else []
        js = low["js"] if isinstance(low["js"], (list, dict)) else []
        for m in ms:
            for j in js:
                out.append((m if isinstance(m, str) else "", j if isinstance(j, str) else "",
                            version))
    return out


def tree(base):
    passwd(base)
    prof = base / "home/me/.config/chromium/Default"
    ext = prof / "Extensions/scripted/1.0_0"
    write(ext / "manifest.json", json.dumps(MANIFEST))
    write(ext / "_locales/en/messages.json", json.dumps({"ver": {"message": "4.5.6"}}))
    plain = prof / "Extensions/plain/1"
    write(plain / "manifest.json", json.dumps({"name": "NoKey", "version": "1",
                                               "content_scripts": [{"matches": ["m"],
                                                                    "js": ["j"]}]}))
    write(prof / "Extensions/broken/1/manifest.json", b"{\"content_scripts\": [")
    os.mkfifo(prof / "Extensions/broken/1/fifo")
    write(prof / "Preferences", json.dumps({"profile": {"name": "P"}, "extensions": {
        "settings": {"someid": {"path": "scripted/1.0_0"}}}}))
    write(prof / "Secure Preferences", "{}")
    return prof


def test_content_scripts(conn, root, tmp_path):
    prof = tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM chrome_extension_content_scripts")
    base = "/home/me/.config/chromium/Default"
    plain = [r for r in got if r["path"].endswith("/plain/1")]
    scripted = [r for r in got if r["path"].endswith("/scripted/1.0_0")]
    assert len(plain) + len(scripted) == len(got)
    assert [(r["match"], r["script"], r["version"]) for r in scripted] == oracle(MANIFEST, "4.5.6")
    for r in scripted:
        assert r["identifier"] == ext_id(KEY)
        assert (r["browser_type"], r["uid"], r["profile_path"], r["referenced"]) == \
            ("chromium", ME, base, 1)
    assert [(r["match"], r["script"], r["identifier"], r["referenced"]) for r in plain] == \
        [("m", "j", "", 0)]
    # The identifier is the one chrome_extensions reports for the same path.
    ids = {r["path"]: r["identifier"] for r in rows(conn, "SELECT path, identifier FROM "
                                                          "chrome_extensions")}
    assert all(ids[r["path"]] == r["identifier"] for r in got)
    # The spec example.
    ex = rows(conn, "SELECT chrome_extension_content_scripts.* FROM users JOIN "
                    "chrome_extension_content_scripts USING (uid) GROUP BY identifier, match")
    assert {(r["identifier"], r["match"]) for r in ex} == {(r["identifier"], r["match"])
                                                           for r in got}
    assert prof.exists()


def test_content_scripts_under_sanitizers(tmp_path):
    tree(tmp_path)
    run_asan(tmp_path, f"SELECT * FROM chrome_extension_content_scripts WHERE uid = {ME}",
             f"SELECT * FROM chrome_extensions WHERE uid = {ME}")
