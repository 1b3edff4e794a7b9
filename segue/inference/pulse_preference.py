"""FollowPulse: TIME_SHIFT draws nudged so that what follows them falls on the tracked pulse's grid.

A decoding preference (the sampling loop's shaper protocol, docs/design.md), built by grammar.build_shapers beside
the key and dynamics preferences. It attaches a causal beat tracker (segue.rhythm.beat_tracker) to the live
context's pulse slot (`ctx.pulse`), which hears the player's (or a primer's) note-ons on the context's own clock
(steps of 10 ms), so an answer keeps the pulse it was given however long it plays, and offline generate, the
continuation test and the daemon hear the same pulse from the same events.

At each draw, each TIME_SHIFT's chance moves to the shift that lands on the grid point nearest where it would land:
the grid is the player's own rhythm in the tracked beat (segue.rhythm.rhythm_grid: the beat and its halves, where a
listener expects an answer's notes, and the other points where the player's last phrase struck, over the cycle at
which its notes repeat most clearly); a shift that lands nearer the point at or before now (a release, an ornament
within one slot of the grid) stays as it is. With s the strength, (1 - s) of each shift's chance stays where the
model put it and s moves. A NOTE_ON keeps (1 - s) + s * w * near(now) of its chance (near: a Gaussian of
GRID_WIDTH_S around the nearest point; w: that point's weight, how often the player strikes there against the other
points): off the grid or at a point the player seldom uses the rest becomes the shift to the next point, so a note
the model wants now waits for the grid rather than disappearing; at a point the player strikes most (w > 1) the
note-on gains, its share taken from everything else, so the answer's notes gather where the player's did and its
rhythm repeats at the player's cycle. (Every point at weight 1 made an even run of half beats, whose dominant period
fell on any multiple of the spacing: MODEL.md, session 17.) The grid's points sway from the player's steady beat as
far as the player's chords drift from it, at most `sway_ms` (SD, drifting over about a second:
segue.rhythm.rhythm_grid.Sway), as a pianist's beat breathes: an answer exactly on a metronome's grid repeated as
strongly at two or three beats as at one, and its own tempo was heard at any of them (MODEL.md, session 22). A note
within CHORD_WINDOW_S of the chord segue has just begun is judged where that chord began: the model learnt the 10-40
ms a pianist spreads a chord over, and judging each of its notes on its own cost the steered answers 15% of their
notes (MODEL.md, session 19). Moving a shift to the *nearest* point, not re-weighting shifts toward strong beats,
keeps the time the model lets pass at its scale, so an answer keeps its pace (a re-weighting pulled short shifts
toward far beats and halved the notes per answer). It yields to the session memory as the grammar's other
preferences do (grammar.YieldToMemory): where the memory is confident it replays the player's own rhythm in the
player's own timing, which keeps their tempo as a pianist's continuation does, where holding the memory's draws to
the grid made answers repeat at two to four beats more than at the player's (MODEL.md, session 19).

While it steers, the time shifts are also drawn cooler (`timing_temperature`: their block of the distribution
raised to 1/T and given back its mass, so the odds of moving time against playing a note stay the model's): the
network's own timing is loose at temperature 1 (alone it keeps no pulse of a recorded pianist), and a cooler draw
of the time it lets pass keeps the pulse it was given (MODEL.md, session 15).

Below CONFIDENCE_FLOOR it changes nothing, unless the player's notes repeat clearly at the tracked beat (the
tracker's clarity at CLARITY_FLOOR or more): a pianist's rubato keeps the confidence, which asks how well each chord
was predicted, low where a listener still hears the beat. A player without a pulse passes neither and gets exactly
the draws segue made before it. From a floor on it steers at full strength: the confidence floor is where the turn
policy starts an answer on the player's beat, and an answer that starts on a beat keeps that grid; on clarity alone
the answer starts at once, as before, and its later notes keep the player's grid. Steering in proportion to the
confidence above the floor steered fast tempi weakly, since the confidence measures the player's jitter in parts of
a beat. The measurements behind each choice are in segue/models/MODEL.md (the pulse's first, second and third
passes).

In the daemon the grid is the turn policy's tracker moved onto the answer's own clock (daemon/generator.py
`_keep_pulse`), so an answer that waits for the player's beat starts on a point of this grid and its first note
never waits.
"""
from __future__ import annotations

import numpy as np

from segue.codec import codec
from segue.errors import SegueError
from segue.inference.live_context import PLAYER
from segue.rhythm.beat_tracker import CHORD_WINDOW_S, BeatTracker
from segue.rhythm.rhythm_grid import MAX_SWAY_MS, RhythmGrid, rhythm_grid

GRID_WIDTH_S = 0.015           # a note-on this far (SD) from a grid point is near it (a pianist's jitter: 10-20 ms)
HALF_STEP_S = 0.5 / codec.STEPS_PER_SECOND   # slack for the 10 ms steps: a point within it of now is where we are
CONFIDENCE_FLOOR = 0.3         # the tracker's confidence from which the pulse steers, and an answer waits for the
                               # beat (daemon/policy.py). bench/beat_tracker.py: free playing passes it at 2-5% of
                               # its notes, a steady 2-bar phrase ends at 0.4-0.65
CLARITY_FLOOR = 0.2            # ... or the clarity of the player's notes at the tracked beat, from which it steers too
                               # (a pianist's rubato). Lower steers more pianists and a few more free players: on
                               # hannds train primers 0.3 steers 55% / 2.9% of them, 0.2 65% / 5.0% (MODEL.md,
                               # sessions 16, 18 and 22); the confidence's own floor costs free players far more


class PulseFollower(BeatTracker):
    """The beat tracker as a follower of the live context: the player's (or a primer's) note-ons at the context's
    step, with their velocity. Not segue's own: an answer that drifted off the beat would talk the tracker out of
    the player's pulse (measured: with its own notes heard, the preference steered only 30-55% of an answer's draws
    and put no more onsets on the grid than without it). It also knows whether segue has struck a note since the
    player's last one (`answered`): an answer's first note starts where the answer does, never held for the grid."""

    answered = False
    chord_start: float | None = None  # when segue's chord of the moment began (None: segue has struck nothing)
    _grid: tuple | None = None       # (what it was heard from, the RhythmGrid)

    def observe(self, ctx, event: int, ended) -> None:
        if event < codec.NOTE_OFF_OFFSET:
            now = ctx.step / codec.STEPS_PER_SECOND
            self.answered = ctx.by != PLAYER
            if not self.answered:
                self.note_on(now, ctx.velocity)
                self.chord_start = None
            elif self.chord_start is None or now - self.chord_start > CHORD_WINDOW_S:
                self.chord_start = now

    def moved(self, offset: float) -> "PulseFollower":
        other = super().moved(offset)
        if other.chord_start is not None:
            other.chord_start -= offset
        return other

    def struck_at(self, now: float) -> float:
        """Where a note-on at `now` is judged on the grid: where segue's chord began if `now` is within
        CHORD_WINDOW_S of it (a pianist spreads a chord's notes over 10-40 ms, and the model learnt that spread: the
        chord was judged when it began), else `now`."""
        if self.chord_start is not None and now - self.chord_start <= CHORD_WINDOW_S:
            return self.chord_start
        return now

    def grid(self, sway: float = 0.0) -> RhythmGrid:
        """The player's rhythm inside the tracked beat (segue.rhythm.rhythm_grid), its points swaying as the
        player's drift, by at most `sway` seconds (SD; 0: on the steady beat): heard once per note and grid, read per
        draw."""
        key = (self.note_count, self.period, self.anchor, sway)
        if self._grid is None or self._grid[0] != key:
            self._grid = (key, rhythm_grid(self.phrase_notes(), self.anchor, self.period, sway))
        return self._grid[1]


class FollowPulse:
    def __init__(self, strength: float = 0.9, timing_temperature: float = 1.0, sway_ms: float = 0.0):
        if not 0 <= strength <= 1:
            raise SegueError(f"the pulse strength must be in 0..1, got {strength}")
        if not 0 < timing_temperature <= 1:
            raise SegueError(f"the pulse's timing temperature must be in (0, 1], got {timing_temperature}")
        if not 0 <= sway_ms <= MAX_SWAY_MS:
            raise SegueError(f"the pulse's sway must be in 0..{MAX_SWAY_MS:g} ms, got {sway_ms}")
        self.strength = strength
        self.sway = sway_ms / 1000.0
        self.cooling = 1.0 / timing_temperature
        self.landing = np.arange(1, codec.MAX_SHIFT_STEPS + 1) / codec.STEPS_PER_SECOND   # seconds each shift moves

    def attach(self, ctx) -> None:
        if ctx.pulse is None:
            ctx.pulse = PulseFollower()

    def steering(self, pulse: BeatTracker, now: float) -> float:
        """The strength this draw uses: full from CONFIDENCE_FLOOR or CLARITY_FLOOR on, else 0. The player's pulse
        is not judged stale here: an answer keeps it however long the player rests."""
        pulse.flush(now)                  # the last chord is complete once its window has passed (same result later)
        return self.strength if steers(pulse) else 0.0

    def shape(self, probs: np.ndarray, ctx) -> np.ndarray:
        if self.strength <= 0:
            return probs
        now = ctx.step / codec.STEPS_PER_SECOND
        strength = self.steering(ctx.pulse, now)
        shifts = probs[codec.TIME_SHIFTS]
        if strength <= 0 or shifts.sum() <= 0:
            return probs
        grid = ctx.pulse.grid(self.sway)
        ahead = grid.next_point(now, HALF_STEP_S) - now                  # seconds to the next point
        # A note the model wants off the grid waits for the next point: (1 - s) + s * w * near(now) of its chance
        # stays (w: how often the player strikes the nearest point), the rest becomes the shift there. An answer's
        # first note never waits: where an answer starts is the turn policy's choice (the player's beat, or at once).
        ons = probs[codec.NOTE_ONS]
        off, weight = 0.0, 1.0
        if ctx.pulse.answered:
            struck = ctx.pulse.struck_at(now)
            point, weight = grid.point_at(struck)
            off = abs(struck - point)
        keep = (1.0 - strength) + strength * weight * float(np.exp(-0.5 * (off / GRID_WIDTH_S) ** 2))
        deferred = ons.sum() * max(1.0 - keep, 0.0)
        ons *= keep
        moved = np.bincount(self.targets(now, grid), weights=shifts, minlength=codec.MAX_SHIFT_STEPS)
        to_next = min(max(int(round(ahead * codec.STEPS_PER_SECOND)), 1), codec.MAX_SHIFT_STEPS) - 1
        moved[to_next] += deferred / strength
        shifts *= 1.0 - strength
        shifts += strength * moved
        if self.cooling != 1.0:
            total = shifts.sum()
            shifts **= self.cooling
            shifts *= total / shifts.sum()
        if keep > 1.0:                   # the note-on gained: its share comes from everything else
            probs /= probs.sum()
        return probs

    def targets(self, now: float, grid: RhythmGrid) -> np.ndarray:
        """Per shift (index s - 1): the index of the shift it becomes, to the grid point nearest where it lands.
        A shift landing nearer to a point at or before now (a note's release, an ornament within one slot of the
        grid) stays as it is; one that would land beyond the longest shift goes to the last point within reach."""
        points = grid.nearest(now + self.landing)
        steps = np.round((points - now) * codec.STEPS_PER_SECOND).astype(np.int64)
        last = int(round((grid.last_point(now + self.landing[-1]) - now) * codec.STEPS_PER_SECOND))
        steps = np.where(steps > codec.MAX_SHIFT_STEPS, last, steps)
        own = np.arange(1, codec.MAX_SHIFT_STEPS + 1)
        return np.where(steps >= 1, np.minimum(steps, codec.MAX_SHIFT_STEPS), own) - 1


def steers(pulse: BeatTracker) -> bool:
    """Whether the pulse preference keeps this pulse: the tracker is sure of it, or the player's notes repeat
    clearly at its beat. As of its last chord taken in: an answer keeps the beat however long the player rests."""
    return pulse.confidence() >= CONFIDENCE_FLOOR or pulse.clarity() >= CLARITY_FLOOR
