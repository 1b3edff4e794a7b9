"""Session memory: remembers this session's material, mixes it in by its own confidence, stays bounded."""
import numpy as np
import pytest

from segue.codec import codec
from segue.inference.memory import (CELLS_PER_ORDER, MemorySettings, SessionMemory, fit_mixing, memory_trace)
from segue.evaluation.scoring import score_pieces
from segue.inference.sampling_loop import SamplingLoop

UNIFORM = np.full(codec.NUM_CLASSES, 1.0 / codec.NUM_CLASSES)


def _phrase(tonic=60):
    """Four notes with their timing and a velocity change: 13 events."""
    events = [codec.velocity_event(20)]
    for step in (0, 4, 7, 12):
        events += [codec.note_on(tonic + step), codec.time_shift(25), codec.note_off(tonic + step)]
    return events


def _trusting(order=6, transpose=False, coarse=False):
    cells = (order + 1) * CELLS_PER_ORDER
    return MemorySettings(order=order, transpose=transpose, lambdas=[0.9] * cells, coarse=coarse)


def test_a_phrase_heard_before_is_predicted_from_its_start():
    memory = SessionMemory(_trusting())
    memory_loop = SamplingLoop(None, [memory])   # its context takes in every event too
    phrase = _phrase()
    for event in phrase + [codec.time_shift(50)] + phrase[:4]:
        memory_loop.observe(event)
    p = memory_loop.shape(UNIFORM.copy())
    assert p.sum() == pytest.approx(1.0)
    assert p.argmax() == phrase[4] and p[phrase[4]] > 0.8


def test_nothing_is_mixed_in_before_the_memory_has_seen_anything_or_when_untrained():
    memory = SessionMemory(_trusting())
    memory_loop = SamplingLoop(None, [memory])
    assert np.array_equal(memory_loop.shape(UNIFORM.copy()), UNIFORM)
    untrained = SessionMemory(MemorySettings(order=6))
    untrained_loop = SamplingLoop(None, [untrained])
    for event in _phrase() * 3:
        untrained_loop.observe(event)
    assert np.array_equal(untrained_loop.shape(UNIFORM.copy()), UNIFORM)


@pytest.mark.parametrize("transpose, recognised", [(True, True), (False, False)])
def test_the_transposition_invariant_memory_hears_a_motif_moved_up_a_third(transpose, recognised):
    memory = SessionMemory(_trusting(transpose=transpose))
    memory_loop = SamplingLoop(None, [memory])
    moved = _phrase(64)
    for event in _phrase(60) + [codec.time_shift(50)] + moved[:5]:
        memory_loop.observe(event)
    p = memory_loop.shape(UNIFORM.copy())
    assert (p.argmax() == moved[5] and p[moved[5]] > 0.5) == recognised


def _played(tonic, velocity_bin, steps):
    """_phrase's four notes as a pianist plays them again: another dynamic level, other note lengths."""
    events = [codec.velocity_event(velocity_bin)]
    for interval, length in zip((0, 4, 7, 12), steps):
        events += [codec.note_on(tonic + interval), codec.time_shift(length), codec.note_off(tonic + interval)]
    return events


@pytest.mark.parametrize("coarse, longest_match", [(True, 6), (False, 1)])
def test_coarse_contexts_hear_a_phrase_played_again_with_other_timing_and_dynamics(coarse, longest_match):
    memory = SessionMemory(_trusting(coarse=coarse))
    memory_loop = SamplingLoop(None, [memory])
    first, again = _played(60, 20, (24, 27, 22, 30)), _played(60, 21, (21, 29, 25, 28))   # same classes, not steps
    for event in first + [codec.time_shift(50)] + again[:7]:
        memory_loop.observe(event)
    # coarse: the whole phrase so far (6 events, the order) matches; exact: only the last note-off does
    assert memory.predict()[1] // CELLS_PER_ORDER == longest_match
    p = memory_loop.shape(UNIFORM.copy())
    assert p.argmax() == first[7]           # the exact event that followed the first time, not a class
    assert (p[first[7]] > 0.8) == coarse


def test_coarse_classes_keep_apart_what_a_player_hears_as_different():
    memory = SessionMemory(_trusting(coarse=True))
    chord_spread, quarter = memory._context_code(codec.time_shift(2)), memory._context_code(codec.time_shift(50))
    soft, loud = memory._context_code(codec.velocity_event(6)), memory._context_code(codec.velocity_event(28))
    assert len({chord_spread, quarter, soft, loud, memory._context_code(codec.note_on(60))}) == 5
    assert memory._context_code(codec.time_shift(24)) == memory._context_code(codec.time_shift(30))


def test_a_replay_goes_on_past_the_release_of_a_note_that_is_not_sounding():
    memory = SessionMemory(_trusting())
    memory_loop = SamplingLoop(None, [memory])
    gap = codec.time_shift(25)
    for event in [codec.velocity_event(20), codec.note_on(60), gap, codec.note_on(64), gap, codec.note_off(60), gap,
                  codec.note_off(64), codec.time_shift(50)]:
        memory_loop.observe(event)
    # played again from another note: the replay's release of 60, struck before its context began, is silent here
    for event in [codec.note_on(62), gap, codec.note_on(64), gap]:
        memory_loop.observe(event)
    assert memory.predict()[0].argmax() == codec.note_off(60)
    p = memory_loop.shape(UNIFORM.copy())
    assert p.argmax() == gap and p[gap] > 0.5                # it goes on with what followed that release
    memory_loop.observe(gap)                                       # and its context now holds the release it went past
    assert memory_loop.shape(UNIFORM.copy()).argmax() == codec.note_off(64)


def test_memory_is_bounded_over_two_hours_of_playing():
    rng = np.random.default_rng(0)
    settings = MemorySettings(order=8, capacity=5000)
    memory = SessionMemory(settings)
    events = 0
    for _ in range(2 * 3600 * 4):                       # four notes a second for two hours
        pitch = int(rng.integers(40, 90))
        for event in (codec.note_on(pitch), codec.time_shift(int(rng.integers(5, 40))), codec.note_off(pitch)):
            memory.observe(event)
            events += 1
    assert events > 80_000
    assert len(memory.stored) == settings.capacity
    assert memory.size() <= settings.capacity * (settings.order + 1)
    assert sum(memory.totals.values()) == settings.capacity * (settings.order + 1)


def _entries(stored):
    counts = {}
    for _, keys, event in stored:
        for key in keys:
            counts[key, event] = counts.get((key, event), 0) + 1
    return counts


def test_eviction_forgets_exactly_what_fell_out_of_the_window():
    capped = SessionMemory(MemorySettings(order=3, capacity=10))
    events = list(np.random.default_rng(1).integers(0, 20, size=40))
    for event in events:
        capped.observe(event)
    held = {(key, event): count for key, successors in capped.successors.items()
            for event, count in successors.items()}
    assert len(capped.stored) == 10
    assert held == _entries(capped.stored)
    assert [e - 2000 for _, _, e in capped.stored] == events[-10:]


def test_restore_undoes_what_was_stored_after_the_snapshot_even_across_evictions():
    memory = SessionMemory(MemorySettings(order=4, capacity=30))
    rng = np.random.default_rng(3)
    for event in rng.integers(0, 50, size=60):
        memory.observe(event)
    before = ({k: dict(v) for k, v in memory.successors.items()}, dict(memory.totals), list(memory.stored))
    snap = memory.snapshot()
    for event in rng.integers(0, 50, size=20):          # an answer that the player then cut short
        memory.observe(event)
    memory.restore(snap)
    assert ({k: dict(v) for k, v in memory.successors.items()}, dict(memory.totals), list(memory.stored)) == before
    memory.observe(7)                                   # and it goes on from the restored context
    assert len(memory.stored) == 30


def test_fitted_weights_trust_a_memory_that_is_right_and_not_one_that_is_wrong():
    rng = np.random.default_rng(2)
    # time shifts and velocities: random note-offs would release silent pitches, which a replay skips
    motif = list(rng.integers(codec.TIME_SHIFT_OFFSET, codec.NUM_CLASSES, size=30))
    repetitive = np.array(motif * 6)
    random = rng.integers(0, 300, size=180)
    flat = lambda events: (np.tile(UNIFORM, (len(events) - 1, 1)), events)
    settings = MemorySettings(order=4)
    trusted = fit_mixing(settings, *memory_trace(settings, [flat(repetitive)]))
    table = np.asarray(trusted.lambdas).reshape(5, CELLS_PER_ORDER)
    assert table[4].max() > 0.8
    on_noise = fit_mixing(settings, *memory_trace(settings, [flat(random)]))
    assert np.asarray(on_noise.lambdas).reshape(5, CELLS_PER_ORDER)[0].max() < 0.2
    before = score_pieces([flat(repetitive)]).metrics()["nll"]
    after = score_pieces([flat(repetitive)], [SessionMemory(trusted)]).metrics()["nll"]
    assert after < before - 3


def test_settings_round_trip_and_bad_settings_are_user_errors():
    settings = _trusting(order=2)
    assert MemorySettings.from_json(settings.to_json()) == settings
    with pytest.raises(Exception):
        SessionMemory(MemorySettings(order=3, lambdas=[0.5] * 3))


def test_settings_fitted_for_a_model_are_found_beside_it(tmp_path):
    model = tmp_path / "mine.onnx"
    assert MemorySettings.for_model(model) is None
    settings = _trusting(order=3)
    (tmp_path / "mine.memory.json").write_text(settings.to_json())
    assert MemorySettings.for_model(model) == settings


def test_strength_scales_the_fitted_weights_up_to_a_cap():
    memory = SessionMemory(MemorySettings(order=2, lambdas=[0.3] * (3 * CELLS_PER_ORDER), strength=2.0))
    assert memory.lambdas.max() == pytest.approx(0.6)
    from segue.inference.memory import MAX_WEIGHT

    assert SessionMemory(MemorySettings(order=2, lambdas=[0.3] * (3 * CELLS_PER_ORDER), strength=10)).lambdas.max() \
        == MAX_WEIGHT
