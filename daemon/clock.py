"""MIDI clock in: 24 pulses per quarter note; tempo from recent pulse intervals; start / stop / continue.

Lets answers start on the next beat and last a number of bars when a sequencer or drum machine sends clock.
STOP also ends an answer that is playing (the session's job); CONTINUE resumes counting where STOP left it.
"""
from __future__ import annotations

import collections

from segue.codec.midi import CLOCK, CONTINUE, START, STOP

PULSES_PER_BEAT = 24
# Pulse intervals averaged for the tempo: one beat's worth smooths the jitter of USB/JACK delivery without
# lagging a tempo change by more than a beat.
WINDOW = PULSES_PER_BEAT
# A pulse gap this long means the clock stopped without a STOP message (cable pulled, sequencer quit).
STALE_S = 0.5
# A beat shorter than this (600 bpm) is a burst of clock bytes (a script, a merged cable), not a tempo: a burst sent
# back to back measured a beat of 0 s, and the next beat divided by it.
SHORTEST_BEAT_S = 0.1


class MidiClock:
    def __init__(self) -> None:
        self.running = False
        self.pulses = 0                      # pulses since START (CONTINUE keeps counting)
        self.last_pulse: float | None = None
        self.beat_time: float | None = None  # time of the most recent pulse that began a beat
        self._intervals: collections.deque[float] = collections.deque(maxlen=WINDOW)

    def handle(self, status: int, t: float) -> bool:
        """Take one real-time message; True if it was a clock message."""
        if status == CLOCK:
            if self.last_pulse is not None and t - self.last_pulse < STALE_S:
                self._intervals.append(t - self.last_pulse)
            self.last_pulse = t
            if self.pulses % PULSES_PER_BEAT == 0:
                self.beat_time = t
            self.pulses += 1
            if not self.running and self.pulses > 1:
                self.running = True          # clock without START (joining mid-song) still counts
            return True
        if status == START:
            self.running, self.pulses, self.beat_time = True, 0, None
            return True
        if status == CONTINUE:
            self.running = True
            return True
        if status == STOP:
            self.running = False
            return True
        return False

    def beat_seconds(self, now: float) -> float | None:
        """Length of a beat, or None when there is no live clock."""
        if not self.running or len(self._intervals) < 2 or self.last_pulse is None or now - self.last_pulse > STALE_S:
            return None
        beat = PULSES_PER_BEAT * sum(self._intervals) / len(self._intervals)
        return beat if beat >= SHORTEST_BEAT_S else None

    def bpm(self, now: float) -> float | None:
        beat = self.beat_seconds(now)
        return None if beat is None else 60.0 / beat

    def next_beat(self, t: float, now: float) -> float:
        """The first beat at or after t (t itself when there is no clock). Whether the clock is live is judged at
        `now`: t may lie ahead (a prepared answer's deadline), beats are extrapolated to it."""
        beat = self.beat_seconds(now)
        if beat is None or self.beat_time is None:
            return t
        beats_ahead = max(0.0, (t - self.beat_time) / beat)
        whole = int(beats_ahead)
        if whole < beats_ahead - 1e-9:
            whole += 1
        return self.beat_time + whole * beat
