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
import re
import socket
from dataclasses import dataclass
from typing import Callable

from .config import PackSpec
from .flags import OSQUERY_VERSION

log = logging.getLogger("osqlite.packs")


def platform_matches(platform: str) -> bool:
    """osquery: osquery/core/system.cpp checkPlatform, for a Linux host:
    substring tests, so comma lists work ("linux,darwin")."""
    if platform in ("", "null"):
        return True
    return any(word in platform for word in ("any", "all", "linux", "ubuntu", "centos", "posix"))


def _number(chunk: str) -> int | None:
    """std::stoi: leading blanks, a sign, digits; the rest ignored; None if no digits."""
    m = re.match(r"\s*([+-]?\d+)", chunk)
    return int(m.group(1)) if m else None


def version_at_least(required: str, running: str = OSQUERY_VERSION) -> bool:
    """osquery: osquery/utils/info/version.cpp versionAtLeast: compare the
    dot-separated chunks of the running version with the required one,
    numerically (string order where a chunk is not a number)."""
    if required in ("", "null", "0.0.0") or running == "0.0.0":
        return True
    need = [c.strip() for c in required.split(".") if c]
    have = [c.strip() for c in running.split(".") if c]
    for index, chunk in enumerate(have):
        if len(need) <= index:
            return True
        a, b = _number(chunk), _number(need[index])
        if a is None or b is None:
            if chunk < need[index]:
                return False
            continue
        if a < b:
            return False
        if a > b:
            return True
    return True


def machine_shard(hostname: str | None = None) -> int:
    """int(first byte of SHA-1(hostname)) * 100 / 255, integer division."""
    host = hostname if hostname is not None else socket.gethostname()
    return hashlib.sha1(host.encode("utf-8", "surrogateescape")).digest()[0] * 100 // 255


def shard_matches(shard: int, mine: int) -> bool:
    return shard == 0 or shard >= mine


def runnable(platform: str, version: str, shard: int, mine: int) -> bool:
    return platform_matches(platform) and version_at_least(version) and shard_matches(shard, mine)


_SHARD: list[int] = []


def applies(platform: str, version: str, shard: int) -> bool:
    """Do a pack's or query's platform, version and shard admit this host?"""
    if not _SHARD:
        _SHARD.append(machine_shard())
    return runnable(platform, version, shard, _SHARD[0])


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
