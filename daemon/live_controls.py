"""Live controls: the CC map (knobs -> temperature, top-p, length, density, mode, memory, panic), what the knobs
set, the control vector the model hears (followed from the player, parts pinned), and --learn.

A CC value 0..127 is mapped onto each control's useful range; the mapping is linear and documented in
config.yaml so a musician knows where the middle of the knob is.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from segue.codec.controls import DENSITY_SLICE, HISTOGRAM_SLICE
from segue.codec.controls import NUM_DENSITY_CLASSES as DENSITY_CLASSES
from segue.codec.midi import CONTROL_CHANGE, PEDAL_DOWN, kind_of

from daemon.policy import MODES

CONTROL_NAMES = ("temperature", "top_p", "response_seconds", "density", "mode", "memory", "panic")


@dataclass(frozen=True)
class Change:
    name: str
    value: object            # float, int class, mode name, or True for panic


def cc_value(name: str, value: int) -> object:
    """What a CC value means for a control."""
    x = value / 127.0
    if name == "temperature":
        return round(0.1 + 1.9 * x, 3)            # 0.1 (careful) .. 2.0 (wild); 1.0 a little past the middle
    if name == "top_p":
        return round(0.5 + 0.5 * x, 3)            # 0.5 .. 1.0 (off)
    if name == "response_seconds":
        return round(1.0 + 29.0 * x, 1)           # 1 .. 30 s
    if name == "density":
        return min(DENSITY_CLASSES - 1, value * DENSITY_CLASSES // 128)   # density class 0..7
    if name == "mode":
        return MODES[min(len(MODES) - 1, value * len(MODES) // 128)]
    if name == "memory":
        return round(2.0 * x, 3)                  # session memory: 0 (off) .. 2x the fitted strength; 1 at the middle
    if name == "panic":
        return value >= PEDAL_DOWN
    raise KeyError(name)


class CCMap:
    def __init__(self, mapping: dict[str, int]):
        unknown = set(mapping) - set(CONTROL_NAMES)
        if unknown:
            from segue.errors import SegueError
            raise SegueError(f"config: daemon.cc_map has unknown control(s) {sorted(unknown)}; "
                             f"known: {', '.join(CONTROL_NAMES)}")
        self.by_cc = {int(cc): name for name, cc in mapping.items() if int(cc) >= 0}

    def change(self, cc: int, value: int) -> Change | None:
        name = self.by_cc.get(cc)
        if name is None:
            return None
        meaning = cc_value(name, value)
        if name == "panic" and not meaning:
            return None
        return Change(name, meaning)


# Changes the session acts on itself (they reach the turn policy, the generator or the scheduler).
SESSION_CONTROLS = ("mode", "memory", "panic")


class LiveControls:
    """What the knobs set, and the control vector the model hears: the follower's reading of the player with the
    pinned parts (a --key, a --density or the density knob) in place of what it follows."""

    def __init__(self, cc_map: CCMap, sampler, response_seconds: float, engine, follower=None, pinned=None):
        self.cc_map, self.sampler, self.response_seconds = cc_map, sampler, response_seconds
        self.engine, self.follower = engine, follower
        self.pinned = pinned or {}              # {"density": [8], "key": [12]} vectors that replace following

    def change(self, cc: int, value: int) -> Change | None:
        return self.cc_map.change(cc, value)

    def apply(self, change: Change) -> bool:
        """Set what the change sets here; False for the changes the session acts on (SESSION_CONTROLS)."""
        if change.name == "temperature":
            self.sampler.temperature = float(change.value)
        elif change.name == "top_p":
            self.sampler.top_p = float(change.value)
        elif change.name == "response_seconds":
            self.response_seconds = float(change.value)
        elif change.name == "density":
            one_hot = np.zeros(DENSITY_CLASSES, dtype=np.float32)
            one_hot[int(change.value)] = 1.0
            self.pinned["density"] = one_hot
        else:
            return False
        return True

    def hear(self, events) -> None:
        """The player's events as the encoder finalized them: the follower reads them."""
        if self.follower is not None:
            for event in events:
                self.follower.push(int(event))

    def vector(self):
        """The control vector for the model now (None for an unconditioned model)."""
        if not self.engine.conditioned:
            return None
        current = (np.asarray(self.follower.current(), dtype=np.float32).copy() if self.follower is not None
                   else np.zeros(self.engine.control_dim, dtype=np.float32))
        if "density" in self.pinned:
            current[DENSITY_SLICE] = self.pinned["density"]
        if "key" in self.pinned:
            current[HISTOGRAM_SLICE] = self.pinned["key"]
        return current


class Learner:
    """Binds the next CC that moves to a control: wiggle a knob, it is learned.

    A controller may send one stray CC on connect, so a CC counts as wiggled only after its value moved by
    `min_travel` from the first value seen."""

    def __init__(self, min_travel: int = 8):
        self.min_travel = min_travel
        self._first: dict[int, int] = {}

    def feed(self, cc: int, value: int) -> int | None:
        first = self._first.setdefault(cc, value)
        if abs(value - first) >= self.min_travel:
            self._first.clear()
            return cc
        return None


def learn(messages, names=CONTROL_NAMES, seconds_each: float = 10.0, say=print, taken=()) -> dict[str, int]:
    """Interactive: for each control ask for a knob; `messages` yields (data, stamp) from the input port
    (or None on timeout). Returns the bindings made; a control nobody wiggled is skipped."""
    bindings: dict[str, int] = {}
    for name in names:
        say(f"learn: move the knob/pedal for {name} (skipped after {seconds_each:.0f} s)")
        learner = Learner()
        deadline = time.perf_counter() + seconds_each
        while time.perf_counter() < deadline:
            item = messages(max(0.0, deadline - time.perf_counter()))
            if item is None:
                continue
            data, _ = item
            if len(data) == 3 and kind_of(data[0]) == CONTROL_CHANGE:
                cc = learner.feed(data[1], data[2])
                if cc is not None and cc not in bindings.values() and cc not in taken:
                    bindings[name] = cc
                    say(f"learn: {name} -> CC{cc}")
                    break
    return bindings
