"""Dynamics preferences side by side: continuations of real primers (10 s -> 10 s) played as segue serve plays
(grammar + the model's session memory, player mode), with each way of following the player's dynamics, against the
real continuation. Issue 24: the previous rule squeezed every velocity toward the recent level (SD 5.5 against a
pianist's 14.4).

    python bench/dynamics.py --data data/hannds --split tune --seeds 8     # choose: held-out train pieces
    python bench/dynamics.py --data data/hannds --split eval --seeds 8     # report: the eval split

Variants (segue.inference.grammar.FollowDynamics unless said):
  none          the grammar without a dynamics preference (the model's own velocities)
  squeeze       the previous rule: a Gaussian of 6 velocity units around the mean bin of the last 16 note-ons
  recentre      each draw's velocity distribution shifted onto the level (the model's level = that draw's own)
  move          the model's distribution moved to the level of the last 64 note-ons (its level over its last
                64 draws), its spread kept
  move+spread   the same, its spread scaled to the last 64 note-ons' (the default)
Each piece's measures are averaged over its primers and the seeds first, so the intervals are over pieces.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segue.codec import codec  # noqa: E402
from segue.inference.grammar_settings import GrammarSettings  # noqa: E402
from segue.inference import grammar  # noqa: E402
from segue.inference.live_context import DynamicsFollower  # noqa: E402


class Squeeze:
    """The previous FollowDynamics (to 2026-12-06): velocities re-weighted by a Gaussian around the recent level."""

    def __init__(self, spread: float = 6.0, notes: int = 16):
        self.width, self.notes = spread / codec.VELOCITY_BIN_SIZE, notes

    def attach(self, ctx) -> None:
        if ctx.dynamics is None:
            ctx.dynamics = DynamicsFollower(self.notes)

    def shape(self, probs: np.ndarray, ctx) -> np.ndarray:
        level = ctx.dynamics.level()
        if level is None:
            return probs
        bins = np.arange(1, codec.NUM_VELOCITY_BINS + 1)
        return grammar._reweight(probs, codec.VELOCITIES, np.exp(-0.5 * ((bins - level) / self.width) ** 2))


FOLLOW = grammar.FollowDynamics     # the real one (the bench swaps the name build_shapers reads)


class Recentre(FOLLOW):
    MODEL_DRAWS = 1


VARIANTS = {
    "none": None,
    "squeeze": lambda notes, follow_spread: Squeeze(),
    "recentre": lambda notes, follow_spread: Recentre(notes, False),
    "move": lambda notes, follow_spread: FOLLOW(notes, False),
    "move+spread": lambda notes, follow_spread: FOLLOW(notes, True),
}


@contextlib.contextmanager
def dynamics(factory):
    """build_shapers makes `factory(notes, follow_spread)` where it makes its FollowDynamics."""
    grammar.FollowDynamics = factory or FOLLOW
    try:
        yield
    finally:
        grammar.FollowDynamics = FOLLOW


def passages(data: str, split: str, seconds: float, pieces: int, every: float | None):
    from segue.codec.dataset_reader import read_split
    from segue.evaluation.continuations import passages_of
    from segue.evaluation.evaluate import tuning_split

    if split == "tune":
        _, tune = tuning_split(read_split(data, "train"))
        return passages_of([(f"tuning piece {i}", events) for i, events in enumerate(tune)], seconds, pieces, every)
    return passages_of(read_split(data, "eval"), seconds, pieces, every)


def main(argv=None) -> int:
    from segue.evaluation.continuations import (ModelSource, _sampling_generator, evaluate_passages, per_piece,
                                                summarise)
    from segue.inference.memory import player_memory

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", choices=["tune", "eval"], default="tune")
    parser.add_argument("--model", default=None)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--pieces", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=None, help="a primer every EVERY seconds of each piece")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--memory", choices=["off", "player", "session"], default="player")
    args = parser.parse_args(argv)

    source = ModelSource(args.model)
    memory = player_memory(source.engine.path, args.memory)
    chosen = passages(args.data, args.split, args.seconds, args.pieces, args.every)
    base = GrammarSettings()
    measured = []
    for seed in range(args.seeds):
        generators = {}
        for name in args.variants:
            settings = replace(base, follow_dynamics=VARIANTS[name] is not None)
            make = _sampling_generator(source, 1.0, 1.0, seed, args.seconds, settings, memory, args.memory)
            generators[name] = (lambda make, factory: lambda passage: _with(factory, make, passage))(
                make, VARIANTS[name])
        measured += evaluate_passages(chosen, generators, args.seconds)
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    pieces = per_piece(measured)
    summary = summarise(pieces, ["real", *args.variants])
    print(f"{len(chosen)} {args.split} primers of {len(pieces)} pieces of {args.data} x {args.seeds} seeds, "
          f"memory {args.memory} "
          f"({'none' if memory is None else memory.describe()}); means over pieces, [95% CI over pieces] of the "
          "difference to the real continuation\n")
    print("| variant | vel - primer | abs(vel - primer) | velocity SD | melody lead | notes | polyphony | key r | "
          "notes >= 5 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ["real", *args.variants]:
        row = summary[name]

        def gap(key, relative=True, digits=1):
            if name == "real":
                return ""
            suffix = "_relative" if relative else ""
            low, high = row[f"{key}_vs_real{suffix}_low"], row[f"{key}_vs_real{suffix}_high"]
            return (f" [{100 * low:+.0f}%, {100 * high:+.0f}%]" if relative else
                    f" [{low:+.{digits}f}, {high:+.{digits}f}]")

        print(f"| {name} | {row['velocity_shift']:+.1f} | {row['velocity_off_primer']:.1f} | "
              f"{row['velocity_sd']:.1f}{gap('velocity_sd')} | {row['melody_lead']:+.1f}"
              f"{gap('melody_lead', False)} | {row['notes']:.1f}{gap('notes')} | "
              f"{row['polyphony']:.2f}{gap('polyphony')} | {row['key_corr']:.3f}{gap('key_corr', False, 3)} | "
              f"{100 * row['long_5s']:.1f}% |")
    return 0


def _with(factory, make, passage):
    with dynamics(factory):
        return make(passage)


if __name__ == "__main__":
    raise SystemExit(main())
