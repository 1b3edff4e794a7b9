"""`segue evaluate`: NLL/event, perplexity, accuracy and event accuracy of an ONNX model on a dataset split.

It scores exactly what the trainer's eval scores (training/batches.py eval_batches), so the two agree within
1e-3 for the same checkpoint: fixed windows of `seq_len` events with stride `seq_len` from the start of every
piece, each window from a zero state, input t = event t (+ the controls of t+1), label = event t+1, no
augmentation; at most `max_windows` windows, spread evenly. The figures are averaged over every scored label.
The window settings are read from the model's metadata (the checkpoint's training config) unless given, and
fall back to config.yaml's train.eval_seq_len / train.eval_max_windows (0 windows = all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segue import codec
from segue.engine import CONTROLS_INPUT, EVENTS_INPUT, Engine
from segue.errors import SegueError

RUN_BATCH = 16                   # windows per ONNX call: big enough to amortise the call, small enough for memory


@dataclass
class Window:
    inputs: np.ndarray            # int64 [L]
    labels: np.ndarray            # int64 [L], -1 where padded
    controls: np.ndarray | None   # float32 [L, C]


def eval_windows(pieces: list[np.ndarray], seq_len: int, max_windows: int, conditioned: bool) -> list[Window]:
    """The trainer's eval windows, in the trainer's order."""
    starts = [(k, start) for k, events in enumerate(pieces) for start in range(0, max(1, len(events) - 1), seq_len)]
    if max_windows and len(starts) > max_windows:
        keep = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
        starts = [starts[i] for i in keep]
    controls_of: dict[int, np.ndarray] = {}
    windows = []
    for k, start in starts:
        events = pieces[k]
        chunk = events[start:start + seq_len + 1].astype(np.int64)
        n = len(chunk) - 1
        inputs = np.full(seq_len, codec.NO_EVENT, dtype=np.int64)
        labels = np.full(seq_len, -1, dtype=np.int64)
        inputs[:n], labels[:n] = chunk[:-1], chunk[1:]
        controls = None
        if conditioned:
            if k not in controls_of:
                from segue.controls import compute_controls

                controls_of[k] = np.asarray(compute_controls(events), dtype=np.float32)
            controls = np.zeros((seq_len, controls_of[k].shape[1]), dtype=np.float32)
            controls[:n] = controls_of[k][start + 1:start + n + 1]   # controls at t+1 go with input t
        windows.append(Window(inputs, labels, controls))
    return windows


def score_windows(engine: Engine, windows: list[Window]) -> dict:
    """Sum NLL, hits and counts over every labelled position, running RUN_BATCH windows per call."""
    nll = hits = count = event_hits = event_count = shift_steps = 0.0
    names = [o.name for o in engine.session.get_outputs()]
    for i in range(0, len(windows), RUN_BATCH):
        part = windows[i:i + RUN_BATCH]
        feeds = {EVENTS_INPUT: np.stack([w.inputs for w in part])}
        if engine.conditioned:
            feeds[CONTROLS_INPUT] = np.stack([w.controls for w in part])
        for spec, value in zip(engine.state_specs, engine.initial_state(len(part))):
            feeds[f"{spec['name']}_in"] = value
        logits = engine.session.run(names[:1], feeds)[0].astype(np.float64)
        labels = np.stack([w.labels for w in part])
        mask = labels >= 0
        flat, target = logits[mask], labels[mask]
        top = flat.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(flat - top).sum(axis=1))
        nll += float((log_z - flat[np.arange(len(target)), target]).sum())
        correct = flat.argmax(axis=1) == target
        hits += float(correct.sum())
        count += len(target)
        # event accuracy leaves out TIME_SHIFT(100): long silences are easy and numerous (as the trainer does)
        is_event = target != codec.NO_EVENT
        event_hits += float(correct[is_event].sum())
        event_count += float(is_event.sum())
        is_shift = (target >= codec.TIME_SHIFT_OFFSET) & (target < codec.VELOCITY_OFFSET)
        shift_steps += float((target[is_shift] - codec.TIME_SHIFT_OFFSET + 1).sum())
    if not count:
        raise SegueError("nothing to score: every piece in the split is shorter than 2 events")
    # same names as the trainer's eval (training/evaluation.py) so the two can be compared key by key
    return {"events": int(count), "loss": nll / count, "perplexity": math.exp(min(nll / count, 50.0)),
            "accuracy": hits / count, "event_accuracy": event_hits / max(event_count, 1),
            "loss_per_10ms": nll / max(shift_steps, 1)}


def window_settings(engine: Engine, seq_len: int | None, max_windows: int | None) -> tuple[int, int]:
    """Given values, else the trainer's eval settings stored in the model, else those of config.yaml."""
    stored = engine.meta.get("eval_protocol") or {}
    if seq_len is None or max_windows is None:
        from segue.config import load_config

        train = load_config().train
        seq_len = seq_len or int(stored.get("seq_len", train.eval_seq_len))
        max_windows = max_windows if max_windows is not None else int(stored.get("max_windows", train.eval_max_windows))
    if seq_len < 1 or max_windows < 0:
        raise SegueError(f"--seq-len must be >= 1 and --max-windows >= 0, got {seq_len} and {max_windows}")
    return seq_len, max_windows


def evaluate_model(model: str | Path | None, data_dir: str | Path, split: str = "eval", max_pieces: int | None = None,
                   seq_len: int | None = None, max_windows: int | None = None) -> dict:
    """The trainer's eval metrics (loss = NLL/event, perplexity, accuracy, event_accuracy, loss_per_10ms)."""
    from segue.dataset_reader import read_split

    engine = Engine.load(model)
    pieces = [events for _, events in read_split(data_dir, split)]
    if max_pieces:
        pieces = pieces[:max_pieces]
    seq_len, max_windows = window_settings(engine, seq_len, max_windows)
    metrics = score_windows(engine, eval_windows(pieces, seq_len, max_windows, engine.conditioned))
    metrics.update(model=str(engine.path), data=str(data_dir), split=split, pieces=len(pieces), seq_len=seq_len,
                   max_windows=max_windows)
    trainer = engine.meta.get("eval") or {}
    if "loss" in trainer:
        metrics["trainer_eval_loss"] = trainer["loss"]
    return metrics


def held_out_events(data_dir: str | Path, count: int) -> np.ndarray:
    """The first `count` events of the eval split (pieces joined), for export's parity and int8 checks."""
    from segue.dataset_reader import read_split

    joined = np.concatenate([events for _, events in read_split(data_dir, "eval")])
    return joined[:count].astype(np.int64)


def format_metrics(m: dict) -> str:
    lines = [f"{m['model']} on {m['data']} ({m['split']} split, {m['pieces']} pieces, {m['events']:,} events, "
             f"windows of {m['seq_len']}, at most {m['max_windows'] or 'all'})",
             f"  NLL/event       {m['loss']:.4f} nats   ({m['loss_per_10ms']:.4f} nats per 10 ms of music)",
             f"  perplexity      {m['perplexity']:.3f}",
             f"  accuracy        {100 * m['accuracy']:.2f}%",
             f"  event accuracy  {100 * m['event_accuracy']:.2f}%  (labels other than TIME_SHIFT(100))"]
    if "trainer_eval_loss" in m:
        lines.append(f"  trainer's eval loss for this checkpoint: {m['trainer_eval_loss']:.4f}")
    return "\n".join(lines)
