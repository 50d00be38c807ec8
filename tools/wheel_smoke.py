"""Wheel smoke test: build osqlite's wheel from a copy of the source tree,
install it into fresh virtualenvs of several Pythons, and query.

    python3 tools/wheel_smoke.py [--python PATH ...]

The copy gets a planted osqlite/libosqlite.so (not a library at all, newer
than every source), as a stale `make CFLAGS=-O0` build would be: the wheel
must carry a library compiled from the sources instead.  The wheel must be
tagged py3-none-<platform> (the library has no Python ABI), and in each
virtualenv `osqlite.connect()` must see this very process in `processes`.
Exits non-zero with a one-line reason on the first failure.  CI runs it
(.ci/run); tests/test_wheel_e2e.py runs it in a dev run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STALE = b"stale library planted by tools/wheel_smoke.py\n"
QUERY = ("import os, osqlite; c = osqlite.connect(); "
         "print(osqlite.load_route(), c.execute('SELECT name FROM processes WHERE pid = ?', "
         "(os.getpid(),)).fetchone()[0], c.execute('SELECT count(*) FROM users').fetchone()[0])")


class SmokeError(Exception):
    pass


def run(cmd: list[str], **kw) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, **kw)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SmokeError(f"{' '.join(cmd[:4])} ... failed: " + " | ".join(tail))
    return proc.stdout


def copy_tree(dest: Path) -> None:
    """The tracked files of the checkout (and any uncommitted edits to them)."""
    files = run(["git", "-C", str(REPO), "ls-files", "-z"]).split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def interpreters(given: list[str]) -> list[str]:
    if given:
        return given
    found = [sys.executable]
    for cand in ["/usr/bin/python3",
                 *sorted(Path.home().glob(".pyenv/versions/3.1[0-9]*/bin/python3"))]:
        cand = str(cand)
        if os.path.exists(cand) and os.path.realpath(cand) not in map(os.path.realpath, found):
            found.append(cand)
    return found


def smoke(pythons: list[str]) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory(prefix="osqlite-wheel-") as tmp:
        src = Path(tmp) / "src"
        copy_tree(src)
        planted = src / "osqlite" / "libosqlite.so"
        planted.write_bytes(STALE)
        future = time.time() + 3600
        os.utime(planted, (future, future))
        dist = Path(tmp) / "dist"
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)])
        wheels = list(dist.glob("osqlite-*.whl"))
        if len(wheels) != 1:
            raise SmokeError(f"expected one wheel, got {[w.name for w in wheels]}")
        wheel = wheels[0]
        tag = wheel.name.split("-", 2)[2].removesuffix(".whl")
        if not tag.startswith("py3-none-linux_") and "-none-manylinux" not in tag:
            raise SmokeError(f"{wheel.name}: tagged {tag}, not py3-none-<platform>")
        with zipfile.ZipFile(wheel) as zf:
            lib = zf.read("osqlite/libosqlite.so")
            names = zf.namelist()
        if lib == STALE or not lib.startswith(b"\x7fELF") or b"sqlite3_osqlite_init" not in lib:
            raise SmokeError(f"{wheel.name} ships the library left in the tree, not a fresh build")
        for need in ("osqlite/datasette_plugin/templates/osqlite_required.html",
                     "osqlite/sqlite_utils_plugin.py"):
            if need not in names:
                raise SmokeError(f"{wheel.name} lacks {need}")
        lines.append(f"{wheel.name}: {len(lib)} bytes of freshly built library")
        for i, python in enumerate(pythons):
            venv = Path(tmp) / f"venv{i}"
            run([python, "-m", "venv", str(venv)])
            vpy = str(venv / "bin" / "python")
            run([vpy, "-m", "pip", "install", "-q", str(wheel)])
            out = run([vpy, "-c", QUERY], cwd=tmp).split()
            if len(out) != 3 or not out[1].startswith("python"):
                raise SmokeError(f"{python}: unexpected query output {out}")
            version = run([vpy, "-c", "import sys; print(sys.version.split()[0])"]).strip()
            lines.append(f"Python {version} ({python}): route {out[0]}, "
                         f"processes sees itself as {out[1]}, {out[2]} users")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=[],
                        help="interpreter to install into (repeatable; default: this one, "
                             "Debian's python3 and the pyenv 3.1x builds)")
    args = parser.parse_args(argv)
    try:
        for line in smoke(interpreters(args.python)):
            print(line)
    except SmokeError as exc:
        print(f"wheel smoke test: {exc}", file=sys.stderr)
        return 1
    print("wheel smoke test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
