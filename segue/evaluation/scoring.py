"""The one scorer: next-event NLL (nats/event) and accuracy of any predictor, with per-piece sums for CIs.

Every figure segue reports about how well something predicts music comes from here: `segue evaluate` (the ONNX
model, the count baselines, session memory), and the trainer's eval (training/evaluation.py hands it logits).
A predictor gives, for each scored position, a distribution over the 388 events; the scorer keeps the
log-probability of the label and whether the label was the most likely event, per position, with the piece it
came from. Breakdowns (per event type, repeat vs not) and bootstrap confidence intervals over pieces are then
computed from those arrays, so two systems scored on the same positions are compared position for position.

Shapers (session memory, segue.inference.grammar's note-off mask) follow the protocol of the one sampling loop
(segue.inference.sampling_loop), which scoring runs too: its context takes in every event, the shapers turn a
normalised [388] distribution (temperature 1) into another normalised one. Scoring with shapers steps through each
piece, so what is scored is exactly what the sampling loop would sample from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from segue.codec import codec
from segue.codec.codec import shift_steps_of
from segue.errors import SegueError
from segue.inference.sampling_loop import SamplingLoop, Shaper

BOOTSTRAP_RESAMPLES = 2000       # resamples of the pieces for a 95% interval: enough for stable 2.5/97.5 percentiles
BOOTSTRAP_SEED = 0               # fixed, so the printed intervals are reproducible
# Floor on a label's probability: a shaper that gives an event exactly 0 (the grammar forbidding a note-off that
# then occurs in the data) costs this many nats instead of infinity. exp(-30): far below anything a model assigns.
MIN_LOG_PROB = -30.0

EVENT_TYPES = ("note-on", "note-off", "time-shift", "velocity")
_TYPE_EDGES = np.array([codec.NOTE_OFF_OFFSET, codec.TIME_SHIFT_OFFSET, codec.VELOCITY_OFFSET])


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (float32 logits of a peaked model lose digits in exp)."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=-1, keepdims=True)
    return logits - (top + np.log(np.exp(logits - top).sum(axis=-1, keepdims=True)))


def event_type(events: np.ndarray) -> np.ndarray:
    """Index into EVENT_TYPES of every event."""
    return np.searchsorted(_TYPE_EDGES, np.asarray(events), side="right")


@dataclass
class Scores:
    """Per scored position: its piece, label, log-probability of the label, and whether it was the argmax."""

    piece: np.ndarray        # int64
    label: np.ndarray        # int64
    log_prob: np.ndarray     # float64
    hit: np.ndarray          # bool

    @classmethod
    def empty(cls) -> "Scores":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))

    @classmethod
    def join(cls, parts: Sequence["Scores"]) -> "Scores":
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("piece", "label", "log_prob", "hit")))

    @classmethod
    def from_log_probs(cls, log_probs: np.ndarray, labels: np.ndarray, piece: int | np.ndarray = 0) -> "Scores":
        """log_probs [N, 388] (row i = distribution of labels[i])."""
        labels = np.asarray(labels, dtype=np.int64)
        rows = np.arange(len(labels))
        picked = log_probs[rows, labels]
        picked = np.where(np.isneginf(picked), MIN_LOG_PROB, picked)   # a shaper's exact zero: see MIN_LOG_PROB
        pieces = np.broadcast_to(np.asarray(piece, dtype=np.int64), labels.shape).copy()
        return cls(pieces, labels, picked.astype(np.float64), log_probs.argmax(axis=1) == labels)

    def __len__(self) -> int:
        return len(self.label)

    def where(self, mask: np.ndarray) -> "Scores":
        return Scores(self.piece[mask], self.label[mask], self.log_prob[mask], self.hit[mask])

    def metrics(self) -> dict:
        """events, nll (nats/event), perplexity, accuracy, event_accuracy (labels other than TIME_SHIFT(100), which
        long silences make easy and numerous) and nll_per_10ms (nats per 10 ms of music: comparable across tempi)."""
        count = len(self)
        if not count:
            raise SegueError("nothing to score: every piece is shorter than 2 events")
        nats = -float(self.log_prob.sum())
        is_event = self.label != codec.NO_EVENT
        steps = shift_steps_of(self.label).sum()
        return {"events": count, "nll": nats / count, "perplexity": math.exp(min(nats / count, 50.0)),
                "accuracy": float(self.hit.mean()),
                "event_accuracy": float(self.hit[is_event].mean()) if is_event.any() else float("nan"),
                "nll_per_10ms": nats / max(int(steps), 1)}

    def by_type(self) -> dict[str, dict]:
        kinds = event_type(self.label)
        return {name: {"events": int((kinds == i).sum()), "share": float((kinds == i).mean()),
                       "nll": float(-self.log_prob[kinds == i].mean()) if (kinds == i).any() else float("nan")}
                for i, name in enumerate(EVENT_TYPES)}


def gap_with_ci(better: Scores, worse: Scores, seed: int = BOOTSTRAP_SEED) -> dict:
    """NLL(worse) - NLL(better) in nats/event on the same positions, with a 95% bootstrap interval over pieces.

    Pieces, not positions, are resampled: positions inside a piece are far from independent."""
    if len(better) != len(worse) or not np.array_equal(better.label, worse.label):
        raise SegueError("a gap needs two systems scored on the same positions")
    if not len(better):
        return {"gap": float("nan"), "low": float("nan"), "high": float("nan"), "pieces": 0}
    ids, piece = np.unique(better.piece, return_inverse=True)
    diff = np.bincount(piece, weights=better.log_prob - worse.log_prob, minlength=len(ids))
    count = np.bincount(piece, minlength=len(ids)).astype(np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ids), size=(BOOTSTRAP_RESAMPLES, len(ids)))
    resampled = diff[picks].sum(axis=1) / count[picks].sum(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {"gap": float(diff.sum() / count.sum()), "low": float(low), "high": float(high), "pieces": len(ids)}


def mean_with_ci(values, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(mean, low, high): the mean of independent units (pieces, blocks of a benchmark) and its 95% bootstrap
    interval, the units resampled; nan for fewer than two."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float("nan"), float("nan"), float("nan")
    picks = np.random.default_rng(seed).integers(0, values.size, size=(BOOTSTRAP_RESAMPLES, values.size))
    low, high = np.percentile(values[picks].mean(axis=1), [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def score_piece(probs: np.ndarray, events: np.ndarray, shapers: Sequence[Shaper] = (), piece: int = 0) -> Scores:
    """Score events[1:] of one piece, probs[t] being the predictor's distribution of events[t + 1].

    With shapers, the one sampling loop's context (and its learners) take in events[0..t] and the shapers shape the
    distribution before events[t + 1] is scored (in order: the first shaper's output is the second's input),
    exactly as the sampling loop draws."""
    events = np.asarray(events, dtype=np.int64)
    labels = events[1:]
    if not shapers:
        with np.errstate(divide="ignore"):
            return Scores.from_log_probs(np.log(probs), labels, piece)
    loop = SamplingLoop(None, shapers)
    log_prob = np.empty(len(labels))
    hit = np.empty(len(labels), bool)
    for t, label in enumerate(labels):
        loop.observe(int(events[t]))
        p = loop.shape(probs[t].copy())   # shapers may work in place; the predictions are shared by several systems
        log_prob[t] = math.log(p[label]) if p[label] > 0 else MIN_LOG_PROB
        hit[t] = p.argmax() == label
    return Scores(np.full(len(labels), piece, np.int64), labels, log_prob, hit)


def score_pieces(predictions: Iterable[tuple[np.ndarray, np.ndarray]], shapers: Sequence[Shaper] = ()) -> Scores:
    """Score (probs, events) pairs, one per piece, numbered in order."""
    return Scores.join([score_piece(probs, events, shapers, k) for k, (probs, events) in enumerate(predictions)])


def repeat_positions(events: np.ndarray, length: int) -> np.ndarray:
    """bool per event: inside a verbatim repeat, i.e. covered by a run of `length` events that occurred earlier in
    the same piece (starting earlier; the two may overlap, as in a trill)."""
    events = np.asarray(events, dtype=np.int64)
    n = len(events)
    covered = np.zeros(n, dtype=bool)
    if n < length:
        return covered
    values = events.tolist()
    first: dict[tuple, int] = {}
    repeated = np.zeros(n - length + 1, dtype=bool)
    for start in range(n - length + 1):
        window = tuple(values[start:start + length])
        if window in first:
            repeated[start] = True
        else:
            first[window] = start
    starts = np.flatnonzero(repeated)
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, starts + length, -1)
    covered[:] = np.cumsum(delta)[:n] > 0
    return covered
