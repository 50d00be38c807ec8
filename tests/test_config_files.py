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

import pytest
from asan_helper import run_asan
from conftest import rows
from test_packages import write

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


# ------------------------------------------------------------ carbon_black_info

CB_SETTINGS = """\
[CB]
ConfigName=Default%20Group%20A
CollectStoreFiles=1
CollectModuleLoads=0
CollectModuleInfo=0x10
CollectFileMods=True
CollectNetConns=1
CollectProcesses=1
CollectCrossProcess=1
SensorBackendServer=https%3A//cb.example.invalid%3A443
[Other]
x=1
"""


def cb_tree(tmp_path: Path) -> Path:
    cb = tmp_path / "var/lib/cb"
    write(cb / "sensor.id", "00000000000003f\n")          # 16 bytes
    write(cb / "sensorsettings.ini", CB_SETTINGS)
    write(cb / "store/ab/filedata", b"x" * 100)
    write(cb / "store/ab/metadata", b"x" * 20)
    write(cb / "events", b"e" * 7)
    write(cb / "queue/events.1", b"e" * 5)
    write(cb / "queue/events.1.gz", b"e" * 1000)            # stem events.1
    write(cb / ".hidden/filedata", b"x" * 1000)
    os.symlink("store", cb / "loop")                        # not followed
    os.symlink("/nonexistent", cb / "broken")
    return cb


def test_carbon_black_info(conn, root, tmp_path):
    cb = cb_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM carbon_black_info")
    # Oracle for the settings: configparser on the same file.
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(cb / "sensorsettings.ini")
    assert got == [{
        "sensor_id": 0x3f, "config_name": cp["CB"]["ConfigName"].replace("%20", " "),
        "collect_store_files": 1, "collect_module_loads": 0, "collect_module_info": 16,
        "collect_file_mods": None, "collect_reg_mods": -1, "collect_net_conns": 1,
        "collect_processes": 0, "collect_cross_processes": 1, "collect_emet_events": -1,
        "collect_data_file_writes": 0, "collect_process_user_context": 0,
        "collect_sensor_operations": 0, "log_file_disk_quota_mb": 0,
        "log_file_disk_quota_percentage": 0, "protection_disabled": 0,
        "sensor_ip_addr": "",
        "sensor_backend_server": cp["CB"]["SensorBackendServer"].replace("%3A", ":"),
        "event_queue": 12, "binary_queue": 120}]
    # Oracle for the queues: os.walk over the same tree (hidden names and
    # directory links skipped, as glob's '*' does).
    binq = evtq = 0
    for d, dirs, files in os.walk(cb):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for f in files:
            p = Path(d) / f
            if f.startswith(".") or not p.is_file():
                continue
            if f in ("filedata", "metadata"):
                binq += p.stat().st_size
            if os.path.splitext(f)[0] == "events":
                evtq += p.stat().st_size
    assert (got[0]["binary_queue"], got[0]["event_queue"]) == (binq, evtq)
    assert rows(conn, "SELECT config_name FROM cb_info") == [{"config_name": "Default Group A"}]


def test_carbon_black_info_absent_or_broken(conn, root, tmp_path):
    root(tmp_path)
    got = rows(conn, "SELECT * FROM carbon_black_info")
    assert len(got) == 1 and set(got[0].values()) == {None}
    cb = tmp_path / "var/lib/cb"
    write(cb / "sensor.id", "short")
    write(cb / "sensorsettings.ini", "[CB]\nConfigName=a\nConfigName=b\n")   # duplicate key
    got = rows(conn, "SELECT * FROM carbon_black_info")[0]
    assert got["sensor_id"] is None and got["config_name"] is None
    assert got["binary_queue"] == 0 and got["event_queue"] == 0
    (cb / "sensorsettings.ini").unlink()
    os.mkfifo(cb / "sensorsettings.ini")
    write(cb / "sensor.id", "zzzzzzzzzzzzzzzz")
    got = rows(conn, "SELECT sensor_id, config_name FROM carbon_black_info")
    assert got == [{"sensor_id": 0, "config_name": None}]


# ----------------------------------------------------------------- npm_packages

def npm_fields(path: Path) -> dict:
    """Python's json reading the same package.json, with osquery's rules."""
    try:
        if not path.is_file():
            raise OSError("not a regular file")
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except (ValueError, OSError):
        return {k: None for k in ("name", "version", "description", "homepage",
                                  "author", "license")}
    out = {}
    for k in ("name", "version", "description", "homepage"):
        out[k] = (doc[k] if isinstance(doc[k], str) else "") if k in doc else None
    a = doc.get("author")
    out["author"] = a if isinstance(a, str) else (
        (a["name"] if isinstance(a["name"], str) else "") if isinstance(a, dict)
        and "name" in a else None)
    lic = doc.get("license")
    out["license"] = lic if isinstance(lic, str) else (
        lic["url"] if isinstance(lic, dict) and isinstance(lic.get("url"), str) else None)
    return out


def test_npm_packages_global_vs_npm(conn):
    import shutil
    import subprocess
    if not shutil.which("npm"):
        pytest.skip("npm is not installed (Debian package npm)")
    prefix = subprocess.run(["npm", "prefix", "-g"], capture_output=True, text=True,
                            check=True).stdout.strip()
    out = subprocess.run(["npm", "ls", "-g", "--all", "--parseable"], capture_output=True,
                         text=True).stdout.split()
    # On POSIX the global node_modules is <prefix>/lib/node_modules; npm's
    # first line is that lib directory itself.
    lib = prefix + "/lib"
    want = {p for p in out if p != lib}
    got = rows(conn, "SELECT * FROM npm_packages WHERE directory = ?", lib)
    assert {str(Path(r["path"]).parent) for r in got} == want
    for r in got:
        assert {k: r[k] for k in ("name", "version", "description", "homepage", "author",
                                  "license")} == npm_fields(Path(r["path"]))
        assert r["depth"] == Path(r["path"]).relative_to(lib).parts.count("node_modules") - 1
    # Without a constraint the global directory is found, with glob's '/'.
    if lib in ("/usr/lib", "/usr/local/lib"):
        every = rows(conn, "SELECT DISTINCT directory FROM npm_packages")
        assert {"directory": lib + "/"} in every


def pkg(d: Path, name: str, **fields) -> Path:
    p = d / "node_modules" / name
    write(p / "package.json", json.dumps({"name": name, **fields}))
    return p


def npm_tree(tmp_path: Path) -> Path:
    app = tmp_path / "srv/app"
    write(app / "package.json", json.dumps({"name": "app", "version": "1.0.0",
                                            "dependencies": {"left-pad": "1"}}))
    lp = pkg(app, "left-pad", version="1.3.0", license={"type": "MIT", "url": "http://l"},
             author={"name": "Azer", "email": "a@example.invalid"}, homepage=7)
    pkg(lp, "inner", version="0.1.0", author={"email": "no name"})
    deep = pkg(lp / "node_modules/inner", "deeper", version="9", description="d")
    pkg(app, "@scope/util", version="2.0.0-beta.1", author="Ann <ann@example.invalid>")
    pkg(app, "zed", version="0.0.1", license=["MIT"])
    write(app / "node_modules/broken/package.json", b"{\"name\": \"broken\", ")
    write(app / "node_modules/notobj/package.json", b"[1, 2]")
    write(app / "node_modules/bom/package.json", b"\xef\xbb\xbf{\"name\": \"bom\"}")
    write(app / "node_modules/nul/package.json", b"{\"name\": \"nu\\u0000l\"}\x00garbage")
    write(app / "node_modules/latin1/package.json", b"{\"name\": \"caf\xe9\"}")
    (app / "node_modules/dirjson/package.json").mkdir(parents=True)
    (app / "node_modules/fifo").mkdir()
    os.mkfifo(app / "node_modules/fifo/package.json")
    # A loop: a package whose node_modules leads back up the tree.
    (deep / "node_modules").mkdir()
    os.symlink("../../../../../..", deep / "node_modules/up")
    return app


def test_npm_packages_fixture(conn, root, tmp_path):
    npm_tree(tmp_path)
    root(tmp_path)
    got = rows(conn, "SELECT name, version, description, homepage, author, license, path, "
                     "directory, depth, max_depth FROM npm_packages "
                     "WHERE directory = '/srv/app' AND path NOT LIKE '%latin1%'")
    by_path = {r["path"]: r for r in got}
    for path, r in by_path.items():
        if "latin1" in path:
            continue
        want = npm_fields(tmp_path / path.lstrip("/"))
        if "nul" in path:
            want["name"] = "nu"        # rapidjson's C string ends at the NUL
        if "bom" in path:
            want["name"] = None        # rapidjson does not skip a BOM
        assert {k: r[k] for k in want} == want, path
        assert r["directory"] == "/srv/app" and r["max_depth"] == 100
    order = [(r["path"].replace("/srv/app/", ""), r["depth"]) for r in got]
    assert order[:1] == [("node_modules/bom/package.json", 0)]
    assert ("node_modules/@scope/util/package.json", 0) in order
    assert ("node_modules/left-pad/node_modules/inner/node_modules/deeper/package.json", 2) \
        in order
    # The loop is cut where a directory repeats: each package appears a
    # bounded number of times.
    assert sum(1 for p, _ in order if p.endswith("left-pad/package.json")) <= 2
    assert "node_modules/fifo/package.json" not in [p for p, _ in order] or \
        by_path["/srv/app/node_modules/fifo/package.json"]["name"] is None
    assert not any(p.startswith("node_modules/dirjson") for p, _ in order)
    raw = conn.execute("SELECT CAST(name AS BLOB) FROM npm_packages WHERE directory = "
                       "'/srv/app' AND path LIKE '%latin1%'").fetchall()
    assert raw == [(b"caf\xe9",)]


def test_npm_packages_max_depth(conn, root, tmp_path):
    npm_tree(tmp_path)
    root(tmp_path)
    q = "SELECT max(depth) AS d, count(*) AS n FROM npm_packages WHERE directory = '/srv/app'"
    zero = rows(conn, q + " AND max_depth = 0")
    one = rows(conn, q + " AND max_depth = 1")
    assert zero[0]["d"] == 0 and one[0]["d"] == 1 and one[0]["n"] > zero[0]["n"]
    assert rows(conn, q + " AND max_depth = -1")[0]["d"] >= 2
    # The spec examples.
    assert rows(conn, "select * from npm_packages where directory = '/home/user/my_project'") \
        == []
    rows(conn, "select * from npm_packages")
    rows(conn, "select * from npm_packages where directory = '/home/user/my_project' "
               "and max_depth = 0")
    deep = rows(conn, "select name, version, depth from npm_packages where depth > 0")
    assert all(r["depth"] > 0 for r in deep)


def test_npm_packages_default_sites(conn, root, tmp_path):
    write(tmp_path / "etc/passwd", "dev:x:1000:1000::/home/dev:/bin/sh\n")
    pkg(tmp_path / "home/dev/.nvm/versions/node/v20.1.0/lib", "typescript", version="5.4.2")
    pkg(tmp_path / "usr/local/lib", "yarn", version="1.22.19")
    root(tmp_path)
    got = rows(conn, "SELECT name, version, directory FROM npm_packages")
    assert got == [
        {"name": "typescript", "version": "5.4.2",
         "directory": "/home/dev/.nvm/versions/node/v20.1.0/lib/"},
        {"name": "yarn", "version": "1.22.19", "directory": "/usr/local/lib/"},
    ]
    # The shape of Fleet's Linux software inventory query over npm_packages.
    sw = rows(conn, "SELECT name AS name, version AS version, 'npm_packages' AS source, "
                    "'' AS release, '' AS vendor, '' AS arch, path AS installed_path "
                    "FROM npm_packages UNION SELECT name, version, 'deb_packages', '', '', "
                    "'', '' FROM deb_packages")
    assert {r["name"] for r in sw if r["source"] == "npm_packages"} == {"typescript", "yarn"}


# ---------------------------------------------------------------- startup_items

DESKTOP_OK = """\
[Desktop Entry]
Type=Application
Name=Notes Sync
Name[de]=Notizen
Exec=/usr/bin/notes-sync
X-GNOME-Autostart-enabled=true
"""


def desktop_oracle(path: Path) -> tuple[str, str]:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(path)
    return cp["Desktop Entry"]["Name"], cp["Desktop Entry"]["Exec"]


def startup_tree(tmp_path: Path) -> None:
    write(tmp_path / "etc/passwd",
          "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
          "alice2:x:1002:1002::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob/:/bin/sh\n"
          "svc:x:999:999::/srv/svc:/usr/sbin/nologin\nnohome:x:998:998:::/bin/sh\n")
    auto = tmp_path / "home/alice/.config/autostart"
    write(auto / "notes.desktop", DESKTOP_OK)
    write(auto / "quirks.desktop", "Name=first\nName=second\nExec=env A=1 app\n  Exec=/bin/x \r\n"
          "Name=\n")
    write(auto / "latin1.desktop", b"Name=caf\xe9\nExec=/bin/caf\xe9\n")
    os.mkfifo(auto / "fifo.desktop")
    (auto / "subdir").mkdir()
    write(auto / ".hidden.desktop", "Name=hidden\n")
    write(tmp_path / "home/alice/.config/autostart-scripts/run.sh", "#!/bin/sh\n")
    write(tmp_path / "home/bob/.config/autostart/b.desktop", "Name=B\nExec=b\n")
    write(tmp_path / "srv/svc/.config/autostart-scripts/svc.sh", "#!/bin/sh\n")
    write(tmp_path / "etc/init.d/ssh", "#!/bin/sh\n")
    write(tmp_path / "etc/init.d/README", "x")
    (tmp_path / "etc/init.d/subdir").mkdir()
    write(tmp_path / "etc/xdg/autostart/at-spi.desktop", DESKTOP_OK.replace("Notes", "AT"))


def test_startup_items_fixture(conn, root, tmp_path):
    startup_tree(tmp_path)
    root(tmp_path)
    got = [(r["name"], r["path"], r["type"], r["source"], r["status"], r["username"])
           for r in rows(conn, "SELECT * FROM startup_items WHERE path IS NULL "
                               "OR path NOT LIKE '%caf%'")]
    auto = "/home/alice/.config/autostart/"
    name, exe = desktop_oracle(tmp_path / "home/alice/.config/autostart/notes.desktop")
    assert got == [
        # /home/alice (listed once for its two users), entries sorted
        (None, None, "Startup Item", auto, "enabled", "alice"),                # fifo
        (name, exe, "Startup Item", auto, "enabled", "alice"),
        ("second", "/bin/x", "Startup Item", auto, "enabled", "alice"),
        ("run.sh", "/home/alice/.config/autostart-scripts/run.sh", "Startup Item",
         "/home/alice/.config/autostart-scripts/", "enabled", "alice"),
        # bob's home ends in '/': the source keeps the doubled separator,
        # the path is canonical.
        ("B", "b", "Startup Item", "/home/bob//.config/autostart/", "enabled", "bob"),
        ("svc.sh", "/srv/svc/.config/autostart-scripts/svc.sh", "Startup Item",
         "/srv/svc/.config/autostart-scripts/", "enabled", None),
        ("README", "/etc/init.d/README", "Startup Item", "/etc/init.d/", "enabled", None),
        ("ssh", "/etc/init.d/ssh", "Startup Item", "/etc/init.d/", "enabled", None),
        desktop_oracle(tmp_path / "etc/xdg/autostart/at-spi.desktop")
        + ("Startup Item", "/etc/xdg/autostart/", "enabled", None),
    ]
    raw = conn.execute("SELECT CAST(name AS BLOB), CAST(path AS BLOB) FROM startup_items "
                       "WHERE path LIKE '%caf%'").fetchall()
    assert raw == [(b"caf\xe9", b"/bin/caf\xe9")]


def test_startup_items_systemd(conn, tmp_path, monkeypatch):
    from test_systemd_units import PROPS, UNITS, FakeBus
    startup_tree(tmp_path)
    monkeypatch.setenv("OSQLITE_DBUS_TIMEOUT_MS", "1500")
    monkeypatch.setenv("OSQLITE_ROOT", str(tmp_path))
    bus = FakeBus(tmp_path / "run/dbus/system_bus_socket", "ok", False)
    try:
        got = rows(conn, "SELECT name, path, source, status, username FROM startup_items "
                         "WHERE type = 'systemd unit'")
    finally:
        bus.close()
    want = []
    for u in UNITS:
        frag = PROPS.get((u[6], "FragmentPath"))
        src = PROPS.get((u[6], "SourcePath"))
        if frag is None or src is None:
            break                      # osquery stops at the first failed Get
        want.append({"name": u[0], "path": frag, "source": src, "status": u[3],
                     "username": PROPS.get((u[6], "User"), "")})
    assert got == want and got


def test_config_tables_under_sanitizers(tmp_path):
    yum_tree(tmp_path)
    cb_tree(tmp_path)
    startup_tree(tmp_path)
    npm_tree(tmp_path)
    write(tmp_path / "etc/myrepos/huge.repo", "[h]\n" + "".join(f"k{i}=v\n" for i in range(5000)))
    run_asan(tmp_path, "SELECT * FROM yum_sources", "SELECT * FROM carbon_black_info",
             "SELECT * FROM startup_items",
             "SELECT * FROM npm_packages WHERE directory = '/srv/app' AND max_depth = -1",
             "SELECT * FROM npm_packages")
