"""`segue data render`: a dataset folder of one rendered split that the torch-free reader and evaluate can use."""
import numpy as np

from segue.codec.dataset_reader import read_split
from training.batches import EVAL_RENDITION, _PieceVariants
from training.cli import main as cli_main
from training.dataset import EventDataset
from training.render_dataset import event_shares
from training.rendering import RenderParams

from training_fixtures import build_tiny_dataset


def test_rendered_eval_split_is_the_trainers_rendered_eval_and_reads_without_training(tmp_path, capsys):
    data = build_tiny_dataset(tmp_path)
    out = tmp_path / "rendered"
    assert cli_main(["data", "render", str(data), "-o", str(out), "--seed", "7"]) == 0
    printed = capsys.readouterr().out
    assert "rendered" in printed and "velocity" in printed
    source = EventDataset(data)
    variants = _PieceVariants(source, (), RenderParams(), seed=7)
    rendered = read_split(out, "eval")
    eval_pieces = source.split_indices("eval")
    assert [piece_id for piece_id, _ in rendered] == [source.pieces[i]["id"] for i in eval_pieces]
    for (piece_id, events), index in zip(rendered, eval_pieces):
        trainer_events, _ = variants.get(index, rendition=EVAL_RENDITION)
        assert np.array_equal(events, trainer_events.astype(np.int64))
        assert not np.array_equal(events[:50], source.events(index)[:50].astype(np.int64))
    # the notes are stored too, so the rendered folder can itself be trained on or re-rendered
    again = EventDataset(out)
    assert all(len(again.notes(i)) > 0 for i in range(len(again.pieces)))


def test_event_shares_count_each_kind():
    shares = event_shares([[60, 188, 256, 360], [355, 61]])
    assert shares == {"note_on": 2 / 6, "note_off": 1 / 6, "time_shift": 2 / 6, "velocity": 1 / 6}
