"""FollowPulse: TIME_SHIFT draws nudged so that what follows them falls on the tracked pulse's grid.

A decoding preference (the sampling loop's shaper protocol, docs/design.md), built by grammar.build_shapers beside
the key and dynamics preferences. It attaches a causal beat tracker (segue.rhythm.beat_tracker) to the live
context's pulse slot (`ctx.pulse`), which hears the player's (or a primer's) note-ons on the context's own clock
(steps of 10 ms), so an answer keeps the pulse it was given however long it plays, and offline generate, the
continuation test and the daemon hear the same pulse from the same events.

At each draw, every TIME_SHIFT of s steps is weighed by where it lands, now + s, on the tracked grid: the beat and
its 2-, 3- and 4-part subdivisions, each level a Gaussian bump of GRID_WIDTH_S around its points, weighted by its
place in the metrical hierarchy (beat > half > quarter > third: Palmer & Krumhansl 1990's listeners' ratings of
metrical positions in 4/4; Lerdahl & Jackendoff's metrical preference rules). weight = (1 - s) + s * bump, with s
the strength times how sure the tracker is. A NOTE_ON off the grid keeps (1 - s) + s * bump(now) of its chance, the
rest going to time passing, so a note the model wants now waits for the next grid point rather than disappearing.
(Measured offline on a 2-bar player at 80/120/160 bpm, shipped model, 8 answers each: answer onsets within 40 ms
of the player's beats and halves 0.34/0.35/0.56 without the preference; with the shifts alone 0.49/0.36/0.56;
with the note-on deferral and this hierarchy 0.61/0.45/0.53 at strength 0.9.) The shifts keep their total mass (plus what deferred notes hand them);
the re-weighting is multiplicative, so a model that is sure of its own timing (one shift carrying most of
the mass) keeps it, as it keeps its notes under the key preference. Under the session memory it yields by the
memory's weight (grammar.YieldToMemory), like the other preferences. Below CONFIDENCE_FLOOR it changes nothing: a
player without a pulse gets exactly the draws segue made before it.
"""
from __future__ import annotations

import numpy as np

from segue.codec import codec
from segue.errors import SegueError
from segue.inference.live_context import PLAYER
from segue.rhythm.beat_tracker import BeatTracker

GRID_LEVELS = ((1, 1.0), (2, 0.7), (4, 0.25), (3, 0.2))    # (subdivision, weight): the metrical hierarchy
GRID_WIDTH_S = 0.015           # SD of a grid point's bump: a pianist's onset jitter is ~10-20 ms (Repp 1995)
CONFIDENCE_FLOOR = 0.3         # the tracker's confidence below which the pulse steers nothing, nor waits for a beat
CONFIDENCE_FULL = 0.5          # (daemon/policy.py) ... and from which it steers fully. bench/beat_tracker.py: free
                               # playing passes 0.3 at 2-5% of its notes, a steady 2-bar phrase ends at 0.4-0.65


class PulseFollower(BeatTracker):
    """The beat tracker as a follower of the live context: the player's (or a primer's) note-ons at the context's
    step, with their velocity. Not segue's own: an answer that drifted off the beat would talk the tracker out of
    the player's pulse (measured: with its own notes heard, the preference steered only 30-55% of an answer's draws
    and put no more onsets on the grid than without it)."""

    def observe(self, ctx, event: int, ended) -> None:
        if event < codec.NOTE_OFF_OFFSET and ctx.by == PLAYER:
            self.note_on(ctx.step / codec.STEPS_PER_SECOND, ctx.velocity)


class FollowPulse:
    def __init__(self, strength: float = 0.9):
        if not 0 <= strength <= 1:
            raise SegueError(f"the pulse strength must be in 0..1, got {strength}")
        self.strength = strength
        self.landing = np.arange(1, codec.MAX_SHIFT_STEPS + 1) / codec.STEPS_PER_SECOND   # seconds each shift moves
        self._table: GridTable | None = None

    def attach(self, ctx) -> None:
        if ctx.pulse is None:
            ctx.pulse = PulseFollower()

    def table(self, pulse: BeatTracker) -> "GridTable":
        """The grid over one beat, made again only when the pulse moved (a player's chord), not per draw."""
        if self._table is None or self._table.pulse != (pulse.period, pulse.anchor):
            self._table = GridTable(pulse)
        return self._table

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
        # A note begun off the grid waits for it: NOTE_ONs keep (1 - s) + s * grid(now) of their chance, the rest
        # goes to time passing; the shifts are weighed by where they land.
        ons = probs[codec.NOTE_ONS]
        keep = (1.0 - strength) + strength * float(self.table(ctx.pulse).at(np.array([now]))[0])
        deferred = ons.sum() * (1.0 - keep)
        ons *= keep
        weighted = shifts * ((1.0 - strength) + strength * self.table(ctx.pulse).at(now + self.landing))
        total = weighted.sum()
        if total > 0:
            np.multiply(weighted, (mass + deferred) / total, out=shifts)
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


class GridTable:
    """grid() over one beat of a pulse at TABLE_S resolution: a draw looks its 100 landing times up."""

    TABLE_S = 0.001

    def __init__(self, pulse: BeatTracker):
        self.pulse = (pulse.period, pulse.anchor)
        self.size = max(int(round(pulse.period / self.TABLE_S)), 1)
        self.values = grid(pulse, pulse.anchor + np.arange(self.size) * pulse.period / self.size)

    def at(self, times: np.ndarray) -> np.ndarray:
        period, anchor = self.pulse
        index = (((times - anchor) / period) % 1.0 * self.size).astype(np.int64)
        return self.values[np.minimum(index, self.size - 1)]
