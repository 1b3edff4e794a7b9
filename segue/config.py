"""config.yaml -> typed dataclasses, with key-path errors and `--set section.key=value` overrides.

Every section is a dataclass whose fields carry their defaults; config.yaml documents each key in place. Loading is
strict: an unknown key, a value of the wrong type or a number outside its range (RANGES, one table for every
numeric key) is a SegueError naming the full key path, because a silently ignored typo in a training config costs
hours and a negative learning rate fails twenty minutes in with a traceback.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from segue.codec.keys import check_strength
from segue.codec.midi import SOFT_PEDAL_CC
from segue.errors import SegueError

# Shipped as package data (`segue config` prints it); in a checkout segue/config.yaml links to the top-level file,
# so there is one file to edit. Should it be missing, the dataclass defaults below are the same values.
DEFAULT_CONFIG_PATH = Path(__file__).parent / "config.yaml"


# --- sections: each area of the house owns its own dataclass -------------------------------------------------------

@dataclass
class DataConfig:
    """Dataset build and loading (training/)."""
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


@dataclass
class ModelConfig:
    """Model kind and sizes (training/models.py)."""
    kind: str = "performance_rnn"
    hidden_size: int = 512
    num_layers: int = 3
    dropout: float = 0.1
    conditioned: bool = True
    embed_dim: int = 256            # gru_attention: event embedding size
    attention_window: int = 64      # gru_attention: how many past outputs the attention sees


@dataclass
class StageConfig:
    """One training stage (seed 004's staging): moving on keeps weights, optimizer and schedule."""
    seq_len: int = 128
    batch_size: int = 64
    advance_below: float | None = None   # move to the next stage once eval loss is below this
    max_steps: int | None = None         # ... or after this many steps in the stage (last stage: end of run)


@dataclass
class TrainConfig:
    """The trainer (training/trainer.py)."""
    lr: float = 0.001
    seed: int = 0
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    max_steps: int = 20000
    weight_decay: float = 0.0
    grad_clip: float = 3.0
    schedule: str = "cyclical"
    min_lr: float = 0.0001
    clr_mode: str = "triangular2"
    clr_step_size: int = 500
    clr_gamma: float = 0.9995
    l1: float = 0.0
    rhythm_weight: float = 0.0
    harmony_weight: float = 0.0
    eval_every: int = 200
    eval_seq_len: int = 256
    eval_batch_size: int = 32
    eval_max_windows: int = 256
    patience: int = 8
    min_delta: float = 0.001
    gl_alpha: float = 0.0
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    threads: int = 0


@dataclass
class ExportConfig:
    """torch -> ONNX (export/)."""
    opset: int = 17
    parity_steps: int = 500
    int8_max_kl: float = 0.01
    int8_min_agreement: float = 0.95


@dataclass
class DaemonConfig:
    """The live daemon (daemon/): `segue serve`. Each key is documented in config.yaml."""
    # ports
    backend: str = "auto"
    client_name: str = "segue"
    in_port_name: str = "in"
    out_port_name: str = "out"
    input: str = ""
    output: str = ""
    in_channel: int = 0
    out_channel: int = 1
    thru: bool = False
    ignore_echo: bool = True
    own_jack_client: bool = True          # JACK: both ports on one client of segue's own (daemon/jack_client.py)
    sysex_probe: bool = True              # python-rtmidi's JACK clients: a probe ends an unfinished sysex (ports.PROBE)
    echo_window_ms: float = 1500.0
    # model and sampling
    model: str = ""
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    seed: int | None = None
    key: str = ""
    density: float = -1.0
    memory: str = "player"
    # turn-taking
    mode: str = "call-response"
    silence_ms: float = 400.0
    takeover_cc: int = SOFT_PEDAL_CC
    response_seconds: float = 8.0
    response_bars: int = 0
    beats_per_bar: int = 4
    until_barge_in: bool = False
    max_response_seconds: float = 60.0
    on_beat: str = "auto"
    lead_in_ms: float = 0.0
    # timing and safety
    lookahead_ms: float = 200.0
    spin_ms: float = 1.0
    realtime_priority: int = 60
    stale_key_seconds: float = 10.0
    # live controls
    cc_map: dict[str, int] = field(default_factory=dict)
    state_cc: int = -1
    # output
    record: str = ""


@dataclass
class GrammarSettings:
    """config.yaml `sampling:`: the decoding grammar's shapers that segue/inference/grammar.py build_shapers turns on
    (also set by flags of `segue generate`)."""
    note_off_mask: bool = True
    no_restrike: bool = True
    release_start_seconds: float = 1.0    # the release hazard starts at this note age; negative = no hazard
    note_cap_seconds: float = 4.0         # ... and forces the release here
    release_follow_quantile: float = 0.5  # ... or earlier: this quantile of the recent note lengths; negative = fixed
    follow_dynamics: bool = True
    dynamics_notes: int = 64              # the recent level (and spread) of this many note-ons
    dynamics_follow_spread: bool = True   # ... the answer's velocity spread follows the recent spread too
    key_strength: float = 0.9             # of a pinned key's scale mask (the key itself: --key, daemon.key)
    follow_key_strength: float = 0.97     # unpinned: the same mask for the key of the recent notes; 0 = off
    follow_key_notes: int = 128           # ... estimated over this many recent notes
    pulse_strength: float = 0.9           # time shifts drawn toward the tracked pulse's grid when it is sure; 0 = off
    density_strength: float = 1.0         # time shifts likelier while the answer is busier than the player; 0 = off

    def __post_init__(self):
        check_strength(self.key_strength)
        check_strength(self.follow_key_strength)
        if self.note_cap_seconds <= 0:
            raise SegueError(f"the note cap ({self.note_cap_seconds} s) must be > 0")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    sampling: GrammarSettings = field(default_factory=GrammarSettings)    # the decoding grammar
    daemon: DaemonConfig = field(default_factory=DaemonConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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


def _at_least(low: float) -> Range:
    return Range(low=low)


def _above(low: float) -> Range:
    return Range(low=low, low_open=True)


_POSITIVE, _COUNT, _NON_NEGATIVE = _above(0), _at_least(1), _at_least(0)
_FRACTION = Range(0, 1)
_CC = Range(0, 127)
_CC_OR_OFF = Range(-1, 127)      # -1 = off
_SEED = Range(0, 2**32 - 1)      # numpy's and torch's seeds both take this range

# Key paths as load_config walks them: list items as `[]`, the values of a mapping as `*`.
RANGES: dict[str, Range] = {
    "data.eval_fraction": Range(0, 1, low_open=True, high_open=True),
    "data.transpositions[]": Range(-12, 12),
    "data.time_stretches[]": Range(0.25, 4),
    "data.workers": _COUNT,
    "data.rendered_share": _FRACTION,
    "data.performance_weight": _NON_NEGATIVE,
    "data.render.*": Range(),                        # each rule's own bounds: training/rendering.RenderParams
    "data.max_file_bytes": _COUNT,
    "data.max_uncompressed_bytes": _COUNT,
    "data.max_notes": _COUNT,
    "data.max_seconds": _POSITIVE,
    "data.file_timeout_seconds": _POSITIVE,
    "model.hidden_size": _COUNT,
    "model.num_layers": _COUNT,
    "model.dropout": Range(0, 1, high_open=True),
    "model.embed_dim": _COUNT,
    "model.attention_window": _COUNT,
    "train.lr": Range(0, 10, low_open=True),
    "train.seed": _SEED,
    "train.stages[].seq_len": _COUNT,
    "train.stages[].batch_size": _COUNT,
    "train.stages[].advance_below": _POSITIVE,
    "train.stages[].max_steps": _COUNT,
    "train.max_steps": _COUNT,
    "train.weight_decay": _NON_NEGATIVE,
    "train.grad_clip": _NON_NEGATIVE,
    "train.min_lr": Range(0, 10),
    "train.clr_step_size": _COUNT,
    "train.clr_gamma": Range(0, 1, low_open=True),
    "train.l1": _NON_NEGATIVE,
    "train.rhythm_weight": _NON_NEGATIVE,
    "train.harmony_weight": _NON_NEGATIVE,
    "train.eval_every": _COUNT,
    "train.eval_seq_len": _COUNT,
    "train.eval_batch_size": _COUNT,
    "train.eval_max_windows": _NON_NEGATIVE,
    "train.patience": _NON_NEGATIVE,                 # 0 = no patience-based stopping (EarlyStopping)
    "train.min_delta": _NON_NEGATIVE,
    "train.gl_alpha": _NON_NEGATIVE,
    "train.checkpoint_minutes": _POSITIVE,
    "train.log_every": _COUNT,
    "train.threads": _NON_NEGATIVE,
    "export.opset": Range(17, 30),
    "export.parity_steps": _COUNT,
    "export.int8_max_kl": _NON_NEGATIVE,
    "export.int8_min_agreement": _FRACTION,
    "sampling.release_start_seconds": Range(None, 60),    # negative = no release hazard
    "sampling.note_cap_seconds": Range(0, 60, low_open=True),
    "sampling.dynamics_notes": _COUNT,
    "sampling.key_strength": _FRACTION,
    "sampling.release_follow_quantile": Range(None, 1),   # negative = the hazard's start and cap are fixed
    "sampling.follow_key_strength": _FRACTION,
    "sampling.follow_key_notes": _COUNT,
    "sampling.pulse_strength": _FRACTION,
    "sampling.density_strength": Range(0, 4),
    "daemon.in_channel": Range(0, 16),
    "daemon.out_channel": Range(1, 16),
    "daemon.echo_window_ms": Range(0, 10_000),
    "daemon.temperature": Range(0, 100),
    "daemon.top_k": Range(0, 388),
    "daemon.top_p": Range(0, 1, low_open=True),
    "daemon.min_p": Range(0, 1, high_open=True),
    "daemon.seed": _SEED,
    "daemon.density": Range(None, 1000),            # negative = follow the player
    "daemon.silence_ms": _POSITIVE,
    "daemon.takeover_cc": _CC,
    "daemon.response_seconds": _POSITIVE,
    "daemon.response_bars": _NON_NEGATIVE,
    "daemon.beats_per_bar": Range(1, 64),
    "daemon.max_response_seconds": _POSITIVE,
    "daemon.lead_in_ms": _NON_NEGATIVE,
    "daemon.lookahead_ms": _POSITIVE,
    "daemon.spin_ms": _NON_NEGATIVE,
    "daemon.realtime_priority": Range(0, 99),
    "daemon.stale_key_seconds": _POSITIVE,
    "daemon.cc_map.*": _CC_OR_OFF,
    "daemon.state_cc": _CC_OR_OFF,
}


def range_key(path: str) -> str:
    """`train.stages[2].seq_len` -> `train.stages[].seq_len`, the form RANGES is keyed by."""
    return re.sub(r"\[\d+\]", "[]", path)


def _check_range(path: str, value: int | float, mapping_value: bool) -> None:
    key = range_key(path)
    if mapping_value:
        key = key.rsplit(".", 1)[0] + ".*"
    allowed = RANGES[key]     # a KeyError here is a numeric key added without its range: add it to RANGES
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
    return from_dict(Config, raw, "")


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
