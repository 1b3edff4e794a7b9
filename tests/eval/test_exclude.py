"""`segue evaluate --exclude`: a piece the model was trained on is left out of every figure, and a typo is an error."""
import pytest

from segue.errors import SegueError
from segue.evaluation.continuations import run_continuations
from segue.evaluation.evaluate import evaluate
from tests.eval.eval_helpers import scale_piece, write_dataset


@pytest.fixture
def data(tmp_path):
    pieces = [(f"t{t}", "train", scale_piece(t, 30.0)) for t in (60, 62)]
    pieces += [("e65", "eval", scale_piece(65, 8.0)), ("seen", "eval", scale_piece(67, 12.0))]
    return write_dataset(tmp_path / "data", pieces)


def test_an_excluded_piece_is_not_scored_and_the_report_says_so(data, gru_model_path):
    said = []
    everything = evaluate(gru_model_path, data, baselines=False, memory=False, trainer_protocol=False)
    without = evaluate(gru_model_path, data, baselines=False, memory=False, trainer_protocol=False,
                       exclude=["seen"], progress=said.append)
    assert (everything["pieces"], without["pieces"]) == (2, 1)
    assert without["events"] == len(scale_piece(65, 8.0)) - 1
    assert any(line.startswith("left out of the eval split") and "seen" in line for line in said)
    assert without["settings"]["excluded_pieces"] == ["seen"]


def test_continuations_leave_the_excluded_piece_out(data, gru_model_path):
    kept = run_continuations(gru_model_path, data, seconds=3.0, max_pieces=5, png=None)
    assert sorted(p.name for p in kept["pieces"]) == ["e65", "seen"]
    out = run_continuations(gru_model_path, data, seconds=3.0, max_pieces=5, png=None, exclude=["seen"])
    assert [p.name for p in out["pieces"]] == ["e65"]


def test_excluding_a_piece_that_is_not_there_is_one_clear_error(data, gru_model_path):
    with pytest.raises(SegueError, match="no piece typo"):
        evaluate(gru_model_path, data, baselines=False, memory=False, trainer_protocol=False, exclude=["typo"])
