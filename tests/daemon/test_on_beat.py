"""Where an answer starts (daemon/policy.py TurnPolicy.answer_start): on a MIDI clock's beat, else on the player's
beat when the pulse tracker is sure of one, else at once; `--on-beat off` always at once."""
from __future__ import annotations

import numpy as np
import pytest

from daemon.clock import MidiClock
from daemon.policy import TurnPolicy
from segue.codec.midi import CLOCK, START

BEAT = 0.5                                        # the player at 120 bpm


def played(policy: TurnPolicy, onsets) -> float:
    """The player's notes (each held 0.2 s); returns the last release."""
    for t in onsets:
        policy.note_on(t, 60, 80)
        policy.note_off(t + 0.2, 60)
    return onsets[-1] + 0.2


def steady(beats: int = 8, jitter: float = 0.01, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [k * BEAT + rng.normal(0, jitter) for k in range(beats)]


def running_clock(until: float, bpm: float = 100.0) -> MidiClock:
    clock = MidiClock()
    clock.handle(START, 0.0)
    pulse = 60.0 / bpm / 24
    for k in range(int(until / pulse) + 1):
        clock.handle(CLOCK, k * pulse)
    return clock


def test_auto_starts_on_the_players_next_beat():
    policy = TurnPolicy("call-response", 0.4, on_beat="auto")
    released = played(policy, steady())
    trigger = released + 0.4
    start, waits_for = policy.answer_start(trigger, released + 0.03, MidiClock())
    assert waits_for == "pulse"
    assert start >= trigger - 1e-9
    assert abs(start - round(start / BEAT) * BEAT) < 0.03         # on the player's grid
    assert start - trigger < BEAT


def test_off_answers_at_once_whatever_the_player_plays():
    policy = TurnPolicy("call-response", 0.4, on_beat="off")
    released = played(policy, steady())
    assert policy.answer_start(released + 0.4, released + 0.03, MidiClock()) == (released + 0.4, "now")


def test_a_running_clock_wins_over_the_players_pulse():
    policy = TurnPolicy("call-response", 0.4, on_beat="auto")
    released = played(policy, steady())
    clock = running_clock(released + 0.03)
    start, waits_for = policy.answer_start(released + 0.4, released + 0.03, clock)
    assert waits_for == "clock"
    assert start == pytest.approx(clock.next_beat(released + 0.4, released + 0.03))


def test_clock_mode_ignores_the_players_pulse():
    policy = TurnPolicy("call-response", 0.4, on_beat="clock")
    released = played(policy, steady())
    assert policy.answer_start(released + 0.4, released + 0.03, MidiClock())[1] == "now"


def test_a_free_player_is_answered_at_once():
    rng = np.random.default_rng(2)
    policy = TurnPolicy("call-response", 0.4, on_beat="auto")
    released = played(policy, list(np.sort(rng.uniform(0, 6, 14))))
    assert policy.answer_start(released + 0.4, released + 0.03, MidiClock())[1] == "now"


def test_a_mode_switch_keeps_the_pulse():
    policy = TurnPolicy("call-response", 0.4, on_beat="auto")
    released = played(policy, steady())
    switched = policy.switched("takeover")
    assert switched.answer_start(released + 0.4, released + 0.03, MidiClock())[1] == "pulse"
