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


def test_an_answer_on_the_players_beat_is_steered_by_the_grid_it_starts_on():
    """One grid: the generator's pulse preference steers the answer by the turn policy's pulse, moved onto the
    answer's clock, so the start (a beat of that pulse, between two 10 ms steps) is a point of the grid to the
    microsecond and the preference does not hold the first note back."""
    import time

    from daemon.generator import OpenAnswer
    from segue.codec import codec
    from tests.daemon.test_generator import make, stop
    from tests.daemon.fakes import wait_for

    out, sched, gen, _ = make(lead_in_ms=1000.0)          # the model could wait for the grid: nothing stops it
    try:
        policy = TurnPolicy("call-response", 0.4, on_beat="auto")
        released = played(policy, [gen.origin + 0.0037 + t for t in steady(jitter=0.0)])
        start, waits_for = policy.answer_start(released + 0.4, released + 0.03, MidiClock())
        assert waits_for == "pulse"
        gen.send(OpenAnswer(1, start, None, time.perf_counter(), policy.pulse.copy()))
        assert wait_for(lambda: out.note_ons())
        answer_start = gen.answer.start_step / codec.STEPS_PER_SECOND    # the start on the context's clock
        pulse = gen.ctx.pulse
        assert pulse.period == pytest.approx(policy.pulse.period)
        assert min(pulse.phase(answer_start), 1 - pulse.phase(answer_start)) * pulse.period < 1e-6
        first = next(at for at, data in out.sent if data[0] == 0x90)
        assert start - 0.001 <= first < start + 0.1        # not held back to the next half beat, 0.25 s on
    finally:
        stop(sched, gen)


@pytest.mark.parametrize("on_beat, steers", [("auto", True), ("clock", False), ("off", False)])
def test_only_an_answer_that_follows_the_players_pulse_is_steered_by_it(on_beat, steers):
    """`--on-beat off` is free time for the whole answer, not only its first note; `clock` follows a clock's beat,
    not the player's."""
    from tests.daemon.test_session import Stepped

    session = Stepped(on_beat=on_beat).session
    try:
        assert (session.generator.settings.grammar.pulse_strength > 0) == steers
    finally:
        session.close()
