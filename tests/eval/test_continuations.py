"""The continuation test: cutting pieces, generating to a length, measuring real / model / Markov side by side."""

import zlib

import numpy as np
import pytest
from eval_helpers import scale_piece, write_dataset

from segue.codec import codec
from segue.inference.grammar_settings import GrammarSettings
from segue.evaluation.baselines import MarkovModel, MarkovSource
from segue.evaluation.continuations import (
    COLUMNS, GAP_MEASURES, ModelSource, PieceMeasures, continue_primer, evaluate_passages, format_table,
    generated_window, measure_continuation, plot_summary, run_continuations, split_piece, summarise,
)
from segue.errors import SegueError
from segue.inference.memory import CELLS_PER_ORDER, MemorySettings
from segue.inference.sampling import Sampler


def test_split_piece_cuts_at_k_seconds_and_windows_the_real_continuation():
    events = scale_piece(60, 25.0, step=0.25)
    passage = split_piece("scale", events, 10.0)
    assert passage.primer_seconds == pytest.approx(10.0)
    assert len(passage.primer_notes) == 40  # 4 notes per second
    assert len(passage.real_notes) == 40
    assert passage.real_notes[0].start == pytest.approx(0.0)
    assert max(n.end for n in passage.real_notes) <= 10.0 + 1e-9
    # the primer's events decode to exactly the primer's notes
    assert len(codec.decode_events(passage.primer_events)) >= 40


def test_split_piece_rejects_short_or_silent_pieces():
    assert split_piece("short", scale_piece(60, 15.0), 10.0) is None
    sparse = codec.encode_notes([codec.Note(60, 80, 0.0, 1.0), codec.Note(62, 80, 25.0, 26.0)])
    assert split_piece("sparse", sparse, 10.0) is None


class RepeatingSource:
    """A fake model: always C4 on/off then a 100 ms shift."""

    def __init__(self):
        self.pattern = [60, 128 + 60, codec.time_shift(10)]
        self.i = 0

    def _logits(self):
        logits = np.full(codec.NUM_CLASSES, -50.0)
        logits[self.pattern[self.i % 3]] = 0.0
        self.i += 1
        return logits

    def prime(self, primer):
        self.i = 0
        return self._logits()

    def step(self, event):
        return self._logits()


def test_continue_primer_stops_once_the_length_is_covered():
    events = continue_primer(RepeatingSource(), Sampler(seed=0), np.array([codec.time_shift(5)]), 2.0)
    assert sum(codec.shift_steps(int(e)) for e in events) == 200
    assert len(events) == 60


def test_note_lengths_are_measured_without_a_cap():
    passage = split_piece("scale", scale_piece(60, 25.0), 10.0)
    held = np.array([64, codec.time_shift(100), codec.time_shift(100), codec.time_shift(100), 128 + 64,
                     66, codec.time_shift(100), codec.time_shift(100), codec.time_shift(100), codec.time_shift(100)])
    notes = generated_window(passage, held, 10.0)
    assert [(n.pitch, n.end - n.start) for n in notes] == [(64, 3.0), (66, 5.0)]   # 66 never released
    values, _ = measure_continuation(passage, notes, 10.0)
    assert values["long_2s"] == 1.0 and values["long_5s"] == 0.5


def test_generated_window_decodes_with_the_primer():
    passage = split_piece("scale", scale_piece(60, 25.0), 10.0)
    generated = np.array([64, codec.time_shift(50), 128 + 64, codec.time_shift(100)])
    notes = generated_window(passage, generated, 10.0)
    assert [(n.pitch, n.start, n.end) for n in notes] == [(64, 0.0, 0.5)]


def test_markov_continuation_of_scales_is_measured_against_the_real_one(tmp_path):
    train = [scale_piece(t, 40.0, chord_every=4) for t in (60, 62, 65, 67)]
    markov = MarkovModel(6).fit(train)
    passages = [split_piece(f"p{t}", scale_piece(t, 25.0, chord_every=4), 10.0) for t in (60, 65)]
    source = MarkovSource(markov)
    sampler = Sampler(temperature=0.5, seed=1)
    results = evaluate_passages(passages, {"markov": lambda p: continue_primer(source, sampler, p.primer_events, 10.0)},
                                10.0)
    summary = summarise(results, ["real", "markov"])
    real, gen = summary["real"], summary["markov"]
    assert real["same_key"] == 1.0 and real["pc_oa_real"] == pytest.approx(1.0)
    assert real["polyphony"] > 1.5
    # A Markov model trained on these scales continues them: right key, right rhythm, similar density.
    assert gen["key_corr"] > 0.6
    assert gen["ioi_oa_real"] > 0.7
    assert 0.5 < gen["density_ratio"] < 2.0
    table = format_table(summary, 10.0).splitlines()
    assert table[2].startswith("| measure | real | markov |")
    # legend, blank, heading, rule, one row per measure and one per gap to the real continuation
    assert len(table) == 4 + len(COLUMNS) + len(GAP_MEASURES)
    assert table[5].startswith("| key r - real | - | ")
    assert table[0].startswith("Primer = the first 10 s of each eval piece, continuation = the next 10 s")
    spread = format_table(summary, 10.0, "train", 20.0, 37).splitlines()[0]
    assert spread.startswith("Primers = 10 s from every 20 s of each train piece (37 primers, averaged per piece), ")
    png = plot_summary(summary, tmp_path / "c.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("model", ["gru_model_path", "lstm_model_path"])
def test_model_source_samples_a_continuation_from_onnx(model, request):
    source = ModelSource(request.getfixturevalue(model))
    primer = scale_piece(60, 12.0)
    events = continue_primer(source, Sampler(seed=3), primer, 1.0)
    again = continue_primer(source, Sampler(seed=3), primer, 1.0)
    assert np.array_equal(events, again)  # priming resets the state: same seed, same continuation
    assert len(events) >= 1 and events.max() < codec.NUM_CLASSES


def test_key_r_gap_to_the_real_continuation_is_paired_by_piece_with_an_interval():
    # Hard primers are hard for both: the system sits 0.05 below the real continuation on every piece, however far
    # the pieces differ from one another, so the paired gap is -0.05 with a tight interval.
    real = np.linspace(0.2, 0.9, 30)
    other = {key: 0.0 for key, _, _ in COLUMNS}
    silent = {"pc": np.zeros(12), "ioi": np.zeros(8)}
    pieces = [PieceMeasures(f"p{i}", values={"real": {**other, "key_corr": r},
                                             "model": {**other, "key_corr": r - 0.05 + 0.01 * (i % 3 - 1)}},
                            features={"real": silent, "model": silent}) for i, r in enumerate(real)]
    row = summarise(pieces, ["real", "model"])["model"]
    assert row["key_corr_vs_real"] == pytest.approx(-0.05, abs=1e-9)
    assert -0.06 < row["key_corr_vs_real_low"] < -0.05 < row["key_corr_vs_real_high"] < -0.04
    assert row["key_corr_sem"] > 0.03           # the unpaired standard error would hide the gap
    assert "key_corr_vs_real" not in summarise(pieces, ["real", "model"])["real"]


def test_run_continuations_end_to_end(tmp_path, gru_model_path):
    pieces = [(f"t{t}", "train", scale_piece(t, 30.0, chord_every=4)) for t in (60, 62, 64)]
    pieces += [(f"e{t}", "eval", scale_piece(t, 8.0)) for t in (65, 67)]
    data = write_dataset(tmp_path / "data", pieces)
    memory = MemorySettings(order=4, lambdas=[0.5] * (5 * CELLS_PER_ORDER))
    out = run_continuations(gru_model_path, data, seconds=3.0, max_pieces=1, png=tmp_path / "c.png", memory=memory,
                            grammar=GrammarSettings())
    systems = ["real", "model", "markov", "model + grammar", "model + memory", "model + grammar + memory"]
    assert "| measure | " + " | ".join(systems) + " |" in out["table"]
    assert all(out["summary"][system]["pieces"] == 1 for system in systems)
    assert (tmp_path / "c.png").is_file()
    with pytest.raises(SegueError, match="shorter --prime-seconds"):
        run_continuations(gru_model_path, data, seconds=5.0)


def test_draws_continue_each_primer_with_successive_seeds_and_average_them_per_piece(tmp_path, gru_model_path):
    pieces = [(f"t{t}", "train", scale_piece(t, 30.0, chord_every=4)) for t in (60, 62)]
    pieces += [(f"e{t}", "eval", scale_piece(t, 8.0)) for t in (65, 67)]
    data = write_dataset(tmp_path / "data", pieces)

    def notes(**options):
        out = run_continuations(gru_model_path, data, seconds=3.0, max_pieces=2, png=None, **options)
        per_passage = [piece.values["model"]["notes"] for piece in out["pieces"]]
        return per_passage, out["summary"]["model"]["notes"], out["table"]

    first, _, one_draw = notes(seed=5)
    second, _, _ = notes(seed=6)
    both, mean, two_draws = notes(seed=5, draws=2)
    assert first != second                           # another seed is another draw, or the test proves nothing
    assert both == first + second                    # draw by draw, each with its own seed
    assert mean == pytest.approx(np.mean(first + second))   # two primers, one per piece: the mean of both draws
    assert "Every primer continued 2 times (seeds 5..6)" in two_draws and "continued" not in one_draw
    with pytest.raises(SegueError, match="at least one draw"):
        run_continuations(gru_model_path, data, seconds=3.0, png=None, draws=0)


def test_each_primer_is_drawn_the_same_whichever_others_are_continued(tmp_path, gru_model_path):
    """A seed per primer: leaving a piece out does not change the draws of the others, so two runs that differ in
    one respect compare primer by primer."""
    pieces = [(f"t{t}", "train", scale_piece(t, 30.0, chord_every=4)) for t in (60, 62)]
    pieces += [(f"e{t}", "eval", scale_piece(t, 8.0)) for t in (65, 67)]
    data = write_dataset(tmp_path / "data", pieces)

    def notes(**options):
        out = run_continuations(gru_model_path, data, seconds=3.0, max_pieces=2, png=None, seed=3, **options)
        return {piece.name: piece.values["model"]["notes"] for piece in out["pieces"]}

    both, alone = notes(), notes(exclude=["e65"])
    assert list(alone) == ["e67"] and list(both) == ["e65", "e67"]    # e67 is first in one run, second in the other
    assert alone["e67"] == both["e67"]


def test_memory_strength_for_generation_is_chosen_on_held_out_train_pieces(tmp_path, gru_model_path):
    from segue.evaluation.continuations import MEMORY_STRENGTHS, fit_memory_strength

    # piece ids whose stable hash puts them in the tuning tenth
    names = [f"t{i}" for i in range(200) if zlib.crc32(f"t{i}".encode()) % 10 == 0][:2]
    pieces = [(name, "train", scale_piece(60, 8.0, chord_every=4)) for name in names]
    pieces += [(f"fit{i}", "train", scale_piece(62, 8.0)) for i in range(3)] + [("e", "eval", scale_piece(64, 8.0))]
    data = write_dataset(tmp_path / "data", pieces)
    candidates = {"absolute": MemorySettings(order=3, lambdas=[0.2] * (4 * CELLS_PER_ORDER))}
    chosen, distance = fit_memory_strength(gru_model_path, [data], candidates, seconds=3.0, max_pieces=2,
                                           seeds=(0, 1))
    assert len(distance) == len(MEMORY_STRENGTHS)
    assert chosen.strength in MEMORY_STRENGTHS and chosen.order == 3
    assert distance[f"absolute x{chosen.strength:g}"] == min(distance.values())
    # through the decoding grammar (what the daemon plays) the same draws come out otherwise
    _, through_grammar = fit_memory_strength(gru_model_path, [data], candidates, seconds=3.0, max_pieces=2,
                                             seeds=(0, 1), grammar=GrammarSettings())
    assert through_grammar.keys() == distance.keys() and through_grammar != distance
    # the draws of both seeds are pooled: neither seed alone gives those distances
    for seed in (0, 1):
        _, one_draw = fit_memory_strength(gru_model_path, [data], candidates, seconds=3.0, max_pieces=2, seeds=(seed,))
        assert one_draw != distance
