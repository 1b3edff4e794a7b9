"""The pulse as a model input (issue 26, option b): tempo, beat phase and confidence of the stream, from the past.

A model trained with these controls hears, beside each event, what a causal beat tracker (beat_tracker.py) makes of
every note-on it has heard so far: how sure it is of a beat, where the present falls in that beat, and the tempo.
The decoding preference (inference/pulse_preference.py) can only move the time the network lets pass; a network that
hears the phase can learn where a pianist's notes fall in the beat, rubato included, and keep a pulse where the
tracker is too unsure to steer.

The tracker hears the whole stream the model reads, whoever played it, because in training the model reads one
pianist: so what it hears live is what it heard in training. Row t is what PulseControls reports after pushing
events[0..t], the same as the density and key controls (segue.codec.controls.past_controls), so input t carries it.

The layout (PULSE_DIM values, all 0 while the tracker has no beat), each times PULSE_GAIN:
    c, c sin 2 pi phi, c cos 2 pi phi, c sin 4 pi phi, c cos 4 pi phi, c log2(period / PREFERRED_BEAT_S)
with c the tracker's confidence (0 after STALE_BEATS beats of silence) and phi the phase of now in its beat. Scaling
by c makes an unsure tracker say little and a model widened from one without these inputs (zero weights on them)
compute what it did. The second harmonic names the half beat, where a pianist's off-beat notes fall. PULSE_GAIN
brings the values to the scale of the one-hot event beside them (c is 0.27 at the median on recorded pianists):
Adam moves each new weight by about the learning rate a step, so inputs a few tenths in size left the new weights
too small to matter after 1,000 steps (MODEL.md, stage 11).
"""
from __future__ import annotations

import math

import numpy as np

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM
from segue.rhythm.beat_tracker import PREFERRED_BEAT_S, BeatTracker

PULSE_DIM = 6
PULSE_GAIN = 4.0


def hears_pulse(control_dim: int) -> bool:
    """Whether a network reading this many control values hears the pulse after the density and key values."""
    return control_dim == CONTROL_DIM + PULSE_DIM


def pulse_vector(tracker: BeatTracker, now: float) -> np.ndarray:
    """The PULSE_DIM values for a tracker at time `now` (seconds on its clock)."""
    confidence = tracker.confidence(now)
    out = np.zeros(PULSE_DIM, dtype=np.float32)
    if confidence <= 0.0:
        return out
    angle = 2.0 * math.pi * tracker.phase(now)
    confidence *= PULSE_GAIN
    out[:] = (confidence,
              confidence * math.sin(angle), confidence * math.cos(angle),
              confidence * math.sin(2 * angle), confidence * math.cos(2 * angle),
              confidence * math.log2(tracker.period / PREFERRED_BEAT_S))
    return out


class PulseControls:
    """Follows an event stream (any player) with a beat tracker; `current()` is the pulse after the last event."""

    __slots__ = ("step", "velocity_bin", "tracker", "_row", "_row_key")

    def __init__(self) -> None:
        self.step = 0
        self.velocity_bin = 0
        self.tracker = BeatTracker()
        self._row = np.zeros(PULSE_DIM, dtype=np.float32)
        self._row_key: tuple | None = None   # (step, tracker's last update, pending chord): when the row is stale

    def push(self, event: int) -> None:
        if event < codec.NOTE_OFF_OFFSET:
            self.tracker.note_on(self.step / codec.STEPS_PER_SECOND, codec.struck_velocity(self.velocity_bin))
        elif codec.TIME_SHIFT_OFFSET <= event < codec.VELOCITY_OFFSET:
            self.step += event - codec.TIME_SHIFT_OFFSET + 1
        elif event >= codec.VELOCITY_OFFSET:
            self.velocity_bin = event - codec.VELOCITY_OFFSET + 1

    def current(self) -> np.ndarray:
        """The pulse now (a fresh array the caller may keep). Between two moves of time the row can change only when
        a chord is taken in, so it is recomputed only then."""
        now = self.step / codec.STEPS_PER_SECOND
        self.tracker.flush(now)
        key = (self.step, self.tracker.last_update, self.tracker.group)
        if key != self._row_key:
            self._row, self._row_key = pulse_vector(self.tracker, now), key
        return self._row.copy()

    def rows(self, events) -> np.ndarray:
        """[T, PULSE_DIM] float32: push each event and read the pulse after it."""
        out = np.zeros((len(events), PULSE_DIM), dtype=np.float32)
        for t, event in enumerate(np.asarray(events, dtype=np.int64).tolist()):
            self.push(event)
            out[t] = self.current()
        return out

    def copy(self) -> "PulseControls":
        other = PulseControls.__new__(PulseControls)
        other.step, other.velocity_bin, other.tracker = self.step, self.velocity_bin, self.tracker.copy()
        other._row, other._row_key = self._row, self._row_key
        return other


def past_pulse(events) -> np.ndarray:
    """[T, PULSE_DIM] float32: row t is what PulseControls reports after pushing events[0..t]."""
    return PulseControls().rows(events)
