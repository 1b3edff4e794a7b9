"""The engine on a model written without torch (tests/onnx_models.py), so it is tested where torch is missing."""
import numpy as np
import pytest

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM
from segue.inference.engine import Engine
from segue.inference.sampling import Sampler
from segue.inference.sampling_loop import Length, SamplingLoop
from tests.onnx_models import running_sum_model

EVENTS = [356, 60, 256 + 9, 188, 300, 64, 192]


@pytest.fixture(params=[True, False], ids=["conditioned", "unconditioned"])
def engine(request, tmp_path):
    return Engine.load(running_sum_model(tmp_path / "m.onnx", conditioned=request.param))


def test_stepping_event_by_event_equals_running_the_whole_sequence(engine):
    controls = np.random.default_rng(1).random((len(EVENTS), CONTROL_DIM)).astype(np.float32)
    stepped = [engine.step(e, controls[i] if engine.conditioned else None) for i, e in enumerate(EVENTS)]
    after_steps = engine.snapshot()
    engine.reset()
    whole = engine.run(EVENTS, controls if engine.conditioned else None)
    np.testing.assert_allclose(np.stack(stepped), whole, rtol=1e-5, atol=1e-5)
    assert whole.shape == (len(EVENTS), codec.NUM_CLASSES)
    engine.restore(after_steps)                   # a snapshot goes on where the steps left off
    next_logits = engine.step(60)
    engine.reset()
    np.testing.assert_allclose(next_logits, engine.run(EVENTS + [60])[-1], atol=1e-5)


def test_reset_forgets_and_the_state_carries_between_calls(engine):
    first = engine.feed(EVENTS[:3])
    later = engine.feed(EVENTS[3:])
    engine.reset()
    np.testing.assert_allclose(engine.feed(EVENTS), later, atol=1e-5)
    engine.reset()
    np.testing.assert_allclose(engine.feed(EVENTS[:3]), first, atol=1e-5)


def test_the_one_sampling_loop_draws_the_same_events_for_the_same_seed_and_others_for_another(engine):
    def draw(seed):
        engine.reset()
        return list(SamplingLoop(Sampler(temperature=1.0, seed=seed)).run(engine.step, engine.feed(EVENTS),
                                                                          Length(steps=50)))
    assert draw(3) == draw(3)
    assert draw(3) != draw(4)                      # the seed is what decides: a loop that ignored it would repeat
