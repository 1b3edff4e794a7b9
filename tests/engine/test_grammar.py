"""The decoding grammar's shapers, each on its own, and together in generate."""
import numpy as np
import pytest

from segue.codec import codec
from segue.inference import generate as gen
from segue.inference.engine import Engine
from segue.config import GrammarSettings
from segue.inference.grammar import FollowDynamics, NoteOffMask, PinnedKey, ReleaseHazard, build_shapers
from segue.inference.sampling import Sampler, softmax
from segue.inference.sampling_loop import Length, SamplingLoop

UNIFORM = np.full(codec.NUM_CLASSES, 1.0 / codec.NUM_CLASSES)


def uniform():
    return UNIFORM.copy()      # shapers write into the array they are given


def fed(shaper, events):
    for event in events:
        shaper.observe(event)
    return shaper


def test_note_off_mask_leaves_only_sounding_pitches_releasable():
    mask = fed(NoteOffMask(), [codec.note_on(60), codec.note_on(64), codec.note_off(64)])
    probs = mask.shape(uniform())
    offs = probs[codec.NOTE_OFF_OFFSET:codec.TIME_SHIFT_OFFSET]
    assert np.flatnonzero(offs).tolist() == [60]
    assert probs.sum() == pytest.approx(1.0)
    assert probs[codec.note_on(60)] > 0
    assert fed(NoteOffMask(no_restrike=True), [codec.note_on(60)]).shape(uniform())[codec.note_on(60)] == 0


def test_note_off_mask_keeps_unisons_of_merged_parts_possible():
    unison = [codec.note_on(60), codec.note_on(60), codec.note_off(60)]
    probs = fed(NoteOffMask(), unison).shape(uniform())
    assert probs[codec.note_off(60)] > 0                                   # the second part's release is real data
    assert fed(NoteOffMask(), unison + [codec.note_off(60)]).shape(uniform())[codec.note_off(60)] == 0


def test_release_hazard_is_off_for_young_notes_and_under_the_pedal():
    hazard = fed(ReleaseHazard(start_s=2.0, cap_s=5.0), [codec.note_on(60), codec.time_shift(100)])
    np.testing.assert_array_equal(hazard.shape(uniform()), UNIFORM)           # 1 s old: untouched
    hazard.observe(codec.time_shift(100))
    hazard.observe(codec.time_shift(100))                                   # 3 s old
    shaped = hazard.shape(uniform())
    assert shaped[codec.note_off(60)] > 10 * UNIFORM[codec.note_off(60)]
    assert shaped.sum() == pytest.approx(1.0)
    hazard.pedal_down = True
    np.testing.assert_array_equal(hazard.shape(uniform()), UNIFORM)


def test_release_hazard_ends_a_note_exactly_at_the_cap():
    hazard = fed(ReleaseHazard(start_s=2.0, cap_s=5.0), [codec.note_on(60)] + [codec.time_shift(100)] * 4
                 + [codec.time_shift(70)])
    shaped = hazard.shape(uniform())                                          # 4.7 s old: at most 30 steps more
    assert shaped[codec.time_shift(31):codec.VELOCITY_OFFSET].sum() == 0
    assert shaped[codec.time_shift(30)] > UNIFORM[codec.time_shift(30)]
    hazard.observe(codec.time_shift(30))
    forced = hazard.shape(uniform())
    assert forced[codec.note_off(60)] == pytest.approx(1.0)


def test_a_model_that_never_releases_still_has_no_note_past_the_cap():
    holds = np.full(codec.NUM_CLASSES, -30.0)
    holds[codec.time_shift(100)] = 0.0                                     # strike once, then wait forever
    strike = holds.copy()
    strike[codec.note_on(60)] = 10.0
    grammar = GrammarSettings(release_start_seconds=1.0, note_cap_seconds=2.0)
    loop = SamplingLoop(Sampler(seed=0), build_shapers(grammar))
    events = loop.run(lambda event: holds, strike, Length(seconds=6.0))
    notes = codec.decode_events(events)
    assert notes and max(n.end - n.start for n in notes) <= 2.0


def test_follow_dynamics_pulls_velocities_toward_the_recent_level_keeping_their_mass():
    follow = fed(FollowDynamics(spread=8.0), [codec.velocity_event(10), codec.note_on(60), codec.note_on(62)])
    assert follow.level() == 10
    loud = softmax(np.where(np.arange(codec.NUM_CLASSES) == codec.velocity_event(31), 5.0, 0.0))
    shaped = follow.shape(loud.copy())
    velocities = slice(codec.VELOCITY_OFFSET, codec.NUM_CLASSES)
    assert shaped[velocities].sum() == pytest.approx(loud[velocities].sum())
    assert int(np.argmax(shaped[velocities])) + 1 in range(8, 13)


def test_pinned_key_scales_out_of_key_note_ons_by_one_minus_strength():
    d_minor = [2, 4, 5, 7, 9, 10, 0]
    shaped = PinnedKey("D minor", strength=0.75).shape(uniform())
    ons = shaped[:128]
    assert ons.sum() == pytest.approx(UNIFORM[:128].sum())
    assert ons[62] == pytest.approx(4 * ons[63])                           # D in, D# out
    assert set(np.flatnonzero(PinnedKey("D minor", 1.0).shape(uniform())[:128]) % 12) == set(d_minor)


def test_generate_with_the_grammar_releases_only_sounding_notes(gru_path):
    engine = Engine.load(gru_path)
    events = gen.generate(engine, np.zeros(0, np.int64), Length(seconds=8), dict(temperature=1.0), seed=3,
                          grammar=GrammarSettings(note_cap_seconds=1.0, release_start_seconds=0.5))
    cursor = codec.EventCursor()
    for event in events:
        if codec.event_kind(int(event)) == "note_off":
            assert int(event) - codec.NOTE_OFF_OFFSET in cursor.sounding
        ended = cursor.push(int(event))
        assert ended is None or cursor.step - ended[1] <= 100
    assert all(cursor.step - start <= 100 for start, _ in cursor.sounding.values())
