"""Magenta-style beam search over sampled continuations.

Each iteration extends every beam by `steps_per_iteration` events drawn by the sampling loop, `branch_factor` times
over, then keeps the `beam_size` extensions with the highest total log-likelihood (of each event under the
distribution it was drawn from: the shaped, temperature-scaled one). The engine's and the loop's snapshots make
branching cheap: a branch restores its parent's state and carries on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from segue.inference.engine import Engine
from segue.errors import SegueError
from segue.inference.sampling_loop import SamplingLoop


@dataclass
class _Beam:
    events: list[int]
    log_likelihood: float
    elapsed: int              # time steps generated so far
    logits: np.ndarray        # next-event logits after the last event
    state: tuple              # engine snapshot after the last event
    loop_state: tuple         # sampling-loop snapshot (a copy of its LiveContext, the memory's) after the last event


def beam_search(engine: Engine, loop: SamplingLoop, logits: np.ndarray, length, beam_size: int = 1,
                branch_factor: int = 1, steps_per_iteration: int = 1) -> np.ndarray:
    """The most likely of the sampled continuations (same `length` rule as plain sampling)."""
    if beam_size < 1 or branch_factor < 1 or steps_per_iteration < 1:
        raise SegueError("--beam-size, --branch-factor and --steps-per-iteration must be >= 1")
    beams = [_Beam([], 0.0, 0, logits, engine.snapshot(), loop.snapshot())]
    while not all(length.done(len(b.events), b.elapsed) for b in beams):
        candidates = []
        for beam in beams:
            if length.done(len(beam.events), beam.elapsed):
                candidates.append(beam)  # finished beams compete unchanged
                continue
            for _ in range(branch_factor):
                candidates.append(_extend(engine, loop, beam, length, steps_per_iteration))
        candidates.sort(key=lambda b: b.log_likelihood, reverse=True)
        beams = candidates[:beam_size]
    best = beams[0]
    engine.restore(best.state)
    loop.restore(best.loop_state)
    return np.array(best.events, dtype=np.int64)


def _extend(engine: Engine, loop: SamplingLoop, beam: _Beam, length, steps: int) -> _Beam:
    engine.restore(beam.state)
    loop.restore(beam.loop_state)
    drawn = loop.extend(engine.step, beam.logits, length, beam.events, beam.elapsed, at_most=steps)
    log_likelihood = beam.log_likelihood
    for probability in drawn.probabilities:
        log_likelihood += math.log(probability)
    return _Beam(drawn.events, log_likelihood, drawn.elapsed, drawn.logits, engine.snapshot(), loop.snapshot())
