"""osquery's own small helpers written out in Python, for the table tests'
oracles: osquery::split, its string-to-BIGINT cell conversion, its
non-blocking readFile and its recursive glob (genGlobs with '**')."""
from __future__ import annotations

import os
import re
from pathlib import Path


def osq_split(s: str, delims: str) -> list[str]:
    """osquery::split (osquery/utils/conversions/split.cpp): split on any of
    the delimiter characters, drop the empty pieces, then trim each."""
    pieces, cur = [], ""
    for ch in s:
        if ch in delims:
            pieces.append(cur)
            cur = ""
        else:
            cur += ch
    pieces.append(cur)
    return [p.strip(" \t\n\v\f\r") for p in pieces if p]


def to_bigint(s: str):
    """A TEXT value put in a BIGINT column (osquery/sql/dynamic_table_row.cpp):
    strtoll base 0 on the leading number, NULL when there is none."""
    m = re.match(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", s)
    if not m:
        return None
    sign, num = m.groups()
    if num[:2].lower() == "0x":
        v = int(num, 16)
    elif num.startswith("0"):
        v = int(num, 8)
    else:
        v = int(num)
    return -v if sign == "-" else v


def read_nb(path) -> bytes:
    """Read a file as osquery's readFile does: O_NONBLOCK, so a FIFO without
    a writer reads as empty instead of blocking."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        chunks = []
        while True:
            try:
                b = os.read(fd, 1 << 20)
            except BlockingIOError:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


def glob_recursive(base: Path | str) -> list[tuple[str, bool]]:
    """osquery's genGlobs(base + "/**") (osquery/filesystem/filesystem.cpp):
    the sorted base/* matches (no dot files), each followed, when it is a
    directory (links followed), by everything below it in directory order,
    walking each directory (device, inode) once for the whole pattern and
    64 levels at most.  Yields (path, is_dir) in that order; directory
    paths carry no trailing '/'."""
    out: list[tuple[str, bool]] = []
    seen: set[tuple[int, int]] = set()

    def walk(d: str, depth: int) -> None:
        if depth >= 64:
            return
        try:
            st = os.stat(d)
        except OSError:
            return
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        try:
            names = os.listdir(d)
        except OSError:
            return
        for n in names:
            full = d + "/" + n
            is_dir = os.path.isdir(full)
            out.append((full, is_dir))
            if is_dir:
                walk(full, depth + 1)

    base = str(base).rstrip("/")
    try:
        top = sorted(n for n in os.listdir(base) if not n.startswith("."))
    except OSError:
        return out
    # glob(3) sorts the marked names: "dir/" against "dir-x".
    marked = sorted((base + "/" + n + ("/" if os.path.isdir(base + "/" + n) else ""))
                    for n in top)
    for m in marked:
        p = m.rstrip("/") if m.endswith("/") else m
        is_dir = m.endswith("/")
        out.append((p, is_dir))
        if is_dir:
            walk(p, 0)
    return out
