"""File integrity monitoring: the inotify publisher behind file_events.

The events themselves are read, matched, stat'ed, hashed and stored by the
extension's inotify reader (csrc/tables/events_inotify.c, which documents
osquery's rules for actions, exclusions, recursion and hashing).  This
module turns the config's ``file_paths``, ``exclude_paths`` and
``file_accesses`` into that reader's subscriptions, with osquery's rules
(osquery/events/linux/inotify.cpp, plugins/config/parsers/file_paths.cpp):

* ``%`` is one path level (``*``), ``%%`` recursion (``**``), only at the end.
* A directory named without a trailing ``/`` gets one, so its contents are
  watched.  A wildcard in the leaf watches the parent directory and filters
  events by fnmatch on the name; a wildcard in the stem is expanded once at
  configure time.  ``**`` watches the tree below it, and directories created
  later are watched too.
* ``exclude_paths`` of every category form one global set.
* ``file_accesses`` categories also get IN_OPEN|IN_ACCESS and are neither
  stat'ed nor hashed.
"""
from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass

from .pump import CReader
from .store import storable

log = logging.getLogger("osqlite.events")

IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_OPEN = 0x020
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000

DEFAULT_MASK = (IN_MOVED_TO | IN_MOVED_FROM | IN_MODIFY | IN_DELETE | IN_CREATE
                | IN_CLOSE_WRITE | IN_ATTRIB)
ACCESS_MASK = IN_OPEN | IN_ACCESS
READ_MAX = 50 * 1024 * 1024


def to_glob(pattern: str) -> str:
    """osquery's % and %% wildcards as glob syntax."""
    return pattern.replace("%%", "**").replace("%", "*")


@dataclass
class Subscription:
    category: str
    path: str                 # the watched path (dirs end with '/')
    mask: int
    recursive: bool = False
    leaf: str | None = None   # fnmatch pattern on the event's name
    access: bool = False


def resolve(category: str, pattern: str, access: bool) -> list[Subscription]:
    """The subscriptions for one file_paths pattern (glob syntax)."""
    mask = DEFAULT_MASK | (ACCESS_MASK if access else 0)
    recursive = False
    path = pattern
    if "**" in path:
        recursive = True
        path = path[:path.index("**")]
    leaf = None
    if "*" in path or "?" in path or "[" in path:
        head, tail = os.path.split(path)
        if any(ch in tail for ch in "*?["):
            leaf = tail
            path = head + "/"
        if any(ch in path for ch in "*?["):
            out = []
            for d in sorted(glob.glob(path)):
                if os.path.isdir(d) and not d.endswith("/"):
                    d += "/"
                out.append(Subscription(category, d, mask, recursive, leaf, access))
            return out
    if not path.endswith("/") and os.path.isdir(path):
        path += "/"
    return [Subscription(category, path, mask, recursive, leaf, access)]


def subscriptions(file_paths: dict, file_accesses=()) -> list[Subscription]:
    accesses = set(file_accesses or ())
    subs: list[Subscription] = []
    for category, pats in (file_paths or {}).items():
        if not isinstance(pats, list):
            continue
        for p in pats:
            if isinstance(p, str) and p:
                subs.extend(resolve(category, to_glob(p), category in accesses))
    return subs


def exclusions(exclude_paths: dict | None) -> list[str]:
    out: list[str] = []
    for pats in (exclude_paths or {}).values():
        if isinstance(pats, list):
            out.extend(p for p in pats if isinstance(p, str) and p)
    return out


class INotifyPublisher(CReader):
    """The 'inotify' publisher and its 'file_events' subscriber."""

    name = "inotify"
    kind = "inotify"
    table = "file_events"
    thread_name = "osqlite-inotify"

    def __init__(self, store, read_max: int = READ_MAX, on_stored=None):
        super().__init__(store)
        self.read_max = int(read_max)
        self.on_stored = on_stored          # called (its thread) after a stored batch
        self.subs: list[Subscription] = []
        self.overflows = 0

    def setup(self) -> None:
        self.open_reader()
        self.set_options({"read_max": self.read_max})

    def configure(self, file_paths: dict, exclude_paths: dict | None = None,
                  file_accesses=()) -> None:
        """(Re)build the subscriptions and watches from the config."""
        subs = subscriptions(file_paths, file_accesses)
        excl = exclusions(exclude_paths)

        def apply(conn):
            conn.execute("SELECT osqlite_inotify_clear()")
            for p in excl:
                conn.execute("SELECT osqlite_inotify_exclude(?)", (storable(p),))
            for sc in subs:
                # Paths that are not UTF-8 go to the reader as their bytes.
                conn.execute("SELECT osqlite_inotify_watch(?, ?, ?, ?, ?, ?)",
                             (storable(sc.category), storable(sc.path), sc.mask,
                              int(sc.recursive), storable(sc.leaf), int(sc.access)))
        self.call(apply)
        self.subs = subs

    def on_summary(self, s: dict) -> None:
        self.overflows = int(s.get("overflows", self.overflows))
        if self.on_stored is not None and s.get("rows", {}).get("file_events"):
            self.on_stored()

    def subscription_count(self) -> int:
        return len(self.subs)
