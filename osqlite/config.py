"""osquery's config: sources, JSON rules, and every top-level key, as osquery reads them.

A config is a map source name -> JSON text, produced by the active config
plugin (osqlite.registry; the filesystem one reads ``--config_path`` and
``<config_path>.d/*.conf``).  Sources are applied in byte order of their
names (osquery: osquery/config/config.cpp Config::update), each one:

1. comments removed: ``\\``+newline, whole-line ``#`` and ``//``; osqlite also
   drops the trailing comma a commented-out last line leaves (the seed
   article's sample), so ``[1,\\n#2\\n]`` loads;
2. size at most 4 MiB, nesting at most 32 levels (osquery's kMaxConfigDepth;
   checked before parsing, so 50,000 levels cost a scan, never a
   RecursionError), strict JSON, an object at the root.  A source failing
   here stops the load: earlier sources stay applied, later ones are not
   read, as osquery (``Config.error`` says why);
3. every key read the way osquery's parsers read it.  Junk is that entry's
   problem only: a non-object query, a number in ``discovery`` or
   ``file_paths``, an interval outside 1..604800, a decorator interval that
   is not a multiple of 60, SQL that does not compile, a name or SQL with a
   NUL or invalid UTF-8 — each is skipped with a warning naming the file,
   the pack and the query, and everything else loads.

Queries, packs and discovery are filtered by their ``platform``, ``version``
and ``shard`` before any SQL is compiled (osquery: osquery/config/packs.cpp
Pack::initialize), so a darwin query naming a table Linux lacks is simply
not there.  A pack given as a string is asked of the config plugin
(``gen_pack``); an unreadable pack file is a warning.

``views`` (name -> SELECT) and ``auto_table_construction`` (name -> {query,
path, columns, platform}) are kept as given, the last source that has the
key winning (osquery: plugins/config/parsers/views.cpp,
auto_constructed_tables.cpp); osqlite.config_tables checks and creates
them.  Queries are validated after a source's views and tables are
declared (``declare``), so a scheduled query may read them.  ``yara`` and
``prometheus_targets`` are kept for the tables that read them
(``Config.table_keys``).

``Config.problems`` lists every skipped query or decorator
(``--config_check_strict`` fails on them); ``Config.error`` is the
source-level failure, if any (``--config_check`` fails on it).
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
from .files import InputError, bad_text, read_regular

log = logging.getLogger("osqlite.config")

MAX_INTERVAL = 604800          # osquery: kMaxQueryInterval
MAX_CONFIG_SIZE = 4 * 1024 * 1024   # osquery: kMaxConfigSize, after comment stripping
MAX_CONFIG_DEPTH = 32          # osquery: kMaxConfigDepth
MAX_SOURCE_BYTES = 16 * MAX_CONFIG_SIZE   # a file read at all (comments included)
RESERVED_PREFIXES = ("query.", "cache.", "config_views.")
RESERVED_SUFFIXES = ("epoch", "counter")

# Keys handled by osquery's config parsers: a present, non-null value that is
# not an array or object is warned about and ignored (osquery:
# osquery/config/config.cpp applyParsers).
PARSER_KEYS = ("options", "decorators", "file_paths", "file_paths_query", "file_accesses",
               "exclude_paths", "events", "views", "auto_table_construction", "yara",
               "prometheus_targets", "kafka_topics", "feature_vectors", "logger")

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
    source: str = ""          # the file it came from

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
    valid: bool = True        # platform, version and shard allow it on this host
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    sources: list[tuple[str, str]] = field(default_factory=list)   # (source name, raw text)
    options: dict[str, Any] = field(default_factory=dict)
    options_source: dict[str, str] = field(default_factory=dict)   # option -> source name
    schedule: list[QuerySpec] = field(default_factory=list)
    packs: list[PackSpec] = field(default_factory=list)
    decorators: dict[str, Any] = field(default_factory=lambda: {"load": [], "always": [], "interval": {}})
    file_paths: dict[str, list[str]] = field(default_factory=dict)
    exclude_paths: dict[str, list[str]] = field(default_factory=dict)
    file_accesses: list[str] = field(default_factory=list)
    # Config-parser keys the tables read (osquery: yara, prometheus_targets),
    # passed to the extension as JSON through the osqlite_config table.
    table_keys: dict[str, Any] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict)
    atc: dict[str, Any] = field(default_factory=dict)   # auto_table_construction
    parsers: dict[str, Any] = field(default_factory=dict)   # other parser keys, last source wins
    raw_schedule: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)       # skipped queries and decorators
    error: ConfigError | None = None                        # a source that failed to parse

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

    def fingerprint(self) -> dict[str, Any]:
        """What the loaded config means (a reload compares it, so an edited
        pack file reloads although config_hash covers the sources only)."""
        return {"options": self.options, "schedule": self.raw_schedule,
                "decorators": self.decorators,
                "packs": {p.name: p.raw for p in self.packs},
                "file_paths": self.file_paths, "exclude_paths": self.exclude_paths,
                "file_accesses": self.file_accesses, "parsers": self.parsers,
                "views": self.views, "atc": self.atc, **self.table_keys}


# -- text -> JSON -----------------------------------------------------------------------

_TRAILING_COMMA = re.compile(r",(\s*\n\s*[}\]])")
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


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


def _bracket_depth(text: str) -> int:
    """Deepest nesting of [ and { outside strings, found by a scan that
    cannot recurse (Python's json would raise RecursionError past ~1000)."""
    depth = deepest = 0
    for m in _TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif c in "]}":
            depth -= 1
    return deepest


def _too_deep(doc: Any) -> bool:
    """osquery's Config::validateConfig: a value at depth 32 (the root object
    is depth 0) is one level too many.  Breadth-first, no recursion."""
    level = [doc]
    for _ in range(MAX_CONFIG_DEPTH):
        nxt: list[Any] = []
        for node in level:
            if isinstance(node, dict):
                nxt.extend(node.values())
            elif isinstance(node, list):
                nxt.extend(node)
        if not nxt:
            return False
        level = nxt
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


NESTING_ERROR = "Error validating the config JSON: Configuration has too many nesting levels!"


def parse_json_text(text: str, path: str) -> dict[str, Any]:
    """One source's text -> its JSON object, or ConfigError with osquery's message."""
    stripped = strip_comments(text)
    if len(stripped.encode("utf-8", "surrogateescape")) > MAX_CONFIG_SIZE:
        raise ConfigError(path, "", "Error parsing the config JSON: the config size exceeds "
                          f"the limit of {MAX_CONFIG_SIZE} bytes")
    if _bracket_depth(stripped) > MAX_CONFIG_DEPTH:
        raise ConfigError(path, "", f"{NESTING_ERROR} (more than {MAX_CONFIG_DEPTH})")
    try:
        doc = json.loads(stripped, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ConfigError(path, "", f"Error parsing the config JSON: {exc.msg} "
                          f"at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(path, "", f"Error parsing the config JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(path, "", "Error parsing the config JSON: the root must be a "
                          f"JSON object, not {_json_kind(doc)}")
    if _too_deep(doc):
        raise ConfigError(path, "", f"{NESTING_ERROR} (more than {MAX_CONFIG_DEPTH})")
    return doc


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


def decode(data: bytes) -> str:
    """File bytes -> text; bytes that are not UTF-8 survive as surrogates, so
    the one key holding them can be reported (bad_text) and the rest loads."""
    return data.decode("utf-8", "surrogateescape")


# -- the filesystem sources (behind osqlite.plugins.FilesystemConfig) -------------------

def read_source(path: str) -> str:
    try:
        return decode(read_regular(path, MAX_SOURCE_BYTES))
    except InputError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror}") from None


def config_sources(config_path: str, warn: Warn | None = None) -> dict[str, str]:
    """{path: text}: the main file, then <config_path>.d/*.conf in byte order
    (osquery: plugins/config/filesystem_config.cpp).  The main file must be a
    regular file, or nothing is read."""
    warn = warn or log.warning
    try:
        main = decode(read_regular(config_path, MAX_SOURCE_BYTES))
    except InputError as exc:
        raise ConfigError(config_path, "", _unreadable("config file", exc)) from None
    out = {config_path: main}
    extra = sorted(glob.glob(glob.escape(config_path + ".d") + "/*.conf"),
                   key=lambda p: p.encode("utf-8", "surrogateescape"))
    for path in extra:
        try:
            out[path] = decode(read_regular(path, MAX_SOURCE_BYTES))
        except InputError as exc:
            # osquery skips unreadable .d files silently; osqlite says which.
            warn(f"Skipping config source {path}: {_unreadable('it', exc)}")
    return out


def filesystem_pack(name: str, value: str) -> list[tuple[str, str, str | None, str | None]]:
    """(pack name, file, text, error) for a pack given as a path, or for
    "*": a glob of files, each a pack named after its basename without the
    last extension (osquery: plugins/config/filesystem_config.cpp genPack)."""
    if name == "*":
        out = []
        for path in sorted(glob.glob(value.replace("%", "*"))):
            stem = os.path.splitext(os.path.basename(path))[0]
            try:
                out.append((stem, path, decode(read_regular(path, MAX_SOURCE_BYTES)), None))
            except InputError as exc:
                out.append((stem, path, None, f"Cannot read multi-pack file: {path}: "
                                              f"{_unreadable('it', exc)}"))
        return out
    try:
        return [(name, value, decode(read_regular(value, MAX_SOURCE_BYTES)), None)]
    except InputError as exc:
        return [(name, value, None, f"{value}: {_unreadable('pack file', exc)}")]


def _unreadable(what: str, exc: InputError) -> str:
    """"config file does not exist", "pack file is a FIFO, not a regular file", ..."""
    if exc.errno == 2:
        return f"{what} does not exist"
    if exc.strerror.startswith("is "):
        return f"{what} {exc.strerror}"
    return f"cannot read the {what}: {exc.strerror}" if what != "it" else f"cannot read it: {exc.strerror}"


# -- value coercion (osquery: osquery/utils/json/json.cpp) -----------------------------

def value_to_size(value: Any) -> int | None:
    """JSON::valueToSize, except that what osquery would turn into 0 or a
    huge number (junk strings, negatives, fractions, bools) is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    if isinstance(value, str):
        s = value.strip()
        return int(s) if s.isdigit() and s.isascii() else None
    return None


def value_to_bool(value: Any) -> bool | None:
    """JSON::valueToBool: true, a number other than 0, "true" or "t" (any case)
    are true.  None for what osquery silently reads as false although it
    does not look false ("1", "yes", null, a list...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        low = value.lower()
        if low in ("true", "t"):
            return True
        if low in ("false", "f", ""):
            return False
    return None


# -- the loader -------------------------------------------------------------------------

PackGen = Callable[[str, str], list]   # (name, value) -> [(name, origin, text, error)]
Applies = Callable[[str, str, int], bool]


class Loader:
    """Builds a Config from sources.  One Loader per load.

    ``validate(sql)`` compiles SQL (an error message or None); ``gen_pack``
    resolves a pack given as a string (the config plugin's genPack);
    ``applies(platform, version, shard)`` is the host predicate;
    ``declare(cfg)`` creates a source's views and atc tables before its
    queries are compiled (osqlite.config_tables)."""

    def __init__(self, default_interval: int = 3600, validate: Validator | None = None,
                 warn: Warn | None = None, gen_pack: PackGen | None = None,
                 applies: Applies | None = None,
                 declare: Callable[[Config], None] | None = None) -> None:
        self.default_interval = default_interval
        self.validate = validate
        self.declare = declare
        self.warn = warn or log.warning
        self.gen_pack = gen_pack or filesystem_pack
        if applies is None:
            from .packs import applies as host_applies
            applies = host_applies
        self.applies = applies

    # -- entry points -------------------------------------------------------------

    def load(self, config_path: str) -> Config:
        """Load the filesystem sources of config_path (tests, tools)."""
        try:
            sources = config_sources(config_path, self.warn)
        except ConfigError as exc:
            return Config(error=exc)
        return self.load_sources(sources)

    def load_text(self, text: str, path: str = "<config>") -> Config:
        return self.load_sources({path: text})

    def load_sources(self, sources: dict[str, str]) -> Config:
        """Apply sources in byte order of their names; stop at the first that
        does not parse (Config.error), keeping the earlier ones."""
        cfg = Config()
        for name in sorted(sources, key=lambda s: s.encode("utf-8", "surrogateescape")):
            text = sources[name]
            cfg.sources.append((name, text))
            try:
                doc = parse_json_text(text, name)
            except ConfigError as exc:
                cfg.error = exc
                break
            self.apply(cfg, doc, name)
        return cfg

    # -- one source ---------------------------------------------------------------

    def problem(self, cfg: Config, message: str) -> None:
        cfg.problems.append(message)
        self.warn(message)

    def apply(self, cfg: Config, doc: dict[str, Any], path: str) -> None:
        for key in PARSER_KEYS:
            value = doc.get(key)
            if value is not None and not isinstance(value, (dict, list)):
                self.warn(f"Error config {key} should be an array or object ({path}): ignored")
        for key, kind in (("options", dict), ("file_paths", dict), ("exclude_paths", dict),
                          ("file_accesses", list)):
            value = doc.get(key)
            if isinstance(value, (dict, list)) and not isinstance(value, kind):
                self.warn(f"Error config {key} should be {'an object' if kind is dict else 'an array'}"
                          f" ({path}): ignored")
        options = doc.get("options")
        if isinstance(options, dict):
            for name, value in options.items():
                cfg.options[name] = value
                cfg.options_source[name] = path
        declared = False
        for key, attr in (("views", "views"), ("auto_table_construction", "atc")):
            if isinstance(doc.get(key), dict):
                setattr(cfg, attr, dict(doc[key]))
                declared = True
            elif isinstance(doc.get(key), list):
                self.warn(f"Error config {key} should be an object ({path}): ignored")
        if declared and self.declare is not None:
            self.declare(cfg)
        for key in TABLE_KEYS:
            if isinstance(doc.get(key), dict):
                cfg.table_keys[key] = doc[key]
            elif isinstance(doc.get(key), list):
                self.warn(f"Error config {key} should be an object ({path}): ignored")
        schedule = doc.get("schedule")
        if isinstance(schedule, dict):
            for spec, raw in self.queries(cfg, schedule, path, None):
                if any(s.name == spec.name for s in cfg.schedule):
                    self.warn(f"Scheduled query {spec.name} in {path} replaces an earlier one "
                              "of the same name")
                    cfg.schedule = [s for s in cfg.schedule if s.name != spec.name]
                cfg.schedule.append(spec)
                cfg.raw_schedule[spec.name] = raw
        elif schedule is not None:
            self.warn(f"The schedule in {path} should be an object of queries: ignored")
        decorators = doc.get("decorators")
        if decorators is not None:
            self.decorators(cfg, decorators, path)
        packs = doc.get("packs")
        if isinstance(packs, dict):
            for name, value in packs.items():
                for pack in self.packs(cfg, name, value, path):
                    cfg.packs = [p for p in cfg.packs if p.name != pack.name]
                    cfg.packs.append(pack)
        elif packs is not None:
            self.warn(f"The packs in {path} should be an object of packs: ignored")
        for key, target in (("file_paths", cfg.file_paths), ("exclude_paths", cfg.exclude_paths)):
            value = doc.get(key)
            if not isinstance(value, dict):
                continue
            for cat, paths in value.items():
                if not isinstance(paths, list):
                    self.warn(f"Skipping {key} category {cat!r} in {path}: it should be a "
                              f"list of paths, not {_json_kind(paths)}")
                    continue
                for p in paths:
                    if not isinstance(p, str) or not p or bad_text(p):
                        self.warn(f"Skipping an entry of {key} category {cat!r} in {path}: "
                                  f"{json.dumps(p, ensure_ascii=True)} is not a path")
                        continue
                    target.setdefault(cat, []).append(p)
        accesses = doc.get("file_accesses")
        if isinstance(accesses, list):
            for c in accesses:
                if not isinstance(c, str) or bad_text(c):
                    self.warn(f"Skipping an entry of file_accesses in {path}: "
                              f"{json.dumps(c, ensure_ascii=True)} is not a category name")
                elif c not in cfg.file_accesses:
                    cfg.file_accesses.append(c)
        for key in PARSER_KEYS:
            if key in ("options", "decorators", "file_paths", "exclude_paths", "file_accesses",
                       "views", "auto_table_construction") + TABLE_KEYS:
                continue
            if isinstance(doc.get(key), (dict, list)):
                cfg.parsers[key] = doc[key]

    def compile_error(self, sql: str) -> str | None:
        return self.validate(sql) if self.validate is not None else None

    # -- queries (osquery: osquery/config/packs.cpp Pack::initialize) --------------

    def queries(self, cfg: Config, queries: dict[str, Any], path: str,
                pack: str | None) -> list[tuple[QuerySpec, Any]]:
        where = f"pack {pack} in {path}" if pack is not None else path
        out: list[tuple[QuerySpec, Any]] = []
        seen: set[str] = set()
        for name, q in queries.items():
            label = f"{name!r} in {where}" if bad_text(name) else f"{name} in {where}"
            if not isinstance(q, dict):
                self.problem(cfg, f"Skipping scheduled query {label}: it should be a JSON "
                                  f"object, not {_json_kind(q)}")
                continue
            shard = value_to_size(q.get("shard", 0)) or 0
            platform = q.get("platform") if isinstance(q.get("platform"), str) else ""
            version = q.get("version") if isinstance(q.get("version"), str) else ""
            if not self.applies(platform, version, shard):
                log.debug("Scheduled query %s does not apply to this host "
                          "(platform %r, version %r, shard %s)", name, platform, version, shard)
                continue
            bad = bad_text(name)
            if bad:
                self.problem(cfg, f"Skipping scheduled query {label}: its name {bad}")
                continue
            if name.startswith(RESERVED_PREFIXES):
                self.problem(cfg, f"Invalid query name: {name} starts with one of the reserved "
                                  f"prefixes: {', '.join(RESERVED_PREFIXES)} ({where})")
                continue
            if name.endswith(RESERVED_SUFFIXES):
                self.problem(cfg, f"Invalid query name: {name} ends with one of the reserved "
                                  f"suffixes: {', '.join(RESERVED_SUFFIXES)} ({where})")
                continue
            sql = q.get("query")
            if not isinstance(sql, str):
                self.problem(cfg, f"No query string defined for query {label}")
                continue
            raw_interval = q["interval"] if "interval" in q else self.default_interval
            interval = value_to_size(raw_interval)
            if interval is None or not 1 <= interval <= MAX_INTERVAL or not sql.strip():
                shown = json.dumps(raw_interval, ensure_ascii=True) if "interval" in q else raw_interval
                self.problem(cfg, f"Query has invalid interval: {name}: {shown} ({where})"
                             + ("" if sql.strip() else "; its query is empty"))
                continue
            if name in seen:
                continue      # osquery: the first of a duplicated name wins
            seen.add(name)
            bad = bad_text(sql)
            if bad:
                self.problem(cfg, f"Skipping scheduled query {label}: its SQL {bad}")
                continue
            spec = QuerySpec(name=name, query=sql, interval=interval, pack=pack, source=path,
                             platform=platform, version=version, shard=shard)
            for key in ("snapshot", "removed", "denylist"):
                if key in q:
                    value = value_to_bool(q[key])
                    if value is None:
                        self.warn(f"Scheduled query {label}: {key} is "
                                  f"{json.dumps(q[key], ensure_ascii=True)}, not a boolean; "
                                  "read as false, as osquery does")
                        value = False
                    setattr(spec, key, value)
            if isinstance(q.get("description"), str):
                spec.description = q["description"]
            error = self.compile_error(sql)
            if error:
                self.problem(cfg, f"Scheduled query {name} in {where} does not compile and is "
                                  f"skipped: {error}")
                continue
            out.append((spec, q))
        return out

    # -- decorators (osquery: plugins/config/parsers/decorators.cpp) ---------------

    def decorators(self, cfg: Config, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.warn("Invalid format for decorators configuration, decorators value must be "
                      f"a JSON object ({path})")
            return
        for kind in ("load", "always"):
            items = value.get(kind)
            if items is None:
                continue
            if not isinstance(items, list):
                self.problem(cfg, f"Skipping decorators {kind} in {path}: it should be a list "
                                  f"of SQL strings, not {_json_kind(items)}")
                continue
            cfg.decorators[kind].extend(self._decorator_sql(cfg, items, f"{kind}", path))
        interval = value.get("interval")
        if interval is None:
            return
        if not isinstance(interval, dict):
            self.problem(cfg, f"Skipping decorators interval in {path}: it should be an object "
                              "of seconds -> list of SQL")
            return
        for rate_text, items in interval.items():
            rate = value_to_size(rate_text)
            if not rate or rate % 60 != 0:
                self.problem(cfg, f"Invalid decorator interval rate {rate_text} in config "
                                  f"source: {path} (a multiple of 60 seconds)")
                continue
            if not isinstance(items, list):
                self.problem(cfg, f"Skipping decorators interval {rate_text} in {path}: it "
                                  "should be a list of SQL strings")
                continue
            cfg.decorators["interval"].setdefault(str(rate), []).extend(
                self._decorator_sql(cfg, items, f"interval {rate_text}", path))

    def _decorator_sql(self, cfg: Config, items: list, what: str, path: str) -> list[str]:
        out = []
        for i, sql in enumerate(items):
            if not isinstance(sql, str) or bad_text(sql):
                reason = bad_text(sql) if isinstance(sql, str) else f"is {_json_kind(sql)}"
                self.problem(cfg, f"Skipping decorator {what} #{i} in {path}: it {reason}, "
                                  "not SQL")
                continue
            error = self.compile_error(sql)
            if error:
                self.problem(cfg, f"Decorator {what} #{i} in {path} does not compile and is "
                                  f"skipped: {error}")
                continue
            out.append(sql)
        return out

    # -- packs --------------------------------------------------------------------

    def packs(self, cfg: Config, name: str, value: Any, path: str) -> list[PackSpec]:
        if bad_text(name):
            self.warn(f"Skipping pack {name!r} in {path}: its name {bad_text(name)}")
            return []
        if isinstance(value, dict):
            return [self.pack(cfg, name, value, path)]
        if not isinstance(value, str):
            self.warn(f"Error parsing pack: {name}: the value should be an object or a file "
                      f"path ({path})")
            return []
        out = []
        for pack_name, origin, text, error in self.gen_pack(name, value):
            if error is not None or text is None:
                # osquery: WARNING "Error reading the query pack named: <name>"
                self.warn(f"Error reading the query pack named: {pack_name} ({error})")
                continue
            if not text.strip():
                self.warn(f"Error reading the query pack named: {pack_name} ({origin} is empty)")
                continue
            try:
                doc = parse_json_text(text, origin)
            except ConfigError as exc:
                self.warn(f"Error parsing the \"{pack_name}\" pack JSON ({origin}): "
                          f"{exc.reason.replace('Error parsing the config JSON: ', '')}")
                continue
            out.append(self.pack(cfg, pack_name, doc, origin))
        return out

    def pack(self, cfg: Config, name: str, doc: dict[str, Any], path: str) -> PackSpec:
        shard = value_to_size(doc.get("shard", 0)) or 0
        platform = doc.get("platform") if isinstance(doc.get("platform"), str) else ""
        version = doc.get("version") if isinstance(doc.get("version"), str) else ""
        pack = PackSpec(name=name, source=path, queries=[], platform=platform,
                        version=version, shard=shard, raw=doc)
        if not self.applies(platform, version, shard):
            # Listed by osquery_packs with active 0; its SQL is never compiled.
            pack.valid = False
            log.debug("Pack %s does not apply to this host (platform %r, version %r, shard %s)",
                      name, platform, version, shard)
            return pack
        discovery = doc.get("discovery")
        if isinstance(discovery, list):
            for i, sql in enumerate(discovery):
                if not isinstance(sql, str) or bad_text(sql):
                    reason = bad_text(sql) if isinstance(sql, str) else f"is {_json_kind(sql)}"
                    self.warn(f"Skipping discovery query #{i} of pack {name} ({path}): it "
                              f"{reason}, not SQL")
                    continue
                error = self.compile_error(sql)
                if error:
                    # Kept: it fails when evaluated, which makes the pack inactive.
                    self.problem(cfg, f"Discovery query #{i} of pack {name} ({path}) does not "
                                      f"compile: {error}")
                pack.discovery.append(sql)
        elif discovery not in (None, ""):   # "" is property_tree's empty array
            self.warn(f"Ignoring the discovery of pack {name} ({path}): it should be a list "
                      f"of SQL strings, not {_json_kind(discovery)}")
        queries = doc.get("queries")
        if isinstance(queries, dict):
            pack.queries = [spec for spec, _ in self.queries(cfg, queries, path, name)]
        elif queries not in (None, ""):
            self.warn(f"No queries defined for pack {name} ({path}): queries should be an "
                      f"object, not {_json_kind(queries)}")
        return pack
