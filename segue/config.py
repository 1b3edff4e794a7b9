"""config.yaml -> typed dataclasses, with key-path errors and `--set section.key=value` overrides.

Every section is a dataclass whose fields carry their defaults, owned by the room that reads it (the core's `data`
here; `model`/`train` training/settings.py, `export` export/settings.py, `sampling` segue/inference/grammar_settings.py,
`daemon` daemon/settings.py), registered as the rooms register their verbs; config.yaml documents each key in place.
Loading is strict: an unknown key, a value of the wrong type or a number outside its range (each section's RANGES:
every numeric key has one) is a SegueError naming the full key path, because a silently ignored typo in a training
config costs hours and a negative learning rate fails twenty minutes in with a traceback.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from segue.errors import SegueError

# Shipped as package data (`segue config` prints it); in a checkout segue/config.yaml links to the top-level file,
# so there is one file to edit. Should it be missing, the dataclass defaults below are the same values.
DEFAULT_CONFIG_PATH = Path(__file__).parent / "config.yaml"


# --- ranges: every numeric key, checked at load -----------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """Allowed values of one numeric key: low/high bounds (None = unbounded), each inclusive unless marked open."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or (value < self.high or (not self.high_open and value == self.high))

    def __str__(self) -> str:
        low_op, high_op = ("<" if self.low_open else "<="), ("<" if self.high_open else "<=")
        if self.low is not None and self.high is not None:
            return f"{self.low:g} {low_op} x {high_op} {self.high:g}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{high_op} {self.high:g}"
        return "a finite number"


def at_least(low: float) -> Range:
    return Range(low=low)


def above(low: float) -> Range:
    return Range(low=low, low_open=True)


POSITIVE, COUNT, NON_NEGATIVE = above(0), at_least(1), at_least(0)
FRACTION = Range(0, 1)
CC = Range(0, 127)
CC_OR_OFF = Range(-1, 127)      # -1 = off
SEED = Range(0, 2**32 - 1)      # numpy's and torch's seeds both take this range


# --- sections: each room owns its settings class ------------------------------------------------------------------
# A section is a dataclass whose fields carry their defaults, with a class attribute RANGES: the range of each of its
# numeric keys, keyed by the path inside the section as load_config walks it (list items as `[]`, the values of a
# mapping as `*`). The core's own section is here; the rooms above register theirs (`sections`).

@dataclass
class DataConfig:
    """Dataset build and loading (training/), and the per-file limits every reader of music files obeys
    (segue/codec/file_limits.py): the core reads this section itself."""
    eval_fraction: float = 0.1
    transpositions: list[int] = field(default_factory=lambda: [-3, -2, -1, 0, 1, 2, 3])
    time_stretches: list[float] = field(default_factory=lambda: [0.95, 0.975, 1.0, 1.025, 1.05])
    compress: bool = False
    workers: int = 2
    all_keys: bool = False          # transpose by -5..+6 (every key, as seed 000) instead of `transpositions`
    controls: str = "past"          # controls the trainer feeds: past (what the daemon has) | future | mix
    rendered_share: float = 0.75    # share of score windows played as a random performance rendering (0 = off)
    performance_weight: float = 1.0  # real performances drawn this many times as often as their length says
    render: dict[str, float] = field(default_factory=dict)   # rendering rule sizes (training/rendering.py)
    # Per-file limits, checked before the expensive work (segue/codec/file_limits.py); every reader of music files obeys them.
    max_file_bytes: int = 32_000_000
    max_uncompressed_bytes: int = 64_000_000
    max_notes: int = 300_000
    max_seconds: float = 14_400.0
    file_timeout_seconds: float = 120.0

    RANGES: ClassVar[dict[str, Range]] = {
        "eval_fraction": Range(0, 1, low_open=True, high_open=True),
        "transpositions[]": Range(-12, 12),
        "time_stretches[]": Range(0.25, 4),
        "workers": COUNT,
        "rendered_share": FRACTION,
        "performance_weight": NON_NEGATIVE,
        "render.*": Range(),                        # each rule's own bounds: training/rendering.RenderParams
        "max_file_bytes": COUNT,
        "max_uncompressed_bytes": COUNT,
        "max_notes": COUNT,
        "max_seconds": POSITIVE,
        "file_timeout_seconds": POSITIVE,
    }


class Config:
    """Every section of config.yaml as an attribute (`cfg.data`, `cfg.train`, `cfg.daemon`, ...), in `sections()`
    order."""

    def __init__(self, **sections: Any):
        for name, cls in _sections().items():
            setattr(self, name, sections.pop(name, None) or cls())
        if sections:
            raise TypeError(f"unknown config sections {sorted(sections)}")

    def to_dict(self) -> dict:
        return {name: dataclasses.asdict(section) for name, section in vars(self).items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Config({', '.join(f'{name}={section!r}' for name, section in vars(self).items())})"


def sections() -> dict[str, type]:
    """Section name -> settings class: the core's `data`, then each room's, as registered: a verb module (the
    entry point group segue.verbs, segue/cli/main.py) may name the sections its room owns in SETTINGS, a mapping of
    section name -> "module:Class" (a string, so `segue --help` imports no settings module)."""
    return dict(_sections())


@functools.cache
def _sections() -> dict[str, type]:
    from segue.cli.main import verb_modules

    found: dict[str, type] = {"data": DataConfig}
    for module in verb_modules():
        for name, where in getattr(module, "SETTINGS", {}).items():
            module_name, class_name = where.split(":")
            found[name] = getattr(importlib.import_module(module_name), class_name)
    return found


def ranges() -> dict[str, Range]:
    """Every numeric key's range by its full key path (`train.stages[].seq_len`, `daemon.cc_map.*`)."""
    return {f"{name}.{key}": allowed for name, cls in _sections().items() for key, allowed in cls.RANGES.items()}


def range_key(path: str) -> str:
    """`train.stages[2].seq_len` -> `train.stages[].seq_len`, the form the ranges are keyed by."""
    return re.sub(r"\[\d+\]", "[]", path)


def _check_range(path: str, value: int | float, mapping_value: bool) -> None:
    key = range_key(path)
    if mapping_value:
        key = key.rsplit(".", 1)[0] + ".*"
    section, inside = key.split(".", 1)
    allowed = _sections()[section].RANGES[inside]   # a KeyError: a numeric key added without its range; add it
    if not allowed.allows(value):
        raise SegueError(f"config: '{path}' is {value!r}, allowed: {allowed}")


# --- loading ------------------------------------------------------------------------------------------------------

def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read `path` (default: the project's config.yaml if present), apply `overrides` ("train.lr=0.001")."""
    raw: dict = {}
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if path is not None or source.exists():
        raw = _read_yaml(source)
        if not isinstance(raw, dict):
            raise SegueError(f"config: {source} must be a mapping of sections (data:, model:, train:, ...), "
                             f"got a YAML {type(raw).__name__}")
    for item in overrides or []:
        _apply_override(raw, item)
    known = list(_sections())
    for name in raw:
        if name not in known:
            raise SegueError(f"config: unknown key '{name}'{_did_you_mean(str(name), known)}")
    return Config(**{name: from_dict(cls, raw.get(name), name) for name, cls in _sections().items()})


def check_ranges(section: Any, where: str) -> None:
    """Range-check a section built in code (e.g. config values replaced by command-line flags) as load_config does."""
    from_dict(type(section), dataclasses.asdict(section), where)


def from_dict(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, checking every key and type; `where` is the key path so far."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SegueError(f"config: '{where or 'top level'}' must be a mapping of keys, got {_describe(raw)}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            raise SegueError(f"config: unknown key '{path}'{_did_you_mean(str(key), known)}")
        values[key] = _coerce(hints[key], value, path)
    return cls(**values)


def _coerce(hint: Any, value: Any, path: str, in_mapping: bool = False) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, path, in_mapping)
            except SegueError as e:
                errors.append(e)
        raise errors[0]
    if origin is list:
        if not isinstance(value, list):
            raise _type_error(path, hint, value)
        return [_coerce(args[0], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(path, hint, value)
        return {k: _coerce(args[1], v, f"{path}.{k}", in_mapping=True) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if hint is float and isinstance(value, str):
        try:
            value = float(value)      # YAML 1.1 reads 1e-4 (no dot) as a string
        except ValueError:
            pass
    if hint is str and isinstance(value, bool):
        value = "on" if value else "off"   # YAML 1.1 reads off/on/yes/no as booleans; `memory: off` means the word
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise _type_error(path, hint, value)
    if hint in (int, float):
        _check_range(path, value, in_mapping)
    return value


def _type_error(path: str, hint: Any, value: Any) -> SegueError:
    name = getattr(hint, "__name__", str(hint))
    return SegueError(f"config: '{path}' must be {name}, got {_describe(value)}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (known keys: {', '.join(known)})"


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as e:
        raise SegueError(f"config: cannot read {path}: {e.strerror or e}") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise SegueError(f"config: {path}{line} is not valid YAML: {getattr(e, 'problem', e)}") from None


def _apply_override(raw: dict, item: str) -> None:
    """Set one dotted key from `section.key=value`; the value is parsed as YAML so 0.001, true, [1, 2] work."""
    if "=" not in item:
        raise SegueError(f"--set '{item}': expected section.key=value, e.g. --set train.lr=0.001")
    dotted, text = item.split("=", 1)
    parts = dotted.strip().split(".")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SegueError(f"--set '{item}': '{part}' is not a section")
    node[parts[-1]] = value
