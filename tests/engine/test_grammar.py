"""The decoding grammar's shapers, each on its own, and together in generate."""
import numpy as np
import pytest

from segue.codec import codec, keys
from segue.codec.midi import PITCH_CLASS_NAMES
from segue.inference import generate as gen
from segue.inference.engine import Engine
from segue.inference.grammar_settings import GrammarSettings
from segue.inference.grammar import (FollowDynamics, FollowKey, NoteOffMask, PinnedKey, ReleaseHazard,
                                    YieldToMemory, build_shapers)
from segue.inference.live_context import SEGUE, KeyFollower
from segue.inference.sampling import Sampler, softmax
from segue.inference.sampling_loop import Length, SamplingLoop

UNIFORM = np.full(codec.NUM_CLASSES, 1.0 / codec.NUM_CLASSES)


def uniform():
    return UNIFORM.copy()      # shapers write into the array they are given


class Fed:
    """A shaper beside the context of a sampling loop that has taken in some events (shapers keep no cursor)."""

    def __init__(self, shaper):
        self.shaper = shaper
        self.loop = SamplingLoop(None, [shaper])

    @property
    def ctx(self):
        return self.loop.ctx

    def observe(self, event: int) -> None:
        self.loop.observe(event)

    def shape(self, probs):
        return self.shaper.shape(probs, self.ctx)

    def limits(self):
        return self.shaper.limits(self.ctx)


def fed(shaper, events) -> Fed:
    fed_shaper = shaper if isinstance(shaper, Fed) else Fed(shaper)
    fed_shaper.loop.observe_all(events)
    return fed_shaper


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
    hazard.ctx.pedal_down = True
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


class ConfidentMemory:
    """A session memory as the grammar sees it: already mixed in, with the weight it mixed at."""

    def __init__(self, weight: float):
        self.weight = weight

    def reset(self) -> None:
        pass

    def observe(self, event: int) -> None:
        pass

    def shape(self, probs, ctx):
        return probs

    def snapshot(self):
        return self.weight

    def restore(self, state) -> None:
        self.weight = state


def test_the_grammars_preferences_yield_to_a_confident_memory_by_its_weight():
    key_notes = [codec.note_on(p) for p in (60, 64, 67, 72)] * 3
    context = [e for on in key_notes for e in (on, codec.time_shift(20), codec.note_off(on))]
    plain = fed(FollowKey(0.9, 16), context).shape(uniform())
    for weight, expected in ((0.0, plain), (1.0, UNIFORM), (0.25, 0.25 * UNIFORM + 0.75 * plain)):
        yielding = fed(YieldToMemory(ConfidentMemory(weight), [FollowKey(0.9, 16)]), context)
        assert np.allclose(yielding.shape(uniform()), expected)
    snap = yielding.loop.snapshot()
    yielding.observe(codec.note_on(61))
    yielding.loop.restore(snap)
    assert np.allclose(yielding.shape(uniform()), 0.25 * UNIFORM + 0.75 * plain)


def test_the_pulse_yields_to_a_confident_memory_as_the_other_preferences_do():
    """Where the memory is sure it replays the player's own rhythm in their own timing, which keeps their tempo as a
    pianist does; held to the grid, its draws repeated at two to four beats more than the player's (MODEL.md,
    the player's pulse, session 19). Unsure, the pulse steers the time shifts as it does without a memory."""
    shifts = {}
    for weight in (0.0, 1.0):
        loop = SamplingLoop(None, build_shapers(GrammarSettings(), memory=ConfidentMemory(weight)))
        for beat in range(16):                                  # a steady player at 120 bpm
            loop.observe_all([codec.note_on(60), codec.time_shift(10), codec.note_off(60), codec.time_shift(40)])
        shaped = loop.shape(uniform())
        shifts[weight] = shaped[codec.TIME_SHIFTS] / shaped[codec.TIME_SHIFTS].sum()
    even = np.full(codec.MAX_SHIFT_STEPS, 1.0 / codec.MAX_SHIFT_STEPS)
    assert np.allclose(shifts[1.0], even)
    assert shifts[0.0].max() > 5 * even.max()


def test_with_the_memory_fully_confident_no_note_outlives_the_cap_and_no_silent_pitch_is_released():
    shapers = build_shapers(GrammarSettings(note_cap_seconds=2.0), memory=ConfidentMemory(1.0))
    assert isinstance(shapers[1], YieldToMemory)
    holds = np.full(codec.NUM_CLASSES, -30.0)
    holds[codec.time_shift(100)] = 0.0
    holds[codec.note_off(61)] = 0.0                                          # a silent pitch's release, likely
    strike = holds.copy()
    strike[codec.note_on(60)] = 10.0
    events = SamplingLoop(Sampler(seed=0), shapers).run(lambda event: holds, strike, Length(seconds=6.0))
    notes = codec.decode_events(events)
    assert notes and max(n.end - n.start for n in notes) <= 2.0
    assert codec.note_off(61) not in events


def test_release_hazard_takes_its_mass_from_every_event_but_the_releases():
    hazard = fed(ReleaseHazard(start_s=1.0, cap_s=5.0), [codec.note_on(60)] + [codec.time_shift(100)] * 3)
    shaped = hazard.shape(uniform())                                      # 3 s old: hazard (3 - 1) / (5 - 1) = 0.5
    on, shift, velocity = codec.note_on(64), codec.time_shift(50), codec.velocity_event(8)
    assert shaped[on] == pytest.approx(0.5 * UNIFORM[on])                 # onsets give way as much as time does
    assert shaped[shift] == pytest.approx(0.5 * UNIFORM[shift])
    assert shaped[velocity] == pytest.approx(0.5 * UNIFORM[velocity])
    assert shaped[codec.note_off(61)] == pytest.approx(UNIFORM[codec.note_off(61)])
    assert shaped.sum() == pytest.approx(1.0)


def staccato(notes: int, steps: int) -> list[int]:
    """`notes` notes of `steps` steps each, one after the other (C major scale pitches)."""
    events = []
    for i in range(notes):
        pitch = 60 + [0, 2, 4, 5, 7, 9, 11][i % 7]
        wait = codec.EventCursor().shift_to(steps)                        # the codec's one split of a wait
        events += [codec.note_on(pitch), *wait, codec.note_off(pitch), *wait]
    return events


def test_release_hazard_follows_the_note_lengths_the_context_plays():
    hazard = fed(ReleaseHazard(start_s=1.0, cap_s=4.0, follow=0.5), staccato(3, 30))
    assert hazard.limits() == (100, 400)                                  # too few notes yet: the settings hold
    fed(hazard, staccato(ReleaseHazard.FOLLOW_MIN_NOTES, 30))
    assert hazard.limits() == (30, 45)                                    # median 0.3 s; cap 1.5 x the longest
    fed(hazard, [codec.note_on(72), codec.time_shift(40)])
    assert hazard.shape(uniform())[codec.note_off(72)] > 10 * UNIFORM[codec.note_off(72)]
    assert hazard.shape(uniform())[codec.time_shift(6):codec.VELOCITY_OFFSET].sum() == 0    # ends at 0.45 s
    hazard.observe(codec.time_shift(5))
    assert hazard.shape(uniform())[codec.note_off(72)] == pytest.approx(1.0)
    fixed = fed(ReleaseHazard(start_s=1.0, cap_s=4.0), staccato(20, 30))
    assert fixed.limits() == (100, 400)
    legato = fed(ReleaseHazard(start_s=1.0, cap_s=4.0, follow=0.5), staccato(20, 300))
    assert legato.limits() == (100, 400)                                  # never later than the settings


def test_release_hazard_rolls_back_its_note_lengths():
    hazard = fed(ReleaseHazard(start_s=1.0, cap_s=4.0, follow=0.5), staccato(10, 30))
    snap = hazard.loop.snapshot()
    fed(hazard, staccato(70, 80))
    assert hazard.limits()[0] == 80
    hazard.loop.restore(snap)
    assert hazard.limits() == (30, 45)
    fed(hazard, staccato(1, 30))
    assert hazard.ctx.lengths.ranked == sorted(hazard.ctx.lengths.lengths)


def test_follow_key_masks_note_ons_outside_the_key_the_context_played():
    follow = fed(FollowKey(strength=0.75), staccato(KeyFollower.MIN_NOTES - 1, 20))
    np.testing.assert_array_equal(follow.shape(uniform()), UNIFORM)
    fed(follow, staccato(13, 20))                                         # a C major scale, C weighted most
    assert follow.ctx.key.key == 0                                                # C major
    ons = follow.shape(uniform())[:128]
    assert ons.sum() == pytest.approx(UNIFORM[:128].sum())                # how busy the music is stays the model's
    assert ons[62] == pytest.approx(4 * ons[61])                          # D in, C# out
    a_minor = fed(FollowKey(strength=1.0), [e for p in [57, 60, 64, 69, 57, 64, 60, 69, 68, 57, 71, 69] * 2
                  for e in (codec.note_on(p), codec.time_shift(30), codec.note_off(p))])
    assert a_minor.ctx.key.key == 12 + 9                                          # A minor, its leading tone G# allowed
    assert set(np.flatnonzero(a_minor.shape(uniform())[:128]) % 12) == {9, 11, 0, 2, 4, 5, 7, 8}


def melody(pitches, steps: int = 20) -> list[int]:
    """The pitches one after the other, each held `steps` steps."""
    wait = codec.EventCursor().shift_to(steps)
    return [e for p in pitches for e in (codec.note_on(p), *wait, codec.note_off(p), *wait)]


def outside_share(probs: np.ndarray, key: int) -> float:
    ons = probs[:128]
    return float(ons[~np.tile(keys.scale(key), 11)[:128]].sum() / ons.sum())


# A C major player with a blue note or a chromatic passing note in every fourth: C E G Bb | C D# E G | ...
BLUES = [60, 64, 67, 70, 60, 63, 64, 67, 72, 67, 66, 65] * 6


def test_a_chromatic_players_out_of_scale_notes_are_kept_at_their_rate():
    follow = fed(FollowKey(strength=0.97), melody(BLUES))
    assert follow.ctx.key.key == 0                                                # C major
    rate = follow.ctx.key.outside
    assert 0.2 < rate < 0.25                                     # 3 of 12, with a few pseudo-notes in the scale
    for _ in range(FollowKey.MODEL_DRAWS):                                        # the model's tendency heard
        shaped = follow.shape(uniform())
    assert outside_share(shaped, 0) == pytest.approx(rate, rel=1e-6)              # brought to the player's share
    assert shaped[:128].sum() == pytest.approx(UNIFORM[:128].sum())              # how busy the music is stays
    old = fed(FollowKey(strength=0.97, chromatic=False), melody(BLUES)).shape(uniform())
    assert outside_share(old, 0) < 0.03                                          # the old mask ruled them out


def test_a_diatonic_player_gets_the_scale_mask_and_a_model_as_chromatic_as_the_player_none():
    diatonic = fed(FollowKey(strength=0.75), staccato(24, 20))
    ons = diatonic.shape(uniform())[:128]
    assert ons[62] == pytest.approx(4 * ons[61])                                  # 1 - strength, as before
    chromatic = fed(FollowKey(strength=0.97), melody(list(range(60, 72)) * 3 + [60, 64, 67] * 8))
    model = np.where(np.tile(keys.scale(chromatic.ctx.key.key), 11)[:128], 1.0, 0.01)
    model = np.concatenate([model / model.sum() * 0.4, UNIFORM[128:] / UNIFORM[128:].sum() * 0.6])
    np.testing.assert_allclose(chromatic.shape(model.copy()), model)            # plays less chromatic than the player


def test_segues_own_notes_do_not_make_the_key_looser():
    follow = fed(FollowKey(strength=0.97), staccato(24, 20))
    follow.loop.observe_all(melody([60, 61, 64, 66, 67, 70] * 4), by=SEGUE)     # an answer that drifted
    assert follow.ctx.key.key == 0 and follow.ctx.key.outside == 0.0
    follow.loop.observe_all(melody([61, 66]))                                    # the player's own chromatic notes
    assert follow.ctx.key.outside > 0.0


def test_follow_key_rolls_back_and_gives_way_to_a_pinned_key():
    follow = fed(FollowKey(notes=16), staccato(10, 20))
    snap = follow.loop.snapshot()
    fed(follow, [e for _ in range(16) for e in (codec.note_on(61), codec.time_shift(50), codec.note_off(61))])
    assert follow.ctx.key.key != 0
    follow.loop.restore(snap)
    assert follow.ctx.key.key == 0
    np.testing.assert_allclose(follow.ctx.key.histogram, fed(FollowKey(notes=16), staccato(10, 20)).ctx.key.histogram)
    kinds = [type(s) for s in build_shapers(GrammarSettings())]
    assert FollowKey in kinds and PinnedKey not in kinds
    kinds = [type(s) for s in build_shapers(GrammarSettings(), key="D minor")]
    assert PinnedKey in kinds and FollowKey not in kinds
    assert FollowKey not in [type(s) for s in build_shapers(GrammarSettings(follow_key_strength=0))]


def velocity_draw(mean_bin: float, sd_bins: float, mass: float = 0.3) -> np.ndarray:
    """A distribution whose VELOCITY events (mass `mass`) are a discretised Gaussian over the 32 bins."""
    probs = np.full(codec.NUM_CLASSES, (1.0 - mass) / (codec.NUM_CLASSES - 32))
    bins = np.arange(1, 33)
    weights = np.exp(-0.5 * ((bins - mean_bin) / sd_bins) ** 2)
    probs[codec.VELOCITY_OFFSET:] = mass * weights / weights.sum()
    return probs


def velocity_moments(probs: np.ndarray) -> tuple[float, float, float]:
    """(mass, mean bin, SD in bins) of the VELOCITY events."""
    part = probs[codec.VELOCITY_OFFSET:]
    share, bins = part / part.sum(), np.arange(1, 33)
    mean = float(share @ bins)
    return float(part.sum()), mean, float(np.sqrt(share @ (bins - mean) ** 2))


def played(bins) -> list[int]:
    return [e for b in bins for e in (codec.velocity_event(b), codec.note_on(60), codec.time_shift(20),
                                      codec.note_off(60))]


def test_follow_dynamics_moves_the_velocities_to_the_players_level_keeping_their_spread():
    # the player around bin 10, SD 2; the model wants bin 24 with SD 4
    context = played([8, 12] * 8)
    for follow_spread, spread in ((False, 4.0), (True, 2.0)):
        follow = fed(FollowDynamics(notes=16, follow_spread=follow_spread), context)
        mass, mean, sd = velocity_moments(follow.shape(velocity_draw(24, 4)))
        assert mass == pytest.approx(0.3)
        assert mean == pytest.approx(10, abs=0.5)
        assert sd == pytest.approx(spread, abs=0.5)              # squeezing toward the level gave ~1.5 either way


def test_follow_dynamics_keeps_an_accent_louder_than_the_models_recent_draws():
    follow = fed(FollowDynamics(notes=16, follow_spread=False), played([10] * 16))
    for _ in range(20):                                          # the model's recent level: bin 20
        follow.shape(velocity_draw(20, 2))
    _, accent, _ = velocity_moments(follow.shape(velocity_draw(26, 2)))
    assert accent == pytest.approx(10 + 26 - (20 * 20 + 26) / 21, abs=0.5)     # ~6 bins above the level
    follow.loop.reset()                                          # a new piece: the model's draws start afresh
    follow.loop.observe_all(played([10] * 16))
    _, fresh, _ = velocity_moments(follow.shape(velocity_draw(26, 2)))
    assert fresh == pytest.approx(10, abs=0.5)


def test_follow_dynamics_never_draws_the_bin_in_force():
    follow = fed(FollowDynamics(notes=16), played([10] * 16))
    assert follow.ctx.velocity_bin == 10
    shaped = follow.shape(velocity_draw(10, 3))
    assert shaped[codec.velocity_event(10)] == 0 and shaped[codec.VELOCITY_OFFSET:].sum() == pytest.approx(0.3)
    np.testing.assert_array_equal(fed(FollowDynamics(), []).shape(velocity_draw(24, 4)), velocity_draw(24, 4))


def test_pinned_key_scales_out_of_key_note_ons_by_one_minus_strength():
    d_minor = [2, 4, 5, 7, 9, 10, 0, 1]                                     # with the leading tone, C#
    shaped = fed(PinnedKey("D minor", strength=0.75), []).shape(uniform())
    ons = shaped[:128]
    assert ons.sum() == pytest.approx(UNIFORM[:128].sum())
    assert ons[62] == pytest.approx(4 * ons[63])                           # D in, D# out
    assert set(np.flatnonzero(fed(PinnedKey("D minor", 1.0), []).shape(uniform())[:128]) % 12) == set(d_minor)


@pytest.mark.parametrize("mode", ["major", "minor"])
def test_a_pinned_key_and_the_same_key_followed_mask_the_same_pitches(mode):
    # One scale per key (segue.codec.keys): a pinned D minor once masked C# while a followed D minor allowed it.
    followed = FollowKey(strength=0.8)
    for tonic, name in enumerate(PITCH_CLASS_NAMES):
        key = tonic + (12 if mode == "minor" else 0)
        np.testing.assert_array_equal(PinnedKey(f"{name} {mode}", strength=0.8).weights,
                                      np.where(followed.in_scale[key], 1.0, 1.0 - 0.8))


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


@pytest.mark.parametrize("context", ["none", "staccato player", "held chord"])
def test_the_whole_grammar_over_a_flat_model_answers_at_once_and_keeps_playing(context):
    # The daemon's use: the player's phrase is context, the answer's first event may let no time pass (lead-in 0),
    # and a near-flat model (the JACK tests' tiny random one) must still give notes through every default shaper.
    events = {"none": [],
              "staccato player": staccato(12, 8),
              "held chord": [codec.velocity_event(30), *map(codec.note_on, (48, 52, 55)), codec.time_shift(100),
                             *map(codec.note_off, (48, 52, 55)), codec.time_shift(15)]}[context]
    rng = np.random.default_rng(0)
    for seed in range(5):
        loop = SamplingLoop(Sampler(seed=seed), build_shapers(GrammarSettings()))
        loop.start(events)
        begin, first_on, ons, played = loop.ctx.step, None, 0, []
        while loop.ctx.step - begin < 10 * codec.STEPS_PER_SECOND and len(played) < 5000:
            event = loop.next_event(rng.normal(0.0, 0.3, codec.NUM_CLASSES), max_shift=0 if first_on is None else None)
            loop.observe(event)
            played.append(event)
            if event < codec.NOTE_OFF_OFFSET:
                ons += 1
                first_on = len(played) if first_on is None else first_on
        assert first_on is not None and first_on <= 3          # a VELOCITY event may come first, no time may pass
        assert ons >= 5                                         # a flat model plays ~18 in 10 s; a stall, 0

