"""Eval metrics on the fixed, unaugmented eval windows, and the unigram baseline on exactly the same labels.

loss            mean cross-entropy per predicted event (nats)
perplexity      exp(loss)
accuracy        top-1 accuracy over all labels
event_accuracy  top-1 accuracy over labels other than TIME_SHIFT(100) (long silences are easy and numerous)
loss_per_10ms   total nats / total music time in 10 ms steps: comparable across codecs and tempi
"""

from __future__ import annotations

import numpy as np
import torch

from segue.evaluation.scoring import Scores
from training.batches import IGNORE_LABEL, Batch


def to_tensors(batch: Batch, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    controls = None if batch.controls is None else torch.from_numpy(batch.controls).to(device)
    return torch.from_numpy(batch.inputs).to(device), torch.from_numpy(batch.labels).to(device), controls


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: list[Batch], device) -> dict:
    """The trainer's names for segue.evaluation.scoring's figures (the one scorer `segue evaluate` and the baselines use)."""
    was_training = model.training
    model.eval()
    parts = []
    for batch in batches:
        inputs, labels, controls = to_tensors(batch, device)
        logits, _ = model(inputs, controls, None)
        flat_logits, flat_labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
        valid = flat_labels != IGNORE_LABEL
        log_probs = torch.log_softmax(flat_logits[valid].double(), dim=-1)
        parts.append(Scores.from_log_probs(log_probs.cpu().numpy(), flat_labels[valid].cpu().numpy()))
    model.train(was_training)
    m = Scores.join(parts).metrics()
    return {"loss": m["nll"], "perplexity": m["perplexity"], "accuracy": m["accuracy"],
            "event_accuracy": m["event_accuracy"], "loss_per_10ms": m["nll_per_10ms"], "tokens": m["events"]}


def unigram_loss(train_counts: np.ndarray, batches: list[Batch]) -> float:
    """Cross-entropy of add-one-smoothed train label frequencies on the eval labels: the floor a model must beat."""
    probs = (train_counts + 1.0) / (train_counts.sum() + len(train_counts))
    labels = np.concatenate([b.labels.reshape(-1) for b in batches])
    labels = labels[labels != IGNORE_LABEL]
    return float(-np.log(probs[labels]).mean())
