"""Reading, validating and merging osqueryd's JSON config.

Sources (osquery: plugins/config/filesystem_config.cpp, osquery/config/config.cpp):
config_path must be a regular file; then every ``<config_path>.d/*.conf``
(dotfiles excluded) is merged after it in byte-wise path order.

Leniency, as osquery: whole-line ``#`` and ``//`` comments and ``\\``+newline
are removed.  Beyond osquery, a trailing comma left in front of ``}`` or ``]``
(typically by a commented-out last line, as in the seed article's sample) is
tolerated.

Invalid input raises ConfigError(file, key, reason): bad JSON, wrong types, an
interval that is not a positive number of seconds (1..604800), SQL that fails
to prepare or names an unknown table.  External pack files (a string value
in "packs") are handled by ``strict_packs``: when True (``--config_check``) an
unreadable or invalid pack file is a ConfigError; when False (the running
daemon) it is a warning naming the pack and the path, the pack is skipped and
the rest loads — so the seed's sample config, whose pack file usually does
not exist, still runs.

Other problems only warn, as in osquery: unknown options, reserved query
names (ending in epoch/counter), unknown top-level keys are ignored.

"views" (name -> SELECT) and "auto_table_construction" (name -> {query,
path, columns, platform}) are kept as given, the last source that has the
key winning (osquery: plugins/config/parsers/views.cpp,
auto_constructed_tables.cpp); osqlite.config_tables checks and creates
them.  Queries are validated after a source's views and tables are
declared (``declare``), so a scheduled query may read them.
"""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ConfigError

log = logging.getLogger("osqlite.config")

MAX_INTERVAL = 604800          # osquery: kMaxQueryInterval
MAX_CONFIG_SIZE = 4 * 1024 * 1024
RESERVED_PREFIXES = ("query.", "cache.", "config_views.")
RESERVED_SUFFIXES = ("epoch", "counter")
#: Top-level keys read by tables (osquery's config parsers of the same names).
TABLE_KEYS = ("yara", "prometheus_targets")

Validator = Callable[[str], "str | None"]   # SQL -> error message or None
Warn = Callable[[str], None]


@dataclass
class QuerySpec:
    """One scheduled query (from "schedule" or a pack's "queries")."""
    name: str                 # bare query name
    query: str
    interval: int
    snapshot: bool = False
    removed: bool = True
    denylist: bool = True
    platform: str = ""
    version: str = ""
    shard: int = 0
    description: str = ""
    pack: str | None = None   # None for the main schedule

    def log_name(self, delimiter: str) -> str:
        # osquery: osquery/config/config.cpp getQueryName
        if self.pack is None:
            return self.name
        return f"pack{delimiter}{self.pack}{delimiter}{self.name}"


@dataclass
class PackSpec:
    name: str
    source: str               # the file the pack came from (config source or pack file)
    queries: list[QuerySpec]
    discovery: list[str] = field(default_factory=list)
    platform: str = ""
    version: str = ""
    shard: int = 0
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    sources: list[tuple[str, str]] = field(default_factory=list)   # (path, raw text)
    options: dict[str, Any] = field(default_factory=dict)
    schedule: list[QuerySpec] = field(default_factory=list)
    packs: list[PackSpec] = field(default_factory=list)
    decorators: dict[str, Any] = field(default_factory=lambda: {"load": [], "always": [], "interval": {}})
    file_paths: dict[str, list[str]] = field(default_factory=dict)
    exclude_paths: dict[str, list[str]] = field(default_factory=dict)
    file_accesses: list[str] = field(default_factory=list)
    raw_schedule: dict[str, Any] = field(default_factory=dict)
    # Config-parser keys the tables read (osquery: yara, prometheus_targets),
    # passed to the extension as JSON through the osqlite_config table.
    table_keys: dict[str, Any] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict)
    atc: dict[str, Any] = field(default_factory=dict)   # auto_table_construction

    @property
    def hash(self) -> str:
        """osquery_info.config_hash: SHA-1 over the per-source SHA-1 hex digests."""
        inner = "".join(hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()
                        for _, text in self.sources)
        return hashlib.sha1(inner.encode()).hexdigest()

    def all_queries(self) -> list[QuerySpec]:
        out = list(self.schedule)
        for pack in self.packs:
            out.extend(pack.queries)
        return out

    def dump(self) -> dict[str, Any]:
        """The merged config, as --config_dump prints it."""
        out = {"options": self.options, "schedule": self.raw_schedule,
               "decorators": self.decorators,
               "packs": {p.name: p.raw for p in self.packs},
               "file_paths": self.file_paths, "exclude_paths": self.exclude_paths,
               "file_accesses": self.file_accesses, **self.table_keys}
        if self.views:
            out["views"] = self.views
        if self.atc:
            out["auto_table_construction"] = self.atc
        return out


# -- text -> JSON -----------------------------------------------------------------------

_TRAILING_COMMA = re.compile(r",(\s*\n\s*[}\]])")


def strip_comments(text: str) -> str:
    """Drop whole-line # and // comments (kept as empty lines so JSON error
    line numbers still match the file) and \\+newline, then the trailing
    commas a commented-out last entry leaves behind."""
    text = text.replace("\\\n", "")
    lines = []
    for line in text.split("\n"):
        s = line.strip()
        lines.append("" if s.startswith("#") or s.startswith("//") else line)
    # JSON strings cannot span lines, so a comma that ends a line (followed
    # by a closing bracket on a later line) is never inside a string.
    return _TRAILING_COMMA.sub(r"\1", "\n".join(lines))


def parse_json_text(text: str, path: str) -> dict[str, Any]:
    stripped = strip_comments(text)
    if len(stripped) > MAX_CONFIG_SIZE:
        raise ConfigError(path, "", f"the config size exceeds the limit of {MAX_CONFIG_SIZE} bytes")
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ConfigError(path, "", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise ConfigError(path, "", "the config must be a JSON object")
    return doc


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read(MAX_CONFIG_SIZE + 1).decode("utf-8", "surrogateescape")


def config_sources(config_path: str) -> list[str]:
    """The main file then <config_path>.d/*.conf in byte order."""
    if not os.path.isfile(config_path):
        raise ConfigError(config_path, "", "config file does not exist")
    extra = sorted(glob.glob(glob.escape(config_path + ".d") + "/*.conf"),
                   key=lambda p: p.encode("utf-8", "surrogateescape"))
    return [config_path] + [p for p in extra if os.path.isfile(p)]


# -- value coercion (osquery: osquery/utils/json/json.cpp valueToBool/valueToSize) -----

def to_bool(value: Any, file: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "t", "1"):
            return True
        if low in ("false", "f", "0", ""):
            return False
    raise ConfigError(file, key, f"expected a boolean, got {json.dumps(value)}")


def to_int(value: Any, file: str, key: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(file, key, f"expected a number, got {json.dumps(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise ConfigError(file, key, f"expected an integer, got {json.dumps(value)}")


def to_str(value: Any, file: str, key: str) -> str:
    if isinstance(value, str):
        return value
    raise ConfigError(file, key, f"expected a string, got {json.dumps(value)}")


def _interval(value: Any, file: str, key: str) -> int:
    reason = f"interval must be a positive number of seconds (1..{MAX_INTERVAL}), got {json.dumps(value)}"
    if isinstance(value, bool):
        raise ConfigError(file, key, reason)
    if isinstance(value, float) and not value.is_integer():
        raise ConfigError(file, key, reason)
    try:
        n = to_int(value, file, key)
    except ConfigError:
        raise ConfigError(file, key, reason) from None
    if not 1 <= n <= MAX_INTERVAL:
        raise ConfigError(file, key, reason)
    return n


# -- the loader -------------------------------------------------------------------------

class Loader:
    """Builds a Config from sources.  One Loader per load."""

    def __init__(self, default_interval: int = 3600, validate: Validator | None = None,
                 strict_packs: bool = False, warn: Warn | None = None,
                 declare: Callable[[Config], None] | None = None) -> None:
        self.default_interval = default_interval
        self.validate = validate
        self.strict_packs = strict_packs
        self.warn = warn or log.warning
        self.declare = declare

    def load(self, config_path: str) -> Config:
        cfg = Config()
        for path in config_sources(config_path):
            try:
                text = read_text(path)
            except OSError as exc:
                raise ConfigError(path, "", f"cannot read: {exc.strerror}") from None
            cfg.sources.append((path, text))
            self.apply(cfg, parse_json_text(text, path), path)
        return cfg

    def load_text(self, text: str, path: str = "<config>") -> Config:
        cfg = Config(sources=[(path, text)])
        self.apply(cfg, parse_json_text(text, path), path)
        return cfg

    def apply(self, cfg: Config, doc: dict[str, Any], path: str) -> None:
        options = doc.get("options")
        if options is not None:
            if not isinstance(options, dict):
                raise ConfigError(path, "options", "must be a JSON object")
            cfg.options.update(options)
        declared = False
        for key, attr in (("views", "views"), ("auto_table_construction", "atc")):
            value = doc.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                # osquery: osquery/config/config.cpp applyParsers
                self.warn(f"Error config {key} should be an array or object")
                continue
            setattr(cfg, attr, dict(value))
            declared = True
        if declared and self.declare is not None:
            self.declare(cfg)
        schedule = doc.get("schedule")
        if schedule is not None:
            if not isinstance(schedule, dict):
                raise ConfigError(path, "schedule", "must be a JSON object")
            for name, q in schedule.items():
                spec = self.query(name, q, path, f"schedule/{name}", None)
                if spec is None:
                    continue
                if any(s.name == name for s in cfg.schedule):
                    self.warn(f"Scheduled query {name} in {path} replaces an earlier one of the same name")
                    cfg.schedule = [s for s in cfg.schedule if s.name != name]
                cfg.schedule.append(spec)
                cfg.raw_schedule[name] = q
        decorators = doc.get("decorators")
        if decorators is not None:
            self.decorators(cfg, decorators, path)
        packs = doc.get("packs")
        if packs is not None:
            if not isinstance(packs, dict):
                raise ConfigError(path, "packs", "must be a JSON object")
            for name, value in packs.items():
                for pack in self.packs(name, value, path):
                    cfg.packs = [p for p in cfg.packs if p.name != pack.name]
                    cfg.packs.append(pack)
        for key, target in (("file_paths", cfg.file_paths), ("exclude_paths", cfg.exclude_paths)):
            value = doc.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(path, key, "must be a JSON object of category -> list of paths")
            for cat, paths in value.items():
                if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                    raise ConfigError(path, f"{key}/{cat}", "must be a list of path strings")
                target.setdefault(cat, []).extend(paths)
        for key in TABLE_KEYS:
            if key in doc:
                if not isinstance(doc[key], dict):
                    raise ConfigError(path, key, "must be a JSON object")
                cfg.table_keys[key] = doc[key]
        accesses = doc.get("file_accesses")
        if accesses is not None:
            if not isinstance(accesses, list) or not all(isinstance(c, str) for c in accesses):
                raise ConfigError(path, "file_accesses", "must be a list of category names")
            cfg.file_accesses.extend(c for c in accesses if c not in cfg.file_accesses)

    def check_sql(self, sql: str, path: str, key: str) -> None:
        if self.validate is None:
            return
        err = self.validate(sql)
        if err:
            raise ConfigError(path, key, f"SQL error: {err}")

    def query(self, name: str, q: Any, path: str, key: str, pack: str | None) -> QuerySpec | None:
        if not isinstance(q, dict):
            raise ConfigError(path, key, "a scheduled query must be a JSON object")
        if name.startswith(RESERVED_PREFIXES) or name.endswith(RESERVED_SUFFIXES):
            self.warn(f"Invalid query name: {name} ends with one of the reserved suffixes: "
                      "epoch, counter" if name.endswith(RESERVED_SUFFIXES) else
                      f"Invalid query name: {name} starts with a reserved prefix")
            return None
        sql = q.get("query")
        if not isinstance(sql, str) or not sql.strip():
            raise ConfigError(path, f"{key}/query", "must be a non-empty SQL string")
        interval = (_interval(q["interval"], path, f"{key}/interval") if "interval" in q
                    else self.default_interval)
        spec = QuerySpec(name=name, query=sql, interval=interval, pack=pack)
        if "snapshot" in q:
            spec.snapshot = to_bool(q["snapshot"], path, f"{key}/snapshot")
        if "removed" in q:
            spec.removed = to_bool(q["removed"], path, f"{key}/removed")
        if "denylist" in q:
            spec.denylist = to_bool(q["denylist"], path, f"{key}/denylist")
        if q.get("platform") is not None:
            spec.platform = to_str(q["platform"], path, f"{key}/platform")
        if q.get("version") is not None:
            spec.version = to_str(q["version"], path, f"{key}/version")
        if q.get("shard") is not None:
            spec.shard = to_int(q["shard"], path, f"{key}/shard")
        if q.get("description") is not None:
            spec.description = str(q["description"])
        self.check_sql(sql, path, f"{key}/query")
        return spec

    def decorators(self, cfg: Config, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ConfigError(path, "decorators", "must be a JSON object with load, always, interval")
        for kind in ("load", "always"):
            items = value.get(kind)
            if items is None:
                continue
            if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                raise ConfigError(path, f"decorators/{kind}", "must be a list of SQL strings")
            for i, sql in enumerate(items):
                self.check_sql(sql, path, f"decorators/{kind}/{i}")
            cfg.decorators[kind].extend(items)
        interval = value.get("interval")
        if interval is not None:
            if not isinstance(interval, dict):
                raise ConfigError(path, "decorators/interval", "must be an object of seconds -> list of SQL")
            for rate, items in interval.items():
                key = f"decorators/interval/{rate}"
                try:
                    seconds = int(rate)
                except ValueError:
                    raise ConfigError(path, key, "the key must be a positive number of seconds") from None
                if seconds <= 0:
                    raise ConfigError(path, key, "the key must be a positive number of seconds")
                if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                    raise ConfigError(path, key, "must be a list of SQL strings")
                for i, sql in enumerate(items):
                    self.check_sql(sql, path, f"{key}/{i}")
                cfg.decorators["interval"].setdefault(str(seconds), []).extend(items)

    # -- packs ----------------------------------------------------------------------

    def packs(self, name: str, value: Any, path: str) -> list[PackSpec]:
        key = f"packs/{name}"
        if isinstance(value, dict):
            return [self.pack(name, value, path, key)]
        if not isinstance(value, str):
            raise ConfigError(path, key, "a pack must be an object, a file path or a glob")
        pattern = value.replace("%", "*")
        if name == "*" or glob.has_magic(pattern):
            # osquery: each matching file is a pack named after its basename
            # without the last extension (/x/osx-attacks.conf -> osx-attacks).
            out = []
            for file in sorted(glob.glob(pattern)):
                if not os.path.isfile(file):
                    continue
                pack_name = os.path.splitext(os.path.basename(file))[0]
                pack = self.pack_file(pack_name, file, path, f"packs/{pack_name}")
                if pack is not None:
                    out.append(pack)
            return out
        pack = self.pack_file(name, value, path, key)
        return [pack] if pack is not None else []

    def pack_file(self, name: str, file: str, path: str, key: str) -> PackSpec | None:
        try:
            if not os.path.isfile(file):
                raise ConfigError(file, key, "pack file does not exist or is not a regular file")
            try:
                text = read_text(file)
            except OSError as exc:
                raise ConfigError(file, key, f"cannot read pack file: {exc.strerror}") from None
            if not text.strip():
                raise ConfigError(file, key, "pack file is empty")
            return self.pack(name, parse_json_text(text, file), file, key)
        except ConfigError as exc:
            if self.strict_packs:
                raise
            # osquery: WARNING "Error reading the query pack named: <name>"
            self.warn(f"Error reading the query pack named: {name} ({file}): {exc.reason}"
                      + (f" at {exc.key}" if exc.key != key else ""))
            return None

    def pack(self, name: str, doc: dict[str, Any], path: str, key: str) -> PackSpec:
        pack = PackSpec(name=name, source=path, queries=[], raw=doc)
        if doc.get("platform") is not None:
            pack.platform = to_str(doc["platform"], path, f"{key}/platform")
        if doc.get("version") is not None:
            pack.version = to_str(doc["version"], path, f"{key}/version")
        if doc.get("shard") is not None:
            pack.shard = to_int(doc["shard"], path, f"{key}/shard")
        discovery = doc.get("discovery")
        if discovery is not None:
            if discovery == "":
                discovery = []   # property_tree's spelling of an empty array
            if not isinstance(discovery, list) or not all(isinstance(s, str) for s in discovery):
                raise ConfigError(path, f"{key}/discovery", "must be a list of SQL strings")
            for i, sql in enumerate(discovery):
                self.check_sql(sql, path, f"{key}/discovery/{i}")
            pack.discovery = list(discovery)
        queries = doc.get("queries")
        if queries is not None and queries != "":
            if not isinstance(queries, dict):
                raise ConfigError(path, f"{key}/queries", "must be a JSON object")
            for qname, q in queries.items():
                if any(s.name == qname for s in pack.queries):
                    continue   # osquery: the first occurrence wins
                spec = self.query(qname, q, path, f"{key}/queries/{qname}", name)
                if spec is not None:
                    pack.queries.append(spec)
        return pack
