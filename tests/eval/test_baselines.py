"""The Markov and unigram baselines: correct probabilities, vectorised scoring equal to step-by-step, generation."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from segue.baselines import MarkovModel, UnigramModel, augment_transpositions, run_baselines, truncated
from segue.codec import NUM_CLASSES
from segue.errors import SegueError

from eval_helpers import write_dataset


def test_markov_nll_on_repetitive_music_is_far_below_unigram():
    motif = np.random.default_rng(0).integers(0, NUM_CLASSES, size=40)
    train, held_out = [np.tile(motif, 30)], [np.tile(motif, 5)]
    unigram = UnigramModel().fit(train).score(held_out)
    markov = MarkovModel(4).fit(train).score(held_out)
    assert unigram["nll"] > 3.0  # 40 equiprobable events: about log(40) = 3.7
    assert markov["nll"] < 0.05
    assert markov["accuracy"] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    sequences=st.lists(st.lists(st.integers(0, 20), min_size=1, max_size=60), min_size=1, max_size=4),
    history=st.lists(st.integers(0, 25), max_size=12),
    max_order=st.integers(0, 9),  # 7..9 use hashed contexts
    escape=st.sampled_from(["C", "D"]),
)
def test_every_context_gives_a_distribution(sequences, history, max_order, escape):
    model = MarkovModel(max_order, escape).fit([np.array(s) for s in sequences])
    p = model.next_distribution(history)
    assert p.shape == (NUM_CLASSES,)
    assert np.all(p > 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("escape", ["C", "D"])
@pytest.mark.parametrize("max_order", [1, 3, 8])
def test_vectorised_score_equals_step_by_step(escape, max_order):
    rng = np.random.default_rng(1)
    train = [rng.integers(0, 12, size=n) for n in (200, 50, 7)]
    held_out = [rng.integers(0, 14, size=n) for n in (30, 2, 9)]
    model = MarkovModel(max_order, escape).fit(train)
    nll, count = 0.0, 0
    for seq in held_out:
        for t in range(1, len(seq)):
            nll -= math.log(model.next_distribution(seq[:t])[seq[t]])
            count += 1
    scored = model.score(held_out)
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


def test_hashed_high_orders_see_the_distant_event():
    # The event after "x 9 9 9 9 9 9 9" is determined by x, eight events back: only order >= 8 can know it.
    rng = np.random.default_rng(2)
    pieces = []
    for x in rng.integers(0, 2, size=300):
        pieces.append(np.array([x] + [9] * 7 + [100 + x]))
    held_out = [np.array([x] + [9] * 7 + [100 + x]) for x in (0, 1, 0, 1)]
    high = MarkovModel(8).fit(pieces).score(held_out)
    low = MarkovModel(7).fit(pieces).score(held_out)
    assert high["nll"] < low["nll"] - 0.05


def test_truncated_view_equals_a_model_trained_at_that_order():
    rng = np.random.default_rng(3)
    train = [rng.integers(0, 30, size=500)]
    held_out = [rng.integers(0, 30, size=100)]
    assert truncated(MarkovModel(6).fit(train), 3).score(held_out)["nll"] == pytest.approx(
        MarkovModel(3).fit(train).score(held_out)["nll"])


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


def test_run_baselines_reports_every_order_and_the_best(tmp_path):
    motif = np.random.default_rng(6).integers(40, 90, size=25)  # mid-range note-ons: every shift keeps them in range
    data = write_dataset(tmp_path / "data", [("a", "train", np.tile(motif, 20)), ("b", "train", motif[:10]),
                                             ("c", "eval", np.tile(motif, 3))])
    result = run_baselines(data, max_order=3, transpose=[0], with_model=False)
    assert [r["name"].split(" ")[0] for r in result["rows"]] == ["unigram", "markov-1", "markov-2", "markov-3"]
    assert result["best"]["nll"] == min(r["nll"] for r in result["rows"][1:])
    assert result["best"]["nll"] < result["rows"][0]["nll"] - 2
    assert result["rows"][0]["events"] == 3 * 25 - 1
    assert "best baseline" in result["table"]
    assert result["model"] is None
    augmented = run_baselines(data, max_order=3, with_model=False)  # by default transposed into all 12 keys
    assert augmented["train_events"] == 12 * result["train_events"]
    assert "transposed by" in augmented["table"]


@pytest.mark.parametrize("model", ["gru_model_path", "lstm_model_path"])
def test_the_model_is_scored_on_the_same_events(tmp_path, model, request):
    from segue.engine import Engine

    path = request.getfixturevalue(model)
    pieces = [np.random.default_rng(7).integers(0, 300, size=n) for n in (40, 25)]
    data = write_dataset(tmp_path / "data", [("a", "train", pieces[0]), ("b", "eval", pieces[0]),
                                             ("c", "eval", pieces[1])])
    result = run_baselines(data, max_order=2, model_path=path, transpose=[0])
    assert result["model"]["events"] == result["rows"][0]["events"] == 39 + 24
    assert "goal >= 0.3" in result["table"]
    # The same NLL by stepping the engine one event at a time (an untrained model: close to log 388).
    from segue.controls import compute_controls

    engine = Engine.load(path)
    nll = 0.0
    for events in pieces:
        engine.reset()
        controls = compute_controls(events)
        for t in range(len(events) - 1):
            step_controls = controls[t + 1] if engine.conditioned else None
            logits = engine.step(int(events[t]), step_controls).astype(np.float64)
            nll -= logits[events[t + 1]] - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    assert result["model"]["nll"] == pytest.approx(nll / 63, rel=1e-5)
    assert abs(result["model"]["nll"] - math.log(388)) < 0.5


def test_without_a_model_path_the_shipped_model_is_scored(tmp_path, monkeypatch, gru_model_path):
    import segue.engine

    pieces = [np.random.default_rng(8).integers(0, 300, size=30) for _ in range(2)]
    data = write_dataset(tmp_path / "data", [("a", "train", pieces[0]), ("b", "eval", pieces[1])])
    monkeypatch.setattr(segue.engine, "default_model_path", lambda: tmp_path / "missing.onnx")
    assert run_baselines(data, max_order=1, transpose=[0])["model"] is None  # nothing shipped: no model row
    monkeypatch.setattr(segue.engine, "default_model_path", lambda: gru_model_path)
    assert run_baselines(data, max_order=1, transpose=[0])["model"]["name"] == "model gru.onnx"
