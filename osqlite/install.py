"""Put osqlite.so where the dynamic loader finds it, so `.load osqlite` works.

    python -m osqlite.extension --install              # /usr/local/lib, then ldconfig
    python -m osqlite.extension --install --prefix DIR
    python -m osqlite.extension --uninstall [--prefix DIR]

SQLite's ``.load osqlite`` (and ``load_extension('osqlite')`` in any host)
calls ``dlopen("osqlite")`` then ``dlopen("osqlite.so")`` and derives the
entry point ``sqlite3_osqlite_init`` from the name.  A bare name is found
through LD_LIBRARY_PATH, /etc/ld.so.cache or the system directories.
ldconfig caches only files named ``lib*.so*``, under their SONAME: the
library is built with the SONAME ``osqlite.so`` (setup.py), so installing
it as ``PREFIX/lib/libosqlite.so`` with the link ``osqlite.so ->
libosqlite.so`` beside it puts ``osqlite.so`` in the cache when PREFIX/lib
is one of the loader's directories (/usr/local/lib is, on Debian).

The library is copied, not linked into the Python package: a link from
/usr/local/lib into a virtualenv would let whoever can write that
virtualenv put code into every root process that loads osqlite, and would
dangle once the virtualenv is gone.  The copy replaces the old file by
rename, so running it again after an upgrade is safe (processes that have
the old library loaded keep it).

What install creates is recorded in PREFIX/share/osqlite/installed.json
(the file's device and inode); uninstall removes only those, and only
while they are still what install made.  Paths are walked one directory at
a time without following symlinks, except root's own (merged /usr); when
running as root, a directory that another user could write is refused.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator

from .errors import OsqliteError

log = logging.getLogger("osqlite.install")

DEFAULT_PREFIX = "/usr/local"
LIBRARY = "libosqlite.so"      # the file ldconfig reads (its SONAME is LINK)
LINK = "osqlite.so"            # what dlopen("osqlite") ends up asking for
MANIFEST_DIR = ("share", "osqlite")
MANIFEST = "installed.json"
# The only directories install may create (relative to the prefix) and so
# the only ones uninstall may remove.
CREATABLE = {"lib", "share", "share/osqlite"}


class InstallError(OsqliteError):
    """The library cannot be installed or uninstalled there."""


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _trusted_owner(st: os.stat_result) -> bool:
    return st.st_uid in (0, os.geteuid())


def _check_dir(fd: int, path: str) -> None:
    """As root, refuse a directory another user owns or can write: they
    could swap the library that root's processes load."""
    if os.geteuid() != 0:
        return
    st = os.fstat(fd)
    if st.st_uid != 0:
        raise InstallError(f"{path} belongs to uid {st.st_uid}: refusing to install "
                           "a library for root there")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        raise InstallError(f"{path} is writable by group or others: refusing to "
                           "install a library for root there")


def _open_dir(path: str, create: bool) -> int:
    """Open directory ``path`` component by component (O_NOFOLLOW).

    A symlink on the way is followed only when root or we own it (merged
    /usr's /lib -> usr/lib); anything else is an error.  With ``create``,
    missing directories are made (0755)."""
    if not os.path.isabs(path):
        path = os.path.abspath(path)
    todo = [c for c in path.split("/") if c]
    done: list[str] = []
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    hops = 0
    try:
        while todo:
            comp = todo.pop(0)
            if comp == ".":
                continue
            if comp == "..":
                # Re-walk from the root: ".." of a followed link is lexical.
                done = done[:-1]
                todo = done + todo
                done = []
                os.close(fd)
                fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
                continue
            where = "/" + "/".join(done + [comp])
            try:
                nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(comp, 0o755, dir_fd=fd)
                except OSError as exc:
                    raise InstallError(f"cannot create {where}: {_strerror(exc)}") from exc
                nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise InstallError(f"{where}: {_strerror(exc)}") from exc
                st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise InstallError(f"{where} is not a directory") from exc
                if not _trusted_owner(st):
                    raise InstallError(f"{where} is a symlink owned by uid {st.st_uid}: "
                                       "refusing to follow it") from exc
                hops += 1
                if hops > 40:
                    raise InstallError(f"{where}: too many levels of symlinks") from exc
                target = os.readlink(comp, dir_fd=fd)
                parts = [c for c in target.split("/") if c]
                if target.startswith("/"):
                    os.close(fd)
                    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
                    done = []
                todo = parts + todo
                continue
            os.close(fd)
            fd = nfd
            done.append(comp)
        return fd
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def _dir(path: str, create: bool = False) -> Iterator[int]:
    try:
        fd = _open_dir(path, create)
    except FileNotFoundError:
        raise
    except PermissionError as exc:
        raise InstallError(f"{path}: permission denied (run as root, or give --prefix)") from exc
    try:
        yield fd
    finally:
        os.close(fd)


def _lstat(name: str, dfd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _write_atomic(dfd: int, name: str, data: bytes, mode: int) -> os.stat_result:
    """Write ``name`` in directory ``dfd`` through a new temporary file and a
    rename: never through an existing file or link of that name."""
    tmp = f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dfd)
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fchmod(fd, mode)
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        raise
    return st


def _is_ours(dfd: int, st: os.stat_result, record: dict) -> bool:
    """The library install wrote, unchanged: same file (device, inode) and
    same bytes (a file made after ours was deleted may reuse its inode)."""
    if not stat.S_ISREG(st.st_mode) or [st.st_dev, st.st_ino] != [record.get("dev"),
                                                                   record.get("ino")]:
        return False
    try:
        fd = os.open(LIBRARY, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
    except OSError:
        return False
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == record.get("sha256")


def _read_manifest(prefix: str) -> dict:
    path = os.path.join(prefix, *MANIFEST_DIR)
    try:
        with _dir(path) as dfd:
            fd = os.open(MANIFEST, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
            with os.fdopen(fd, "rb") as f:
                data = json.loads(f.read(1 << 20))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InstallError(f"{os.path.join(path, MANIFEST)}: unreadable ({exc}); "
                           "remove it and the files by hand") from exc
    return data if isinstance(data, dict) else {}


def loader_dirs() -> set[str]:
    """The directories the dynamic loader searches without LD_LIBRARY_PATH:
    /etc/ld.so.conf (with its includes) and the system directories."""
    dirs: list[str] = []
    seen: set[str] = set()

    def read(conf: str, depth: int = 0) -> None:
        if conf in seen or depth > 8:
            return
        seen.add(conf)
        try:
            with open(conf, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include"):
                pattern = line[len("include"):].strip()
                if not os.path.isabs(pattern):
                    pattern = os.path.join(os.path.dirname(conf), pattern)
                for inc in sorted(glob.glob(pattern)):
                    read(inc, depth + 1)
            else:
                dirs.append(line.split("=", 1)[0].strip())

    read("/etc/ld.so.conf")
    dirs += ["/lib", "/usr/lib"]
    try:
        arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        arch = ""
    if not arch and os.path.isdir("/usr/lib/x86_64-linux-gnu"):
        arch = "x86_64-linux-gnu"
    if arch:
        dirs += [f"/lib/{arch}", f"/usr/lib/{arch}"]
    return {os.path.realpath(d) for d in dirs}


def _ldconfig() -> str | None:
    """Run ldconfig; None when it ran, else why not."""
    for exe in ("/sbin/ldconfig", "/usr/sbin/ldconfig"):
        if os.path.exists(exe):
            break
    else:
        return "ldconfig not found"
    try:
        proc = subprocess.run([exe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"ldconfig failed: {exc}"
    if proc.returncode != 0:
        return "ldconfig failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return None


def resolve_bare_name(env: dict[str, str] | None = None) -> str | None:
    """Where dlopen("osqlite.so") finds the library in a new process with
    ``env`` (default: ours), or None.  A new process: this one's loader keeps
    the ld.so.cache it read first."""
    code = ("import ctypes, os\n"
            "ctypes.CDLL('osqlite.so')\n"
            "for line in open('/proc/self/maps'):\n"
            "    p = line.split(None, 5)\n"
            "    if len(p) == 6 and 'osqlite' in os.path.basename(p[5]):\n"
            "        print(p[5].strip()); break\n")
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True,
                              text=True, timeout=60, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def install(prefix: str = DEFAULT_PREFIX, library: str | None = None) -> list[str]:
    """Install the library under ``prefix``/lib; returns lines to print."""
    from .extension import extension_path

    prefix = os.path.abspath(prefix)
    src = library or extension_path()
    try:
        with open(src, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise InstallError(f"cannot read {src}: {_strerror(exc)}") from exc
    if not data.startswith(b"\x7fELF") or b"sqlite3_osqlite_init" not in data:
        raise InstallError(f"{src} is not osqlite's extension library")
    manifest = _read_manifest(prefix)
    created: list[str] = [d for d in manifest.get("created_dirs") or [] if d in CREATABLE]
    for rel in sorted(CREATABLE):
        try:
            with _dir(os.path.join(prefix, rel)):
                pass
        except FileNotFoundError:
            if rel not in created:
                created.append(rel)
    libdir = os.path.join(prefix, "lib")
    with _dir(libdir, create=True) as dfd:
        _check_dir(dfd, libdir)
        st = _lstat(LIBRARY, dfd)
        if st is not None and not _is_ours(dfd, st, manifest.get("library") or {}):
            raise InstallError(
                f"{libdir}/{LIBRARY} exists and was not installed by osqlite: "
                "remove it, or choose another --prefix")
        lst = _lstat(LINK, dfd)
        link_created = bool(manifest.get("link_created"))
        if lst is not None and not (stat.S_ISLNK(lst.st_mode)
                                    and os.readlink(LINK, dir_fd=dfd) == LIBRARY):
            raise InstallError(
                f"{libdir}/{LINK} exists and is not osqlite's link to {LIBRARY}: "
                "remove it, or choose another --prefix")
        try:
            new = _write_atomic(dfd, LIBRARY, data, 0o644)
            if lst is None:
                os.symlink(LIBRARY, LINK, dir_fd=dfd)
                link_created = True
        except OSError as exc:
            raise InstallError(f"cannot write {libdir}: {_strerror(exc)}") from exc
    mdir = os.path.join(prefix, *MANIFEST_DIR)
    record = {
        "version": _version(),
        "library": {"path": f"lib/{LIBRARY}", "dev": new.st_dev, "ino": new.st_ino,
                    "sha256": hashlib.sha256(data).hexdigest(), "source": src},
        "link_created": link_created,
        "created_dirs": created,
    }
    try:
        with _dir(mdir, create=True) as mfd:
            _write_atomic(mfd, MANIFEST, json.dumps(record, indent=1).encode() + b"\n", 0o644)
    except OSError as exc:
        raise InstallError(f"cannot write {mdir}/{MANIFEST}: {_strerror(exc)}") from exc
    lines = [f"installed {libdir}/{LIBRARY} (osqlite {record['version']}) "
             f"and {libdir}/{LINK} -> {LIBRARY}"]
    lines += _refresh_loader(libdir)
    return lines


def _refresh_loader(libdir: str) -> list[str]:
    """ldconfig when libdir is one of the loader's directories; say where
    the bare name now resolves."""
    real = os.path.realpath(libdir)
    if real not in loader_dirs():
        return [f"{libdir} is not one of the dynamic loader's directories: "
                f"`.load osqlite` finds the library with LD_LIBRARY_PATH={libdir} "
                f"(or add {libdir} to /etc/ld.so.conf.d/ and run ldconfig)"]
    if os.geteuid() != 0:
        return [f"run ldconfig as root so that the loader's cache sees {libdir}/{LINK}"]
    why = _ldconfig()
    if why:
        return [why]
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    found = resolve_bare_name(env)
    if found is None:
        return ["ldconfig ran, but dlopen(\"osqlite.so\") finds nothing"]
    return [f"ldconfig ran; `.load osqlite` now loads {found}"]


def uninstall(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Remove what install created under ``prefix``; returns lines to print."""
    prefix = os.path.abspath(prefix)
    manifest = _read_manifest(prefix)
    if not manifest:
        return [f"nothing installed by osqlite under {prefix} "
                f"({os.path.join(prefix, *MANIFEST_DIR, MANIFEST)} is absent)"]
    libdir = os.path.join(prefix, "lib")
    lines: list[str] = []
    lib = manifest.get("library") or {}
    try:
        with _dir(libdir) as dfd:
            st = _lstat(LIBRARY, dfd)
            if st is not None:
                if _is_ours(dfd, st, lib):
                    os.unlink(LIBRARY, dir_fd=dfd)
                    lines.append(f"removed {libdir}/{LIBRARY}")
                else:
                    lines.append(f"left {libdir}/{LIBRARY}: it changed since osqlite "
                                 "installed it")
            lst = _lstat(LINK, dfd)
            if lst is not None and manifest.get("link_created"):
                if stat.S_ISLNK(lst.st_mode) and os.readlink(LINK, dir_fd=dfd) == LIBRARY:
                    os.unlink(LINK, dir_fd=dfd)
                    lines.append(f"removed {libdir}/{LINK}")
                else:
                    lines.append(f"left {libdir}/{LINK}: it is no longer osqlite's link")
    except FileNotFoundError:
        lines.append(f"{libdir} is gone")
    except PermissionError as exc:
        raise InstallError(f"{libdir}: permission denied (run as root)") from exc
    mdir = os.path.join(prefix, *MANIFEST_DIR)
    with contextlib.suppress(FileNotFoundError), _dir(mdir) as mfd:
        os.unlink(MANIFEST, dir_fd=mfd)
    # Directories install made, deepest first, if now empty.
    for rel in sorted((d for d in manifest.get("created_dirs") or [] if d in CREATABLE),
                      key=lambda d: -d.count("/")):
        parent, _, name = os.path.join(prefix, rel).rpartition("/")
        try:
            with _dir(parent) as pfd:
                os.rmdir(name, dir_fd=pfd)
        except OSError:
            pass
    real = os.path.realpath(libdir)
    if os.geteuid() == 0 and real in loader_dirs():
        why = _ldconfig()
        lines.append(why or "ldconfig ran")
    return lines


def _version() -> str:
    from . import __version__
    return __version__
