"""What one draw costs, side by side: the bare Sampler, the sampling loop, the loop with the decoding grammar,
against one ONNX step of the shipped model (the daemon's budget per event is the step plus the draw).

    python bench/sampling_loop.py [--draws 3000]

Logits come from the shipped model stepping on its own samples, so the grammar sees realistic contexts (a few
notes sounding, velocity changes). Each row: median and p99 microseconds per draw (+ observe, for the loop). The
last row is the grammar after a player's steady phrase: the pulse preference steers every draw, on the player's
rhythm grid (segue/rhythm/rhythm_grid.py).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def record_logits(draws: int) -> tuple[list[np.ndarray], list[int], list[float]]:
    """Logits and events of the shipped model sampling on its own, and the time of each ONNX step."""
    from segue.codec import codec
    from segue.inference.engine import Engine
    from segue.inference.sampling import Sampler

    engine = Engine.load(None)
    engine.set_controls(np.full(engine.control_dim, 1.0 / engine.control_dim, dtype=np.float32))
    sampler = Sampler(seed=0)
    logits, all_logits, events, step_times = engine.step(codec.NO_EVENT), [], [], []
    for _ in range(draws):
        all_logits.append(logits)
        events.append(sampler.sample(logits))
        start = time.perf_counter()
        logits = engine.step(events[-1])
        step_times.append(time.perf_counter() - start)
    return all_logits, events, step_times


def time_draws(logits: list[np.ndarray], events: list[int], make_loop, by: str = "player") -> list[float]:
    """Per-draw times of loop.next_event + loop.observe, replaying the recorded events (same contexts) as played
    `by` the player or segue."""
    loop = make_loop()
    times = []
    for row, event in zip(logits, events):
        start = time.perf_counter()
        loop.next_event(row)
        loop.observe(event, by)
        times.append(time.perf_counter() - start)
    return times


def after_a_pulse(loop):
    """The loop after a player's 8 bars at 120 bpm, a chord on each beat and a note between: the pulse preference
    steers every draw that follows, on a grid whose beats weigh more than its halves."""
    from segue.codec import codec

    notes = []
    for beat in range(32):
        t = beat * 0.5
        notes += [codec.Note(pitch, 80, t, t + 0.2) for pitch in (48, 64, 67)] + [codec.Note(72, 64, t + 0.25, t + 0.45)]
    loop.start(codec.encode_notes(notes))
    return loop


def main(argv=None) -> int:
    from segue.inference.grammar_settings import GrammarSettings
    from segue.inference.grammar import build_shapers
    from segue.inference.sampling import Sampler
    from segue.inference.live_context import SEGUE
    from segue.inference.sampling_loop import SamplingLoop

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3000)
    args = parser.parse_args(argv)

    logits, events, step_times = record_logits(args.draws)
    bare = []
    sampler = Sampler(seed=1)
    for row in logits:
        start = time.perf_counter()
        sampler.sample(row)
        bare.append(time.perf_counter() - start)
    rows = [
        ("ONNX step (shipped model)", step_times),
        ("Sampler.sample", bare),
        ("loop, no shapers", time_draws(logits, events, lambda: SamplingLoop(Sampler(seed=1)))),
        ("loop + default grammar", time_draws(logits, events, lambda: SamplingLoop(
            Sampler(seed=1), build_shapers(GrammarSettings())))),
        ("loop + grammar + pinned key", time_draws(logits, events, lambda: SamplingLoop(
            Sampler(seed=1), build_shapers(GrammarSettings(), key="D minor")))),
        ("loop + grammar, pulse steers", time_draws(logits, events, lambda: after_a_pulse(SamplingLoop(
            Sampler(seed=1), build_shapers(GrammarSettings()))), by=SEGUE)),
    ]
    print(f"{'':30s} {'median us':>10s} {'p99 us':>8s}")
    for name, times in rows:
        us = np.array(times[50:]) * 1e6           # the first draws pay allocation and cache warm-up
        print(f"{name:30s} {np.median(us):10.1f} {np.percentile(us, 99):8.1f}")
    grammar = np.median(rows[3][1][50:]) - np.median(bare[50:])
    print(f"grammar overhead per event: {grammar * 1e6:.1f} us = {grammar / np.median(step_times[50:]):.0%} "
          "of one ONNX step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
