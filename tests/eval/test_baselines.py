"""The count baselines (PPM-C, PPM-D, modified Kneser-Ney): correct probabilities, vectorised distributions equal
to step-by-step ones, generation."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from segue.evaluation.baselines import MarkovModel, UnigramModel, augment_transpositions, truncated
from segue.codec.codec import NUM_CLASSES
from segue.errors import SegueError
from segue.evaluation.scoring import score_pieces


def _score(model, pieces):
    return score_pieces([(model.piece_distributions(p), p) for p in pieces]).metrics()


def test_markov_nll_on_repetitive_music_is_far_below_unigram():
    motif = np.random.default_rng(0).integers(0, NUM_CLASSES, size=40)
    train, held_out = [np.tile(motif, 30)], [np.tile(motif, 5)]
    unigram = _score(UnigramModel().fit(train), held_out)
    for escape in ("C", "KN"):
        markov = _score(MarkovModel(4, escape).fit(train), held_out)
        assert unigram["nll"] > 3.0  # 40 equiprobable events: about log(40) = 3.7
        assert markov["nll"] < 0.1
        assert markov["accuracy"] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    sequences=st.lists(st.lists(st.integers(0, 20), min_size=1, max_size=60), min_size=1, max_size=4),
    history=st.lists(st.integers(0, 25), max_size=12),
    max_order=st.integers(0, 9),  # 7..9 use hashed contexts
    escape=st.sampled_from(["C", "D", "KN"]),
)
def test_every_context_gives_a_distribution(sequences, history, max_order, escape):
    model = MarkovModel(max_order, escape).fit([np.array(s) for s in sequences])
    p = model.next_distribution(history)
    assert p.shape == (NUM_CLASSES,)
    assert np.all(p > 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("escape", ["C", "D", "KN"])
@pytest.mark.parametrize("max_order", [1, 3, 8])
def test_vectorised_distributions_equal_step_by_step(escape, max_order):
    rng = np.random.default_rng(1)
    train = [rng.integers(0, 12, size=n) for n in (200, 50, 7)]
    held_out = [rng.integers(0, 14, size=n) for n in (30, 2, 9)]
    model = MarkovModel(max_order, escape).fit(train)
    nll, count = 0.0, 0
    for seq in held_out:
        for t in range(1, len(seq)):
            nll -= math.log(model.next_distribution(seq[:t])[seq[t]])
            count += 1
    scored = _score(model, held_out)
    assert scored["events"] == count
    assert scored["nll"] == pytest.approx(nll / count, rel=1e-9)


def test_ppm_c_matches_the_formula_by_hand():
    # a b a b a c  (a=0, b=1, c=2): order-1 context "a" was followed by b twice and c once (n=3, u=2).
    model = MarkovModel(1, "C").fit([np.array([0, 1, 0, 1, 0, 2])])
    p0 = np.full(NUM_CLASSES, 3 / (6 + 3) / NUM_CLASSES)  # order 0: n=6, u=3
    p0[[0, 1, 2]] += np.array([3, 2, 1]) / 9
    expected_b = (2 + 2 * p0[1]) / (3 + 2)
    assert model.next_distribution([0])[1] == pytest.approx(expected_b)
    # an unseen context ("c" was never followed by anything) falls back to order 0
    assert model.next_distribution([2]) == pytest.approx(p0)


def test_ppm_d_matches_the_formula_by_hand():
    model = MarkovModel(1, "D").fit([np.array([0, 1, 0, 1, 0, 2])])
    p0 = np.full(NUM_CLASSES, 0.5 * 3 / 6 / NUM_CLASSES)
    p0[[0, 1, 2]] += (np.array([3, 2, 1]) - 0.5) / 6
    assert model.next_distribution([0])[2] == pytest.approx((1 - 0.5 + 0.5 * 2 * p0[2]) / 3)


def test_kneser_ney_matches_the_formula_by_hand():
    # a b a b a c: order 0 uses continuation counts (distinct predecessors, a piece start being one): a <- {start,
    # b} = 2, b <- {a} = 1, c <- {a} = 1; too few counts of counts for Chen-Goodman, so every discount is 1/2.
    model = MarkovModel(1, "KN").fit([np.array([0, 1, 0, 1, 0, 2])])
    p0 = np.full(NUM_CLASSES, 0.5 * 3 / 4 / NUM_CLASSES)
    p0[[0, 1, 2]] += (np.array([2, 1, 1]) - 0.5) / 4
    # order 1 (the highest) uses raw counts: after a, b twice and c once
    assert model.next_distribution([0])[1] == pytest.approx((2 - 0.5) / 3 + 0.5 * 2 / 3 * p0[1])
    assert model.next_distribution([2]) == pytest.approx(p0)


def test_kneser_ney_discounts_follow_the_counts_of_counts():
    counts = np.array([1] * 40 + [2] * 20 + [3] * 10 + [4] * 5)
    joint = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    from segue.evaluation.baselines import _OrderTable

    d = _OrderTable.from_joint(joint).discounts(continuation=False)
    y = 40 / (40 + 2 * 20)
    assert d == pytest.approx([1 - 2 * y * 20 / 40, 2 - 3 * y * 10 / 20, 3 - 4 * y * 5 / 10])


def test_hashed_high_orders_see_the_distant_event():
    # The event after "x 9 9 9 9 9 9 9" is determined by x, eight events back: only order >= 8 can know it.
    rng = np.random.default_rng(2)
    pieces = []
    for x in rng.integers(0, 2, size=300):
        pieces.append(np.array([x] + [9] * 7 + [100 + x]))
    held_out = [np.array([x] + [9] * 7 + [100 + x]) for x in (0, 1, 0, 1)]
    high = _score(MarkovModel(8).fit(pieces), held_out)
    low = _score(MarkovModel(7).fit(pieces), held_out)
    assert high["nll"] < low["nll"] - 0.05


@pytest.mark.parametrize("escape", ["C", "KN"])
def test_truncated_view_equals_a_model_trained_at_that_order(escape):
    rng = np.random.default_rng(3)
    train = [rng.integers(0, 30, size=500)]
    held_out = [rng.integers(0, 30, size=100)]
    assert _score(truncated(MarkovModel(6, escape).fit(train), 3), held_out)["nll"] == pytest.approx(
        _score(MarkovModel(3, escape).fit(train), held_out)["nll"])


def test_sample_continues_a_learned_pattern_and_is_seeded():
    motif = np.arange(300, 320)
    model = MarkovModel(3).fit([np.tile(motif, 40)])
    out = model.sample(motif[:5], 30, seed=4)
    assert np.array_equal(out, np.tile(motif, 3)[5:35])
    rng_model = MarkovModel(2).fit([np.random.default_rng(5).integers(0, 50, size=400)])
    assert np.array_equal(rng_model.sample([1, 2], 50, seed=7), rng_model.sample([1, 2], 50, seed=7))
    assert not np.array_equal(rng_model.sample([1, 2], 50, seed=7), rng_model.sample([1, 2], 50, seed=8))


def test_bad_input_is_a_user_error():
    with pytest.raises(SegueError):
        MarkovModel(2).fit([])
    with pytest.raises(SegueError):
        MarkovModel(2).fit([np.array([1, 2, 400])])
    with pytest.raises(SegueError):
        MarkovModel(2, "X")
    with pytest.raises(SegueError):
        MarkovModel(2).next_distribution([1])


def test_transposition_augmentation_skips_shifts_out_of_range():
    events = np.array([127, 356 + 3, 100, 255])  # note-on 127 ... note-off 127
    out = augment_transpositions([events], [-1, 0, 1])
    assert len(out) == 2  # +1 would move pitch 127 out of range
    assert out[0][0] == 126 and out[0][3] == 254


def test_kneser_ney_discount_scale_moves_mass_to_shorter_contexts_and_stays_a_distribution():
    rng = np.random.default_rng(4)
    model = MarkovModel(3, "KN").fit([rng.integers(0, 20, size=400)])
    sharp = model.next_distribution([1, 2, 3])
    model.discount_scale = 1.5
    smooth = truncated(model, 3).next_distribution([1, 2, 3])
    assert smooth.sum() == pytest.approx(1.0) and np.all(smooth > 0)
    assert smooth.max() < sharp.max()
