"""Musical metrics on hand-made passages whose answers are known."""
import math

import numpy as np
import pytest

from segue.evaluation import musical_metrics as mm
from segue.codec.codec import Note
from segue.evaluation.musical_metrics import (
    estimate_key, ioi_histogram, key_consistency, key_correlations, key_name, note_density, overlap_area,
    pitch_class_histogram, polyphony, set_overlap_area,
)


def melody(pitches, step=0.5):
    return [Note(p, 80, i * step, (i + 1) * step) for i, p in enumerate(pitches)]


C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def test_c_major_scale_correlates_best_with_c_major():
    key, r = estimate_key(melody(C_MAJOR_SCALE))
    assert key_name(key) == "C major"
    assert r > 0.8


@pytest.mark.parametrize("shift, name", [(7, "G major"), (2, "D major"), (-3, "A major")])
def test_transposed_scale_moves_the_key(shift, name):
    assert key_name(estimate_key(melody([p + shift for p in C_MAJOR_SCALE]))[0]) == name


def test_a_harmonic_minor_is_a_minor():
    tune = melody([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57, 57])
    assert key_name(estimate_key(tune)[0]) == "A minor"


def test_durations_weigh_the_key():
    # Mostly-held D and A with short passing notes: a D-rooted key, not C.
    tune = [Note(62, 80, 0, 2), Note(66, 80, 2, 2.1), Note(69, 80, 2.1, 4), Note(64, 80, 4, 4.1), Note(62, 80, 4.1, 6)]
    assert key_name(estimate_key(tune)[0]).startswith("D")


def test_no_notes_give_no_key():
    assert estimate_key([])[0] == -1
    assert np.isnan(key_correlations(np.ones(12) / 12)).all()


def test_key_consistency_of_a_passage_with_itself_and_with_a_far_key():
    primer = melody(C_MAJOR_SCALE)
    same = key_consistency(primer, melody(C_MAJOR_SCALE[::-1]))
    assert same["same_key"] == 1.0 and same["correlation"] == pytest.approx(estimate_key(primer)[1])
    far = key_consistency(primer, melody([p + 6 for p in C_MAJOR_SCALE]))  # F# major: the tritone away
    assert far["same_key"] == 0.0 and far["correlation"] < 0


def test_overlap_area_known_values():
    p = np.array([0.5, 0.5, 0, 0])
    assert overlap_area(p, p) == pytest.approx(1.0)
    assert overlap_area(p, np.array([0, 0, 0.5, 0.5])) == pytest.approx(0.0)
    assert overlap_area(p, np.array([0.25, 0.25, 0.5, 0])) == pytest.approx(0.5)
    assert np.isnan(overlap_area(p, np.zeros(4)))


def test_pitch_class_histogram_counts_and_durations():
    notes = [Note(60, 80, 0, 3), Note(72, 80, 3, 4), Note(67, 80, 4, 5), Note(55, 80, 5, 6)]
    assert pitch_class_histogram(notes)[[0, 7]] == pytest.approx([0.5, 0.5])
    assert pitch_class_histogram(notes, weight="duration")[[0, 7]] == pytest.approx([4 / 6, 2 / 6])


def test_ioi_histogram_merges_chords_and_bins_intervals():
    chords = [Note(p, 80, t, t + 0.4) for t in (0.0, 0.5, 1.0, 1.5) for p in (60, 64, 67)]
    hist = ioi_histogram(chords)
    assert hist.sum() == pytest.approx(1.0)
    assert hist.max() == pytest.approx(1.0)  # three intervals of 0.5 s, all in one bin
    assert overlap_area(hist, ioi_histogram(melody(C_MAJOR_SCALE, step=0.5))) == pytest.approx(1.0)
    assert overlap_area(hist, ioi_histogram(melody(C_MAJOR_SCALE, step=0.1))) == pytest.approx(0.0)
    assert ioi_histogram([Note(60, 80, 0, 1)]).sum() == 0


def test_polyphony_known_values():
    assert polyphony(melody(C_MAJOR_SCALE)) == pytest.approx(1.0)
    assert polyphony([Note(60, 80, 0, 2), Note(64, 80, 0, 2), Note(67, 80, 0, 2)]) == pytest.approx(3.0)
    # two notes for the first second, then two again: held C plus E then G
    assert polyphony([Note(60, 80, 0, 2), Note(64, 80, 0, 1), Note(67, 80, 1, 2)]) == pytest.approx(2.0)
    # a silent gap does not count: 1 note for 1 s, silence, 3 notes for 1 s -> mean 2
    notes = [Note(60, 80, 0, 1)] + [Note(p, 80, 5, 6) for p in (60, 64, 67)]
    assert polyphony(notes) == pytest.approx(2.0)
    assert np.isnan(polyphony([]))


def test_note_density():
    assert note_density(melody(C_MAJOR_SCALE), 4.0) == pytest.approx(2.0)


def test_set_overlap_area_separates_different_sets():
    rng = np.random.default_rng(0)
    reference = rng.dirichlet(np.ones(12), size=40)
    alike = rng.dirichlet(np.ones(12), size=40)
    unlike = np.tile(np.eye(12)[0], (40, 1))  # every passage a single repeated pitch class
    assert set_overlap_area(alike, reference) > 0.8
    assert set_overlap_area(unlike, reference) < 0.2
    assert np.isnan(set_overlap_area(alike, reference[:1]))


def test_max_polyphony_counts_the_fullest_moment_and_not_a_repeated_note_twice():
    notes = [Note(60, 80, 0.0, 1.0), Note(64, 80, 0.5, 1.5), Note(67, 80, 0.6, 0.9), Note(60, 80, 1.0, 2.0)]
    assert mm.max_polyphony(notes) == 3.0
    assert math.isnan(mm.max_polyphony([]))


def test_long_note_share_censors_notes_cut_by_the_window_end():
    notes = [Note(60, 80, 0.0, 1.0),        # short, released
             Note(62, 80, 1.0, 4.0),        # 3 s, released
             Note(64, 80, 2.0, 12.0),       # still sounding at 10 s after 8 s: long
             Note(65, 80, 9.0, 11.0)]       # sounding at the end after 1 s: length unknown
    assert mm.long_note_share(notes, 10.0, 2.0) == pytest.approx(2 / 3)
    assert mm.long_note_share(notes, 10.0, 5.0) == pytest.approx(1 / 3)


def test_velocity_and_bass_register():
    notes = [Note(40, 60, 0.0, 2.0), Note(64, 90, 0.0, 0.5), Note(67, 100, 1.0, 1.5), Note(43, 70, 2.0, 3.0)]
    assert mm.median_velocity(notes) == 80.0
    assert mm.lowest_voice(notes) == 40.0      # onsets at 0, 1 (40 still sounds) and 2 (43 alone): 40, 40, 43


def _melody(pitches, iois, start=0.0):
    notes, t = [], start
    for pitch, ioi in zip(pitches, iois):
        notes.append(Note(pitch, 80, t, t + ioi * 0.9))
        t += ioi
    return notes


def test_motif_share_finds_the_primer_s_figure_transposed_and_at_another_tempo():
    primer = _melody([60, 62, 64, 65, 67, 65, 64], [0.5, 0.25, 0.25, 0.5, 0.5, 0.25, 0.25])
    moved = _melody([65, 67, 69, 70, 72, 70, 69], [0.4, 0.2, 0.2, 0.4, 0.4, 0.2, 0.2])   # a fourth up, faster
    assert mm.motif_share(moved, primer) == {"interval": 1.0, "ioi_ratio": 1.0}
    other = _melody([60, 72, 61, 70, 59, 75, 58], [0.3, 0.7, 0.2, 1.1, 0.3, 0.5, 0.9])
    share = mm.motif_share(other, primer)
    assert share["interval"] == 0.0 and share["ioi_ratio"] == 0.0
    assert math.isnan(mm.motif_share(primer[:3], primer)["interval"])


def test_the_skyline_takes_the_top_of_each_chord():
    notes = [Note(48, 80, 0.0, 1.0), Note(64, 80, 0.0, 1.0), Note(67, 80, 0.004, 1.0), Note(50, 80, 1.0, 2.0)]
    onsets, top = mm.skyline(notes)
    assert list(onsets) == [0.0, 1.0] and list(top) == [67, 50]


def test_a_played_chord_spread_over_tens_of_milliseconds_is_one_onset_but_a_fast_run_is_not():
    spread = [Note(60, 80, 0.0, 1.0), Note(64, 80, 0.015, 1.0), Note(67, 80, 0.03, 1.0)]
    assert len(mm.onset_times(spread)) == 1
    run = [Note(60 + i, 80, 0.06 * i, 0.06 * i + 0.05) for i in range(4)]   # 32nds at 125 bpm
    assert len(mm.onset_times(run)) == 4
