"""The continuation test with the decoding grammar: a "model + grammar" row, and the grammar's cap shows in it."""
from segue.evaluation.continuations import run_continuations
from segue.inference.grammar_settings import GrammarSettings
from tests.eval.eval_helpers import scale_piece, write_dataset


def test_continuations_measure_the_model_with_its_grammar(tmp_path, gru_model_path):
    pieces = [(f"t{t}", "train", scale_piece(t, 30.0, chord_every=4)) for t in (60, 62)]
    pieces += [("e65", "eval", scale_piece(65, 8.0))]
    data = write_dataset(tmp_path / "data", pieces)
    grammar = GrammarSettings(release_start_seconds=0.5, note_cap_seconds=1.0)
    out = run_continuations(gru_model_path, data, seconds=3.0, max_pieces=1, png=None, grammar=grammar)
    assert "| measure | real | model | markov | model + grammar |" in out["table"]
    assert out["summary"]["model + grammar"]["long_2s"] == 0.0
