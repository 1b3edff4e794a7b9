"""The player's rhythm inside the beat: at which points of the tracked beat their notes fall, and how often.

An answer held to the beat and its halves with a note on nearly every point is an even run: it repeats at every
multiple of its spacing, so its own dominant period fell on half a beat, a beat or one and a half almost at random
(MODEL.md, the player's pulse, session 17). Real music repeats at its pulse because its rhythm has a shape that
recurs: more notes on the strong points than on the weak ones, sixteenths or triplets where the player plays them.
Palmer & Krumhansl (1990, "Mental representations for musical meter") found that how often notes fall on each
position of the bar follows the metrical hierarchy listeners hear; this reads that frequency off the player's own
last phrase, so an answer can keep it.

- The cycle: the rhythm's shape repeats over half a beat, a beat or two beats (CYCLES, of the tracked beat): the one
  at which the envelope of the player's notes repeats most clearly (segue.rhythm.onset_envelope, the measure the
  tracker's clarity uses). A player running sixteenths under a slow tracked beat repeats every half beat; one whose
  bar has a strong and a weak beat, every two.
- The points: the player's notes of the phrase (BeatTracker.phrase_notes) placed in the cycle at BINS_PER_BEAT per
  beat (halves, thirds, quarters and sixths fall on bins), each split between its two nearest bins, plus PRIOR_NOTES
  spread over the beats and halves of the cycle (the grid segue used before it heard the player: with few notes
  it is that grid). The points are the beats and halves of the cycle (where a listener expects notes; a player of
  quarter notes still gets an answer that may move in eighths, seldom) and the bins that are local peaks with
  POINT_SHARE of a uniform bin's share or more; each bin's notes count for the point nearest it (a pianist's jitter
  spreads one position's notes over neighbours).
- The weights: each point's share of the notes over the points' mean share, at most MAX_WEIGHT, to the power
  WEIGHT_POWER: above 1 where the player strikes most, below where they seldom do, 1 everywhere for an even player.
  Relative to the mean, not to the strongest point: weights of at most 1 only held notes back, and cost a sixth of
  an answer's notes (MODEL.md, the player's pulse, session 18, where each part is measured).
- The sway (Sway): the points drift around the player's steady beat over about SWAY_TIME_S, from nothing at the
  player's last note, by as much as the player's own notes drift off that beat together (timing_drift), at most
  config.yaml's `sampling.pulse_sway_ms`. A pianist's beat breathes (expressive timing: the tempo bends over a
  phrase); a sequencer's, a score's and a steady player's with a pianist's jitter do not. An answer exactly on a
  steady grid repeats as strongly at two or three beats as at one, where a pianist's fades at the longer lags, so its
  own pulse was heard at any of them (MODEL.md, the player's pulse, sessions 18 and 22). The drift is reproducible
  from the player's phrase (the same phrase, the same sway, on any clock) and small against the 40 ms a listener
  still hears as on the beat.
"""
from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from dataclasses import dataclass, field, replace

import numpy as np

from segue.rhythm.beat_tracker import CHORD_WINDOW_S, CLARITY_MIN_NOTES
from segue.rhythm.onset_envelope import FRAME_S, autocorrelation, envelope

CYCLES = (0.5, 1.0, 2.0)  # the rhythm's cycle, in tracked beats: the one at which the player's notes repeat most
BINS_PER_BEAT = 12        # a beat in twelfths: its halves, thirds, quarters and sixths each fall on a bin
PRIOR_NOTES = 2.0         # pseudo-notes over the cycle's beats and halves (the grid before the player says otherwise)
POINT_SHARE = 0.7         # a local peak with this part of a uniform bin's share of the notes or more is a point
MAX_WEIGHT = 2.0          # a point's weight: its share over the points' mean share, at most this ...
WEIGHT_POWER = 0.5        # ... to this power (1 did within noise as well: MODEL.md, session 18)
SWAY_TIME_S = 1.0         # the sway drifts over about this long (the time constant of its spectrum) ...
MAX_SWAY_MS = 40.0        # ... by at most this much (SD): notes 40 ms off a beat are no longer heard on it
SWAY_FREQUENCIES_HZ = np.geomspace(0.04, 2.0, 8)   # the drift as a sum of slow sinusoids of these frequencies
TABLE_S, TABLE_STEP_S = 30.0, 0.02                 # the sway is tabled this far past the player's last note, this fine


class Sway:
    """A slow random offset (seconds) of time t: sum_k a_k (sin(2 pi f_k (t - start) + phi_k) - sin(phi_k)), 0 at
    `start`. The amplitudes follow the spectrum of a drift with time constant SWAY_TIME_S (1 / (1 + (2 pi f T)^2),
    over log-spaced frequencies), scaled to an SD of `sd` seconds; the phases come from `seed`."""

    def __init__(self, start: float, seed: int, sd: float):
        f = SWAY_FREQUENCIES_HZ
        power = f / (1.0 + (2 * np.pi * f * SWAY_TIME_S) ** 2)      # the spectrum times the bins' width (log-spaced)
        self.amplitudes = np.sqrt(2.0 * power / power.sum()) * sd
        self.omegas = 2 * np.pi * f
        self.phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(f))
        self.start = start
        self.origin = float(self.amplitudes @ np.sin(self.phases))
        self._terms = tuple(zip(self.amplitudes.tolist(), self.omegas.tolist(), self.phases.tolist()))
        # Laid out once (per player note) at TABLE_STEP_S for the next TABLE_S: read for a hundred times per draw,
        # where the sinusoids themselves cost twice as much (interpolation error < 0.05 ms at 2 Hz).
        self._table = self._direct(start + np.arange(0.0, TABLE_S + TABLE_STEP_S / 2, TABLE_STEP_S))

    @classmethod
    def of_phrase(cls, times: np.ndarray, sd: float) -> "Sway":
        """The sway (SD `sd` seconds) an answer to these note-on times keeps: from their last note, seeded by their
        rhythm (their gaps in 10 ms steps), so a phrase moved to another clock sways the same."""
        times = np.sort(np.asarray(times, dtype=np.float64))
        gaps = np.round(np.diff(times) * 100).astype(np.int32)
        return cls(float(times[-1]) if len(times) else 0.0, zlib.crc32(gaps.tobytes()), sd)

    def at(self, t: float) -> float:
        x = t - self.start
        total = -self.origin
        for a, w, p in self._terms:            # a plain loop: read several times per draw
            total += a * math.sin(w * x + p)
        return total

    def of(self, times: np.ndarray) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64)
        position = (times - self.start) / TABLE_STEP_S
        if times.size and position.min() >= 0 and position.max() <= len(self._table) - 1:
            low = position.astype(np.int64)
            high = np.minimum(low + 1, len(self._table) - 1)
            return self._table[low] + (position - low) * (self._table[high] - self._table[low])
        return self._direct(times)

    def _direct(self, times: np.ndarray) -> np.ndarray:
        angles = np.multiply.outer(times - self.start, self.omegas)
        angles += self.phases
        return np.sin(angles, out=angles) @ self.amplitudes - self.origin


@dataclass(frozen=True)
class RhythmGrid:
    """Points at anchor + (n + phase) * cycle for every whole n and each of `phases` (sorted, in [0, 1)), each with
    the weight of the player's notes there (1 on average over the points). Read at every draw: the points of three
    turns of the cycle around any time are laid out once, as plain tuples for one time and arrays for many."""
    anchor: float
    cycle: float
    phases: np.ndarray
    weights: np.ndarray
    sway: Sway | None = None       # None: the points keep the steady beat
    _phases: tuple = field(init=False, repr=False)
    _around: tuple = field(init=False, repr=False)
    _around_array: np.ndarray = field(init=False, repr=False)
    _around_weights: tuple = field(init=False, repr=False)

    def __post_init__(self):
        around = np.concatenate([self.phases - 1.0, self.phases, self.phases + 1.0])
        object.__setattr__(self, "_phases", tuple(self.phases.tolist()))
        object.__setattr__(self, "_around", tuple(around.tolist()))
        object.__setattr__(self, "_around_array", around)
        object.__setattr__(self, "_around_weights", tuple(np.tile(self.weights, 3).tolist()))

    def next_point(self, t: float, slack: float = 0.0) -> float:
        """The first point strictly after t + slack."""
        turn, within = self._split(t + slack)
        i = bisect_right(self._phases, within)
        while self._nth(turn, i) <= t + slack:     # swayed to or before it (a point within a ms of it)
            i += 1
        return self._nth(turn, i)

    def last_point(self, t: float) -> float:
        """The last point at or before t (a point a rounding error after t counts as at t)."""
        turn, within = self._split(t)
        i = bisect_right(self._phases, within + 1e-9) - 1
        while self._nth(turn, i) > t + 1e-9:       # swayed past it
            i -= 1
        return self._nth(turn, i)

    def point_at(self, t: float) -> tuple[float, float]:
        """The point nearest t (seconds) and its weight."""
        turn, within = self._split(t)
        above = bisect_right(self._around, within)
        below = above - 1
        pick = below if within - self._around[below] <= self._around[above] - within else above
        return self._time(turn, self._around[pick]), self._around_weights[pick]

    def nearest(self, times: np.ndarray) -> np.ndarray:
        """The point nearest each time (seconds)."""
        times = np.asarray(times, dtype=np.float64)
        steady = times - self.sway.of(times) if self.sway is not None else times
        x = (steady - self.anchor) / self.cycle
        turn = np.floor(x)
        within = x - turn
        around = self._around_array
        above = np.searchsorted(around, within, side="right")
        nearer_below = within - around[above - 1] <= around[above] - within
        points = self.anchor + (turn + np.where(nearer_below, around[above - 1], around[above])) * self.cycle
        return points + self.sway.of(points) if self.sway is not None else points

    # A time is placed on the steady grid by taking its sway off (the sway changes by a few ms per beat, so the
    # point a time falls by is the one it would fall by without it), and a point is given its sway back.
    def _split(self, t: float) -> tuple[float, float]:
        steady = t - self.sway.at(t) if self.sway is not None else t
        x = (steady - self.anchor) / self.cycle
        turn = math.floor(x)
        return turn, x - turn

    def _nth(self, turn: int, i: int) -> float:
        """The time of the i-th point from the start of cycle `turn` (i past either end runs into the next cycles)."""
        return self._time(turn + i // len(self._phases), self._phases[i % len(self._phases)])

    def _time(self, turn: float, phase: float) -> float:
        point = self.anchor + (turn + phase) * self.cycle
        return point + self.sway.at(point) if self.sway is not None else point


def rhythm_grid(times: np.ndarray, anchor: float, period: float, sway: float = 0.0) -> RhythmGrid:
    """The grid of the player's notes at `times` (seconds, on the tracker's clock) in the tracked beat
    anchor + n * period, its points swaying as far as the player's chords drift off it (timing_drift), at most `sway`
    seconds (SD; 0: on the steady beat)."""
    times = np.asarray(times, dtype=np.float64)
    beats = _cycle(times, period)
    bins = int(round(BINS_PER_BEAT * beats))
    position = ((times - anchor) / (beats * period) * bins) % bins
    low = np.floor(position).astype(np.int64)
    upper = position - low
    counts = np.bincount(low % bins, 1.0 - upper, bins) + np.bincount((low + 1) % bins, upper, bins)
    halves = np.arange(0, bins, BINS_PER_BEAT // 2)
    counts[halves] += PRIOR_NOTES / len(halves)
    share = counts / counts.sum()
    peak = (share >= np.roll(share, 1)) & (share > np.roll(share, -1)) & (share >= POINT_SHARE / bins)
    peak[halves] = True                   # the beats and halves stay points: seldom used where the player never is
    points = np.flatnonzero(peak)
    index = np.arange(bins)
    apart = np.abs(index[:, None] - points[None, :])
    owner = np.argmin(np.minimum(apart, bins - apart), axis=1)
    mass = np.bincount(owner, share, len(points))
    weights = np.minimum(mass / mass.mean(), MAX_WEIGHT) ** WEIGHT_POWER
    steady = RhythmGrid(anchor, beats * period, points / bins, weights)
    sd = min(sway, timing_drift(times, steady)) if sway > 0 else 0.0
    return replace(steady, sway=Sway.of_phrase(times, sd)) if sd > 0 else steady


def timing_drift(times: np.ndarray, grid: RhythmGrid) -> float:
    """How far the player's chords drift from the grid's nearest points together (seconds, an SD): the square root
    of the covariance of successive chords' offsets. A drift (rubato: the beat bends over several notes) moves
    neighbours alike; jitter moves each note on its own and adds nothing to the covariance. A score played as
    written, a sequencer, or a steady player with a pianist's jitter gets 0."""
    times = np.sort(np.asarray(times, dtype=np.float64))
    chords = times[np.concatenate([[True], np.diff(times) > CHORD_WINDOW_S])] if len(times) else times
    if len(chords) < CLARITY_MIN_NOTES:
        return 0.0
    off = chords - grid.nearest(chords)
    off -= off.mean()
    return math.sqrt(max(float(np.mean(off[:-1] * off[1:])), 0.0))


def _cycle(times: np.ndarray, period: float) -> float:
    """The cycle (in beats) at which the envelope of the notes repeats most clearly; one beat for fewer notes than
    the tracker's clarity hears a pulse in."""
    if len(times) < CLARITY_MIN_NOTES:
        return 1.0
    start, end = float(times.min()), float(times.max()) + FRAME_S
    env = envelope(times - start, end - start)
    clear = np.array([autocorrelation(env, int(round(beats * period / FRAME_S))) for beats in CYCLES])
    if not np.isfinite(clear).any():      # a phrase shorter than every cycle
        return 1.0
    return CYCLES[int(np.nanargmax(clear))]
