"""Recorded sessions as training data: recognised in any source, split latest-to-eval, never rendered as scores;
`--init-from default` finds the shipped model's weights or says which file is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from segue.errors import SegueError
from training import init_from
from training.dataset import EventDataset, build_dataset
from training.rendering import is_performance
from training.sources import resolve_sources

from tests.core.test_session_files import record_session
from training_fixtures import write_corpus

# One velocity throughout: by its velocities alone this would pass for a score rendered to MIDI.
PHRASE = [(60 + step, 80, 0.3 * step, 0.3 * step + 0.25) for step in range(12)]


def sessions(folder, count):
    return [record_session(folder, PHRASE, answers=[(40, 90, 4.0, 5.0)], name=f"segue-20260101-1200{i:02d}.mid")
            for i in range(count)]


@pytest.mark.parametrize("count, held_out", [(1, 0), (2, 1), (9, 1), (20, 2)])
def test_sessions_are_performances_and_the_latest_are_held_out(tmp_path, count, held_out):
    folder = tmp_path / "takes"
    made = sessions(folder, count)
    shutil.copy(write_corpus(tmp_path / "scores", pieces=1) / "piece00.mid", folder / "score.mid")
    files, _ = resolve_sources([str(folder)], eval_fraction=0.1)
    by_name = {f.path.rsplit("/", 1)[-1]: f for f in files}
    assert by_name["score.mid"].piece_id.endswith("score") and by_name["score.mid"].split is None
    assert [by_name[p.name].piece_id for p in made] == [f"session:{p.stem}" for p in made]
    assert [by_name[p.name].split for p in made] == ["train"] * (count - held_out) + ["eval"] * held_out


def test_a_glob_and_single_files_find_sessions_too(tmp_path):
    made = sessions(tmp_path / "takes", 2)
    globbed, _ = resolve_sources([str(tmp_path / "takes" / "segue-*.mid")])
    named, _ = resolve_sources([str(p) for p in made])
    for files in (globbed, named):
        assert [(f.piece_id, f.split) for f in files] == [(f"session:{made[0].stem}", "train"),
                                                          (f"session:{made[1].stem}", "eval")]


def test_a_built_session_holds_the_players_notes_and_is_never_rendered(tmp_path):
    sessions(tmp_path / "takes", 2)
    build_dataset([str(tmp_path / "takes")], tmp_path / "data", workers=1, progress=False)
    dataset = EventDataset(tmp_path / "data")
    assert sorted(p["split"] for p in dataset.pieces) == ["eval", "train"]
    for i, piece in enumerate(dataset.pieces):
        notes = dataset.notes(i)
        assert sorted(notes[:, 0].astype(int)) == [p for p, *_ in PHRASE]     # segue's answer (pitch 40) left out
        assert len(np.unique(notes[:, 1])) == 1 and is_performance(piece, notes)


def test_init_from_default_prefers_the_shipped_checkpoint(tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / "default.pt"
    checkpoint.write_bytes(b"weights")
    monkeypatch.setattr(init_from, "default_checkpoint_path", lambda: checkpoint)
    monkeypatch.setattr(init_from, "default_model_path", lambda: tmp_path / "absent.onnx")
    with init_from.init_checkpoint("default") as path:
        assert path == str(checkpoint)
    with init_from.init_checkpoint("runs/x/best.pt") as path:
        assert path == "runs/x/best.pt"


def test_init_from_default_without_checkpoint_or_graph_names_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(init_from, "default_checkpoint_path", lambda: tmp_path / "default.pt")
    monkeypatch.setattr(init_from, "default_model_path", lambda: tmp_path / "default.onnx")
    with pytest.raises(SegueError) as error:
        with init_from.init_checkpoint("default"):
            pass
    message = str(error.value)
    assert str(tmp_path / "default.pt") in message and str(tmp_path / "default.onnx") in message
    assert "\n" not in message


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A tiny model exported as the shipped graph (and its checkpoint, not shipped yet), init_from pointed at them."""
    from export.pipeline import export_model
    from training.checkpoint import make_checkpoint
    from training.models import build_model
    from training_fixtures import TINY_MODEL

    model = build_model(TINY_MODEL)
    ckpt = make_checkpoint(model, TINY_MODEL)
    graph = tmp_path / "default.onnx"
    export_model(model, graph, ckpt=ckpt, parity_steps=20)
    monkeypatch.setattr(init_from, "default_checkpoint_path", lambda: tmp_path / "default.pt")
    monkeypatch.setattr(init_from, "default_model_path", lambda: graph)
    return model, ckpt, tmp_path / "default.pt"


def test_init_from_default_recovers_the_weights_from_the_shipped_graph_when_no_checkpoint_is_there(shipped):
    import torch

    from training.checkpoint import load_model_from_checkpoint

    model, _, checkpoint = shipped
    with init_from.init_checkpoint("default") as path:
        recovered, ckpt = load_model_from_checkpoint(path)
        assert ckpt["model_config"]["hidden_size"] == model.hidden_size
        for name, tensor in model.state_dict().items():
            torch.testing.assert_close(recovered.state_dict()[name], tensor, atol=1e-6, rtol=0)
    assert not checkpoint.exists() and not Path(path).exists()


def test_a_shipped_checkpoint_that_is_not_the_graphs_source_is_used_with_a_warning(shipped, capsys):
    import torch

    from training.checkpoint import save_checkpoint

    model, ckpt, checkpoint = shipped
    save_checkpoint(ckpt, checkpoint)
    with init_from.init_checkpoint("default") as path:
        assert path == str(checkpoint)
    assert "warning" not in capsys.readouterr().err
    with torch.no_grad():
        model.head.bias += 1.0                          # a retrained checkpoint beside the old graph
    save_checkpoint({**ckpt, "model": model.state_dict()}, checkpoint)
    with init_from.init_checkpoint("default") as path:
        assert path == str(checkpoint)
    assert f"warning: {checkpoint} is not the checkpoint" in capsys.readouterr().err


def test_a_build_without_eval_pieces_says_what_to_do(tmp_path):
    from training.dataset import format_summary

    sessions(tmp_path / "takes", 1)
    summary = build_dataset([str(tmp_path / "takes")], tmp_path / "data", workers=1, progress=False)
    assert "record another session" in format_summary(summary, [], tmp_path / "data")
    sessions(tmp_path / "takes", 2)
    summary = build_dataset([str(tmp_path / "takes")], tmp_path / "data", workers=1, progress=False)
    assert "no eval pieces" not in format_summary(summary, [], tmp_path / "data")


def test_an_int8_shipped_graph_is_matched_to_its_checkpoint_by_hash_and_never_read_back(tmp_path, monkeypatch, capsys):
    """The int8 default's logits differ from its own checkpoint's by ~1, so the graph's record of the checkpoint's
    sha256 says whether they belong together; its rounded weights are no checkpoint to recover."""
    import torch

    from export.pipeline import export_model
    from training.checkpoint import make_checkpoint, save_checkpoint
    from training.models import build_model
    from training_fixtures import TINY_MODEL

    model = build_model(TINY_MODEL)
    ckpt = make_checkpoint(model, TINY_MODEL)
    checkpoint = tmp_path / "default.pt"
    save_checkpoint(ckpt, checkpoint)
    exported = export_model(model, tmp_path / "fp32.onnx", ckpt=ckpt, checkpoint_path=checkpoint, parity_steps=20,
                            int8=True, int8_min_agreement=0.0, int8_max_kl=float("inf"))
    monkeypatch.setattr(init_from, "default_checkpoint_path", lambda: checkpoint)
    monkeypatch.setattr(init_from, "default_model_path", lambda: exported.int8_path)
    with init_from.init_checkpoint("default") as path:
        assert path == str(checkpoint)
    assert "warning" not in capsys.readouterr().err
    with torch.no_grad():
        model.head.bias += 1.0
    save_checkpoint({**ckpt, "model": model.state_dict()}, checkpoint)
    with init_from.init_checkpoint("default"):
        pass
    assert f"warning: {checkpoint} is not the checkpoint" in capsys.readouterr().err
    checkpoint.unlink()
    with pytest.raises(SegueError, match="int8") as error:
        with init_from.init_checkpoint("default"):
            pass
    assert "\n" not in str(error.value)
