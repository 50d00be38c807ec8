"""Per-user tables read users' files with the users' rights.

A user who links ~/.bash_history to /etc/shadow must not get /etc/shadow
into the results of a root sensor.  Every per-user table opens, lists,
globs and canonicalises the files of a home with the user's filesystem ids
(csrc/lib/userdata.c).  These tests create real users (useradd), plant
symbolic links, hard links, FIFOs and device nodes in their homes pointing
at root-only files that hold a secret, and check that no secret reaches any
row of any per-user table, while the users' own files are still read.  They
need root (to create users and to be the sensor the attack is aimed at).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from conftest import rows

import osqlite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates users and "
                                "reads their homes as a root sensor does")

# Lower case: ssh_configs lowercases its lines.
SECRET = "osqsecret" + uuid.uuid4().hex


def user_tables(conn) -> list[str]:
    """Every registered per-user table (osquery's user_data attribute)."""
    return [r[0] for r in conn.execute(
        "SELECT name FROM osqlite_tables WHERE user_data = 1 ORDER BY name")]


class RealUser:
    """A user in the real /etc/passwd with a home under base, removed after."""

    def __init__(self, base: Path, tag: str) -> None:
        if shutil.which("useradd") is None or shutil.which("userdel") is None:
            pytest.skip("useradd/userdel are needed to create a real user (Debian: passwd)")
        self.name = f"osq{tag}{uuid.uuid4().hex[:8]}"
        self.home = base / self.name
        subprocess.run(["useradd", "--no-create-home", "--home-dir", str(self.home),
                        "--shell", "/bin/sh", "--user-group", self.name],
                       check=True, capture_output=True, timeout=60)
        import pwd
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.home.mkdir(mode=0o755)
        os.chown(self.home, self.uid, self.gid)

    def put(self, rel: str, data: str | bytes) -> Path:
        """A file of the user's own, in a directory of the user's own."""
        path = self.home / rel
        self.mkdirs(path.parent)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        os.chown(path, self.uid, self.gid)
        return path

    def mkdirs(self, path: Path) -> None:
        parts = path.relative_to(self.home).parts
        cur = self.home
        for p in parts:
            cur = cur / p
            if not cur.exists():
                cur.mkdir()
                os.chown(cur, self.uid, self.gid)

    def link(self, rel: str, target: Path) -> Path:
        """A symbolic link the user planted."""
        path = self.home / rel
        self.mkdirs(path.parent)
        os.symlink(target, path)
        os.lchown(path, self.uid, self.gid)
        return path

    def remove(self) -> None:
        subprocess.run(["userdel", self.name], capture_output=True, timeout=60)
        shutil.rmtree(self.home, ignore_errors=True)


class Vault:
    """Root-only files (0600 in a 0700 directory) holding the secret."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "vault"
        self.dir.mkdir(mode=0o700)
        self.n = 0

    def file(self, data: str | bytes) -> Path:
        self.n += 1
        path = self.dir / f"secret{self.n}"
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        path.chmod(0o600)
        return path

    def tree(self, files: dict[str, str | bytes]) -> Path:
        """A root-only directory (0700) with files inside."""
        self.n += 1
        top = self.dir / f"tree{self.n}"
        for rel, data in files.items():
            p = top / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data.encode() if isinstance(data, str) else data)
        for p in [top, *top.rglob("*")]:
            p.chmod(0o700 if p.is_dir() else 0o600)
        return top


def chrome_prefs(name: str) -> str:
    return json.dumps({"profile": {"name": name}, "extensions": {"settings": {}}})


def manifest(name: str) -> str:
    return json.dumps({"name": name, "version": "1.0", "manifest_version": 3,
                       "description": name,
                       "content_scripts": [{"matches": [f"https://{name}/*"], "js": ["c.js"]}]})


def vscode(name: str) -> str:
    return json.dumps([{"identifier": {"id": name}, "version": "1.0",
                        "metadata": {"id": name, "publisherDisplayName": name},
                        "location": {"path": f"/x/{name}"}}])


def jetbrains_jar(name: str) -> bytes:
    """A plugin jar (stored ZIP) whose META-INF/plugin.xml names the plugin."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("META-INF/plugin.xml", f"<idea-plugin><name>{name}</name>"
                                          f"<vendor>{name}</vendor><version>1</version>"
                                          "</idea-plugin>")
    return buf.getvalue()


def firefox_ext(name: str) -> str:
    return json.dumps({"addons": [{"id": name, "defaultLocale": {"name": name},
                                   "version": "1", "type": "extension"}]})


PYVER = f"python{sys.version_info.major}.{sys.version_info.minor}"


def plant_files(u: RealUser, v: Vault) -> int:
    """File-level plants next to the user's own, legitimate files; returns
    the number of links planted at a secret."""
    links = [
        (".bash_history", v.file(f"{SECRET} root:$6$hash:19000:0:99999:7:::\n")),
        (".zhistory", v.file(f": 1700000000:0;{SECRET}\n")),
        (".ssh/known_hosts", v.file(f"host.example ssh-ed25519 AAAA{SECRET}\n")),
        (".ssh/authorized_keys2", v.file(f"ssh-ed25519 AAAA{SECRET} {SECRET}\n")),
        (".ssh/config", v.file(f"Host {SECRET}\n  HostName {SECRET}\n")),
        (".ssh/id_secret", v.file(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n"
                                  "-----END OPENSSH PRIVATE KEY-----\n")),
        (".config/google-chrome/Default/Extensions/aaaa/1.0/manifest.json",
         v.file(manifest(SECRET))),
        (".mozilla/firefox/planted.default/extensions.json", v.file(firefox_ext(SECRET))),
        (f".local/lib/{PYVER}/site-packages/planted-1.0.dist-info/METADATA",
         v.file(f"Name: {SECRET}\nVersion: 1.0\n")),
        (".vscode/extensions/extensions.json", v.file(vscode(SECRET))),
        (".local/share/JetBrains/IntelliJIdea2024.1/secret.jar", v.file(jetbrains_jar(SECRET))),
    ]
    for rel, target in links:
        u.link(rel, target)
    # A hard link to a root-only file, made where the user could not (the
    # kernel's protected_hardlinks may be off elsewhere).
    hard = v.file(f"{SECRET}\n")
    u.mkdirs(u.home / ".bash_sessions")
    os.link(hard, u.home / ".bash_sessions/hard.history")
    # The user's own files, which must still be read.
    u.put(".zsh_history", ": 1700000000:0;own-zsh-command\n")
    u.put(".ssh/authorized_keys", "ssh-ed25519 AAAAownkey own@host\n")
    u.put(".config/google-chrome/Default/Preferences", chrome_prefs("OwnProfile"))
    u.put(".config/google-chrome/Default/Secure Preferences", "{}")
    u.put(".config/google-chrome/Default/Extensions/bbbb/1.0/manifest.json",
          manifest("own-extension"))
    u.put(".mozilla/firefox/own.default/extensions.json", firefox_ext("own-addon"))
    u.put(".vscode-server/extensions/extensions.json", vscode("own-vscode"))
    u.put(".local/share/JetBrains/PyCharm2024.1/own.jar", jetbrains_jar("own-plugin"))
    u.put(f".local/lib/{PYVER}/site-packages/ownpkg-2.0.dist-info/METADATA",
          "Name: ownpkg\nVersion: 2.0\n")
    # FIFOs and a device where files belong: never opened (no hang, no junk).
    os.mkfifo(u.home / ".sh_history")
    os.mknod(u.home / ".ash_history", 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
    u.link(".history", Path("/dev/zero"))
    return len(links) + 1


def plant_dirs(u: RealUser, v: Vault) -> int:
    """Directory-level plants: whole directories of the home are links to
    root-only trees full of the secret."""
    links = [
        (".ssh", v.tree({"known_hosts": f"h ssh-rsa AAAA{SECRET}\n",
                         "authorized_keys": f"ssh-rsa AAAA{SECRET} c\n",
                         "config": f"Host {SECRET}\n",
                         "id_rsa": f"-----BEGIN RSA PRIVATE KEY-----\n{SECRET}\n"})),
        (".bash_sessions", v.tree({"x.history": f"{SECRET}\n"})),
        (".config/google-chrome", v.tree({
            "Default/Preferences": chrome_prefs(SECRET),
            "Default/Secure Preferences": "{}",
            "Default/Extensions/cccc/1.0/manifest.json": manifest(SECRET)})),
        (".config/chromium", v.tree({
            "Preferences": chrome_prefs(SECRET), "Secure Preferences": "{}",
            "Extensions/dddd/2.0/manifest.json": manifest(SECRET)})),
        (".mozilla", v.tree({"firefox/x.default/extensions.json": firefox_ext(SECRET)})),
        (".local/lib", v.tree({f"{PYVER}/site-packages/s-1.0.dist-info/METADATA":
                               f"Name: {SECRET}\n"})),
        (".pyenv", v.tree({f"versions/3.11.0/lib/{PYVER}/site-packages/t-1.dist-info/"
                           "METADATA": f"Name: {SECRET}\n"})),
        (".vscode", v.tree({"extensions/extensions.json": vscode(SECRET)})),
        (".local/share/JetBrains", v.tree({"GoLand2024.1/s.jar": jetbrains_jar(SECRET),
                                           "CLion2024.1/p/lib/p.jar": jetbrains_jar(SECRET)})),
    ]
    for rel, target in links:
        u.link(rel, target)
    return len(links)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    # Homes must be reachable by their users, as /home is: pytest's own
    # temporary directories are 0700.
    base = Path(tempfile.mkdtemp(prefix="osqlite-homes-", dir="/tmp"))
    base.chmod(0o755)
    vault = Vault(tmp_path_factory.mktemp("root-only"))
    users = []
    try:
        a = RealUser(base, "f")
        users.append(a)
        b = RealUser(base, "d")
        users.append(b)
        n = plant_files(a, vault) + plant_dirs(b, vault)
        yield a, b, n
    finally:
        for u in users:
            u.remove()
        shutil.rmtree(base, ignore_errors=True)


def all_cells(conn, sql: str, *params) -> list[str]:
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    out = []
    for row in conn.execute(sql, params):
        out.extend(str(c) for c in row)
    return out


def test_no_secret_through_any_plant(planted, monkeypatch):
    a, b, n = planted
    monkeypatch.delenv("OSQLITE_ROOT", raising=False)
    conn = osqlite.connect()
    tables = user_tables(conn)
    assert {"shell_history", "known_hosts", "authorized_keys", "chrome_extensions",
            "firefox_addons", "python_packages"} <= set(tables)
    leaked = {}
    for t in tables:
        for sql in (f'SELECT * FROM users JOIN "{t}" USING (uid) WHERE users.uid IN (?, ?)',
                    f'SELECT * FROM "{t}" WHERE uid IN (?, ?)'):
            try:
                cells = all_cells(conn, sql, a.uid, b.uid)
            except osqlite.OsqliteError:
                raise
            except Exception as exc:  # a table may need another constraint
                cells = [str(exc)]
            hits = [c for c in cells if SECRET in c.lower()]
            if hits:
                leaked[(t, sql)] = hits[:3]
    conn.close()
    assert leaked == {}
    print(f"\nsymlink/hard-link plants: {n} across {len(tables)} per-user tables, "
          f"0 secrets read")


def test_own_files_still_read(planted, monkeypatch):
    """The rights drop is not a blanket refusal: the users' own files give rows."""
    a, b, _ = planted
    monkeypatch.delenv("OSQLITE_ROOT", raising=False)
    conn = osqlite.connect()
    hist = rows(conn, "SELECT command, history_file FROM shell_history WHERE uid = ?", a.uid)
    assert hist == [{"command": "own-zsh-command", "history_file": f"{a.home}/.zsh_history"}]
    keys = rows(conn, "SELECT key, key_file FROM authorized_keys WHERE uid = ?", a.uid)
    assert keys == [{"key": "AAAAownkey", "key_file": f"{a.home}/.ssh/authorized_keys"}]
    chrome = rows(conn, "SELECT name, profile FROM chrome_extensions WHERE uid = ?", a.uid)
    assert chrome == [{"name": "own-extension", "profile": "OwnProfile"}]
    ff = rows(conn, "SELECT identifier FROM firefox_addons WHERE uid = ?", a.uid)
    assert ff == [{"identifier": "own-addon"}]
    py = rows(conn, "SELECT name, version FROM python_packages WHERE uid = ?", a.uid)
    assert {"name": "ownpkg", "version": "2.0"} in py
    assert all(r["name"] != SECRET for r in py)
    assert rows(conn, "SELECT * FROM known_hosts WHERE uid = ?", b.uid) == []
    vs = rows(conn, "SELECT name, vscode_edition FROM vscode_extensions WHERE uid = ?", a.uid)
    assert vs == [{"name": "own-vscode", "vscode_edition": "vscode"}]
    jb = rows(conn, "SELECT name, product_type FROM jetbrains_plugins WHERE uid = ?", a.uid)
    assert jb == [{"name": "own-plugin", "product_type": "pycharm"}]
    cs = rows(conn, "SELECT match FROM chrome_extension_content_scripts WHERE uid = ?", a.uid)
    assert cs == [{"match": "https://own-extension/*"}]
    # A planted key is not even examined: no row says whether it is encrypted.
    keys = rows(conn, "SELECT path FROM user_ssh_keys WHERE uid IN (?, ?)", a.uid, b.uid)
    assert [k for k in keys if "id_secret" in k["path"] or "id_rsa" in k["path"]] == []
    conn.close()


def test_credentials_restored_and_other_threads_untouched(planted, monkeypatch, tmp_path):
    """Only the querying thread reads as the user, and only for the open:
    a thread reading a root-only file meanwhile never loses root's rights,
    and afterwards every thread has the process's ids and groups again."""
    a, b, _ = planted
    monkeypatch.delenv("OSQLITE_ROOT", raising=False)
    private = tmp_path / "root-only"
    private.write_text("x")
    private.chmod(0o600)
    before = _thread_creds()
    stop = threading.Event()
    failures: list[str] = []

    def reader() -> None:
        mine = _own_creds()
        while not stop.is_set():
            try:
                private.read_text()
            except OSError as exc:
                failures.append(repr(exc))
                return
            now = _own_creds()
            if now != mine:      # a change made for all threads would show here
                failures.append(f"{now} != {mine}")
                return

    t = threading.Thread(target=reader)
    t.start()
    try:
        conn = osqlite.connect()
        for _ in range(200):
            conn.execute("SELECT count(*) FROM shell_history WHERE uid IN (?, ?)",
                         (a.uid, b.uid)).fetchall()
            conn.execute("SELECT count(*) FROM python_packages WHERE uid = ?",
                         (a.uid,)).fetchall()
        conn.close()
    finally:
        stop.set()
        t.join()
    assert failures == []
    assert _thread_creds() == before


def _own_creds() -> tuple:
    """This thread's ids (real, effective, saved, filesystem) and groups."""
    lines = Path("/proc/thread-self/status").read_text().splitlines()
    f = {k: v for k, _, v in (ln.partition(":\t") for ln in lines)}
    return f.get("Uid"), f.get("Gid"), f.get("Groups")


def _thread_creds() -> dict[int, tuple]:
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            lines = (task / "status").read_text().splitlines()
        except OSError:
            continue
        f = {k: v for k, _, v in (ln.partition(":\t") for ln in lines)}
        out[int(task.name)] = (f.get("Uid"), f.get("Gid"), f.get("Groups"))
    return {k: v for k, v in out.items() if k in {threading.get_native_id(), os.getpid()}}


def test_fixture_root_and_fallback(tmp_path, root):
    """Under a fixture root (OSQLITE_ROOT) the root is reached with the
    process's rights and the home with the user's, whatever the ancestors'
    modes.  Without the right to change ids (CAP_SETUID/CAP_SETGID dropped
    by setpriv) a root process falls back to refusing links and files the
    user does not own."""
    uid = 54000 + os.getpid() % 1000
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(f"victim:x:{uid}:{uid}::/home/victim:/bin/sh\n")
    home = tmp_path / "home/victim"
    home.mkdir(parents=True)
    os.chown(home, uid, uid)
    secret = tmp_path / "shadow"
    secret.write_text(f"{SECRET}\n")
    secret.chmod(0o600)
    os.symlink(secret, home / ".bash_history")
    own = home / ".zsh_history"
    own.write_text("mine\n")
    os.chown(own, uid, uid)
    root(tmp_path)
    conn = osqlite.connect()
    got = rows(conn, "SELECT command FROM shell_history WHERE uid = ?", uid)
    conn.close()
    assert got == [{"command": "mine"}]
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop CAP_SETUID for the fallback")
    code = ("import osqlite; c = osqlite.connect(); "
            f"print([r[0] for r in c.execute('SELECT command FROM shell_history WHERE uid = {uid}')])")
    r = subprocess.run(["setpriv", "--bounding-set", "-setuid,-setgid", "--inh-caps",
                        "-setuid,-setgid", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OSQLITE_ROOT": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['mine']"
