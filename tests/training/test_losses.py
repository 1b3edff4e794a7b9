import pytest
import torch

from segue.codec import codec
from training.losses import (harmony_loss, l1_penalty, rhythm_loss, sounding_pitches, total_loss)
from training.models import build_model


def _logits(batch=2, steps=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, steps, codec.NUM_CLASSES, generator=gen, requires_grad=True)


def _grad(loss_fn):
    logits = _logits()
    loss_fn(logits).backward()
    return logits.grad


def test_rhythm_loss_is_zero_for_a_confident_correct_shift_and_grows_with_timing_error():
    labels = torch.tensor([[codec.time_shift(10)]])
    right = torch.full((1, 1, codec.NUM_CLASSES), -50.0)
    right[0, 0, codec.time_shift(10)] = 50.0
    near, far = right.clone(), right.clone()
    near[0, 0, codec.time_shift(10)], near[0, 0, codec.time_shift(12)] = -50.0, 50.0
    far[0, 0, codec.time_shift(10)], far[0, 0, codec.time_shift(90)] = -50.0, 50.0
    assert rhythm_loss(right, labels).item() == pytest.approx(0.0, abs=1e-6)
    assert rhythm_loss(near, labels).item() == pytest.approx(0.02, abs=1e-5)   # 2 steps = 20 ms
    assert rhythm_loss(far, labels).item() == pytest.approx(0.80, abs=1e-5)


def test_harmony_loss_measures_tension_mismatch_against_sounding_pitches():
    # C (60) sounds; the true next note is G (67, a fifth: tension 0.05); predicting C# (61, tension 1.0) costs 0.95.
    inputs = torch.tensor([[codec.note_on(60)]])
    labels = torch.tensor([[codec.note_on(67)]])
    logits = torch.full((1, 1, codec.NUM_CLASSES), -50.0)
    logits[0, 0, codec.note_on(61)] = 50.0
    assert harmony_loss(logits, labels, inputs).item() == pytest.approx(0.95, abs=1e-5)
    logits[0, 0, codec.note_on(61)], logits[0, 0, codec.note_on(55)] = -50.0, 50.0  # G below: same pitch class
    assert harmony_loss(logits, labels, inputs).item() == pytest.approx(0.0, abs=1e-5)


def test_sounding_pitches_follow_note_on_and_off():
    inputs = torch.tensor([[codec.note_on(60), codec.note_on(64), codec.note_off(60), codec.time_shift(5)]])
    sounding = sounding_pitches(inputs)[0]
    assert sounding[0].nonzero().flatten().tolist() == [60]
    assert sounding[1].nonzero().flatten().tolist() == [60, 64]
    assert sounding[3].nonzero().flatten().tolist() == [64]


def _music_like_batch():
    inputs = torch.tensor([[codec.note_on(60), codec.note_on(64), codec.time_shift(20), codec.note_off(60),
                            codec.note_on(62), codec.time_shift(5)]] * 2)
    labels = torch.tensor([[codec.note_on(64), codec.time_shift(20), codec.note_off(60), codec.note_on(62),
                            codec.time_shift(5), codec.note_on(67)]] * 2)
    return inputs, labels


@pytest.mark.parametrize("weight_name", ["rhythm_weight", "harmony_weight"])
def test_each_auxiliary_loss_changes_the_gradients_versus_weight_zero(weight_name):
    torch.manual_seed(0)
    model = build_model(dict(kind="performance_rnn", hidden_size=8, num_layers=1, dropout=0.0, conditioned=False))
    inputs, labels = _music_like_batch()

    def grads(weight):
        model.zero_grad()
        logits, _ = model(inputs, None, None)
        loss, _ = total_loss(logits, labels, inputs, model, **{weight_name: weight})
        loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    base, weighted = grads(0.0), grads(1.0)
    assert base.abs().sum() > 0
    assert (weighted - base).abs().max() > 1e-4, "the auxiliary loss must reach the weights"


def test_l1_penalty_counts_weights_not_biases_and_has_sign_gradient():
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]))
        model.bias.fill_(100.0)
    penalty = l1_penalty(model)
    assert penalty.item() == pytest.approx(7.5)
    penalty.backward()
    assert torch.equal(model.weight.grad, torch.sign(model.weight.detach()))
    assert model.bias.grad is None


def test_aux_losses_are_zero_without_qualifying_labels():
    logits = _logits()
    labels = torch.full((2, 6), codec.velocity_event(3))
    assert rhythm_loss(logits, labels).item() == 0.0
    assert harmony_loss(logits, labels, labels).item() == 0.0
