#!/usr/bin/env python3
"""Generate specs/osquery-foreign-tables.json from an osquery source tree.

osquery's "foreign" tables are the tables of the other platforms (macOS,
Windows) as a Linux build sees them: osquery's specs/CMakeLists.txt lists
each platform-dependent spec with its platforms, and every spec that does
not name linux becomes, with --enable_foreign, an empty table with its
schema (osquery: specs/CMakeLists.txt generateForeignTables,
tools/codegen/templates/foreign.cpp.in, osquery/sql/virtual_table.cpp).

Each .table file is osquery's small Python DSL; it is evaluated here with
stand-ins for table_name(), schema(), Column() and the rest that only record
names, types and column options.  Columns of an extended_schema() whose
platforms do not include linux are hidden, as osquery's generator makes them
on Linux (osquery: tools/codegen/gentable.py extended_schema).  Only the
schema is kept (names, types, flags, aliases); descriptions are not copied.

The output has the layout of specs/osquery-linux-tables.json, so
tools/gen_schema.py turns both into C descriptors the same way.

Usage:  python3 tools/gen_foreign.py [OSQUERY_SOURCE_DIR]   (default /work/src/osquery)
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "specs" / "osquery-foreign-tables.json"
PLATFORM_NAMES = {"macos": "macOS", "windows": "Windows", "freebsd": "FreeBSD", "linux": "Linux"}


class _Type:
    def __init__(self, name: str) -> None:
        self.name = name


class _Column:
    def __init__(self, name: str, col_type: _Type, description: str = "",
                 aliases: list[str] | None = None, platforms: list[str] | None = None,
                 notes: str = "", **options: Any) -> None:
        self.name = name
        self.type = col_type.name
        self.aliases = list(aliases or [])
        self.options = options


class _ForeignKey:
    def __init__(self, **kwargs: Any) -> None:
        pass


def evaluate(path: Path) -> dict[str, Any]:
    """Run one .table file with recording stand-ins for osquery's DSL."""
    state: dict[str, Any] = {"schema": [], "aliases": [], "attributes": {}, "examples": []}

    def table_name(name: str, aliases: list[str] | None = None) -> None:
        state["name"] = name
        state["aliases"] = list(aliases or [])

    def schema(items: list[Any]) -> None:
        state["schema"] = [c for c in items if isinstance(c, _Column)]

    def extended_schema(platforms: list[str], items: list[Any]) -> None:
        for c in items:
            if isinstance(c, _Column):
                if "linux" not in platforms:
                    c.options["hidden"] = True
                state["schema"].append(c)

    def attributes(**kwargs: Any) -> None:
        state["attributes"] = kwargs

    def ignore(*args: Any, **kwargs: Any) -> None:
        return None

    def examples(items: list[str]) -> None:
        state["examples"] = list(items)

    env: dict[str, Any] = {
        "table_name": table_name, "schema": schema, "extended_schema": extended_schema,
        "attributes": attributes, "description": ignore, "implementation": ignore,
        "examples": examples, "fuzz_paths": ignore, "notes": ignore, "select_all": ignore,
        "Column": _Column, "ForeignKey": _ForeignKey,
        "WINDOWS": ["windows", "win32", "cygwin"], "LINUX": ["linux"],
        "POSIX": ["linux", "darwin"], "DARWIN": ["darwin"],
    }
    for t in ("TEXT", "DATE", "DATETIME", "INTEGER", "BIGINT", "UNSIGNED_BIGINT", "DOUBLE", "BLOB"):
        env[t] = _Type(t)
    exec(compile(path.read_text(), str(path), "exec"), env)  # noqa: S102 (osquery's own spec DSL)
    return state


COLLATE = {"nocase": "collate_nocase", "version": "collate_version",
           "version_dpkg": "collate_version_dpkg", "version_rhel": "collate_version_rhel",
           "version_arch": "collate_version_arch", "binary": "collate_binary",
           "rtrim": "collate_rtrim"}
OPTIONS = ("required", "index", "additional", "optimized", "hidden")


def column_json(c: _Column) -> dict[str, Any]:
    flags = [o for o in OPTIONS if c.options.get(o)]
    collate = c.options.get("collate")
    if collate:
        flags.append(COLLATE[str(collate).lower()])
    out: dict[str, Any] = {"name": c.name, "type": c.type, "flags": flags}
    if c.aliases:
        out["aliases"] = c.aliases
    return out


def foreign_specs(src: Path) -> list[tuple[str, list[str]]]:
    """(spec file, platforms) for every platform-dependent spec without linux."""
    text = (src / "specs" / "CMakeLists.txt").read_text()
    out = []
    for rel, platforms in re.findall(r'"([\w/]+\.table):([\w,]+)"', text):
        plats = platforms.split(",")
        if "linux" not in plats:
            out.append((rel, plats))
    return out


def generate(src: Path) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for rel, plats in foreign_specs(src):
        st = evaluate(src / "specs" / rel)
        names = [p for p in plats]
        entry: dict[str, Any] = {
            "description": "osquery's " + " and ".join(PLATFORM_NAMES.get(p, p) for p in names)
                           + " table; on Linux it exists only with --enable_foreign and is always empty.",
            "platforms": names,
            "spec": f"osquery: specs/{rel}",
            "evented": bool(st["attributes"].get("event_subscriber")),
            "attributes": sorted(k for k, v in st["attributes"].items() if v),
            "columns": [column_json(c) for c in st["schema"]],
        }
        if st["aliases"]:
            entry["table_aliases"] = st["aliases"]
        tables[st["name"]] = entry
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "--short=8", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return {
        "about": f"osquery (commit {rev}) tables of other platforms that a Linux build "
                 "registers as empty 'foreign' tables with --enable_foreign: names, columns, "
                 "types, flags, generated by tools/gen_foreign.py from osquery's specs/.",
        "tables": dict(sorted(tables.items())),
    }


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path("/work/src/osquery")
    if not (src / "specs" / "CMakeLists.txt").is_file():
        print(f"{src} is not an osquery source tree (no specs/CMakeLists.txt)", file=sys.stderr)
        return 1
    OUT.write_text(json.dumps(generate(src), indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
