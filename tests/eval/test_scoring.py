"""The one scorer: per-position log-probabilities, shaped scoring as the sampling loop sees it, CIs over pieces."""
import math

import numpy as np
import pytest

from segue.codec import codec
from segue.evaluation.scoring import (MIN_LOG_PROB, Scores, gap_with_ci, repeat_positions, score_piece,
                                      score_pieces)


def _uniform(events):
    return np.full((len(events) - 1, codec.NUM_CLASSES), 1.0 / codec.NUM_CLASSES)


def test_uniform_predictions_cost_log_388_per_event_and_skip_the_first():
    events = np.array([60, 300, 188, 355, 62])
    scores = score_pieces([(_uniform(events), events)])
    m = scores.metrics()
    assert m["events"] == 4
    assert m["nll"] == pytest.approx(math.log(codec.NUM_CLASSES))
    assert scores.by_type()["note-off"]["events"] == 1 and scores.by_type()["time-shift"]["events"] == 2


def test_event_accuracy_leaves_out_the_long_silence():
    probs = np.zeros((2, codec.NUM_CLASSES))
    probs[:, codec.NO_EVENT] = 1.0
    m = score_pieces([(probs, np.array([60, codec.NO_EVENT, 61]))]).metrics()
    assert m["accuracy"] == 0.5 and m["event_accuracy"] == 0.0
    assert m["nll_per_10ms"] == pytest.approx(-MIN_LOG_PROB / 100)


class _Echo:
    """A shaper that puts all its mass on the last observed event: scoring must show it saw events[0..t]."""

    def reset(self):
        self.last = None

    def observe(self, event):
        self.last = event

    def shape(self, probs, ctx):
        out = np.zeros_like(probs)
        out[self.last] = 1.0
        return out


def test_shapers_observe_every_event_before_the_one_they_predict():
    events = np.array([5, 5, 5, 7])
    scores = score_piece(_uniform(events), events, [_Echo()])
    assert list(scores.log_prob) == [0.0, 0.0, MIN_LOG_PROB]
    assert list(scores.hit) == [True, True, False]


def test_gap_ci_excludes_zero_only_when_one_system_is_better_on_most_pieces():
    rng = np.random.default_rng(0)
    labels = np.zeros(400, np.int64)
    piece = np.repeat(np.arange(20), 20)
    base = Scores(piece, labels, -rng.uniform(1, 2, 400), np.zeros(400, bool))
    better = Scores(piece, labels, base.log_prob + 0.3, base.hit)
    noisy = Scores(piece, labels, base.log_prob + np.repeat(rng.normal(0, 0.5, 20), 20), base.hit)
    gap = gap_with_ci(better, base)
    assert gap["gap"] == pytest.approx(0.3) and gap["low"] == pytest.approx(0.3) and gap["pieces"] == 20
    wide = gap_with_ci(noisy, base)
    assert wide["low"] < wide["gap"] < wide["high"]
    assert wide["high"] - wide["low"] > 0.2   # piece-level noise shows in the interval
    with pytest.raises(Exception):
        gap_with_ci(better.where(np.arange(400) > 0), base)


class _InPlace:
    """A shaper that zeroes the label's class in place, as segue.inference.grammar's shapers may."""

    def shape(self, probs, ctx):
        probs[7] = 0.0
        return probs / probs.sum()


def test_shaping_in_place_leaves_the_shared_predictions_alone():
    events = np.array([5, 7, 7])
    probs = _uniform(events)
    shaped = score_piece(probs, events, [_InPlace()])
    assert list(shaped.log_prob) == [MIN_LOG_PROB, MIN_LOG_PROB]
    assert np.all(probs == 1.0 / codec.NUM_CLASSES)


def test_repeat_positions_mark_the_second_occurrence_only():
    rng = np.random.default_rng(1)
    phrase = rng.integers(0, 300, size=20)
    events = np.concatenate([phrase, rng.integers(300, 388, size=10), phrase])
    covered = repeat_positions(events, 16)
    assert not covered[:30].any()
    assert covered[30:].all()
    assert not repeat_positions(events[:15], 16).any()
