"""The player's rhythm inside the beat (segue/rhythm/rhythm_grid.py) and the pulse preference that holds an answer to
it (segue/inference/pulse_preference.py)."""
from __future__ import annotations

import numpy as np
import pytest

from segue.codec import codec
from segue.inference.pulse_preference import FollowPulse
from segue.rhythm.rhythm_grid import RhythmGrid, rhythm_grid
from tests.core.test_beat_tracker import context_with


def beats_of(grid: RhythmGrid, beat: float) -> np.ndarray:
    """The grid's points within one beat (seconds after the anchor), over a few beats."""
    times = grid.anchor + np.arange(0, 4 * beat, 0.005)
    points = grid.nearest(times)
    within = np.round(((points - grid.anchor) / beat) % 1.0, 3) % 1.0
    return np.unique(np.round(within * beat, 3))


def played(per_beat: list[tuple[float, int]], beats: int = 16, beat: float = 0.5, jitter: float = 0.0,
           seed: int = 0) -> np.ndarray:
    """Note-on times of a player who, in every beat, strikes `count` notes at each (fraction of the beat, count)."""
    rng = np.random.default_rng(seed)
    times = [k * beat + fraction * beat + rng.normal(0, jitter)
             for k in range(beats) for fraction, count in per_beat for _ in range(count)]
    return np.sort(np.array(times))


def test_even_eighths_keep_the_beat_and_its_halves_at_equal_weight():
    grid = rhythm_grid(played([(0.0, 1), (0.5, 1)], jitter=0.01), 0.0, 0.5)
    assert list(beats_of(grid, 0.5)) == [0.0, 0.25]
    assert np.allclose(grid.weights, 1.0)


def test_triplets_are_points_where_halves_were():
    grid = rhythm_grid(played([(0.0, 1), (1 / 3, 1), (2 / 3, 1)], beat=0.6, jitter=0.01), 0.0, 0.6)
    assert {0.0, 0.2, 0.4} <= set(beats_of(grid, 0.6))


def test_a_chord_on_the_beat_weighs_more_than_a_note_between():
    grid = rhythm_grid(played([(0.0, 3), (0.5, 1)], jitter=0.01), 0.0, 0.5)
    (_, on_beat), (_, between) = grid.point_at(0.0), grid.point_at(0.25)
    assert on_beat > 1.0 > between
    assert grid.weights.mean() == pytest.approx(1.0, abs=0.2)


def test_sixteenths_under_a_slow_beat_are_points():
    grid = rhythm_grid(played([(0.0, 1), (0.25, 1), (0.5, 1), (0.75, 1)], beat=0.8, jitter=0.01), 0.0, 0.8)
    assert list(beats_of(grid, 0.8)) == [0.0, 0.2, 0.4, 0.6]


def test_a_few_notes_leave_the_beat_and_its_halves():
    grid = rhythm_grid(np.array([0.0, 0.5, 1.0]), 0.0, 0.5)
    assert list(beats_of(grid, 0.5)) == [0.0, 0.25]


def test_next_and_last_point():
    grid = RhythmGrid(1.0, 0.6, np.array([0.0, 1 / 3, 2 / 3]), np.ones(3))
    assert grid.next_point(1.0) == pytest.approx(1.2)          # strictly after
    assert grid.next_point(1.19, slack=0.005) == pytest.approx(1.2)
    assert grid.next_point(1.199, slack=0.005) == pytest.approx(1.4)
    assert grid.last_point(1.39) == pytest.approx(1.2)
    assert grid.last_point(1.4) == pytest.approx(1.4)


def test_a_swaying_grid_drifts_smoothly_from_the_players_last_note():
    """A player whose beat bends by more than the sway's most: the points drift from the steady beat by about that
    most, slowly (neighbouring beats together), from nothing at the player's last note; next and last point still
    bracket any time."""
    sway = 0.015
    player = drifting(0.03, 0.005)
    steady = rhythm_grid(player, 0.0, 0.5)
    swaying = rhythm_grid(player, 0.0, 0.5, sway)
    beats = player[-1] + 0.5 * np.arange(1, 400)
    drift = swaying.nearest(beats) - steady.nearest(beats)
    assert abs(swaying.sway.at(player[-1])) < 1e-12
    assert 0.5 * sway < drift.std() < 2 * sway
    assert np.corrcoef(drift[:-1], drift[1:])[0, 1] > 0.4     # a beat moves with its neighbour (jitter: 0)
    for t in player[-1] + np.random.default_rng(0).uniform(0, 20, 200):
        assert swaying.last_point(t) <= t + 1e-9 < swaying.next_point(t)


def drifting(drift: float, jitter: float, seed: int = 0) -> np.ndarray:
    """Even eighths at 120 bpm whose beat drifts by a slow random walk (SD `drift` over about a second) and each note
    by `jitter` on its own."""
    rng = np.random.default_rng(seed)
    slow = np.convolve(rng.normal(0, 1, 64), np.ones(4) / 2, mode="same")     # neighbours share 3 of 4 terms
    grid = 0.25 * np.arange(64)
    return np.sort(grid + drift * slow + rng.normal(0, jitter, 64))


def test_the_grid_sways_as_the_player_drifts_and_not_with_their_jitter():
    """A player whose beat bends gets a swaying grid, as far as it bends (at most the setting); a steady player with
    a pianist's jitter (15 ms), a score as written or a sequencer gets a steady one."""
    def sway_of(times):
        grid = rhythm_grid(times, 0.0, 0.5, 0.015)
        return 0.0 if grid.sway is None else float(np.std(grid.sway.of(times[-1] + np.arange(0, 200, 0.05))))
    assert sway_of(drifting(0.0, 0.0)) == 0.0
    assert np.median([sway_of(drifting(0.0, 0.015, seed)) for seed in range(10)]) < 0.004
    bending = [sway_of(drifting(0.008, 0.005, seed)) for seed in range(10)]
    assert 0.003 < np.median(bending) < 0.012, bending
    assert np.median([sway_of(drifting(0.03, 0.005, seed)) for seed in range(10)]) == pytest.approx(0.015, rel=0.2)


def test_a_phrase_sways_the_same_on_another_clock():
    """The daemon moves the player's phrase onto the answer's clock: the answer keeps the same sway there."""
    from segue.rhythm.rhythm_grid import Sway

    player = played([(0.0, 1), (0.5, 1)], beats=16, jitter=0.01)
    here, there = Sway.of_phrase(player, 0.015), Sway.of_phrase(player - 3.0, 0.015)
    assert here.at(player[-1] + 1.7) == pytest.approx(there.at(player[-1] - 3.0 + 1.7))
    assert Sway.of_phrase(played([(0.0, 1), (0.5, 1)], beats=16, jitter=0.01, seed=1), 0.015).at(player[-1] + 1.7) != \
        pytest.approx(here.at(player[-1] + 1.7))


def answered_at(ctx, t: float):
    """The context moved on to t, segue having played since the player."""
    for event in ctx.cursor.copy().shift_to(int(round(t * codec.STEPS_PER_SECOND))):
        ctx.observe(event)
    ctx.pulse.answered = True
    return ctx


def test_a_chord_every_other_beat_makes_a_cycle_of_two_beats_strongest_on_the_chord():
    """Even notes with a chord every 0.8 s: the tracker hears a 0.4 s beat, the rhythm repeats every two of them, and
    the answer's strongest point is where the player's chords fell."""
    ctx = context_with(list(played([(0.0, 2), (0.25, 1), (0.5, 1), (0.75, 1)], beats=12, beat=0.8)))
    grid = ctx.pulse.grid()
    assert ctx.pulse.period == pytest.approx(0.4, rel=0.02) and grid.cycle == pytest.approx(0.8, rel=0.02)
    strongest = grid.anchor + grid.phases[np.argmax(grid.weights)] * grid.cycle
    assert abs((strongest + 0.4) % 0.8 - 0.4) < 0.02          # on a multiple of 0.8 s, where the chords were
    assert len(grid.phases) == 4


def test_the_player_s_strong_points_get_more_notes_and_the_weak_ones_fewer():
    ctx = context_with(list(played([(0.0, 3), (0.5, 1)], beats=16)))
    beat = ctx.pulse.next_beat(ctx.step / 100 + 0.05)
    probs = np.full(codec.NUM_CLASSES, 1.0 / codec.NUM_CLASSES)
    on_beat = FollowPulse(0.9).shape(probs.copy(), answered_at(ctx.copy(), beat))
    between = FollowPulse(0.9).shape(probs.copy(), answered_at(ctx.copy(), beat + ctx.pulse.period / 2))
    model = probs[codec.NOTE_ONS].sum()
    assert on_beat[codec.NOTE_ONS].sum() > model > between[codec.NOTE_ONS].sum() > 0.1 * model
    assert on_beat.sum() == pytest.approx(1.0) and between.sum() == pytest.approx(1.0)


def test_a_chord_segue_began_on_the_grid_keeps_its_spread():
    """A pianist spreads a chord over 10-40 ms and the model learnt it: a note 20 ms after segue struck a note on the
    grid belongs to that chord and keeps its chance; 20 ms off the grid with no chord begun there, it waits."""
    from segue.inference.live_context import SEGUE

    ctx = context_with(list(played([(0.0, 1), (0.5, 1)], beats=16)))
    beat = ctx.pulse.next_beat(ctx.step / 100 + 0.05)
    probs = np.full(codec.NUM_CLASSES, 1.0 / codec.NUM_CLASSES)
    chord = answered_at(ctx.copy(), beat)
    chord.observe(codec.note_on(64), by=SEGUE)
    for event in chord.cursor.copy().shift_to(chord.step + 2):
        chord.observe(event, by=SEGUE)
    alone = answered_at(ctx.copy(), beat + 0.02)
    assert chord.step == alone.step
    spread = FollowPulse(0.9).shape(probs.copy(), chord)[codec.NOTE_ONS].sum()
    waits = FollowPulse(0.9).shape(probs.copy(), alone)[codec.NOTE_ONS].sum()
    assert spread == pytest.approx(probs[codec.NOTE_ONS].sum(), rel=0.05)
    assert waits < 0.6 * spread


def test_the_configured_sway_moves_where_the_answers_time_lands():
    """A player with some rubato: with `sampling.pulse_sway_ms` (the config's default) the time shifts go to the
    swaying grid's points; at 0 to the steady beat's."""
    from segue.inference.grammar import build_shapers
    from segue.inference.grammar_settings import GrammarSettings
    from segue.inference.pulse_preference import FollowPulse as Preference

    ctx = context_with(list(drifting(0.03, 0.005)))
    default = next(s for s in build_shapers(GrammarSettings()) if isinstance(s, Preference))
    assert default.sway == pytest.approx(GrammarSettings().pulse_sway_ms / 1000) and default.sway > 0
    probs = np.full(codec.NUM_CLASSES, 1.0 / codec.NUM_CLASSES)
    now = ctx.step / codec.STEPS_PER_SECOND
    landings = {}
    for sway_ms in (0.0, 40.0):
        shifts = FollowPulse(0.9, sway_ms=sway_ms).shape(probs.copy(), ctx.copy())[codec.TIME_SHIFTS]
        landings[sway_ms] = now + (np.argsort(shifts)[-4:] + 1) / codec.STEPS_PER_SECOND   # the four most likely
        grid = ctx.pulse.grid(sway_ms / 1000)
        assert np.all(np.abs(grid.nearest(landings[sway_ms]) - landings[sway_ms]) <= 0.0051)
    assert not np.array_equal(np.sort(landings[0.0]), np.sort(landings[40.0]))
