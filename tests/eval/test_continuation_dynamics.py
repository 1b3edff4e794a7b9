"""Issue 24: the continuation test measures the answer's dynamics (velocity median, spread, the melody's lead) and
judges every acceptance measure against the real continuation with a paired interval, also in % of the real value;
its first lines are about what segue serve plays."""
import math

import numpy as np
import pytest

from segue.codec.codec import Note
from segue.evaluation import musical_metrics as mm
from segue.evaluation.continuations import (GAP_MEASURES, Passage, PieceMeasures, format_table, headline,
                                            measure_continuation, serve_system, summarise)


def chords(melody_velocity: int, accompaniment_velocity: int, count: int = 8) -> list[Note]:
    """A melody note over a two-note chord every half second."""
    notes = []
    for i in range(count):
        t = 0.5 * i
        notes += [Note(72 + i % 3, melody_velocity, t, t + 0.4), Note(48, accompaniment_velocity, t, t + 0.4),
                  Note(55, accompaniment_velocity, t + 0.01, t + 0.4)]
    return notes


def test_velocity_spread_and_melody_lead():
    voiced = chords(90, 60)
    assert mm.melody_lead(voiced) == pytest.approx(30.0)
    assert mm.melody_lead(chords(60, 60)) == pytest.approx(0.0)
    assert mm.velocity_spread(voiced) == pytest.approx(np.std([90, 60, 60] * 8))
    assert math.isnan(mm.velocity_spread(voiced[:1]))
    melody_only = [Note(60 + i, 80, 0.5 * i, 0.5 * i + 0.4) for i in range(4)]
    assert math.isnan(mm.melody_lead(melody_only))            # nothing under the melody


def test_a_continuation_reports_its_velocity_median_spread_and_lead():
    primer = chords(70, 70)
    passage = Passage("p", np.zeros(0, np.int64), 4.0, primer, chords(90, 50))
    values, _ = measure_continuation(passage, chords(80, 80), 10.0)
    assert values["velocity"] == 80 and values["velocity_shift"] == 10 and values["velocity_off_primer"] == 10
    assert values["velocity_sd"] == 0.0 and values["melody_lead"] == 0.0
    real, _ = measure_continuation(passage, passage.real_notes, 10.0)
    assert real["velocity_sd"] == pytest.approx(np.std([90, 50, 50] * 8)) and real["melody_lead"] == 40


def pieces_with(measure: str, system: list[float], real: list[float]) -> list[PieceMeasures]:
    pieces = []
    for i, (mine, theirs) in enumerate(zip(system, real)):
        piece = PieceMeasures(f"p{i}")
        piece.values = {"real": {measure: theirs}, "segue": {measure: mine}}
        pieces.append(piece)
    return pieces


def test_acceptance_measures_get_a_paired_interval_and_a_relative_one():
    assert {"velocity_sd", "notes", "polyphony", "key_corr", "long_5s", "melody_lead"} <= set(GAP_MEASURES)
    rng = np.random.default_rng(0)
    real = rng.uniform(10, 20, size=12)
    mine = real * 0.6 + rng.normal(0, 0.3, size=12)          # flatter on every piece: a clear 40% gap
    from segue.evaluation.continuations import _gap_to_real
    gap = _gap_to_real(pieces_with("velocity_sd", mine, real), "segue", "velocity_sd")
    assert gap["velocity_sd_vs_real"] == pytest.approx(mine.mean() - real.mean())
    assert gap["velocity_sd_vs_real_low"] < gap["velocity_sd_vs_real"] < gap["velocity_sd_vs_real_high"] < 0
    assert gap["velocity_sd_vs_real_relative"] == pytest.approx(mine.mean() / real.mean() - 1)
    assert -0.45 < gap["velocity_sd_vs_real_relative_low"] < gap["velocity_sd_vs_real_relative_high"] < -0.35
    # a measure whose real mean is not positive has no ratio
    assert math.isnan(_gap_to_real(pieces_with("melody_lead", mine, -real), "segue",
                                   "melody_lead")["melody_lead_vs_real_relative"])


def full_pieces(count: int = 6) -> list[PieceMeasures]:
    passage = Passage("p", np.zeros(0, np.int64), 4.0, chords(70, 70), chords(90, 50))
    pieces = []
    for i in range(count):
        piece = PieceMeasures(f"p{i}")
        for system, notes in (("real", passage.real_notes), ("model + grammar", chords(80, 80)),
                              ("model + grammar + memory", chords(75 + i, 60))):
            piece.values[system], piece.features[system] = measure_continuation(passage, notes, 10.0)
        pieces.append(piece)
    return pieces


def test_the_table_and_the_headline_speak_of_what_serve_plays():
    summary = summarise(full_pieces(), ["real", "model + grammar", "model + grammar + memory"])
    assert serve_system(summary) == "model + grammar + memory"
    assert serve_system({"real": {}, "model + grammar": {}}) == "model + grammar"
    table = format_table(summary, 10.0)
    assert "| velocity SD - real |" in table and "| notes - real |" in table and "%" in table
    lines = headline(summary, "model + grammar + memory")
    assert len(lines) == 3
    assert lines[0].startswith("velocity: median ") and "SD " in lines[0] and "melody lead" in lines[0]
    assert "notes per answer" in lines[1] and "polyphony" in lines[1] and "notes >= 5 s" in lines[1]
    assert lines[2].startswith("key r ")


def test_one_piece_gives_no_interval_and_the_headline_says_so():
    summary = summarise(full_pieces(1), ["real", "model + grammar", "model + grammar + memory"])
    text = " ".join(headline(summary, "model + grammar + memory"))
    assert "nan" not in text
    assert "no interval: fewer than 2 pieces" in text


def test_primers_every_few_seconds_are_measured_and_averaged_per_piece():
    from eval_helpers import scale_piece

    from segue.codec import codec
    from segue.evaluation.continuations import excerpt, passages_of, per_piece

    long = scale_piece(60, 65.0)                       # room for primers from 0, 20 and 40 s
    passages = passages_of([("a", long), ("b", scale_piece(62, 25.0))], 10.0, 40, every=20.0)
    assert [p.piece for p in passages] == ["a", "a", "a", "b"]
    assert passages[1].name == "a from 20 s"
    later = codec.decode_events(long)
    first = next(n for n in later if n.start >= 20.0)
    assert passages[1].primer_notes[0] == codec.Note(first.pitch, first.velocity, 0.0, first.end - 20.0)
    assert np.array_equal(excerpt(long, 0.0), long)
    assert len(passages_of([("a", long)], 10.0, 40)) == 1  # one primer per piece unless asked

    measured = []
    for passage, value in zip(passages, (1.0, 2.0, float("nan"), 5.0)):
        piece = PieceMeasures(passage.name, piece=passage.piece)
        piece.values = {"real": {"notes": value}}
        piece.features = {"real": {"pc": np.full(12, value)}}
        measured.append(piece)
    pooled = per_piece(measured)
    assert [p.name for p in pooled] == ["a", "b"]
    assert pooled[0].values["real"]["notes"] == 1.5 and pooled[1].values["real"]["notes"] == 5.0
