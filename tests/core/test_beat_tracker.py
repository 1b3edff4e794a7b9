"""The causal beat tracker (segue/rhythm/beat_tracker.py), the pulse preference that reads it
(segue/inference/pulse_preference.py) and the continuation test's pulse measures (segue/evaluation/pulse_metrics.py)."""
from __future__ import annotations

import numpy as np
import pytest

from segue.codec import codec
from segue.evaluation import pulse_metrics
from segue.inference.live_context import LiveContext
from segue.inference.pulse_preference import FollowPulse
from segue.rhythm.beat_tracker import BeatTracker


def metronome(bpm: float, beats: int, jitter: float = 0.01, seed: int = 0, start: float = 0.0,
              chord: int = 1) -> list[float]:
    """Onsets of a player on every beat (a chord of `chord` notes spread over ~20 ms), jittered."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    onsets = []
    for k in range(beats):
        t = start + k * period + rng.normal(0, jitter)
        onsets += [t + 0.007 * i for i in range(chord)]
    return onsets


def heard(onsets, tracker: BeatTracker | None = None) -> BeatTracker:
    tracker = tracker or BeatTracker()
    for t in sorted(onsets):
        tracker.note_on(t, 80)
    return tracker


@pytest.mark.parametrize("bpm", [80, 120, 160])
def test_a_steady_player_is_heard_with_its_tempo_and_next_beat(bpm):
    period = 60.0 / bpm
    tracker = heard(metronome(bpm, 16, chord=3))
    last = 15 * period
    assert tracker.period == pytest.approx(period, rel=0.03)
    assert tracker.confidence(last + 0.1) > 0.5
    assert abs(tracker.next_beat(last + 0.5 * period) - 16 * period) < 0.03


def test_eighths_between_the_beats_leave_the_beat_where_it_is():
    beats = metronome(100, 16, chord=2)
    eighths = [t + 0.3 for t in beats[::2][:-1]]          # a single soft note half way to the next beat
    tracker = BeatTracker()
    for t in sorted(beats + eighths):
        tracker.note_on(t, 80 if t in beats else 50)
    assert tracker.period == pytest.approx(0.6, rel=0.03)
    assert tracker.phase(16 * 0.6) == pytest.approx(0.0, abs=0.06) or tracker.phase(16 * 0.6) > 0.94


def test_random_onsets_leave_it_unsure():
    rng = np.random.default_rng(3)
    tracker = BeatTracker()
    confidences = []
    for t in np.sort(rng.uniform(0, 40, 120)):
        tracker.note_on(float(t), 70)
        confidences.append(tracker.confidence())
    assert np.median(confidences[20:]) < 0.2


def test_it_follows_a_tempo_change():
    first = metronome(120, 16)
    second = metronome(90, 16, start=first[-1] + 60 / 90, seed=1)
    tracker = heard(first + second)
    assert tracker.period == pytest.approx(60 / 90, rel=0.05)


def test_a_rest_of_two_beats_keeps_the_phase():
    onsets = [t for i, t in enumerate(metronome(120, 20)) if i not in (10, 11)]
    tracker = heard(onsets)
    assert abs(tracker.next_beat(19.6 * 0.5) - 20 * 0.5) < 0.03


def test_a_copy_goes_on_exactly_as_the_original():
    onsets = metronome(110, 12)
    tracker = heard(onsets[:6])
    copy = tracker.copy()
    heard(onsets[6:], tracker)
    heard(onsets[6:], copy)
    assert copy.period == tracker.period and copy.anchor == tracker.anchor
    assert copy.confidence() == tracker.confidence()


def context_with(onsets: list[float]) -> LiveContext:
    """A live context that heard short notes at these times (steps of 10 ms), with the pulse attached."""
    ctx = LiveContext()
    FollowPulse().attach(ctx)
    for t in onsets:
        for event in ctx.cursor.copy().shift_to(int(round(t * codec.STEPS_PER_SECOND))):
            ctx.observe(event)
        ctx.observe(codec.note_on(60))
        ctx.observe(codec.note_off(60))
    return ctx


def test_a_sure_pulse_draws_time_shifts_onto_its_grid():
    ctx = context_with(metronome(120, 16, jitter=0.0))
    probs = np.full(codec.NUM_CLASSES, 1.0 / codec.NUM_CLASSES)
    shaped = FollowPulse(0.9).shape(probs.copy(), ctx)
    shifts = shaped[codec.TIME_SHIFTS]
    to_next_beat = int(round((ctx.pulse.next_beat(ctx.step / 100 + 0.01) - ctx.step / 100) * 100))
    assert shifts.sum() == pytest.approx(probs[codec.TIME_SHIFTS].sum())       # as busy as before
    assert shifts[to_next_beat - 1] > 5 * shifts[to_next_beat - 1 - 30]       # on the beat, not 0.2 s after the last


def test_a_free_player_gets_the_distribution_untouched():
    rng = np.random.default_rng(5)
    ctx = context_with(list(np.sort(rng.uniform(0, 20, 60))))
    probs = np.random.default_rng(0).dirichlet(np.ones(codec.NUM_CLASSES))
    assert ctx.pulse.confidence() < 0.3
    assert np.array_equal(FollowPulse(0.9).shape(probs.copy(), ctx), probs)


def test_pulse_measures_see_a_continuation_on_and_off_the_primers_beat():
    primer = [k * 0.5 for k in range(20)]                                       # 120 bpm for 10 s
    on_beat = [k * 0.5 for k in range(20)]                                      # the window starts on a beat
    off_beat = [k * 0.5 + 0.25 for k in range(20)]
    on = pulse_metrics.measures(primer, 10.0, on_beat, 10.0)
    off = pulse_metrics.measures(primer, 10.0, off_beat, 10.0)
    assert on["pulse_autocorr"] > 0.8 and on["tempo_off"] < 0.05 and on["phase_on_grid"] > 0.9
    assert off["phase_on_grid"] < -0.9
    rng = np.random.default_rng(0)
    free = pulse_metrics.measures(primer, 10.0, list(np.sort(rng.uniform(0, 10, 20))), 10.0)
    assert free["pulse_autocorr"] < 0.3
