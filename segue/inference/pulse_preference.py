"""FollowPulse: TIME_SHIFT draws nudged so that what follows them falls on the tracked pulse's grid.

A decoding preference (the sampling loop's shaper protocol, docs/design.md), built by grammar.build_shapers beside
the key and dynamics preferences. It attaches a causal beat tracker (segue.rhythm.beat_tracker) to the live
context's pulse slot (`ctx.pulse`), which hears every note-on of the context on the context's own clock (steps of
10 ms): the player's (or a primer's) and the answer's own, as the key and dynamics followers do, so an answer keeps
the pulse it was given, and offline generate, the continuation test and the daemon hear the same pulse from the
same events.

At each draw, every TIME_SHIFT of s steps is weighed by where it lands, now + s, on the tracked grid: the beat and
its 2-, 3- and 4-part subdivisions, each level a Gaussian bump of GRID_WIDTH_S around its points, weighted by its
place in the metrical hierarchy (beat > half > quarter > third: Palmer & Krumhansl 1990's listeners' ratings of
metrical positions in 4/4; Lerdahl & Jackendoff's metrical preference rules). weight = (1 - s) + s * bump, with s
the strength times how sure the tracker is. The shifts keep their total mass, so how busy the music is does not
change; the re-weighting is multiplicative, so a model that is sure of its own timing (one shift carrying most of
the mass) keeps it, as it keeps its notes under the key preference. Under the session memory it yields by the
memory's weight (grammar.YieldToMemory), like the other preferences. Below CONFIDENCE_FLOOR it changes nothing: a
player without a pulse gets exactly the draws segue made before it.
"""
from __future__ import annotations

import numpy as np

from segue.codec import codec
from segue.errors import SegueError
from segue.rhythm.beat_tracker import BeatTracker

GRID_LEVELS = ((1, 1.0), (2, 0.8), (4, 0.55), (3, 0.45))   # (subdivision, weight): the metrical hierarchy
GRID_WIDTH_S = 0.015           # SD of a grid point's bump: a pianist's onset jitter is ~10-20 ms (Repp 1995)
CONFIDENCE_FLOOR = 0.3         # the tracker's confidence below which the pulse steers nothing (bench/beat_tracker.py:
CONFIDENCE_FULL = 0.5          #   free playing passes 0.3 at ~5% of its notes) ... and from which it steers fully


class PulseFollower(BeatTracker):
    """The beat tracker as a follower of the live context: every note-on at the context's step, with its velocity."""

    def observe(self, ctx, event: int, ended) -> None:
        if event < codec.NOTE_OFF_OFFSET:
            self.note_on(ctx.step / codec.STEPS_PER_SECOND, ctx.velocity)


class FollowPulse:
    def __init__(self, strength: float = 0.9):
        if not 0 <= strength <= 1:
            raise SegueError(f"the pulse strength must be in 0..1, got {strength}")
        self.strength = strength
        self.landing = np.arange(1, codec.MAX_SHIFT_STEPS + 1) / codec.STEPS_PER_SECOND   # seconds each shift moves

    def attach(self, ctx) -> None:
        if ctx.pulse is None:
            ctx.pulse = PulseFollower()

    def steering(self, pulse: BeatTracker, now: float) -> float:
        """The strength this draw uses: 0 below CONFIDENCE_FLOOR, full from CONFIDENCE_FULL. The player's pulse is
        not judged stale here: an answer keeps it however long the player rests."""
        pulse.flush(now)                  # the last chord is complete once its window has passed (same result later)
        confidence = pulse.confidence()
        sure = (confidence - CONFIDENCE_FLOOR) / (CONFIDENCE_FULL - CONFIDENCE_FLOOR)
        return self.strength * min(max(sure, 0.0), 1.0)

    def shape(self, probs: np.ndarray, ctx) -> np.ndarray:
        if self.strength <= 0:
            return probs
        now = ctx.step / codec.STEPS_PER_SECOND
        strength = self.steering(ctx.pulse, now)
        shifts = probs[codec.TIME_SHIFTS]
        mass = shifts.sum()
        if strength <= 0 or mass <= 0:
            return probs
        weighted = shifts * ((1.0 - strength) + strength * grid(ctx.pulse, now + self.landing))
        total = weighted.sum()
        if total > 0:
            np.multiply(weighted, mass / total, out=shifts)
        return probs


def grid(pulse: BeatTracker, times: np.ndarray) -> np.ndarray:
    """0..1 per time: how near it lies to a point of the tracked grid, by that point's metrical weight."""
    beats = (times - pulse.anchor) / pulse.period
    best = np.zeros_like(times)
    for subdivision, weight in GRID_LEVELS:
        position = beats * subdivision
        off = np.abs(position - np.round(position)) * pulse.period / subdivision     # seconds to its nearest point
        np.maximum(best, weight * np.exp(-0.5 * (off / GRID_WIDTH_S) ** 2), out=best)
    return best
