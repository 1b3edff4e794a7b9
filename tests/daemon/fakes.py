"""Test doubles for the daemon's unit tests: an output port that records, a scripted engine, a simple encoder."""
from __future__ import annotations

import threading
import time

import numpy as np

from segue.codec import codec


class FakeOutput:
    """Records (perf_counter, message) for every send."""

    def __init__(self):
        self.sent: list[tuple[float, tuple[int, ...]]] = []
        self.lock = threading.Lock()
        self.name = "fake:out"

    def send(self, data):
        with self.lock:
            self.sent.append((time.perf_counter(), tuple(data)))

    def messages(self):
        with self.lock:
            return [data for _, data in self.sent]

    def note_ons(self):
        return [d for d in self.messages() if d[0] & 0xF0 == 0x90 and d[2] > 0]

    def close(self):
        pass


class ScriptedEngine:
    """Plays a scale: note-on, 5 steps, note-off, next pitch. Knows everything it was fed (for rollback tests).

    State is (heard events tuple); logits put 10 on the scripted next event and 5 on a note-on, so masking time
    shifts still leaves a clear choice."""

    conditioned = False
    control_dim = 20

    def __init__(self, shift_first: bool = False, hold_steps: int = 5):
        self.heard: tuple[int, ...] = ()
        self.shift_first = shift_first
        self.hold_steps = hold_steps
        self.path = None
        self.steps = 0

    def _logits(self) -> np.ndarray:
        logits = np.zeros(codec.NUM_CLASSES, dtype=np.float32)
        last = self.heard[-1] if self.heard else codec.NO_EVENT
        kind = codec.event_kind(last)
        pitch = 60 + (sum(1 for e in self.heard if codec.event_kind(e) == "note_on") % 12)
        if kind == "note_on":
            nxt = codec.time_shift(self.hold_steps)
        elif kind == "time_shift" and self._sounding():
            nxt = codec.note_off(self._sounding()[-1])
        elif self.shift_first and kind != "time_shift":
            nxt = codec.time_shift(30)
        else:
            nxt = codec.note_on(pitch)
        logits[codec.note_on(pitch)] = 5.0
        logits[nxt] = 10.0
        return logits

    def _sounding(self):
        on = []
        for e in self.heard:
            k = codec.event_kind(e)
            if k == "note_on":
                on.append(e)
            elif k == "note_off" and (e - 128) in on:
                on.remove(e - 128)
        return on

    def step(self, event, controls=None):
        self.heard = self.heard + (int(event),)
        self.steps += 1
        return self._logits()

    def feed(self, events, controls=None):
        for e in events:
            self.heard = self.heard + (int(e),)
        return self._logits()

    def snapshot(self):
        return self.heard

    def restore(self, snap):
        self.heard = snap

    def set_controls(self, controls):
        pass


class SimpleEncoder:
    """Stands in for segue.codec.streaming.StreamingEncoder: emits each note at once, shifts by quantized time, no pedal."""

    def __init__(self, origin: float):
        self.origin = origin
        self.step = 0
        self.velocity_bin = 0

    def _at(self, t):
        events = []
        target = codec.quantize(t - self.origin)
        gap = target - self.step
        while gap > 0:
            shift = min(gap, codec.MAX_SHIFT_STEPS)
            events.append(codec.time_shift(shift))
            gap -= shift
        self.step = max(self.step, target)
        return events

    def note_on(self, t, pitch, velocity):
        events = self._at(t)
        b = codec.velocity_to_bin(velocity)
        if b != self.velocity_bin:
            events.append(codec.velocity_event(b))
            self.velocity_bin = b
        return events + [codec.note_on(pitch)]

    def note_off(self, t, pitch):
        return self._at(t) + [codec.note_off(pitch)]

    def sustain(self, t, value):
        return []

    def advance(self, t):
        return []

    def finish(self, t):
        return []


def wait_for(predicate, timeout=5.0, interval=0.005):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
