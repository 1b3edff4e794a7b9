import numpy as np

from segue.codec import codec
from segue.inference.beam import beam_search
from segue.inference.engine import Engine
from segue.inference.generate import Length
from segue.inference.sampling import Sampler
from segue.inference.sampling_loop import SamplingLoop


def _log_likelihood(engine, events, temperature=1.0):
    engine.reset()
    logits = engine.step(codec.NO_EVENT)
    total = 0.0
    for event in events:
        scaled = logits / temperature
        total += scaled[event] - scaled.max() - np.log(np.exp(scaled - scaled.max()).sum())
        logits = engine.step(int(event))
    return total


def test_beam_search_keeps_the_likeliest_branch(gru_path):
    engine = Engine.load(gru_path)
    engine.reset()
    logits = engine.step(codec.NO_EVENT)
    best = beam_search(engine, SamplingLoop(Sampler(seed=4)), logits, Length(steps=12), beam_size=1, branch_factor=6,
                       steps_per_iteration=12)
    assert len(best) == 12
    # replaying the same sampler draws gives the 6 branches; the search must return the likeliest of them
    sampler = Sampler(seed=4)
    branches = []
    for _ in range(6):
        engine.reset()
        logits, events = engine.step(codec.NO_EVENT), []
        for _ in range(12):
            events.append(sampler.sample(logits))
            logits = engine.step(events[-1])
        branches.append(events)
    scores = [_log_likelihood(engine, b) for b in branches]
    assert list(best) == branches[int(np.argmax(scores))]


def test_engine_is_left_in_the_state_of_the_chosen_continuation(gru_path):
    engine = Engine.load(gru_path)
    engine.reset()
    logits = engine.step(codec.NO_EVENT)
    events = beam_search(engine, SamplingLoop(Sampler(seed=2)), logits, Length(steps=20), beam_size=3, branch_factor=2,
                         steps_per_iteration=4)
    after_search = engine.step(int(events[-1]))
    engine.reset()
    engine.step(codec.NO_EVENT)
    expected = engine.feed(events)
    np.testing.assert_allclose(after_search, expected, atol=1e-5)
