"""The decoding grammar: shapers (segue.inference.sampling_loop's protocol) that keep sampled events musically well formed.

  NoteOffMask      a NOTE_OFF only for a sounding pitch (optionally no NOTE_ON for one already sounding)
  ReleaseHazard    old notes become ever likelier to be released; none outlives the note cap unless the pedal holds it
  FollowDynamics   VELOCITY events drawn toward the context's recent level (what the player has been playing)
  PinnedKey        a soft scale mask on NOTE_ONs for a pinned key ("D minor")

Each takes a normalised temperature-1 [388] distribution and returns one (written in place: the loop owns the
array, and this runs once per generated event in the daemon). The dynamics and key shapers only re-weight within
their event kind, keeping its share, so they never change how busy the music is.
`build_shapers(GrammarSettings)` gives the list generate, continuations and the daemon use.

Measured (2026-12, shipped model, 40 eval passages of data/default, 10 s primer, temperature 1, no cap).
`segue evaluate --data data/default --continuations`, model -> model + grammar [real continuation]:
  key r 0.648 -> 0.718 [0.763], polyphony 6.04 -> 3.96 [3.84], notes >= 2 s 12.2% -> 3.3% [1.4%],
  >= 5 s 3.8% -> 0.0% [0.1%]; the cost: IOI overlap with the real continuation 0.712 -> 0.667.
The same passages played as performances first (training.rendering), 3 seeds: > 5 s 9.9% -> 0.0% [0.15%],
> 2 s 17.3% -> 6.8% [0.8%], polyphony 7.26 -> 4.58 [4.18], key r 0.49 -> 0.63 [0.71], answers more than 15
velocity units from the primer's median 41% -> 20% of passages. A pinned key 3 semitones off the primer's, at
strength 0 / 0.9 / 1: 11.8% / 1.3% / 0% out-of-scale notes.
Shaper by shaper (same test): the note-off mask halves long notes and brings polyphony to the real music's;
no-restrike adds key fit; the hazard ends > 5 s notes and also lifts key fit (a linear ramp beat a quadratic one);
dynamics halves the far-off answers. Scoring the eval split (live protocol) with the note-off mask: 1.5495 ->
1.4914 nats/event; no-restrike and the hazard rule out events real music has (unisons of merged parts, notes held
past the cap), so they are for generation only.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from segue.codec import codec
from segue.config import GrammarSettings
from segue.errors import SegueError

_ONS = slice(codec.NOTE_ON_OFFSET, codec.NOTE_OFF_OFFSET)
_OFFS = slice(codec.NOTE_OFF_OFFSET, codec.TIME_SHIFT_OFFSET)
_VELOCITIES = slice(codec.VELOCITY_OFFSET, codec.NUM_CLASSES)
_BINS = np.arange(1, codec.NUM_VELOCITY_BINS + 1, dtype=np.float64)


def _renormalised(probs: np.ndarray) -> np.ndarray:
    total = probs.sum()
    if total > 0:
        probs /= total
    return probs


def _reweight(probs: np.ndarray, part: slice, weights: np.ndarray) -> np.ndarray:
    """Re-weight the classes of `part` in place, keeping their total mass."""
    values = probs[part]
    mass, weighted = values.sum(), values * weights
    total = weighted.sum()
    if mass > 0 and total > 0:
        np.multiply(weighted, mass / total, out=values)
    return probs


class NoteOffMask:
    """A NOTE_OFF of a silent pitch decodes to nothing but still moves the model: rule it out. With
    `no_restrike`, a NOTE_ON of a sounding pitch (which ends it and strikes again) is ruled out too.

    "Sounding" counts note-ons against note-offs, as the encoder writes them: merged parts in unison give
    ON 60, ON 60, OFF 60, OFF 60, and the second OFF is real data, so it must stay possible when scoring."""

    def __init__(self, no_restrike: bool = False):
        self.no_restrike = no_restrike
        self.reset()

    def reset(self) -> None:
        self.open = np.zeros(128, dtype=np.int64)       # pitch -> note-ons not yet matched by a note-off
        self.sounding = np.zeros(128, dtype=bool)

    def observe(self, event: int) -> None:
        if event < codec.NOTE_OFF_OFFSET:
            self.open[event] += 1
            self.sounding[event] = True
        elif event < codec.TIME_SHIFT_OFFSET:
            pitch = event - codec.NOTE_OFF_OFFSET
            if self.open[pitch]:
                self.open[pitch] -= 1
                self.sounding[pitch] = self.open[pitch] > 0

    def shape(self, probs: np.ndarray) -> np.ndarray:
        probs[_OFFS] *= self.sounding
        if self.no_restrike:
            probs[_ONS] *= ~self.sounding
        return _renormalised(probs)

    def snapshot(self):
        return self.open.copy()

    def restore(self, state) -> None:
        self.open = state.copy()
        self.sounding = self.open > 0


class ReleaseHazard:
    """No note sounds past `cap_s` unless the pedal holds it; from `start_s` on, its release gets likelier.

    A note ages only when time passes, so the hazard takes its mass from the TIME_SHIFTs: before time moves on,
    a note of age a is released with probability (a - start) / (cap - start) (the oldest note's weight; the
    old notes share it by weight). A shift that would carry a note past the cap is shortened to end there, and at
    the cap only the release of the notes due is left. `pedal_down` (the player's sustain, set by the daemon)
    suspends all of it; when the pedal lifts, notes past the cap are released at once. A start at or past the cap
    leaves only the cap.
    """

    # The hazard grows linearly with the note's age past the start (measured against a quadratic ramp: fewer
    # notes over 2 s, polyphony nearer the real music's, the same key fit).
    EXPONENT = 1

    def __init__(self, start_s: float = 2.0, cap_s: float = 5.0):
        if start_s < 0 or cap_s <= 0:
            raise SegueError(f"the release hazard needs start >= 0 ({start_s}) and cap > 0 ({cap_s})")
        self.cap = max(1, int(round(cap_s * codec.STEPS_PER_SECOND)))
        self.start = min(int(round(start_s * codec.STEPS_PER_SECOND)), self.cap)
        self.pedal_down = False
        self.cursor = codec.EventCursor()

    def reset(self) -> None:
        self.cursor = codec.EventCursor()

    def observe(self, event: int) -> None:
        self.cursor.push(event)

    def shape(self, probs: np.ndarray) -> np.ndarray:
        sounding = self.cursor.sounding
        if self.pedal_down or not sounding:
            return probs
        oldest = self.cursor.step - min(start for start, _ in sounding.values())
        if oldest <= self.start and oldest + codec.MAX_SHIFT_STEPS <= self.cap:
            return probs                                 # the common case, kept cheap: nothing is old yet
        pitches = np.fromiter(sounding, dtype=np.int64, count=len(sounding))
        ages = self.cursor.step - np.fromiter((start for start, _ in sounding.values()), dtype=np.int64,
                                              count=len(sounding))
        left = self.cap - int(ages.max())
        if left <= 0:                                    # due now: nothing else may happen first
            due = codec.NOTE_OFF_OFFSET + pitches[ages >= self.cap]
            forced = np.zeros_like(probs)
            forced[due] = probs[due] + 1e-12             # the model's own preference among them, never zero mass
            return forced / forced.sum()
        out = probs
        if left < codec.MAX_SHIFT_STEPS:                 # the longest shift allowed ends exactly at the cap
            too_long = slice(codec.TIME_SHIFT_OFFSET + left, codec.VELOCITY_OFFSET)
            out[codec.time_shift(left)] += out[too_long].sum()
            out[too_long] = 0.0
        old = ages > self.start
        if old.any() and self.start < self.cap:
            weights = (ages[old] - self.start) / (self.cap - self.start)
            hazard = float(weights.max()) ** self.EXPONENT
            shifts = out[codec.TIME_SHIFT_OFFSET:codec.VELOCITY_OFFSET]
            moved = hazard * shifts.sum()
            shifts *= 1.0 - hazard
            out[codec.NOTE_OFF_OFFSET + pitches[old]] += moved * weights / weights.sum()
        return out

    def snapshot(self):
        return self.cursor.copy()

    def restore(self, state) -> None:
        self.cursor = state.copy()


class FollowDynamics:
    """VELOCITY events drawn toward the recent level: the mean velocity bin of the last `memory` note-ons in the
    context (the player's and the answer's own, so the answer keeps the level it was given), with a Gaussian of
    `spread` MIDI velocity units around it. Re-weights within the VELOCITY events only."""

    def __init__(self, spread: float = 12.0, memory: int = 16):
        self.width = spread / codec.VELOCITY_BIN_SIZE      # in bins
        self.recent: deque[int] = deque(maxlen=memory)
        self.velocity_bin = 0
        self._weights: tuple[float, np.ndarray] | None = None    # (level, kernel): the level moves per note-on

    def reset(self) -> None:
        self.recent.clear()
        self.velocity_bin = 0

    def observe(self, event: int) -> None:
        if event >= codec.VELOCITY_OFFSET:
            self.velocity_bin = event - codec.VELOCITY_OFFSET + 1
        elif event < codec.NOTE_OFF_OFFSET:
            self.recent.append(self.velocity_bin or codec.velocity_to_bin(codec.DEFAULT_VELOCITY))

    def level(self) -> float | None:
        """The velocity bin answers are drawn toward (None before any note)."""
        return sum(self.recent) / len(self.recent) if self.recent else None

    def shape(self, probs: np.ndarray) -> np.ndarray:
        level = self.level()
        if level is None:
            return probs
        if self._weights is None or self._weights[0] != level:
            self._weights = level, np.exp(-0.5 * ((_BINS - level) / self.width) ** 2)
        return _reweight(probs, _VELOCITIES, self._weights[1])

    def snapshot(self):
        return tuple(self.recent), self.velocity_bin

    def restore(self, state) -> None:
        recent, self.velocity_bin = state
        self.recent = deque(recent, maxlen=self.recent.maxlen)


class PinnedKey:
    """NOTE_ONs outside the pinned key's scale keep (1 - strength) of their probability (1 = never), the mass
    going to the scale's pitches: the key holds however far the model's own conditioning drifts."""

    def __init__(self, key: str, strength: float = 0.9):
        from segue.codec.controls import key_histogram

        if not 0 <= strength <= 1:
            raise SegueError(f"key strength must be in 0..1, got {strength}")
        in_scale = np.tile(key_histogram(key) > 0, 11)[:128]
        self.weights = np.where(in_scale, 1.0, 1.0 - strength)

    def reset(self) -> None:
        pass

    def observe(self, event: int) -> None:
        pass

    def shape(self, probs: np.ndarray) -> np.ndarray:
        return _reweight(probs, _ONS, self.weights)


def build_shapers(settings: GrammarSettings, key: str | None = None) -> list:
    """The shapers `settings` turn on, in the order they must run; `key` pins a key ("D minor"; None: none)."""
    shapers: list = []
    if key:
        shapers.append(PinnedKey(key, settings.key_strength))
    if settings.follow_dynamics:
        shapers.append(FollowDynamics(settings.dynamics_spread))
    if settings.release_start_seconds >= 0:
        shapers.append(ReleaseHazard(settings.release_start_seconds, settings.note_cap_seconds))
    if settings.note_off_mask:                 # last: whatever the others moved, a silent pitch is never released
        shapers.append(NoteOffMask(settings.no_restrike))
    return shapers
