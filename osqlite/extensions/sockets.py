"""The extension manager's UNIX socket, made safely.

osquery removes whatever is at --extensions_socket before binding (osquery:
osquery/filesystem/posix/fileops.cpp socketExists(path, true) calls
removePath), and thrift's Python server unlinks any path that refuses a
connection, which a regular file or /dev/null does.  osquery's own test
harness passes --extensions_socket=/dev/null as root.  osqlite removes only
a *socket* at that path, and only one nobody answers on (left by a process
that died); anything else there is an error that deletes nothing:

* nothing there: the parent directory is created (0750) when missing, as
  for the daemon's other paths (for the default /var/osquery only by root:
  for anyone else extensions are then off, said at INFO), and must be
  writable;
* a socket a live process answers on: an error (another daemon or shell
  serves extensions there; osquery would take it over);
* a stale socket: removed, after checking it is still the same inode;
* a regular file, directory, device, FIFO or symbolic link: an error naming
  what it is.

The socket is created 0600 (fchmod before bind: the mode the inode gets
does not depend on the umask, and there is no moment when it is wider),
so only its owner, or root, can connect.  The extensions' own sockets,
``<path>.<uuid>``, are cleaned up by the same rules.
"""
from __future__ import annotations

import errno
import glob
import logging
import os
import socket
import stat

from ..errors import DaemonError
from ..files import writable_dir

log = logging.getLogger("osqlite.extensions")


# sun_path holds 107 bytes and a NUL; an extension adds ".65535".
MAX_PATH = 107 - 6


class SocketError(Exception):
    """The socket cannot be made; str() is the one-line reason.  ``quiet``:
    the default path's directory is missing and this process may not create
    it (not worth an error: the user asked for nothing)."""

    quiet = False


_KINDS = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISLNK, "a symbolic link"))


def kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a socket"


def answers(path: str, timeout: float = 1.0) -> bool:
    """Does a process accept connections on the socket at path?"""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def remove_stale(path: str, st: os.stat_result) -> bool:
    """Unlink the stale socket at path if it is still the inode st; True if
    it was removed (or is gone)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return True
    if not stat.S_ISSOCK(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SocketError(f"Cannot remove the stale extension socket {path}: "
                          f"{exc.strerror}") from None
    return True


def bind(path: str, flag: str = "extensions_socket",
         create_parent: bool = True) -> tuple[socket.socket, tuple[int, int]]:
    """A listening socket at path, and its (st_dev, st_ino).  A missing
    parent directory is created (0750) when create_parent."""
    if not path:
        raise SocketError(f"--{flag} is empty: pass --{flag}=<a path for the socket>")
    if len(os.fsencode(path)) > MAX_PATH:
        raise SocketError(f"--{flag}={path} is too long for a UNIX socket: at most {MAX_PATH} "
                          "bytes, so that the extensions' <path>.<uuid> fit too")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise SocketError(f"Cannot use the extension socket {path}: {exc.strerror}") from None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketError(
                f"--{flag}={path} is {kind(st.st_mode)}, not a socket; osqlite replaces only "
                f"a stale socket there and has left it as it is: pass --{flag}=<a path "
                "for the socket>")
        if answers(path):
            raise SocketError(
                f"the extension socket {path} is in use: another osqueryd or osqueryi "
                f"serves extensions there; stop it or pass --{flag}=<another path>")
        if not remove_stale(path, st):
            raise SocketError(f"the extension socket {path} changed while it was being "
                              "replaced; it was left as it is")
    parent = os.path.dirname(os.path.abspath(path))
    if not create_parent and not os.path.lexists(parent):
        err = SocketError(f"Extension socket directory missing: {path}; extensions are off "
                          f"(create {parent}, or pass --{flag}=<a path>)")
        err.quiet = True
        raise err
    try:
        writable_dir(parent, flag, True)
    except DaemonError as exc:
        raise SocketError(f"Extension socket directory unusable: {exc}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.fchmod(sock.fileno(), 0o600)
        sock.bind(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SocketError(f"the extension socket {path} appeared while osqlite was "
                              "creating it; it was left as it is") from None
        raise SocketError(f"Cannot create the extension socket {path}: "
                          f"{exc.strerror or exc}") from None
    try:
        mine = os.lstat(path)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise SocketError(f"Cannot listen on the extension socket {path}: {exc.strerror}") from None
    return sock, (mine.st_dev, mine.st_ino)


def unlink_own(path: str, ident: tuple[int, int]) -> None:
    """Remove the socket this process bound at path, if it is still there."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == ident:
        try:
            os.unlink(path)
        except OSError as exc:
            log.warning("Cannot remove the extension socket %s: %s", path, exc.strerror)


def extension_sockets(manager_path: str) -> dict[int, str]:
    """``<manager_path>.<uuid>`` paths that exist, by uuid (osquery:
    osquery/extensions/interface.cpp removeStalePaths)."""
    out = {}
    for p in glob.glob(glob.escape(manager_path) + ".*"):
        suffix = p[len(manager_path) + 1:]
        if suffix.isdigit() and 0 < int(suffix) < 65536:
            out[int(suffix)] = p
    return out


def clean_extension_sockets(manager_path: str) -> set[int]:
    """Remove the stale extension sockets of a previous manager at this path;
    the uuids of those a live extension still answers on (not to be reused)."""
    live = set()
    for uuid, p in extension_sockets(manager_path).items():
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if not stat.S_ISSOCK(st.st_mode):
            log.warning("Not removing %s: it is %s, not a stale extension socket", p,
                        kind(st.st_mode))
            live.add(uuid)
        elif answers(p, 0.2):
            live.add(uuid)
        else:
            try:
                remove_stale(p, st)
            except SocketError as exc:
                log.warning("%s", exc)
    return live
