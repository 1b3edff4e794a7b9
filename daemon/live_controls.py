"""Live controls: the CC map (knobs -> temperature, top-p, length, density, mode, memory, panic) and --learn.

A CC value 0..127 is mapped onto each control's useful range; the mapping is linear and documented in
config.yaml so a musician knows where the middle of the knob is.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from segue.codec.controls import NUM_DENSITY_CLASSES as DENSITY_CLASSES
from segue.codec.midi import CONTROL_CHANGE, PEDAL_DOWN, STATUS_KIND

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
            if len(data) == 3 and data[0] & STATUS_KIND == CONTROL_CHANGE:
                cc = learner.feed(data[1], data[2])
                if cc is not None and cc not in bindings.values() and cc not in taken:
                    bindings[name] = cc
                    say(f"learn: {name} -> CC{cc}")
                    break
    return bindings
