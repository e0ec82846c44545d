"""The sensor mapping file: which sources to run and how their tags become sensor tags.

A TOML file (see docs/sensors.md for the full format)::

    passthrough = true              # unmapped source tags keep their name (false: dropped)

    [[source]]
    name = "plant-broker"
    type = "mqtt"                   # mqtt | opcua | csv | parquet | simulator
    url = "mqtt://broker.plant.local:1883"
    topics = ["plant/#"]
    format = "json"                 # or "sparkplug"
    share = "twinroom"              # MQTT 5 shared subscription group (several bridges)

    [[map]]
    source = "plant-broker"         # optional: only this source's tags
    from = "plant/line1/press/temp" # the source's own name for it
    tag = "line1/press/temp"        # the sensor tag in the model
    scale = 0.1                     # optional: value * scale + offset
    offset = 0.0
    unit = "°C"

``load_sources(path)`` reads the file and builds the sources, each wrapped so its tags
pass through the mapping. A broken file raises ``ConfigError`` whose message names the
file, the line and what is wrong, in words.
"""

from __future__ import annotations

import difflib
import importlib
import math
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_server.sensors import Source
from sync_server.sensors.tags import MappedSource, TagMap, TagRule

SOURCE_TYPES = ("mqtt", "opcua", "csv", "parquet", "simulator")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class ConfigError(ValueError):
    """A mapping file that cannot be used; the message says where and why."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None) -> None:
        where = f"{path}" if path else "mapping file"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.reason = message


class SettingError(ValueError):
    """A source's setting is wrong (``key`` names it; the loader adds the line)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Settings:
    """A ``[[source]]`` table, read key by key with types checked; ``done`` refuses keys
    nobody asked for (a typo must not silently fall back to a default)."""

    def __init__(self, table: dict[str, Any], base_dir: Path = Path()) -> None:
        self.table = table
        self.base_dir = base_dir
        self._asked: set[str] = {"name", "type", "passthrough"}

    def _get(self, key: str) -> Any:
        self._asked.add(key)
        return self.table.get(key)

    def text(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        v = self._get(key)
        if v is None:
            if default is None:
                raise SettingError(key, f"'{key}' is required")
            return default
        if not isinstance(v, str):
            raise SettingError(key, f"'{key}' must be text, not {_kind(v)}")
        if choices and v not in choices:
            raise SettingError(key, f"'{key}' is {v!r}; it must be one of {', '.join(choices)}")
        return v

    def opt_text(self, key: str) -> str | None:
        v = self._get(key)
        if v is not None and not isinstance(v, str):
            raise SettingError(key, f"'{key}' must be text, not {_kind(v)}")
        return v

    def secret(self, key: str) -> str | None:
        """``key`` itself, or the environment variable named by ``key_env``."""
        v = self.opt_text(key)
        env = self.opt_text(f"{key}_env")
        if env:
            if env not in os.environ:
                raise SettingError(f"{key}_env", f"environment variable {env} is not set")
            return os.environ[env]
        return v

    def number(self, key: str, default: float, lo: float = -math.inf, hi: float = math.inf) -> float:
        v = self._get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise SettingError(key, f"'{key}' must be a number, not {_kind(v)}")
        if not lo <= v <= hi:
            raise SettingError(key, f"'{key}' is {v}; it must be between {lo:g} and {hi:g}")
        return float(v)

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        v = self._get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise SettingError(key, f"'{key}' must be a whole number, not {_kind(v)}")
        if not lo <= v <= hi:
            raise SettingError(key, f"'{key}' is {v}; it must be between {lo} and {hi}")
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self._get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise SettingError(key, f"'{key}' must be true or false, not {_kind(v)}")
        return v

    def text_list(self, key: str, default: list[str] | None = None) -> list[str]:
        v = self._get(key)
        if v is None:
            if default is None:
                raise SettingError(key, f"'{key}' is required (a list of text)")
            return default
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise SettingError(key, f"'{key}' must be a list of text")
        return list(v)

    def path(self, key: str) -> Path:
        """A file path, relative to the mapping file's folder; it must exist."""
        p = Path(self.text(key)).expanduser()
        if not p.is_absolute():
            p = self.base_dir / p
        if not p.exists():
            raise SettingError(key, f"'{key}': no file {p}")
        return p

    def unknown(self) -> SettingError | None:
        """The first key nobody asked for, as an error (a typo, most likely)."""
        for key in self.table:
            if key not in self._asked:
                close = difflib.get_close_matches(key, sorted(self._asked), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                return SettingError(key, f"unknown setting '{key}'{hint}")
        return None

    def done(self) -> None:
        err = self.unknown()
        if err is not None:
            raise err


def _kind(v: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text",
            list: "a list", dict: "a table"}.get(type(v), type(v).__name__)


@dataclass
class SourceEntry:
    """One ``[[source]]`` table."""

    name: str
    type: str
    settings: dict[str, Any]
    line: int | None = None
    passthrough: bool = True


@dataclass
class SensorConfig:
    """A parsed mapping file."""

    path: Path | None
    sources: list[SourceEntry]
    rules: dict[str | None, dict[str, TagRule]] = field(default_factory=dict)  # source or None → rules
    passthrough: bool = True
    text: str = ""

    def tag_map(self, source: str) -> TagMap:
        """The mapping as it applies to ``source``'s tags."""
        rules = dict(self.rules.get(None, {}))
        rules.update(self.rules.get(source, {}))
        entry = next((e for e in self.sources if e.name == source), None)
        passthrough = entry.passthrough if entry is not None else self.passthrough
        return TagMap(rules, passthrough, source)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path()


def _header_lines(text: str, header: str) -> list[int]:
    """1-based line numbers of each ``[[header]]`` in order."""
    pat = re.compile(r"^\s*\[\[\s*" + re.escape(header) + r"\s*\]\]")
    return [i + 1 for i, line in enumerate(text.splitlines()) if pat.match(line)]


def _key_line(text: str, start: int | None, key: str) -> int | None:
    """The line of ``key = …`` in the table that starts at line ``start``."""
    if start is None:
        return None
    lines = text.splitlines()
    pat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i in range(start, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if pat.match(lines[i]):
            return i + 1
    return start


def parse(text: str, path: Path | None = None) -> SensorConfig:
    """Parse a mapping file's text; raises ``ConfigError``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(m.group(1)) if m else None
        if line is None and "end of document" in str(exc):
            filled = [i + 1 for i, t in enumerate(text.splitlines()) if t.strip()]
            line = filled[-1] if filled else 1
        what = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        what += " (the file ends in the middle of an entry)" if "end of document" in str(exc) else ""
        raise ConfigError(f"not valid TOML: {what}", path, line) from exc
    src_lines = _header_lines(text, "source")
    map_lines = _header_lines(text, "map")
    for key in doc:
        if key not in ("source", "map", "passthrough"):
            close = difflib.get_close_matches(key, ["source", "map", "passthrough"], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown top-level entry '{key}'{hint}", path, _key_line(text, 0, key))
    passthrough = doc.get("passthrough", True)
    if not isinstance(passthrough, bool):
        raise ConfigError("'passthrough' must be true or false", path, _key_line(text, 0, "passthrough"))
    raw_sources = doc.get("source", [])
    if not isinstance(raw_sources, list):
        raise ConfigError("'source' must be written as [[source]] tables", path)
    if not raw_sources:
        raise ConfigError("no [[source]] entries: nothing would deliver samples", path)
    sources: list[SourceEntry] = []
    names: set[str] = set()
    for n, table in enumerate(raw_sources):
        line = src_lines[n] if n < len(src_lines) else None
        where = f"[[source]] #{n + 1}"

        def fail(msg: str, key: str | None = None, _line: int | None = line, _where: str = where) -> ConfigError:
            return ConfigError(f"{_where}: {msg}", path, _key_line(text, _line, key) if key else _line)

        name = table.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise fail("'name' is required: letters, digits, '_', '-', '.', ':' (at most 64)", "name")
        where = f"[[source]] '{name}'"
        if name in names:
            raise fail(f"the name '{name}' is used by another source", "name")
        names.add(name)
        typ = table.get("type")
        if typ not in SOURCE_TYPES:
            close = difflib.get_close_matches(str(typ), SOURCE_TYPES, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise fail(f"'type' is {typ!r}; it must be one of {', '.join(SOURCE_TYPES)}{hint}", "type")
        pt = table.get("passthrough", passthrough)
        if not isinstance(pt, bool):
            raise fail("'passthrough' must be true or false", "passthrough")
        sources.append(SourceEntry(name, str(typ), dict(table), line, pt))
    raw_maps = doc.get("map", [])
    if not isinstance(raw_maps, list):
        raise ConfigError("'map' must be written as [[map]] tables", path)
    rules: dict[str | None, dict[str, TagRule]] = {}
    for n, table in enumerate(raw_maps):
        line = map_lines[n] if n < len(map_lines) else None

        def mfail(msg: str, key: str | None = None, _line: int | None = line, _n: int = n) -> ConfigError:
            return ConfigError(f"[[map]] #{_n + 1}: {msg}", path, _key_line(text, _line, key) if key else _line)

        for key in table:
            if key not in ("source", "from", "tag", "scale", "offset", "unit"):
                close = difflib.get_close_matches(key, ["source", "from", "tag", "scale", "offset", "unit"], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise mfail(f"unknown setting '{key}'{hint}", key)
        src = table.get("source")
        if src is not None and src not in names:
            raise mfail(f"'source' is {src!r}, but no [[source]] has that name", "source")
        frm, tag = table.get("from"), table.get("tag")
        if not isinstance(frm, str) or not frm:
            raise mfail("'from' is required: the source's name for the measurement", "from")
        if not isinstance(tag, str) or not tag or len(tag) > 256:
            raise mfail("'tag' is required: the sensor tag (at most 256 characters)", "tag")
        nums = {}
        for key, default in (("scale", 1.0), ("offset", 0.0)):
            v = table.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise mfail(f"'{key}' must be a number", key)
            nums[key] = float(v)
        unit = table.get("unit", "")
        if not isinstance(unit, str) or len(unit) > 32:
            raise mfail("'unit' must be text (at most 32 characters)", "unit")
        bucket = rules.setdefault(src, {})
        if frm in bucket:
            raise mfail(f"'{frm}' is mapped twice", "from")
        bucket[frm] = TagRule(tag, nums["scale"], nums["offset"], unit)
    return SensorConfig(path, sources, rules, passthrough, text)


def load(path: str | Path) -> SensorConfig:
    """Read and parse a mapping file; raises ``ConfigError``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read it: {exc}", p) from exc
    return parse(text, p)


# Builders by source type: (name, settings) → Source. Imported lazily, so a server that
# runs no OPC UA source never imports asyncua.
Builder = Callable[[str, Settings], Source]


def _builder(kind: str) -> Builder:
    if kind == "mqtt":
        from sync_server.sensors.mqtt import MqttSource
        return MqttSource.from_settings
    if kind == "opcua":
        from sync_server.sensors.opcua import OpcUaSource
        return OpcUaSource.from_settings
    if kind in ("csv", "parquet"):
        try:
            from sync_server.sensors.replay import ReplaySource
        except ImportError as exc:  # the desktop bundle leaves pyarrow out
            raise SettingError("type", f"{kind} replay needs pyarrow, which this installation does not "
                                       f"have; run the server from `pip install twinroom` ({exc})") from exc
        return ReplaySource.from_settings
    # The built-in simulator lives with the hub; it provides
    # ``from_settings(name: str, settings: Settings) -> Source``.
    try:
        module = importlib.import_module("sync_server.sensors.simulator")
    except ImportError as exc:
        raise SettingError("type", f"the simulator source is not available: {exc}") from exc
    fn = getattr(module, "from_settings", None)
    if fn is None:
        raise SettingError("type", "the simulator drives a room's sensors: start the server with "
                                   "`twin-sync serve --simulate ROOM` instead of a [[source]] entry")
    return fn  # type: ignore[no-any-return]


def sources_from_config(config: SensorConfig) -> list[Source]:
    """Build every source of ``config``, each wrapped in its tag mapping."""
    out: list[Source] = []
    for entry in config.sources:
        settings = Settings({k: v for k, v in entry.settings.items()}, config.base_dir)
        try:
            source = _builder(entry.type)(entry.name, settings)
            settings.done()
        except SettingError as err:
            # A misspelt key is the likelier cause of a missing one: name the typo.
            exc = settings.unknown() or err
            line = _key_line(config.text, entry.line, exc.key) if config.text else entry.line
            raise ConfigError(f"[[source]] '{entry.name}': {exc}", config.path, line) from err
        out.append(MappedSource(source, config.tag_map(entry.name)))
    return out


def load_sources(path: str | Path) -> list[Source]:
    """Read a mapping file and build its sources (not started); raises ``ConfigError``."""
    return sources_from_config(load(path))
