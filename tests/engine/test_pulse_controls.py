"""The pulse as a model input: what the follower reports on steady and free playing, and the engine that adds it."""
import math

import numpy as np
import pytest

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM
from segue.inference.engine import Engine
from segue.rhythm.beat_tracker import PREFERRED_BEAT_S
from segue.rhythm.pulse_controls import PULSE_DIM, PULSE_GAIN, PulseControls, past_pulse
from tests.onnx_models import running_sum_model


def shift_events(steps: int) -> list[int]:
    events = []
    while steps > 0:
        move = min(steps, codec.MAX_SHIFT_STEPS)
        events.append(codec.TIME_SHIFT_OFFSET + move - 1)
        steps -= move
    return events


def played(gaps_steps, pitch: int = 60) -> list[int]:
    """A note at the start and after each gap, each held for half its gap."""
    events = [codec.VELOCITY_OFFSET + 20]
    for gap in gaps_steps:
        events += [pitch] + shift_events(gap // 2) + [codec.NOTE_OFF_OFFSET + pitch] + shift_events(gap - gap // 2)
    return events + [pitch]


def test_nothing_is_heard_before_the_first_note():
    rows = past_pulse(shift_events(300))
    assert rows.shape == (3, PULSE_DIM) and not rows.any()


def test_a_steady_player_gives_a_sure_pulse_at_its_tempo_with_the_beat_on_its_notes():
    events = played([50] * 24)                         # 120 bpm quarter notes: 0.5 s apart
    rows = past_pulse(events)
    last = rows[-1]                                    # just after a note on the beat
    confidence = last[0]
    assert confidence / PULSE_GAIN > 0.5
    assert last[5] / confidence == pytest.approx(math.log2(0.5 / PREFERRED_BEAT_S), abs=0.05)
    assert last[2] / confidence > 0.95                 # cos of the phase: on the beat
    assert last[4] / confidence > 0.95                 # and on the half-beat grid's point


def test_free_playing_leaves_the_pulse_unsure():
    rng = np.random.default_rng(3)
    gaps = rng.integers(8, 90, size=40).tolist()       # onsets 80-900 ms apart at random
    confidences = past_pulse(played(gaps))[:, 0] / PULSE_GAIN
    assert np.median(confidences) < 0.3


def test_transposition_does_not_change_the_pulse():
    events = played([50, 25, 25, 50, 50, 100, 50] * 3, pitch=60)
    up = [e + 7 if e < codec.TIME_SHIFT_OFFSET else e for e in events]
    np.testing.assert_array_equal(past_pulse(events), past_pulse(up))


def test_rows_are_what_the_follower_reports_after_each_event():
    events = played([50, 25, 25, 75, 25] * 4)
    follower, streamed = PulseControls(), []
    for event in events:
        follower.push(event)
        streamed.append(follower.current())
    np.testing.assert_array_equal(np.stack(streamed), past_pulse(events))


@pytest.fixture
def pulse_engine(tmp_path):
    return Engine.load(running_sum_model(tmp_path / "pulse.onnx", pulse=True))


def test_an_engine_adds_the_pulse_of_the_stream_it_reads(pulse_engine, tmp_path):
    assert pulse_engine.hears_pulse and pulse_engine.control_dim == CONTROL_DIM
    events = np.array(played([50] * 12), dtype=np.int64)
    given = np.random.default_rng(0).random((len(events), CONTROL_DIM)).astype(np.float32)
    with_pulse = pulse_engine.run(events, given)
    # The same graph read as a model of 26 controls the caller gives: the engine's rows are past_pulse's.
    plain = Engine.load(running_sum_model(tmp_path / "plain.onnx", pulse=True))
    plain.pulse, plain.control_dim = None, CONTROL_DIM + PULSE_DIM
    want = plain.run(events, np.concatenate([given, past_pulse(events)], axis=1))
    np.testing.assert_allclose(with_pulse, want, atol=1e-5)
    pulse_engine.reset()
    streamed = [pulse_engine.step(int(e), given[t]) for t, e in enumerate(events)]
    np.testing.assert_allclose(np.stack(streamed), want, atol=1e-5)


def test_a_restored_engine_has_forgotten_the_notes_after_its_snapshot(pulse_engine):
    pulse_engine.feed(played([50] * 6))
    snap = pulse_engine.snapshot()
    first = pulse_engine.step(60)
    pulse_engine.feed(played([37, 11, 70]))
    pulse_engine.restore(snap)
    np.testing.assert_array_equal(pulse_engine.step(60), first)
    pulse_engine.reset()
    assert not pulse_engine.pulse.current().any()
