"""Session memory: what this player (and segue) just played, as a variable-order model mixed into every step.

A recurrent network forgets within seconds; the Continuator (Pachet 2003) remembers everything verbatim. This
keeps counts of every context of 0..`order` events over the last `capacity` events of the session and, before
each step, predicts the next event the PPM way: the longest context seen before, blended down to shorter ones
(PPM-C escapes), and mixes that into the network's distribution

    p = (1 - lambda) * p_model + lambda * p_memory

with lambda read from a table indexed by the memory's own confidence in the current context: the longest order k
it has seen, how often it has seen it (1, 2-3, 4-7, 8+ times) and whether it was always followed by the same event.
The table is fitted (EM on the mixture weight of each cell) on held-out *train* pieces by `fit_mixing`, never on
eval; cells with few positions are pulled towards their order's pooled weight.

Bounded: `observe` and `shape` cost O(order) dictionary operations (plus a [388] blend), and once `capacity`
events are stored the oldest one's counts are removed as each new one arrives, so a 2-hour session never grows.

`transpose=True` makes the memory transposition-invariant: note-on/off pitches in a context and in the predicted
event are taken relative to the last note-on before the predicted event, so a motif played again a third higher
is recognised. `coarse=True` makes it hear a phrase played again with other timing and dynamics: its contexts
take time shifts and velocities in coarse classes, while what it predicts stays the exact event that followed.
Which of them generation and scoring use was measured (segue/models/MODEL.md, "Decoding experiments").

It is a shaper of the one sampling loop that learns (`reset`, `observe`, `shape(probs, ctx)`, `snapshot`,
`restore`): the session's material is its own; what is sounding it reads from the loop's LiveContext.
"""
from __future__ import annotations

import json
from bisect import bisect_right
from collections import deque
from itertools import islice
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from segue.codec import codec
from segue.errors import SegueError

DEFAULT_ORDER = 12            # long enough to tell a repeated phrase from a common 3-note figure
DEFAULT_CAPACITY = 20_000     # events stored (~10-20 minutes of playing); counts are a few dict entries per event
COUNT_EDGES = (2, 4, 8)       # context seen 1, 2-3, 4-7, 8+ times: four confidence buckets
CELLS_PER_ORDER = 2 * (len(COUNT_EDGES) + 1)   # x (always followed by the same event or not)
ROLLBACK_EVENTS = 4096        # evictions remembered so that restore() can undo them (a daemon's lookahead is far less)
EM_ITERATIONS = 60
MAX_WEIGHT = 0.995            # the network always keeps a little: the memory alone would never play anything new
POOL_STRENGTH = 20.0          # positions' worth of pull from a cell's weight towards its order's pooled weight

# The coarse contexts' classes. Time shifts in 10 ms steps, each class about twice the last: one chord's spread
# (<= 20 ms), ornaments and fast runs, sixteenths, eighths, quarters, longer. Rubato moves a performed inter-onset
# interval by tens of percent (Repp 1992), so a finer grid tells two renditions of one phrase apart. Velocity bins
# (32, of 4 MIDI velocities each) in groups of 4: the dynamic level (p, mf, f ...), not its exact value.
COARSE_SHIFT_EDGES = (3, 7, 16, 36, 81)
COARSE_VELOCITY_BINS = 4
_COARSE_BASE = 3000           # coarse context codes: above every stored code (relative ones end below 2 * 1000 + 388)

_HASH_MULTIPLIER = 0x9E3779B97F4A7C15
_HASH_MASK = (1 << 64) - 1
_PITCHED_KINDS = (codec.NOTE_ON_OFFSET, codec.NOTE_OFF_OFFSET)
_RELATIVE_BASE = 1000         # relative code of a pitched event: kind * 1000 + interval + 128 (kind 0 on, 1 off)


@dataclass
class MemorySettings:
    """What a SessionMemory needs; `lambdas[cell]` is the mixing weight of a confidence cell (see `cell`)."""

    order: int = DEFAULT_ORDER
    capacity: int = DEFAULT_CAPACITY
    transpose: bool = False
    lambdas: list[float] = field(default_factory=list)   # empty: not fitted yet (then the memory never mixes)
    # Generation multiplies every weight by this (capped at MAX_WEIGHT). 1 is the best predictor of what comes
    # next; sampling from it rarely lands back on a remembered context, so answers reuse little of the player's
    # material unless the memory is trusted more (continuations.fit_memory_strength; live, a CC can set it).
    strength: float = 1.0
    coarse: bool = False      # contexts hear time shifts and velocities in classes (COARSE_SHIFT_EDGES, ...)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def describe(self) -> str:
        """"order 12, transposition-invariant, coarse": what the reports print."""
        return ", ".join([f"order {self.order}", *(["transposition-invariant"] if self.transpose else []),
                          *(["coarse"] if self.coarse else [])])

    @classmethod
    def from_json(cls, text: str, source: str = "memory settings") -> "MemorySettings":
        """Settings from their JSON, checked as config.yaml is: a user mistake or a damaged file is one line naming
        `source` and the key (SegueError), never a traceback or settings that silently mute every answer."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SegueError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        except RecursionError:
            raise SegueError(f"{source}: not valid memory settings (nested too deeply)") from None
        return cls(**_checked_settings(raw, source))

    @classmethod
    def for_model(cls, model_path: str | Path) -> "MemorySettings | None":
        """The settings fitted for a model (`segue evaluate --memory --save-memory`), kept beside it as
        NAME.memory.json; None if it has none (the mixing weights depend on how confident that network is)."""
        from segue.codec.file_limits import read_file
        from segue.config import DataConfig

        path = memory_settings_path(model_path)
        if not path.exists():
            return None
        data = read_file(path, DataConfig(max_file_bytes=SETTINGS_FILE_BYTES))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SegueError(f"{path}: not valid JSON (not UTF-8 text)") from None
        return cls.from_json(text, str(path))


# What a settings file may hold: each key's type and range (segue.config's Range, as config.yaml's keys). The order
# is capped far above any fitted one (12 by default): its mixing table has (order + 1) * CELLS_PER_ORDER weights.
SETTINGS_FILE_BYTES = 1 << 20
MAX_ORDER = 64


def _settings_ranges():
    from segue.config import Range

    return {"order": (int, Range(0, MAX_ORDER)), "capacity": (int, Range(1, 10_000_000)), "transpose": (bool, None),
            "coarse": (bool, None), "strength": (float, Range(0, 1000)), "lambdas": (list, None)}


def _checked_settings(raw, source: str) -> dict:
    """`raw` (parsed JSON) as MemorySettings' keyword arguments, or a SegueError naming the first wrong key."""
    if not isinstance(raw, dict):
        raise SegueError(f"{source}: must be a JSON object of memory settings, got a {type(raw).__name__}")
    allowed = _settings_ranges()
    for key, value in raw.items():
        if key not in allowed:
            raise SegueError(f"{source}: unknown key {key!r} (known: {', '.join(allowed)})")
        kind, bounds = allowed[key]
        if not _is_kind(value, kind):
            raise SegueError(f"{source}: '{key}' must be {_KIND_NAMES[kind]}, got {json.dumps(value)[:40]}")
        if bounds is not None and not bounds.allows(value):
            raise SegueError(f"{source}: '{key}' is {value!r}, allowed: {bounds}")
    settings = {**asdict(MemorySettings()), **raw}
    cells = (settings["order"] + 1) * CELLS_PER_ORDER
    weights = settings["lambdas"]
    if weights and len(weights) != cells:
        raise SegueError(f"{source}: 'lambdas' holds {len(weights)} mixing weights, order {settings['order']} needs "
                         f"{cells}")
    for i, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            raise SegueError(f"{source}: 'lambdas[{i}]' is {json.dumps(weight)[:40]}, allowed: a number 0 <= x <= 1")
    settings["lambdas"] = [float(weight) for weight in weights]
    settings["strength"] = float(settings["strength"])
    return settings


def _is_kind(value, kind: type) -> bool:
    """JSON's true/false are not numbers here (Python's bool is an int); a whole number is a number."""
    if kind in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, (int, float) if kind is float else kind)


_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false", list: "a list of numbers"}


def memory_settings_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".memory.json")


# The memory's modes (config.yaml daemon.memory, `segue generate --memory`): off; the player's notes are its
# material (segue's answers are heard as context only); or both the player's notes and segue's own.
MEMORY_MODES = ("off", "player", "session")


def player_memory(model_path: str | Path, mode: str) -> MemorySettings | None:
    """The memory segue serve plays `model_path` with in `mode`: the settings fitted for that model
    (MemorySettings.for_model), or None when the mode is off or the model has none."""
    if mode not in MEMORY_MODES:
        raise SegueError(f"memory mode {mode!r}: use one of {', '.join(MEMORY_MODES)}")
    return MemorySettings.for_model(model_path) if mode != "off" else None


def cell(order: int, count: int, deterministic: bool) -> int:
    """Index of a confidence cell: longest seen order, count bucket of that context, determinism."""
    bucket = int(np.searchsorted(COUNT_EDGES, count, side="right"))
    return order * CELLS_PER_ORDER + 2 * bucket + int(deterministic)


class SessionMemory:
    def __init__(self, settings: MemorySettings | None = None):
        self.settings = settings or MemorySettings()
        if self.settings.order < 0 or self.settings.capacity < 1:
            raise SegueError(f"memory order must be >= 0 and capacity >= 1, got {self.settings.order} and "
                             f"{self.settings.capacity}")
        cells = (self.settings.order + 1) * CELLS_PER_ORDER
        if self.settings.lambdas and len(self.settings.lambdas) != cells:
            raise SegueError(f"memory settings have {len(self.settings.lambdas)} mixing weights, order "
                             f"{self.settings.order} needs {cells}")
        self.fitted = np.asarray(self.settings.lambdas or np.zeros(cells), dtype=np.float64)
        self.set_strength(self.settings.strength)
        # False: events still form the context the memory matches against, but are not stored as material. The
        # daemon's player-only memory learns the player's phrases, not segue's answers to them (which would
        # otherwise come back as "the player's motif" and make segue quote itself).
        self.learning = True
        self.reset()

    def set_strength(self, strength: float) -> None:
        """Scale the fitted mixing weights (0 = the memory is silent; live: a CC through daemon.cc_map.memory)."""
        self.lambdas = np.minimum(self.fitted * max(strength, 0.0), MAX_WEIGHT)

    def reset(self) -> None:
        """Forget the session (a new piece, a new session, a panic)."""
        self.history: deque[int] = deque(maxlen=self.settings.order)
        self.reference = 0                     # pitch of the last note-on (transposition-invariant mode)
        self.successors: dict[int, dict[int, int]] = {}   # context key -> {stored event: count}
        self.totals: dict[int, int] = {}       # context key -> occurrences
        self.stored: deque[tuple[int, tuple[int, ...], int]] = deque()   # (serial, context keys, event) per position
        self.evicted: deque[tuple[int, tuple]] = deque(maxlen=ROLLBACK_EVENTS)   # (serial that evicted it, entry)
        self.serial = 0                        # positions stored so far
        self.query: tuple[int, ...] = ()       # context keys of the position about to be predicted
        self.query_reference = 0
        self.weight = 0.0                      # the mixing weight of the last shape() (grammar.YieldToMemory)
        # (silent release, the event the replay expects after it) when the last shape() replayed past one
        self.skipped: tuple[int, int] | None = None

    # --- the shaper protocol ---------------------------------------------------------------------------------
    def observe(self, event: int) -> None:
        event = int(event)
        if self.query and self.learning:
            self._store(self.query, self._relative(event, self.query_reference))
        if self.skipped is not None and event == self.skipped[1]:
            self.history.append(self.skipped[0])   # the replay went on past it: so does the context it matches
        self.skipped = None
        self.history.append(event)
        if event < codec.NOTE_OFF_OFFSET:
            self.reference = event
        self.query = self._context_keys(self.history)
        self.query_reference = self.reference

    def shape(self, probs: np.ndarray, ctx) -> np.ndarray:
        prediction = self.predict()
        self.weight = 0.0
        if prediction is None:
            return probs
        p_memory, confidence = prediction
        self.weight = float(self.lambdas[confidence])
        if self.weight <= 0:
            return probs
        return (1.0 - self.weight) * probs + self.weight * self._past_silent_release(p_memory, ctx.open.sounding)

    def _past_silent_release(self, p_memory: np.ndarray, sounding: np.ndarray) -> np.ndarray:
        """A replay that comes to the release of a note not sounding here (its note-on lay before the replay
        began, or the grammar ended the note earlier) goes on past it, to what followed the release, instead of
        stopping: the grammar's note-off mask would rule the release out and leave the step to the network, and
        the replay would be lost (measured: segue/models/MODEL.md, "Decoding experiments"). Only a release the
        memory is sure of (half its mass or more) is replayed past; its context takes the release only when the
        replay then goes on as it expected."""
        top = int(p_memory.argmax())
        if not (codec.NOTE_OFF_OFFSET <= top < codec.TIME_SHIFT_OFFSET and p_memory[top] >= 0.5
                and not sounding[top - codec.NOTE_OFF_OFFSET]):
            return p_memory
        ahead = self._blend(self._context_keys([*self.history, top]))
        if ahead is None:
            return p_memory
        self.skipped = top, int(ahead[0].argmax())
        replayed = p_memory.copy()
        replayed[top] = 0.0
        return replayed + p_memory[top] * ahead[0]

    def snapshot(self):
        """Cheap: the context and a serial number; restore() undoes what was stored after it (rollback when the
        player barges in: the memory keeps what sounded, as the model does)."""
        return (self.serial, tuple(self.history), self.reference, self.query, self.query_reference, self.skipped)

    def restore(self, snap) -> None:
        serial, history, self.reference, self.query, self.query_reference, self.skipped = snap
        self.history = deque(history, maxlen=self.settings.order)
        while self.stored and self.stored[-1][0] > serial:
            _, keys, event = self.stored.pop()
            self._count(keys, event, -1)
        while self.evicted and self.evicted[-1][0] > serial:
            entry = self.evicted.pop()[1]
            self.stored.appendleft(entry)
            self._count(entry[1], entry[2], +1)
        self.serial = serial

    # --- the memory's own prediction -------------------------------------------------------------------------
    def predict(self) -> tuple[np.ndarray, int] | None:
        """(P_memory(next event) [388], confidence cell), or None before anything was stored."""
        return self._blend(self.query)

    def _blend(self, keys: tuple[int, ...]) -> tuple[np.ndarray, int] | None:
        seen = []
        for key in keys:   # a context seen before implies its shorter suffixes were seen too
            if key not in self.totals:
                break
            seen.append(key)
        if not seen:
            return None
        p = np.zeros(codec.NUM_CLASSES)
        for k, key in enumerate(seen):
            events, counts = self._absolute(self.successors[key])
            n, u = float(self.totals[key]), float(len(self.successors[key]))
            if k:
                p *= u / (n + u)
                p[events] += counts / (n + u)
            else:
                p[events] += counts / max(counts.sum(), 1.0)
        total = p.sum()
        if total <= 0:   # every remembered event transposes out of range
            return None
        top = seen[-1]
        return p / total, cell(len(seen) - 1, self.totals[top], len(self.successors[top]) == 1)

    # --- bookkeeping -----------------------------------------------------------------------------------------
    def _context_keys(self, history) -> tuple[int, ...]:
        """Keys of the contexts of length 0..order ending with `history` (a context that reaches back past the
        session start is not formed), each a 64-bit hash that also encodes its length."""
        keys = [0]
        code = 0
        for k, event in enumerate(islice(reversed(history), self.settings.order), start=1):
            code = ((code ^ (self._context_code(event) + 1)) * _HASH_MULTIPLIER + k) & _HASH_MASK
            keys.append(code)
        return tuple(keys)

    def _context_code(self, event: int) -> int:
        """What a context hears of an event: its stored code or, in coarse mode, a time shift's or velocity's class."""
        if self.settings.coarse and event >= codec.TIME_SHIFT_OFFSET:
            if event >= codec.VELOCITY_OFFSET:
                return _COARSE_BASE + (event - codec.VELOCITY_OFFSET) // COARSE_VELOCITY_BINS
            return _COARSE_BASE + 100 + bisect_right(COARSE_SHIFT_EDGES, codec.shift_steps(event))
        return self._relative(event, self.reference)

    def _relative(self, event: int, reference: int) -> int:
        if not self.settings.transpose or event >= codec.TIME_SHIFT_OFFSET:
            return event + 2 * _RELATIVE_BASE
        kind = int(event >= codec.NOTE_OFF_OFFSET)
        return kind * _RELATIVE_BASE + (event - _PITCHED_KINDS[kind]) - reference + 128

    def _absolute(self, successors: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        stored = np.fromiter(successors.keys(), dtype=np.int64, count=len(successors))
        counts = np.fromiter(successors.values(), dtype=np.float64, count=len(successors))
        if not self.settings.transpose:
            return stored - 2 * _RELATIVE_BASE, counts
        kind = stored // _RELATIVE_BASE
        pitch = stored % _RELATIVE_BASE - 128 + self.query_reference
        events = np.where(kind == 2, stored - 2 * _RELATIVE_BASE,
                          np.where(kind == 1, codec.NOTE_OFF_OFFSET, codec.NOTE_ON_OFFSET) + pitch)
        keep = (kind == 2) | ((pitch >= 0) & (pitch < 128))
        return events[keep], counts[keep]

    def _store(self, keys: tuple[int, ...], event: int) -> None:
        self.serial += 1
        self._count(keys, event, +1)
        self.stored.append((self.serial, keys, event))
        if len(self.stored) > self.settings.capacity:
            oldest = self.stored.popleft()
            self._count(oldest[1], oldest[2], -1)
            self.evicted.append((self.serial, oldest))

    def _count(self, keys: tuple[int, ...], event: int, change: int) -> None:
        for key in keys:
            successors = self.successors.setdefault(key, {})
            count = successors.get(event, 0) + change
            if count:
                successors[event] = count
                self.totals[key] = self.totals.get(key, 0) + change
            else:
                del successors[event]
                if self.totals[key] == 1:
                    del self.totals[key], self.successors[key]
                else:
                    self.totals[key] -= 1

    def size(self) -> int:
        """Stored (context, event) entries: what bounds the memory's footprint."""
        return sum(len(s) for s in self.successors.values())


# --- fitting the mixing table ----------------------------------------------------------------------------------
def memory_trace(settings: MemorySettings, pieces: list[tuple[np.ndarray, np.ndarray]]):
    """For every scored position of (probs, events) pieces: (p_base(label), p_memory(label), cell), cell -1 where
    the memory had nothing. probs[t] is the base predictor's distribution of events[t + 1]."""
    memory = SessionMemory(MemorySettings(settings.order, settings.capacity, settings.transpose,
                                          coarse=settings.coarse))
    base, remembered, cells = [], [], []
    for probs, events in pieces:
        memory.reset()
        for t in range(len(events) - 1):
            memory.observe(int(events[t]))
            label = int(events[t + 1])
            prediction = memory.predict()
            base.append(probs[t, label])
            if prediction is None:
                remembered.append(0.0)
                cells.append(-1)
            else:
                remembered.append(prediction[0][label])
                cells.append(prediction[1])
    return np.array(base), np.array(remembered), np.array(cells)


def fit_mixing(settings: MemorySettings, base: np.ndarray, remembered: np.ndarray, cells: np.ndarray) -> MemorySettings:
    """The lambda table maximising the mixture's likelihood on the traced positions (EM per cell, shrunk towards
    each order's pooled weight where a cell has few positions)."""
    cells_total = (settings.order + 1) * CELLS_PER_ORDER
    lambdas = np.zeros(cells_total)
    order_of = np.arange(cells_total) // CELLS_PER_ORDER
    use = cells >= 0
    base, remembered, cells = np.maximum(base[use], 1e-300), remembered[use], cells[use]
    counts = np.bincount(cells, minlength=cells_total).astype(np.float64)
    order_counts = np.bincount(order_of[cells], minlength=settings.order + 1).astype(np.float64)
    weight = np.full(cells_total, 0.3)
    for _ in range(EM_ITERATIONS):
        w = weight[cells]
        posterior = w * remembered / ((1 - w) * base + w * remembered)
        per_cell = np.bincount(cells, weights=posterior, minlength=cells_total)
        pooled = np.bincount(order_of[cells], weights=posterior, minlength=settings.order + 1) / np.maximum(order_counts, 1)
        weight = (per_cell + POOL_STRENGTH * pooled[order_of]) / (counts + POOL_STRENGTH)
        weight = np.clip(weight, 0.0, MAX_WEIGHT)
    lambdas[:] = weight
    lambdas[counts + order_counts[order_of] == 0] = 0.0   # never seen in tuning: do not mix
    return MemorySettings(settings.order, settings.capacity, settings.transpose, [float(x) for x in lambdas],
                          settings.strength, settings.coarse)
