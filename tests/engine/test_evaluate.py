"""`segue evaluate`: the live protocol is what the daemon computes; the trainer's protocol equals the trainer's eval;
the report compares every system on the same positions with intervals."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="compares segue evaluate with the trainer's own eval (torch)")

from export.pipeline import export_model
from segue.codec.codec import Note
from segue.codec.controls import ControlFollower
from segue.codec.dataset_reader import read_split
from segue.inference.engine import Engine
from segue.errors import SegueError
from segue.evaluation.evaluate import (KN, KN_CACHE, KN_CACHE_GRAMMAR, MODEL, MODEL_GRAMMAR, MODEL_MEMORY,
                                      MODEL_MEMORY_GRAMMAR, UNIGRAM, evaluate, format_markdown, model_predictions,
                                      trainer_windows)
from segue.codec.midi_io import write_midi
from segue.evaluation.scoring import score_pieces
from tests.eval.eval_helpers import scale_piece, write_dataset
from training.batches import eval_batches
from training.dataset import EventDataset, build_dataset
from training.evaluation import evaluate as trainer_evaluate
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


def _spread(model):
    with torch.no_grad():
        for param in model.parameters():  # spread-out logits make the comparisons meaningful
            param.normal_(0.0, 0.2)
    return model


@pytest.mark.parametrize("cfg", [
    dict(kind="performance_rnn", hidden_size=48, num_layers=2, conditioned=True),
    dict(kind="gru_attention", hidden_size=48, num_layers=1, embed_dim=24, attention_window=16, conditioned=False),
    dict(kind="performance_rnn", hidden_size=32, num_layers=1, conditioned=True, pulse=True),
])
@pytest.mark.parametrize("seq_len, max_windows", [(64, 0), (50, 5)])
def test_the_trainers_protocol_equals_the_trainers_eval(cfg, seq_len, max_windows, dataset, tmp_path):
    torch.manual_seed(1)
    model = _spread(build_model(cfg).eval())
    ckpt = {"eval": {"loss": 5.0, "seq_len": seq_len, "max_windows": max_windows}}
    export_model(model, tmp_path / "m.onnx", ckpt=ckpt, parity_steps=20)
    trainer = trainer_evaluate(model, eval_batches(EventDataset(dataset), cfg["conditioned"], seq_len, 4, max_windows,
                                                   pulse=cfg.get("pulse", False)), "cpu")
    pieces = [events for _, events in read_split(dataset, "eval")]
    ours = trainer_windows(Engine.load(tmp_path / "m.onnx"), pieces)
    assert ours["events"] == trainer["tokens"]
    assert (ours["seq_len"], ours["max_windows"], ours["trainer_eval_loss"]) == (seq_len, max_windows, 5.0)
    assert ours["nll"] == pytest.approx(trainer["loss"], abs=1e-3)
    for key in ("accuracy", "event_accuracy"):
        assert ours[key] == pytest.approx(trainer[key], abs=1e-3), key
    assert ours["nll_per_10ms"] == pytest.approx(trainer["loss_per_10ms"], abs=1e-3)


def test_the_live_protocol_is_what_the_daemon_computes(dataset, tmp_path):
    """Stepping the engine one event at a time with the follower's controls, as daemon/session.py does."""
    torch.manual_seed(2)
    export_model(_spread(build_model(dict(kind="performance_rnn", hidden_size=32, num_layers=1, conditioned=True))),
                 tmp_path / "m.onnx", parity_steps=10)
    engine = Engine.load(tmp_path / "m.onnx")
    pieces = [events for _, events in read_split(dataset, "eval")][:3]
    nats, count = 0.0, 0
    for events in pieces:
        engine.reset()
        follower = ControlFollower()
        for t in range(len(events) - 1):
            follower.push(int(events[t]))
            logits = engine.step(int(events[t]), follower.current()).astype(np.float64)
            nats -= logits[events[t + 1]] - logits.max() - np.log(np.exp(logits - logits.max()).sum())
            count += 1
    live = score_pieces(model_predictions(engine, pieces, "past")).metrics()
    forward = score_pieces(model_predictions(engine, pieces, "forward")).metrics()
    assert live["events"] == count
    assert live["nll"] == pytest.approx(nats / count, abs=1e-4)
    # The controls matter, so the two protocols differ; how much depends on the random model (1.7e-4 seen in CI
    # order), while ignoring the controls would give exactly 0.
    assert abs(forward["nll"] - live["nll"]) > 1e-5


def test_the_report_compares_every_system_on_the_same_positions(tmp_path, gru_path):
    rng = np.random.default_rng(3)
    pieces = [(f"train{k}", "train", scale_piece(int(rng.integers(55, 70)), 12.0, step=0.2, chord_every=k % 4))
              for k in range(30)]
    pieces += [(f"eval{k}", "eval", scale_piece(60 + k, 20.0, step=0.2)) for k in range(3)]
    data = write_dataset(tmp_path / "data", pieces)
    report = evaluate(gru_path, data, baselines=True, memory=True)
    rows = report["rows"]
    assert list(rows) == [MODEL, MODEL_GRAMMAR, MODEL_MEMORY, MODEL_MEMORY_GRAMMAR, UNIGRAM, KN, KN_CACHE,
                          KN_CACHE_GRAMMAR]
    order = report["settings"]["kn"]["order"]
    assert rows[KN_CACHE_GRAMMAR]["label"] == f"KN-{order} + cache + note-off grammar"   # the prose is a label
    assert len({row["events"] for row in rows.values()}) == 1
    # scales repeat themselves: the memory and the cache must find it; an untrained model cannot
    assert rows[MODEL_MEMORY]["nll"] < rows[MODEL]["nll"] - 1.0
    assert rows[KN_CACHE_GRAMMAR]["nll"] < rows[UNIGRAM]["nll"] - 1.0
    assert rows[MODEL]["nll"] == pytest.approx(math.log(388), abs=0.7)
    assert 0 < report["repeat_share"] < 1
    gaps = {g["id"]: g for g in report["gaps"]}
    assert all(g["better"] in rows and g["worse"] in rows for g in gaps.values())
    memory_gap = gaps["memory"]
    assert (memory_gap["label"], memory_gap["better"], memory_gap["worse"]) == (
        "memory on vs off", MODEL_MEMORY_GRAMMAR, MODEL_GRAMMAR)
    assert memory_gap["low"] <= memory_gap["gap"] <= memory_gap["high"] and memory_gap["low"] > 0
    assert report["settings"]["tuning_pieces"] >= 1
    text = format_markdown(report)
    for heading in ("Live protocol", "Gaps", "Per event type", "Repeats", "held-out train pieces"):
        assert heading in text
    json.dumps(report)  # --json must work


def test_fitting_on_the_scored_split_is_refused_and_a_missing_dataset_is_a_clear_error(tmp_path, gru_path, dataset):
    with pytest.raises(SegueError, match="eval split"):
        evaluate(gru_path, dataset, split="train", baselines=True)
    with pytest.raises(SegueError, match="no index.json"):
        evaluate(gru_path, tmp_path)


def test_a_dataset_without_train_pieces_takes_them_from_another(tmp_path, gru_path):
    pieces = [(f"train{k}", "train", scale_piece(60 + k % 5, 10.0, step=0.2)) for k in range(30)]
    train = write_dataset(tmp_path / "train", pieces)
    scored = write_dataset(tmp_path / "rendered", [("e", "eval", scale_piece(62, 10.0, step=0.2))])
    with pytest.raises(SegueError, match="--train-data"):
        evaluate(gru_path, scored, baselines=False, memory=True)
    report = evaluate(gru_path, scored, baselines=False, memory=True, train_data=train)
    assert report["settings"]["train_data"] == str(train) and MODEL_MEMORY in report["rows"]
