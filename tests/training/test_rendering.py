"""Performance rendering of scores: each rule on a synthetic score, the pedal against the codec, event shares."""
import numpy as np
import pytest

from segue.codec import codec
from training import rendering
from training.rendering import RenderParams, infer_structure, is_performance, render

BEAT = 0.5
OFF = {f: 0.0 for f in RenderParams.__dataclass_fields__}    # every rule off; tests switch on the one they test
OFF.update(level_low=64.0, level_high=64.0, staccato=1.0)


def only(**rule) -> RenderParams:
    return RenderParams(**{**OFF, **rule})


def score(bars=16, beats_per_bar=3, velocity=90) -> np.ndarray:
    """A constant-tempo score: a melody in eighths over a long bass note per bar and a chord on the other beats.

    The melody rises through each 4-bar phrase and ends it on a note held to the bar line (a cadence)."""
    rows = []
    for bar in range(bars):
        t0 = bar * beats_per_bar * BEAT
        rows.append((36 + bar % 5, velocity, t0, t0 + beats_per_bar * BEAT))            # bass: the whole bar
        for beat in range(1, beats_per_bar):
            for pitch in (55, 59):
                rows.append((pitch, velocity, t0 + beat * BEAT, t0 + (beat + 1) * BEAT))   # chord: one beat
        for eighth in range(2 * beats_per_bar):
            t = t0 + eighth * BEAT / 2
            if bar % 4 == 3 and eighth == 2:                                              # cadence: held note
                rows.append((72 + (bar % 4) * 2, velocity, t, t0 + beats_per_bar * BEAT))
                break
            rows.append((72 + (bar % 4) * 2 + eighth % 3, velocity, t, t + BEAT / 2))      # legato melody
    return np.array(sorted(rows, key=lambda r: (r[2], r[0])), dtype=np.float64)


# --- structure ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("beats_per_bar", [3, 4])
def test_beat_bar_and_phrases_are_read_from_the_onset_grid(beats_per_bar):
    structure = infer_structure(score(beats_per_bar=beats_per_bar))
    assert structure.beat == pytest.approx(BEAT)
    assert structure.bar_beats == beats_per_bar
    assert structure.downbeat % (beats_per_bar * BEAT) == pytest.approx(0.0, abs=1e-6)
    bar = beats_per_bar * BEAT
    assert np.allclose(structure.phrase_starts, bar * np.array([0, 4, 8, 12]))


def test_melody_is_the_skyline_top_notes_not_covered_by_a_held_higher_note():
    notes = score()
    melody = rendering.melody_mask(notes)
    groups = rendering.onset_groups(notes[:, 2])
    for g in np.unique(groups):
        chord = groups == g
        onset = notes[chord, 2][0]
        held_above = np.any((notes[:, 2] < onset) & (notes[:, 3] > onset) & (notes[:, 0] > notes[chord, 0].max()))
        assert melody[chord].sum() == (0 if held_above else 1)
        if not held_above:
            assert notes[chord & melody, 0][0] == notes[chord, 0].max()
    # the chord under each cadence note is accompaniment
    assert 0 < melody.sum() < len(np.unique(groups))


# --- timing -----------------------------------------------------------------------------------------------------------

def _beat_durations(rule, seed=0):
    notes = score()
    structure = infer_structure(notes)
    return structure, rendering.beat_durations(structure, float(notes[:, 3].max()), np.random.default_rng(seed), rule)


def test_phrase_arch_pushes_into_the_middle_and_broadens_at_the_edges():
    structure, durations = _beat_durations(only(phrase_rubato=0.1))
    phrase_beats = 12                                              # 4 bars of 3
    first_phrase = durations[:phrase_beats]
    assert first_phrase[phrase_beats // 2] < BEAT < first_phrase[0]
    assert first_phrase.argmin() in (5, 6)


def test_last_beat_of_each_phrase_is_lengthened():
    _, durations = _beat_durations(only(phrase_end_lengthening=0.2))
    for end in (11, 23, 35):
        assert durations[end] > BEAT
    assert np.allclose(np.delete(durations, [11, 23, 35]), BEAT)


def test_final_ritard_slows_steadily_over_the_last_two_bars():
    _, durations = _beat_durations(only(final_ritard=0.4))
    tail = durations[-6:]
    assert np.all(np.diff(tail) > 0) and tail[-1] > 1.2 * BEAT
    assert np.allclose(durations[:-6], BEAT)


def test_global_tempo_varies_within_the_spread():
    lengths = [_beat_durations(only(tempo_spread=0.15), seed)[1].sum() for seed in range(20)]
    plain = _beat_durations(only())[1].sum()
    assert min(lengths) >= plain / 1.15 - 1e-9 and max(lengths) <= plain / 0.85 + 1e-9
    assert np.std(lengths) > 0.02 * plain


def test_time_map_is_monotonic_and_follows_the_beats():
    durations = np.array([0.5, 0.6, 0.4, 0.5])
    times = rendering.time_map(np.array([0.0, 0.5, 0.75, 1.0, 1.5]), 0.5, durations)
    assert np.allclose(times, [0.0, 0.5, 0.8, 1.1, 1.5])


def _rendered(rule, seed=0, notes=None):
    notes = score() if notes is None else notes
    return notes, render(notes, np.random.default_rng(seed), rule)


def test_the_melody_leads_its_chord():
    notes, out = _rendered(only(melody_lead=0.025))
    melody = rendering.melody_mask(notes)
    groups = rendering.onset_groups(notes[:, 2])
    leads = []
    for g in np.unique(groups):
        chord = groups == g
        if chord.sum() > 1 and melody[chord].any():
            leads.append(out[chord & ~melody, 2].min() - out[chord & melody, 2][0])
    assert 0.015 < np.mean(leads) < 0.035


def test_chord_tones_spread_over_tens_of_milliseconds():
    notes, out = _rendered(only(chord_spread=0.012))
    melody = rendering.melody_mask(notes)
    moved = out[:, 2] - notes[:, 2]
    chord_size = np.bincount(rendering.onset_groups(notes[:, 2]))[rendering.onset_groups(notes[:, 2])]
    assert 0.008 < np.std(moved[~melody & (chord_size > 1)]) < 0.016
    assert np.ptp(moved[melody]) < 1e-9          # the melody keeps the grid (the piece may move as a whole)


def test_onset_jitter_moves_whole_chords_together():
    notes, out = _rendered(only(timing_jitter=0.01))
    shift = out[:, 2] - notes[:, 2]
    groups = rendering.onset_groups(notes[:, 2])
    for g in np.unique(groups)[:20]:
        assert np.ptp(shift[groups == g]) < 1e-9
    assert 0.005 < np.std(shift) < 0.015


# --- articulation ---------------------------------------------------------------------------------------------------

def test_legato_notes_overlap_the_next_onset():
    notes, out = _rendered(only(legato_overlap=0.03))
    melody = rendering.melody_mask(notes)
    overlap = (out[:, 3] - notes[:, 3])[melody]
    assert np.all(overlap >= 0) and 0.015 < overlap.mean() < 0.045


def test_detached_short_notes_become_staccato():
    # quarter-note pulses written as eighths followed by rests: detached, not legato
    notes = np.array([(60 + i % 5, 80, i * BEAT, i * BEAT + BEAT / 2) for i in range(40)], dtype=np.float64)
    _, out = _rendered(only(staccato=0.5), notes=notes)
    ratio = (out[:, 3] - out[:, 2]) / (notes[:, 3] - notes[:, 2])
    assert 0.38 < ratio.mean() < 0.62


# --- dynamics -------------------------------------------------------------------------------------------------------

def test_the_melody_sounds_above_the_accompaniment():
    notes, out = _rendered(only(melody_boost=12.0))
    melody = rendering.melody_mask(notes)
    assert 7 < out[melody, 1].mean() - out[~melody, 1].mean() < 17


def test_downbeats_are_accented():
    notes, out = _rendered(only(metrical_accent=6.0))
    downbeat = np.isclose(np.mod(notes[:, 2], 3 * BEAT), 0.0)
    other_beats = np.isclose(np.mod(notes[:, 2], BEAT), 0.0) & ~downbeat
    assert out[downbeat, 1].mean() - out[other_beats, 1].mean() == pytest.approx(6.0, abs=1.0)


def test_phrases_swell_towards_their_middle():
    notes, out = _rendered(only(phrase_dynamics=14.0))
    position = np.mod(notes[:, 2], 12 * BEAT) / (12 * BEAT)
    middle, edges = (position > 0.35) & (position < 0.65), (position < 0.1) | (position > 0.9)
    assert out[middle, 1].mean() > out[edges, 1].mean() + 5


def test_a_rising_melody_gets_louder():
    notes, out = _rendered(only(contour_crescendo=1.0))
    melody = rendering.melody_mask(notes)
    pitch, velocity = notes[melody, 0], out[melody, 1]
    assert np.corrcoef(pitch, velocity)[0, 1] > 0.9


def test_chord_tones_differ_in_velocity():
    notes, out = _rendered(only(chord_velocity_spread=5.0))
    melody = rendering.melody_mask(notes)
    assert 3.5 < np.std(out[~melody, 1]) < 6.5 and np.ptp(out[melody, 1]) == 0


def test_marked_score_dynamics_survive_compressed():
    notes = score()
    notes[notes[:, 2] >= notes[:, 2].max() / 2, 1] = 50          # the second half is marked piano
    _, out = _rendered(only(), notes=notes)
    loud, soft = out[notes[:, 1] == 90, 1].mean(), out[notes[:, 1] == 50, 1].mean()
    assert loud - soft == pytest.approx(rendering.SCORE_DYNAMICS_WEIGHT * 40, abs=1)


# --- pedal ----------------------------------------------------------------------------------------------------------

def test_pedal_changes_at_bar_lines_and_harmony_changes_and_sustains_released_notes():
    notes = score()
    structure = infer_structure(notes)
    rule = only(pedal_probability=1.0, pedal_lift=0.05, pedal_catch=0.1)
    times, values = rendering.pedal_changes(notes, structure, lambda t: np.asarray(t, float),
                                            np.random.default_rng(0), rule)
    ups = times[values == 0]
    bar = 3 * BEAT
    # every bar line gets a change shortly after it (lift = 20 ms + exponential(50 ms))
    after_line = np.mod(ups, bar)
    assert np.sum(after_line < 0.4) >= 15
    _, out = _rendered(rule)
    bass = notes[:, 0] < 48                      # released at each bar line, where the pedal changes late
    rings = out[bass, 3] - notes[bass, 3]
    assert np.all(rings[:-1] >= 0.02 - 1e-9) and rings[-1] == 0    # the last one ends with the piece
    chords = (notes[:, 0] == 55) | (notes[:, 0] == 59)
    # struck again on the next beat under the pedal: the codec's rule ends them there, as a piano would
    assert np.mean(np.isclose(out[chords, 3], notes[chords, 3])) > 0.5


def test_no_pedal_when_the_probability_is_zero():
    notes, out = _rendered(only(pedal_probability=0.0))
    assert np.allclose(out[:, 3], notes[:, 3])


# --- the whole rendering ----------------------------------------------------------------------------------------------

def _shares(rows):
    events = codec.encode_arrays(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2], rows[:, 3])
    velocity = np.mean(events >= codec.VELOCITY_OFFSET)
    shift = np.mean((events >= codec.TIME_SHIFT_OFFSET) & (events < codec.VELOCITY_OFFSET))
    return velocity, shift


def test_a_rendered_chorale_has_the_event_mix_of_recorded_piano():
    music21 = pytest.importorskip("music21")
    from segue.codec.midi_io import read_notes
    from training.dataset import notes_to_array

    notes = notes_to_array(read_notes(str(music21.corpus.getWork("bach/bwv66.6"))))
    plain_velocity, plain_shift = _shares(notes)
    shares = [_shares(render(notes, np.random.default_rng(seed), RenderParams())) for seed in range(5)]
    velocity, shift = np.mean(shares, axis=0)
    assert plain_velocity < 0.05 and plain_shift < 0.2
    # MAESTRO: ~22% velocity events, ~29% time shifts
    assert 0.15 < velocity < 0.3 and 0.24 < shift < 0.38


def test_same_seed_same_rendition_other_seed_another():
    notes = score()
    a, b = (render(notes, np.random.default_rng(3), RenderParams()) for _ in range(2))
    c = render(notes, np.random.default_rng(4), RenderParams())
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(a[:, 2] >= 0) and np.all(a[:, 3] > a[:, 2]) and a[:, 1].min() >= 1 and a[:, 1].max() <= 127


def test_each_rendition_has_its_own_performer_style_within_the_spread():
    wide = RenderParams(style_spread=1.0)
    styles = [wide.varied(np.random.default_rng(seed)) for seed in range(40)]
    rubato = np.array([style.phrase_rubato for style in styles]) / wide.phrase_rubato
    assert 0.5 <= rubato.min() < 0.7 and 1.4 < rubato.max() <= 2.0       # 2 ** U(-1, 1)
    assert len({style.chord_spread for style in styles}) == 40            # every size drawn per rendition
    assert all(style.staccato == wide.staccato and style.pedal_probability == wide.pedal_probability
               for style in styles)                                        # shares and checked ranges stay
    notes = score()
    # no spread: no draw, so every rendition stays what it was without the option
    same = RenderParams(style_spread=0.0)
    assert same.varied(np.random.default_rng(0)) is same
    assert not np.array_equal(render(notes, np.random.default_rng(3), wide),
                              render(notes, np.random.default_rng(3), RenderParams()))


def test_recorded_performances_are_recognised():
    notes = score()
    assert not is_performance({"id": "music21:bach/bwv66.6"}, notes)
    assert is_performance({"id": "maestro:Chopin/Ballade"}, notes)
    played = notes.copy()
    played[:, 1] = np.arange(len(played)) % 60 + 30
    assert is_performance({"id": "session-2026-12-01"}, played)


def test_unknown_or_out_of_range_render_settings_are_config_errors():
    from segue.errors import SegueError

    with pytest.raises(SegueError, match="data.render.rubato"):
        RenderParams.from_config({"rubato": 0.1})
    with pytest.raises(SegueError, match="data.render.melody_lead"):
        RenderParams.from_config({"melody_lead": -0.01})
    assert RenderParams.from_config({"melody_lead": 0.02}).melody_lead == 0.02
