"""`segue evaluate` on an ONNX model equals the trainer's eval of the same weights (within 1e-3)."""

import json

import numpy as np
import pytest
import torch

from export.pipeline import export_model
from segue.codec import Note
from segue.errors import SegueError
from segue.evaluate import evaluate_model, format_metrics
from segue.midi_io import write_midi
from training.batches import eval_batches
from training.dataset import EventDataset, build_dataset
from training.evaluation import evaluate
from training.models import build_model


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Twelve short pieces of different lengths and keys, half of them held out."""
    root = tmp_path_factory.mktemp("music")
    rng = np.random.default_rng(0)
    for k in range(12):
        t, notes = 0.0, []
        for _ in range(20 + 15 * k):
            t += float(rng.choice([0.1, 0.25, 0.5, 1.3]))
            notes.append(Note(int(48 + k + rng.integers(0, 24)), int(rng.integers(30, 120)), t, t + 0.4))
        write_midi(notes, root / f"piece{k:02d}.mid")
    out = tmp_path_factory.mktemp("data")
    build_dataset([str(root)], out, eval_fraction=0.5, workers=1, progress=False)
    assert EventDataset(out).split_indices("eval"), "the test needs eval pieces"
    return out


@pytest.mark.parametrize("cfg", [
    dict(kind="performance_rnn", hidden_size=48, num_layers=2, conditioned=True),
    dict(kind="gru_attention", hidden_size=48, num_layers=1, embed_dim=24, attention_window=16, conditioned=False),
])
@pytest.mark.parametrize("seq_len, max_windows", [(64, 0), (50, 5)])
def test_evaluate_equals_the_trainers_eval(cfg, seq_len, max_windows, dataset, tmp_path):
    torch.manual_seed(1)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for param in model.parameters():  # spread-out logits make the comparison meaningful
            param.normal_(0.0, 0.2)
    export_model(model, tmp_path / "m.onnx", parity_steps=20)
    trainer = evaluate(model, eval_batches(EventDataset(dataset), cfg["conditioned"], seq_len, 4, max_windows), "cpu")
    ours = evaluate_model(tmp_path / "m.onnx", dataset, seq_len=seq_len, max_windows=max_windows)
    assert ours["events"] == trainer["tokens"]
    for key in ("loss", "accuracy", "event_accuracy", "loss_per_10ms"):
        assert ours[key] == pytest.approx(trainer[key], abs=1e-3), key
    assert ours["perplexity"] == pytest.approx(trainer["perplexity"], rel=1e-3)
    assert "NLL/event" in format_metrics(ours)
    json.dumps(ours)  # --json must work


def test_window_settings_come_from_the_model_metadata(dataset, tmp_path):
    torch.manual_seed(0)
    model = build_model(dict(kind="gru_attention", hidden_size=16, num_layers=1, embed_dim=8, attention_window=4,
                             conditioned=False))
    ckpt = {"eval": {"loss": 5.0, "seq_len": 40, "max_windows": 3}}
    export_model(model, tmp_path / "m.onnx", ckpt=ckpt, parity_steps=10)
    metrics = evaluate_model(tmp_path / "m.onnx", dataset)
    assert (metrics["seq_len"], metrics["max_windows"]) == (40, 3)
    assert metrics["trainer_eval_loss"] == 5.0


def test_a_folder_without_a_dataset_is_a_clear_error(tmp_path, gru_path):
    with pytest.raises(SegueError, match="no index.json"):
        evaluate_model(gru_path, tmp_path)
