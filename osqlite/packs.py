"""Pack predicates (platform, version, shard) and discovery.

Predicates follow osquery (osquery: osquery/core/system.cpp checkPlatform,
osquery/utils/info/version.cpp versionAtLeast, osquery/config/packs.cpp
getMachineShard).  Discovery has two modes:

* ``any`` (default, the seed article's rule): the pack runs when ANY of its
  discovery queries returns rows;
* ``all`` (``--pack_discovery_mode=all``, osquery's rule): every discovery
  query must return rows; evaluation stops at the first that returns none.

A pack without discovery queries is always active; a discovery query that
fails makes the pack inactive with a warning.  Discovery is evaluated when
the config loads and, if pack_refresh_interval > 0, again on that period.
"""
from __future__ import annotations

import hashlib
import logging
import socket
from dataclasses import dataclass
from typing import Callable

from .config import PackSpec

log = logging.getLogger("osqlite.packs")

#: The osquery version osqlite's behaviour follows; "version" predicates compare to it.
OSQUERY_VERSION = "5.23.0"


def platform_matches(platform: str) -> bool:
    p = platform.strip().lower()
    if p in ("", "null"):
        return True
    return any(word in p for word in ("any", "all", "linux", "ubuntu", "centos", "posix"))


def _chunks(v: str) -> list[int | str]:
    return [int(c) if c.isdigit() else c for c in v.strip().split(".")]


def version_at_least(required: str, running: str = OSQUERY_VERSION) -> bool:
    if required.strip() in ("", "null", "0.0.0"):
        return True
    for a, b in zip(_chunks(running), _chunks(required)):
        if type(a) is not type(b):
            a, b = str(a), str(b)
        if a != b:
            return a > b  # type: ignore[operator]
    return len(_chunks(running)) >= len(_chunks(required))


def machine_shard(hostname: str | None = None) -> int:
    """int(first byte of SHA-1(hostname)) * 100 / 255, integer division."""
    host = hostname if hostname is not None else socket.gethostname()
    return hashlib.sha1(host.encode()).digest()[0] * 100 // 255


def shard_matches(shard: int, mine: int) -> bool:
    return shard == 0 or shard >= mine


def runnable(platform: str, version: str, shard: int, mine: int) -> bool:
    return platform_matches(platform) and version_at_least(version) and shard_matches(shard, mine)


@dataclass
class PackState:
    """What osquery_packs shows for a pack."""
    spec: PackSpec
    valid: bool
    active: bool = False
    discovery_executions: int = 0
    discovery_cache_hits: int = 0
    last_evaluated: float = 0.0


def evaluate(pack: PackState, run: Callable[[str], int], mode: str, now: float) -> bool:
    """Run discovery; ``run(sql)`` returns the row count or raises.  Sets and
    returns pack.active."""
    pack.last_evaluated = now
    if not pack.valid:
        pack.active = False
        return False
    discovery = pack.spec.discovery
    if not discovery:
        pack.active = True
        return True
    pack.discovery_executions += 1
    want_all = mode == "all"
    verdict = want_all
    for sql in discovery:
        try:
            found = run(sql) > 0
        except Exception as exc:
            # In "all" mode a failure fails the pack (osquery); in "any"
            # mode the other discovery queries may still find rows.
            log.warning("Discovery query failed (%s): %s", sql, exc)
            if want_all:
                verdict = False
                break
            continue
        if want_all and not found:
            verdict = False
            break
        if not want_all and found:
            verdict = True
            break
    if verdict != pack.active:
        log.info("Pack %s is %s (discovery, mode %s)", pack.spec.name,
                 "active" if verdict else "inactive", mode)
    pack.active = verdict
    return verdict
