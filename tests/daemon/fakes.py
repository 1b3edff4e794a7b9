"""Test doubles for the daemon's unit tests: ports that subclass the real ports' base (so they inherit its checks), a
scripted engine."""
from __future__ import annotations

import threading
import time

import numpy as np

from segue.codec import codec
from segue.codec.midi import is_note_on

from daemon.port_base import BaseInput, BaseOutput


class FakeOutput(BaseOutput):
    """Records (perf_counter, message) for every send."""

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[float, tuple[int, ...]]] = []
        self.lock = threading.Lock()
        self.name = "fake:out"

    def _send(self, data):
        with self.lock:
            self.sent.append((time.perf_counter(), tuple(data)))

    def messages(self):
        with self.lock:
            return [data for _, data in self.sent]

    def note_ons(self):
        return [d for d in self.messages() if is_note_on(d)]


class FakeTimedOutput(FakeOutput):
    """An output that places messages in time itself (as segue's own JACK client): records (handed over, due,
    message) for every send given a due time."""

    places_in_time = True

    def __init__(self):
        super().__init__()
        self.timed: list[tuple[float, float, tuple[int, ...]]] = []

    def _send_at(self, data, due):
        with self.lock:
            self.timed.append((time.perf_counter(), due, tuple(data)))


class FakeInput(BaseInput):
    """An input the test plays into: each message goes through the real ports' entrance (`deliver`), stamped now
    unless the test gives the stamp."""

    name = "fake:in"

    def __init__(self, sink=lambda data, stamp: None):
        super().__init__(sink)

    def play(self, data, stamp: float | None = None):
        self.deliver(list(data), time.perf_counter() if stamp is None else stamp)


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


def wait_for(predicate, timeout=5.0, interval=0.005):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
