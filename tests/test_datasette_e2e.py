"""Datasette with the osqlite plugin, as a user runs it: `datasette` as a real
server process on 127.0.0.1, its JSON API, and Debian's headless Chromium
rendering the pages (--dump-dom).

Two interpreters: the one running the tests (a pyenv build without
enable_load_extension: the auto-extension route) and Debian's
/usr/bin/python3 (the load_extension route), in a virtualenv of its own
with --system-site-packages and osqlite installed from a wheel built from
this tree.  Independent oracles: psutil for processes, pwd for users,
os.stat for file.
"""
from __future__ import annotations

import collections
import html.parser
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import osqlite

psutil = pytest.importorskip("psutil")
pytest.importorskip("datasette", reason="datasette is not installed (pip install -e '.[test]')")

REPO = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = "/usr/bin/python3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, follow: bool = True) -> tuple[int, dict, bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = (urllib.request.build_opener() if follow
              else urllib.request.build_opener(NoRedirect))
    try:
        with opener.open(url, timeout=120) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _json(url: str) -> object:
    status, _, body = _get(url)
    assert status == 200, (url, status, body[:500])
    return json.loads(body)


class Server:
    def __init__(self, python: str, tmp: Path) -> None:
        self.log = tmp / "datasette.log"
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        for _attempt in range(3):
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(
                    [python, "-m", "datasette", "serve", "-h", "127.0.0.1",
                     "-p", str(self.port)],
                    cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
            if self._wait():
                return
            self.stop()
        pytest.fail(f"datasette did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def _wait(self) -> bool:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                status, _, _ = _get(self.url + "/-/versions.json")
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def debian_python(tmp_path_factory) -> str:
    """A virtualenv of Debian's python3 with osqlite (a wheel of this tree)
    and Datasette installed."""
    if not os.path.exists(DEBIAN_PYTHON):
        pytest.skip(f"{DEBIAN_PYTHON} is absent (Debian package python3)")
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import sqlite3, venv; "
                            "assert hasattr(sqlite3.Connection, 'enable_load_extension')"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"{DEBIAN_PYTHON} lacks venv or enable_load_extension "
                    "(Debian packages python3-venv)")
    tmp = tmp_path_factory.mktemp("debian-venv")
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(wheels), str(REPO)], check=True, timeout=900)
    venv = tmp / "venv"
    subprocess.run([DEBIAN_PYTHON, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    python = str(venv / "bin" / "python")
    wheel = next(wheels.glob("osqlite-*.whl"))
    proc = subprocess.run([python, "-m", "pip", "install", "-q", str(wheel), "datasette<1.0"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return python


@pytest.fixture(scope="module", params=["pyenv", "debian"])
def server(request, tmp_path_factory):
    if request.param == "debian":
        python = request.getfixturevalue("debian_python")
        route = "load_extension"
    else:
        python = sys.executable
        route = osqlite.load_route()
    got = subprocess.run([python, "-c", "import osqlite; print(osqlite.load_route())"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert got == route
    srv = Server(python, tmp_path_factory.mktemp(f"ds-{request.param}"))
    srv.route = route
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def catalog() -> dict[str, str]:
    c = osqlite.connect()
    try:
        return dict(c.execute("SELECT name, description FROM osqlite_tables "
                              "WHERE origin IN ('osquery', 'osqlite')"))
    finally:
        c.close()


# --- JSON API ---------------------------------------------------------------

def test_table_list_has_every_table_with_descriptions(server, catalog):
    data = _json(server.url + "/host.json")
    assert {t["name"] for t in data["tables"]} == set(catalog)
    assert all(t["count"] is None for t in data["tables"])     # never counted here
    meta = _json(server.url + "/-/metadata.json")
    tables = meta["databases"]["host"]["tables"]
    for name in ("processes", "users", "listening_ports"):
        assert tables[name]["description"] == catalog[name]
    assert tables["file"]["columns"] == {
        "path": "required: the query must constrain it",
        "directory": "required: the query must constrain it"}


def test_processes_rows_are_live(server):
    pid = server.proc.pid
    rows = _json(f"{server.url}/host/processes.json?pid={pid}&_shape=array")
    oracle = psutil.Process(pid)
    assert len(rows) == 1
    assert rows[0]["name"] == oracle.name()
    assert rows[0]["uid"] == oracle.uids().real
    assert "datasette" in rows[0]["cmdline"]
    # A process started after the server: the next request sees it.
    child = subprocess.Popen(["sleep", "60"])
    try:
        rows = _json(f"{server.url}/host/processes.json?pid={child.pid}&_shape=array")
        assert [r["name"] for r in rows] == ["sleep"]
    finally:
        child.kill()
        child.wait()
    assert _json(f"{server.url}/host/processes.json?pid={child.pid}&_shape=array") == []


def test_row_count_facet_filter_and_sort(server):
    oracle = pwd.getpwall()
    data = _json(server.url + "/host/users.json?_facet=shell")
    assert data["filtered_table_rows_count"] == len(oracle)
    facet = {r["value"]: r["count"] for r in data["facet_results"]["shell"]["results"]}
    assert facet == dict(collections.Counter(p.pw_shell for p in oracle))

    rows = _json(server.url + "/host/users.json?uid=0&_shape=array")
    assert [r["username"] for r in rows] == [pwd.getpwuid(0).pw_name]
    rows = _json(server.url + "/host/users.json?shell__endswith=nologin&_shape=array"
                 "&_sort_desc=uid&_size=max")
    assert [r["uid"] for r in rows] == sorted(
        (p.pw_uid for p in oracle if p.pw_shell.endswith("nologin")), reverse=True)


def test_listening_ports_show_the_server(server):
    rows = _json(f"{server.url}/host/listening_ports.json?port={server.port}&_shape=array")
    assert rows, "the server's own listening socket is missing"
    assert {r["pid"] for r in rows} == {server.proc.pid}
    assert {r["address"] for r in rows} == {"127.0.0.1"}


def test_required_columns_get_an_explanation_not_an_error(server, tmp_path):
    status, _, body = _get(server.url + "/host/file.json")
    assert status == 400
    data = json.loads(body)
    assert data["required_columns"] == ["path", "directory"]
    assert "required column" in data["error"]

    status, headers, body = _get(server.url + "/host/file")
    assert status == 200 and b"osqlite-required-form" in body

    target = tmp_path / "probe.txt"
    target.write_bytes(b"twelve bytes")
    query = urllib.parse.urlencode({"_filter_column": "path", "_filter_op": "exact",
                                    "_filter_value": str(target)})
    status, headers, _ = _get(f"{server.url}/host/file?{query}", follow=False)
    assert status == 302
    assert headers["location"].endswith("?" + urllib.parse.urlencode(
        {"path__exact": str(target)}))
    rows = _json(f"{server.url}/host/file.json?"
                 + urllib.parse.urlencode({"path": str(target), "_shape": "array"}))
    st = target.stat()
    assert [(r["size"], r["inode"], r["mtime"]) for r in rows] == [
        (12, st.st_ino, int(st.st_mtime))]


def test_host_responses_are_never_cached(server):
    _, headers, _ = _get(server.url + "/host/uptime.json")
    assert headers.get("cache-control") == "no-store"
    _, headers, _ = _get(server.url + "/-/versions.json")
    assert headers.get("cache-control") != "no-store"


# --- a real browser -----------------------------------------------------------

class Dom(html.parser.HTMLParser):
    """Cells by column class, option values, headings and all text."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, list[str]] = collections.defaultdict(list)
        self.options: list[str] = []
        self.classes: set[str] = set()
        self.text: list[str] = []
        self._cell: str | None = None
        self._option = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.classes.update((attrs.get("class") or "").split())
        if tag == "td":
            cols = [c for c in (attrs.get("class") or "").split() if c.startswith("col-")]
            self._cell = cols[0][4:] if cols else None
            if self._cell:
                self.cells[self._cell].append("")
        elif tag == "option":
            self._option = True
            self.options.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "option":
            self._option = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell:
            self.cells[self._cell][-1] += data.strip()
        if self._option:
            self.options[-1] += data.strip()


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        exe = shutil.which(name)
        if exe:
            return exe
    pytest.skip("Chromium is not installed (Debian package chromium)")


def _dump_dom(url: str, tmp_path: Path) -> Dom:
    profile = tmp_path / f"chromium-profile-{time.monotonic_ns()}"
    args = [_chromium(), "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            f"--user-data-dir={profile}", "--dump-dom", url]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Dom()
    dom.feed(proc.stdout)
    return dom


def test_browser_renders_the_processes_table(server, tmp_path):
    pid = server.proc.pid
    dom = _dump_dom(f"{server.url}/host/processes?pid={pid}", tmp_path)
    assert dom.cells["pid"] == [str(pid)]
    assert dom.cells["name"] == [psutil.Process(pid).name()]
    assert "rows-and-columns" in dom.classes
    assert "1 row where pid = {}".format(pid) in " ".join("".join(dom.text).split())

    dom = _dump_dom(f"{server.url}/host/users?_sort=uid", tmp_path)
    assert [int(u) for u in dom.cells["uid"]] == sorted(p.pw_uid for p in pwd.getpwall())


def test_browser_renders_the_database_page(server, tmp_path, catalog):
    dom = _dump_dom(f"{server.url}/host", tmp_path)
    text = " ".join("".join(dom.text).split())
    for name in ("processes", "users", "listening_ports"):
        assert " ".join(catalog[name].split()) in text
    assert "Needs a constraint on path or directory." in text


def test_browser_renders_the_required_column_page(server, tmp_path):
    dom = _dump_dom(f"{server.url}/host/file", tmp_path)
    text = " ".join("".join(dom.text).split())
    assert "the query must constrain path or directory" in text
    assert "osqlite-required-form" in dom.classes
    assert dom.options[:2] == ["path", "directory"]
    assert "like" in dom.options and "=" in dom.options
