"""The one sampling loop: runaway guard, time limit, rollback, and scoring through the same shapers."""
import numpy as np

from segue.codec import codec
from segue.inference.grammar import NoteOffMask
from segue.inference.sampling import Sampler, softmax
from segue.inference.sampling_loop import MAX_EVENTS_PER_STEP, Length, SamplingLoop
from segue.evaluation.scoring import MIN_LOG_PROB, score_piece


def peaked(*events, others=-20.0):
    logits = np.full(codec.NUM_CLASSES, others)
    logits[list(events)] = 0.0
    return logits


def test_a_model_that_never_lets_time_pass_is_moved_on_by_the_guard():
    loop = SamplingLoop(Sampler(seed=0))
    babble = peaked(codec.velocity_event(5))                 # wants VELOCITY events forever
    events = loop.run(lambda event: babble, babble, Length(seconds=1.0))
    assert sum(codec.shift_steps(int(e)) for e in events) >= 100
    run = 0
    for event in events:
        run = 0 if codec.shift_steps(int(event)) else run + 1
        assert run <= MAX_EVENTS_PER_STEP


def test_time_limit_bans_longer_shifts_unless_nothing_else_is_left():
    loop = SamplingLoop(Sampler(seed=0))
    wait = peaked(codec.time_shift(50), codec.note_on(60), others=-3.0)
    probs = loop.distribution(wait, max_shift=10)
    assert probs[codec.TIME_SHIFT_OFFSET + 10:codec.VELOCITY_OFFSET].sum() == 0
    assert probs[codec.time_shift(10)] > 0 and abs(probs.sum() - 1) < 1e-9
    # every allowed class ruled out by a shaper: the loop does not divide by zero, time passes
    only_shift = SamplingLoop(Sampler(seed=0), [_OnlyShift50()])
    assert only_shift.next_event(wait, max_shift=0) in range(codec.TIME_SHIFT_OFFSET, codec.VELOCITY_OFFSET)


class _OnlyShift50:
    def shape(self, probs, ctx):
        out = np.zeros_like(probs)
        out[codec.time_shift(50)] = 1.0
        return out


def test_restore_brings_back_the_grammar_state_of_the_snapshot():
    loop = SamplingLoop(Sampler(seed=0), [NoteOffMask()])
    loop.observe_all([codec.note_on(60), codec.time_shift(10)])
    snap = loop.snapshot()
    loop.observe(codec.note_off(60))
    assert loop.distribution(peaked(codec.note_off(60)))[codec.note_off(60)] == 0
    loop.restore(snap)
    assert loop.distribution(peaked(codec.note_off(60)))[codec.note_off(60)] > 0.9
    assert loop.ctx.sounding == {60: (0, codec.DEFAULT_VELOCITY)}


def test_scoring_sees_the_shaped_distribution_and_equals_softmax_without_shapers():
    rng = np.random.default_rng(1)
    # events[0] is context; probs[t] is the distribution of events[t + 1]
    events = np.array([codec.note_on(60), codec.time_shift(20), codec.note_off(61), codec.note_off(60)])
    probs = np.stack([softmax(row) for row in rng.normal(size=(len(events) - 1, codec.NUM_CLASSES))])
    plain = np.exp(score_piece(probs, events).log_prob)
    np.testing.assert_allclose(plain, probs[np.arange(3), events[1:]])
    masked = score_piece(probs, events, [NoteOffMask()])
    assert masked.log_prob[1] == MIN_LOG_PROB                              # 61 is not sounding
    assert masked.log_prob[0] > np.log(plain[0]) and masked.log_prob[2] > np.log(plain[2])  # its mass went elsewhere
