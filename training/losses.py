"""The training objective: cross-entropy + l1 * sum|w| + w_rhythm * rhythm + w_harmony * harmony.

Seed 001 computed its rhythm and tension losses on argmax predictions, which have no gradient, so they never
trained anything. Both losses here are expectations under the predicted softmax, hence differentiable in the
logits; tests/training/test_losses.py shows each one changes the gradients compared to weight 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segue.codec import codec

IGNORE_LABEL = -100

# Dissonance of a harmonic interval by semitones mod 12 (0 = unison/octave .. 11 = major seventh), on a 0..1 scale
# following the usual consonance ranking (Helmholtz/Plomp-Levelt style): seconds and sevenths and the tritone are
# rough, perfect fifths/fourths smooth, thirds and sixths in between.
INTERVAL_DISSONANCE = torch.tensor([0.0, 1.0, 0.6, 0.25, 0.2, 0.1, 0.75, 0.05, 0.25, 0.2, 0.5, 0.9])


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_LABEL)


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """sum |w| over the weight matrices (and embeddings), not biases: biases set offsets, sparsity is about weights."""
    terms = [p.abs().sum() for name, p in model.named_parameters() if p.dim() >= 2]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def rhythm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Expected timing error of the predicted time shift, in seconds.

    At each position whose label is TIME_SHIFT(s*), take the predicted distribution over shift sizes given that a
    shift comes, p(s) = softmax(logits)[shift s] / sum_s' softmax(logits)[shift s'], and return the mean of

        R = sum_s p(s) * |s - s*| / STEPS_PER_SECOND

    i.e. the 1-D earth mover's (Wasserstein-1) distance between the predicted shift distribution and the target's
    one-hot. Unlike cross-entropy it is ordinal: predicting 60 ms for 50 ms costs less than predicting 1 s.
    Returns 0 (with gradient) when the batch has no shift labels.
    """
    is_shift = (labels >= codec.TIME_SHIFT_OFFSET) & (labels < codec.TIME_SHIFT_OFFSET + codec.MAX_SHIFT_STEPS)
    shift_probs = torch.softmax(logits[..., codec.TIME_SHIFTS], dim=-1)            # renormalised over shifts
    steps = torch.arange(1, codec.MAX_SHIFT_STEPS + 1, device=logits.device, dtype=logits.dtype)
    target_steps = (labels - codec.TIME_SHIFT_OFFSET + 1).clamp(min=1).to(logits.dtype)
    error = (shift_probs * (steps - target_steps[..., None]).abs()).sum(-1) / codec.STEPS_PER_SECOND
    mask = is_shift.to(logits.dtype)
    return (error * mask).sum() / mask.sum().clamp(min=1.0)


def sounding_pitches(inputs: torch.Tensor) -> torch.Tensor:
    """[B, T, 128] 1.0 where a pitch sounds after input event t, from the note-ons/offs inside the window.

    Notes that began before the window are unknown here (their note-off drives the count negative and is clamped),
    so near a window start the set can miss some pitches; the harmony loss is a regulariser, that is acceptable.
    """
    on = ((inputs >= codec.NOTE_ON_OFFSET) & (inputs < codec.NOTE_ON_OFFSET + 128))
    off = ((inputs >= codec.NOTE_OFF_OFFSET) & (inputs < codec.NOTE_OFF_OFFSET + 128))
    pitch = (inputs % 128).clamp(0, 127)
    delta = F.one_hot(pitch, 128).float() * (on.float() - off.float())[..., None]
    count = delta.cumsum(dim=1)
    # A re-struck pitch makes count 2 while one key sounds; anything positive means sounding.
    return (count > 0).float()


def _tension_matrix(device, dtype) -> torch.Tensor:
    pitch = torch.arange(128, device=device)
    interval = (pitch[:, None] - pitch[None, :]) % 12
    return INTERVAL_DISSONANCE.to(device=device, dtype=dtype)[interval]      # [128 new, 128 sounding]


def harmony_loss(logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Mismatch between the predicted and the true harmonic tension of the next note.

    Tension of a candidate pitch i against the pitches S sounding at that moment:
        tension(i) = mean_{j in S} D[(i - j) mod 12]            (D = INTERVAL_DISSONANCE)
    At each position whose label is NOTE_ON(i*) while at least one pitch sounds, with p(i) the predicted
    distribution over pitches given a note-on (softmax renormalised over the 128 NOTE_ON classes):
        H = | sum_i p(i) * tension(i) - tension(i*) |
    Averaged over those positions. It pulls the expected dissonance of the prediction toward the music's own,
    rather than toward blandness. Returns 0 (with gradient) when no position qualifies.
    """
    sounding = sounding_pitches(inputs)                                           # [B, T, 128]
    count = sounding.sum(-1)
    tension = sounding @ _tension_matrix(logits.device, logits.dtype).T / count.clamp(min=1.0)[..., None]
    pitch_probs = torch.softmax(logits[..., codec.NOTE_ONS], dim=-1)
    expected = (pitch_probs * tension).sum(-1)
    is_on = (labels >= codec.NOTE_ON_OFFSET) & (labels < codec.NOTE_ON_OFFSET + 128)
    target = tension.gather(-1, labels.clamp(0, 127)[..., None]).squeeze(-1)
    mask = (is_on & (count > 0)).to(logits.dtype)
    return ((expected - target).abs() * mask).sum() / mask.sum().clamp(min=1.0)


def total_loss(logits, labels, inputs, model: nn.Module, l1: float = 0.0, rhythm_weight: float = 0.0,
               harmony_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """(loss to backpropagate, {"ce": .., "l1": .., "rhythm": .., "harmony": ..} as floats for logging)."""
    ce = cross_entropy(logits, labels)
    loss = ce
    parts = {"ce": ce.detach()}
    if l1:
        penalty = l1_penalty(model)
        loss = loss + l1 * penalty
        parts["l1"] = penalty.detach()
    if rhythm_weight:
        rhythm = rhythm_loss(logits, labels)
        loss = loss + rhythm_weight * rhythm
        parts["rhythm"] = rhythm.detach()
    if harmony_weight:
        harmony = harmony_loss(logits, labels, inputs)
        loss = loss + harmony_weight * harmony
        parts["harmony"] = harmony.detach()
    return loss, {k: float(v) for k, v in parts.items()}
