"""Eval metrics on the fixed, unaugmented eval windows, and the unigram baseline on exactly the same labels.

loss            mean cross-entropy per predicted event (nats)
perplexity      exp(loss)
accuracy        top-1 accuracy over all labels
event_accuracy  top-1 accuracy over labels other than TIME_SHIFT(100) (long silences are easy and numerous)
loss_per_10ms   total nats / total music time in 10 ms steps: comparable across codecs and tempi
"""

from __future__ import annotations

import math

import numpy as np
import torch

from segue import codec
from training.batches import IGNORE_LABEL, Batch


def _shift_steps(labels: np.ndarray) -> int:
    is_shift = (labels >= codec.TIME_SHIFT_OFFSET) & (labels < codec.TIME_SHIFT_OFFSET + codec.MAX_SHIFT_STEPS)
    return int((labels[is_shift] - codec.TIME_SHIFT_OFFSET + 1).sum())


def to_tensors(batch: Batch, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    controls = None if batch.controls is None else torch.from_numpy(batch.controls).to(device)
    return torch.from_numpy(batch.inputs).to(device), torch.from_numpy(batch.labels).to(device), controls


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: list[Batch], device) -> dict:
    was_training = model.training
    model.eval()
    nats, count, correct, event_correct, event_count, steps = 0.0, 0, 0, 0, 0, 0
    for batch in batches:
        inputs, labels, controls = to_tensors(batch, device)
        logits, _ = model(inputs, controls, None)
        flat_logits, flat_labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
        valid = flat_labels != IGNORE_LABEL
        nats += torch.nn.functional.cross_entropy(flat_logits[valid], flat_labels[valid], reduction="sum").item()
        hits = flat_logits[valid].argmax(-1) == flat_labels[valid]
        correct += int(hits.sum())
        count += int(valid.sum())
        is_event = flat_labels[valid] != codec.NO_EVENT
        event_correct += int(hits[is_event].sum())
        event_count += int(is_event.sum())
        steps += _shift_steps(batch.labels)
    model.train(was_training)
    loss = nats / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "accuracy": correct / max(count, 1),
            "event_accuracy": event_correct / max(event_count, 1), "loss_per_10ms": nats / max(steps, 1),
            "tokens": count}


def unigram_loss(train_counts: np.ndarray, batches: list[Batch]) -> float:
    """Cross-entropy of add-one-smoothed train label frequencies on the eval labels: the floor a model must beat."""
    probs = (train_counts + 1.0) / (train_counts.sum() + len(train_counts))
    labels = np.concatenate([b.labels.reshape(-1) for b in batches])
    labels = labels[labels != IGNORE_LABEL]
    return float(-np.log(probs[labels]).mean())
