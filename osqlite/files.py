"""Reading the daemon's inputs and checking its output paths, safely.

Flagfiles, config sources and pack files come from users and from other
programs, so every read is bounded in size and in time, and nothing here
ever blocks on a FIFO or a terminal:

* ``read_regular(path, limit)`` opens with O_NONBLOCK|O_NOCTTY, then
  refuses anything that is not a regular file (a FIFO would block forever
  on a blocking open, a device would never end).  Config sources and pack
  files are read this way, as osquery only reads regular files there
  (osquery: plugins/config/filesystem_config.cpp).
* ``read_stream(path, limit, wait)`` is for flagfiles, where a character
  device (``--flagfile=/dev/null`` in osquery's own test flags) or a pipe
  (``--flagfile=<(...)``) is legitimate: it reads at most ``limit`` bytes
  and waits at most ``wait`` seconds for them.  A named FIFO nobody writes
  to reads as end-of-file at once and is reported as such.
* ``check_output_path(path, flag)`` is the one check behind
  ``--database_path``, ``--pidfile`` and ``--logger_path``: an existing
  path must be a regular file (or a directory where one is expected) and
  never a symlink, a device, a FIFO or a socket.  It creates and deletes
  nothing.
"""
from __future__ import annotations

import errno
import os
import select
import stat
import time

from .errors import DaemonError


class InputError(OSError):
    """A file could not be read as an input; str() is a one-line reason."""


def bad_text(text: str) -> str | None:
    """Why text read from an input (a name, SQL, a flag value) cannot be
    used, or None: a NUL, or bytes that were not UTF-8 (kept as surrogates
    by the surrogateescape decoding of config files)."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink"))


def _kind(mode: int) -> str:
    """What a file of this mode is, for a message ("is a FIFO, not ...")."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(exc.errno, exc.strerror or str(exc)) from None


def read_regular(path: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes."""
    fd = _open(path)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(errno.EINVAL, f"is {_kind(st.st_mode)}, not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise InputError(errno.EFBIG, f"is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_stream(path: str, limit: int, wait: float) -> bytes:
    """Read a regular file, a character device or a pipe: at most ``limit``
    bytes, waiting at most ``wait`` seconds in all."""
    fd = _open(path)
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            os.close(fd)
            fd = -1
            return read_regular(path, limit)
        if stat.S_ISDIR(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            raise InputError(errno.EINVAL, f"is {_kind(st.st_mode)}")
        deadline = time.monotonic() + wait
        chunks, size = [], 0
        while True:
            try:
                chunk = os.read(fd, min(65536, limit + 1 - size))
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InputError(errno.ETIMEDOUT, f"is {_kind(st.st_mode)} that sent no end "
                                     f"of file within {wait:g} s") from None
                select.select([fd], [], [], left)
                continue
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise InputError(errno.EFBIG, f"is {_kind(st.st_mode)} that sent more "
                                 f"than {limit} bytes")
            if time.monotonic() > deadline:
                raise InputError(errno.ETIMEDOUT, f"is {_kind(st.st_mode)} that sent no end "
                                 f"of file within {wait:g} s")
        data = b"".join(chunks)
        if not data and stat.S_ISFIFO(st.st_mode) and not _is_anonymous_pipe(path):
            raise InputError(errno.ENODATA, "is a FIFO with no writer")
        return data
    finally:
        if fd >= 0:
            os.close(fd)


def _is_anonymous_pipe(path: str) -> bool:
    """/dev/fd/N of a shell's <(...) is a pipe, not a named FIFO."""
    try:
        return os.readlink(path).startswith("pipe:")
    except OSError:
        return False


def check_output_path(path: str, flag: str, directory: bool = False) -> None:
    """Refuse an existing ``path`` that is not what the daemon may write:
    a regular file (or, with ``directory``, a directory; for a file flag an
    existing directory is accepted too and left to the caller).  A missing
    path is fine (its parent is checked by the caller when it creates it)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DaemonError(f"cannot use --{flag}={path}: {exc.strerror}") from None
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        if directory and not stat.S_ISDIR(st.st_mode):
            raise DaemonError(f"--{flag}={path} is a regular file, not a directory: "
                              f"pass --{flag}=<a directory>")
        return
    what = "a directory" if directory else "a regular file"
    raise DaemonError(f"--{flag}={path} is {_kind(st.st_mode)}, not {what}: "
                      f"pass --{flag}=<{'a directory' if directory else 'a file path'}>")


def writable_dir(path: str, flag: str, create: bool, origin: str = "") -> None:
    """The directory a flag names exists (created 0750 when ``create``) and
    can be written, or DaemonError naming the flag (``origin``: where its
    value came from, e.g. " (set by config /etc/osquery/osquery.conf)")."""
    check_output_path(path, flag, directory=True)
    if create and not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o750, exist_ok=True)
        except OSError as exc:
            raise DaemonError(f"cannot create directory {path}{origin} ({exc.strerror}): "
                              f"pass --{flag}=<a writable path> or run as root") from None
    if not os.path.isdir(path):
        raise DaemonError(f"{path}{origin} is not a directory: pass --{flag}=<a writable path>")
    if not os.access(path, os.W_OK | os.X_OK):
        raise DaemonError(f"cannot write to {path}{origin} (permission denied): "
                          f"pass --{flag}=<a writable path> or run as root")
