import numpy as np
import pytest

from segue.errors import SegueError
from segue.inference.sampling import Sampler

LOGITS = np.log(np.array([0.5, 0.3, 0.15, 0.05]))


def draw(sampler, n=4000):
    return np.bincount([sampler.sample(LOGITS) for _ in range(n)], minlength=4) / n


def test_same_seed_same_draws_different_seed_different_draws():
    first = Sampler(seed=7)
    second = Sampler(seed=7)
    other = Sampler(seed=8)
    seq = [first.sample(LOGITS) for _ in range(200)]
    assert seq == [second.sample(LOGITS) for _ in range(200)]
    assert seq != [other.sample(LOGITS) for _ in range(200)]


def test_plain_sampling_follows_the_softmax():
    np.testing.assert_allclose(draw(Sampler(seed=1)), [0.5, 0.3, 0.15, 0.05], atol=0.03)


def test_temperature_zero_is_greedy_and_high_temperature_flattens():
    assert set(Sampler(temperature=0, seed=1).sample(LOGITS) for _ in range(50)) == {0}
    hot = Sampler(temperature=100.0).probabilities(LOGITS)
    np.testing.assert_allclose(hot, 0.25, atol=0.01)


def test_top_k_keeps_only_the_k_most_likely():
    probs = Sampler(top_k=2).probabilities(LOGITS)
    np.testing.assert_allclose(probs, [0.5 / 0.8, 0.3 / 0.8, 0, 0])
    assert set(np.nonzero(draw(Sampler(top_k=2, seed=3), 500))[0]) == {0, 1}


def test_top_p_keeps_the_smallest_set_reaching_p():
    np.testing.assert_allclose(Sampler(top_p=0.75).probabilities(LOGITS), [0.5 / 0.8, 0.3 / 0.8, 0, 0])
    np.testing.assert_allclose(Sampler(top_p=0.4).probabilities(LOGITS), [1, 0, 0, 0])
    np.testing.assert_allclose(Sampler(top_p=0.9).probabilities(LOGITS), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0])


def test_min_p_drops_classes_far_below_the_best():
    # 0.25 * 0.5 = 0.125: keeps 0.5, 0.3, 0.15 and drops 0.05
    np.testing.assert_allclose(Sampler(min_p=0.25).probabilities(LOGITS), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0])


def test_never_draws_a_filtered_class():
    sampler = Sampler(top_k=3, min_p=0.4, seed=0)  # keeps 0.5 and 0.3 only
    assert set(sampler.sample(LOGITS) for _ in range(500)) == {0, 1}


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=-1), "temperature"), (dict(top_k=-2), "top-k"), (dict(top_p=0), "top-p"),
    (dict(top_p=1.5), "top-p"), (dict(min_p=1.0), "min-p"),
])
def test_bad_settings_are_user_errors(kwargs, message):
    with pytest.raises(SegueError, match=message):
        Sampler(**kwargs)
