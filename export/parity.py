"""Torch vs ONNX Runtime on the same events: streamed one event at a time, and one call with T = N.

Both sides run the same path users run: the torch model with its state tuple, and segue.inference.engine.Engine on the
written file (so the check covers the engine's state handling too). The events are either held-out music or,
without data, a stream the torch model samples from itself, which keeps the inputs in-distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM
from segue.inference.engine import Engine
from segue.rhythm.pulse_controls import PulseControls, hears_pulse, past_pulse

TOLERANCE = 1e-4


@dataclass
class ParityReport:
    stream_steps: int
    stream_max_abs: float
    full_steps: int
    full_max_abs: float

    @property
    def ok(self) -> bool:
        return max(self.stream_max_abs, self.full_max_abs) <= TOLERANCE

    def line(self) -> str:
        verdict = "ok" if self.ok else f"FAILED (tolerance {TOLERANCE:g})"
        return (f"parity torch vs onnx: {self.stream_steps} streamed steps max |dlogit| {self.stream_max_abs:.2e}, "
                f"one call T={self.full_steps} max |dlogit| {self.full_max_abs:.2e}: {verdict}")


def random_controls(n: int, control_dim: int, seed: int) -> np.ndarray | None:
    """Valid-looking controls that change over time: a density one-hot and a normalised pitch-class histogram."""
    if control_dim == 0:
        return None
    rng = np.random.default_rng(seed)
    control_dim = min(control_dim, CONTROL_DIM)
    controls = np.zeros((n, control_dim), dtype=np.float32)
    density_bins = control_dim - 12
    for start in range(0, n, 50):  # hold each setting for 50 events, as real controls hold for a while
        block = slice(start, min(n, start + 50))
        controls[block, rng.integers(density_bins)] = 1.0
        histogram = rng.dirichlet(np.ones(12)).astype(np.float32)
        controls[block, density_bins:] = histogram
    return controls


@torch.no_grad()
def torch_stream(model: torch.nn.Module, n: int, controls: np.ndarray | None, events: np.ndarray | None = None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Run the torch model one event at a time; sample the events from its own output when none are given.

    Returns (events [n], logits [n, 388])."""
    generator = torch.Generator().manual_seed(seed)
    state = model.initial_state(1)
    pulse = PulseControls() if hears_pulse(model.control_dim) else None   # as the engine follows the stream it reads
    event = int(codec.NO_EVENT) if events is None else int(events[0])
    chosen, rows = [], []
    for t in range(n):
        if events is not None:
            event = int(events[t])
        chosen.append(event)
        row = None if controls is None else controls[t]
        if pulse is not None:
            pulse.push(event)
            row = np.concatenate([row, pulse.current()])
        step_controls = None if row is None else torch.from_numpy(row).view(1, 1, -1)
        logits, state = model(torch.tensor([[event]]), step_controls, state)
        rows.append(logits[0, 0].numpy().copy())
        if events is None:
            event = int(torch.multinomial(torch.softmax(logits[0, 0], -1), 1, generator=generator))
    return np.array(chosen, dtype=np.int64), np.stack(rows)


@torch.no_grad()
def torch_full(model: torch.nn.Module, events: np.ndarray, controls: np.ndarray | None) -> np.ndarray:
    if controls is not None and hears_pulse(model.control_dim):   # callers give the 20, the engine adds the pulse
        controls = np.concatenate([controls, past_pulse(events)], axis=1)
    full_controls = None if controls is None else torch.from_numpy(controls)[None]
    logits, _ = model(torch.from_numpy(events)[None], full_controls, None)
    return logits[0].numpy()


def music_controls(events: np.ndarray, control_dim: int) -> np.ndarray | None:
    """The controls real music gives its events, aligned as model inputs (input t carries controls of t+1)."""
    if control_dim == 0:
        return None
    from segue.codec.controls import compute_controls

    controls = np.asarray(compute_controls(events), dtype=np.float32)
    return np.concatenate([controls[1:], controls[-1:]]).astype(np.float32)


def check_parity(model: torch.nn.Module, onnx_path: str | Path, steps: int = 500, events: np.ndarray | None = None,
                 seed: int = 0) -> ParityReport:
    """Held-out `events` run with their own controls; without them the model samples its own, under random ones."""
    model = model.eval()
    if events is not None:
        steps = len(events)
        controls = music_controls(events, model.control_dim)
    else:
        controls = random_controls(steps, model.control_dim, seed)
    events, torch_streamed = torch_stream(model, steps, controls, events=events, seed=seed)
    engine = Engine.load(onnx_path)
    onnx_streamed = np.stack([engine.step(int(e), None if controls is None else controls[t])
                              for t, e in enumerate(events)])
    engine.reset()
    onnx_full = engine.run(events, controls)
    return ParityReport(
        stream_steps=steps,
        stream_max_abs=float(np.max(np.abs(onnx_streamed - torch_streamed))),
        full_steps=steps,
        full_max_abs=float(np.max(np.abs(onnx_full - torch_full(model, events, controls)))),
    )
