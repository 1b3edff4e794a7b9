"""MIDI clock in: tempo from pulses, start/stop, next beat."""
import pytest

from daemon.clock import MidiClock
from segue.codec.midi import CLOCK, START, STOP


def pulses(clock, t0, bpm, count):
    interval = 60.0 / bpm / 24
    for i in range(count):
        clock.handle(CLOCK, t0 + i * interval)
    return t0 + (count - 1) * interval


def test_tempo_from_pulses():
    clock = MidiClock()
    clock.handle(START, 0.0)
    last = pulses(clock, 0.0, 120, 48)
    assert clock.bpm(last) == pytest.approx(120, rel=1e-6)


def test_next_beat_is_on_the_grid():
    clock = MidiClock()
    clock.handle(START, 0.0)
    last = pulses(clock, 0.0, 120, 30)                # beats at 0.0 and 0.5
    assert clock.next_beat(0.6, last) == pytest.approx(1.0)
    assert clock.next_beat(0.5, last) == pytest.approx(0.5)
    assert clock.next_beat(2.1, last) == pytest.approx(2.5)   # a deadline seconds ahead: the clock is live now


def test_no_clock_or_stopped_clock_means_no_tempo():
    clock = MidiClock()
    assert clock.beat_seconds(0.0) is None and clock.next_beat(3.0, 0.0) == 3.0
    clock.handle(START, 0.0)
    last = pulses(clock, 0.0, 100, 30)
    clock.handle(STOP, last)
    assert clock.bpm(last) is None
    assert not clock.handle(0x90, last)               # not a clock message
