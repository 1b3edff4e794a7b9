"""The decoding grammar: shapers (segue.inference.sampling_loop's protocol) that keep sampled events musically well formed.

  NoteOffMask      a NOTE_OFF only for a sounding pitch (optionally no NOTE_ON for one already sounding)
  ReleaseHazard    old notes become ever likelier to be released; none outlives the note cap unless the pedal holds it
  FollowDynamics   VELOCITY draws moved to the context's recent level and spread (what the player has been
                   playing), keeping the model's own shape
  PinnedKey        a soft scale mask on NOTE_ONs for a pinned key ("D minor")
  FollowKey        the same mask for the key the context has been playing, when no key is pinned, holding
                   out-of-scale notes to the share the player plays them
  FollowPulse      TIME_SHIFT draws toward the grid of the pulse the context has been playing, when it is sure of
                   one (segue/inference/pulse_preference.py)
  YieldToMemory    with session memory: these preferences step back by the memory's weight (the cap and the
                   note-off mask still hold)

Each takes a normalised temperature-1 [388] distribution and returns one (written in place: the loop owns the
array, and this runs once per generated event in the daemon). The dynamics and key shapers only re-weight within
their event kind, keeping its share, so they never change how busy the music is. Everything they follow is in the
past of the context (the player's notes and the answer's own).
`build_shapers(GrammarSettings)` gives the list generate, continuations and the daemon use. None keeps a cursor:
everything they follow is the sampling loop's LiveContext (segue.inference.live_context), which they read in
`shape(probs, ctx)`; a preference that follows something (the key, the dynamic level) attaches its follower to the
context in `attach(ctx)`. The measurements behind these rules and their settings: segue/models/MODEL.md,
"Decoding experiments".
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import replace

import numpy as np

from segue.codec import codec, keys
from segue.inference.grammar_settings import GrammarSettings
from segue.errors import SegueError
from segue.inference.live_context import DynamicsFollower, KeyFollower, LiveContext

_BINS = np.arange(1, codec.NUM_VELOCITY_BINS + 1, dtype=np.float64)
_BIN_SQUARES = _BINS ** 2


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

    "Sounding" counts note-ons against note-offs (the context's codec.OpenNotes): merged parts in unison give
    ON 60, ON 60, OFF 60, OFF 60, and the second OFF is real data, so it must stay possible when scoring."""

    def __init__(self, no_restrike: bool = False):
        self.no_restrike = no_restrike

    def shape(self, probs: np.ndarray, ctx: LiveContext) -> np.ndarray:
        probs[codec.NOTE_OFFS] *= ctx.open.sounding
        if self.no_restrike:
            probs[codec.NOTE_ONS] *= ~ctx.open.sounding
        return _renormalised(probs)


class ReleaseHazard:
    """No note sounds past the cap unless the pedal holds it; from the start age on, its release gets likelier.

    Before anything else happens, a note of age a is released with probability (a - start) / (cap - start) (the
    oldest note's weight; the old notes share it by weight); the rest of the distribution keeps the remaining mass,
    so the hazard makes no event but a release likelier. A shift that would carry a note past the cap is shortened
    to end there, and at the cap only the release of the notes due is left. The context's `pedal_down` (the
    player's sustain) suspends all of it; when the pedal lifts, notes past the cap are released at once. A start at
    or past the cap leaves only the cap.

    With `follow` (a quantile, e.g. 0.5), start and cap follow the note lengths the context has been playing (its
    `lengths`: the last notes that ended, pedal included, the player's and the answer's own): the hazard starts at
    that quantile of their lengths and the cap is CAP_FACTOR x the longest of them, within [MIN_START_S, start_s]
    and [start + 10 ms, cap_s]. Until FOLLOW_MIN_NOTES notes have ended, start_s and cap_s hold.
    """

    # The hazard grows linearly with the note's age past the start (measured against a quadratic ramp: fewer
    # notes over 2 s, polyphony nearer the real music's, the same key fit).
    EXPONENT = 1
    FOLLOW_MIN_NOTES = 8
    CAP_FACTOR = 1.5           # a note may outlast the longest recent one by half of it
    MIN_START_S = 0.2          # staccato contexts still let a note ring this long freely

    def __init__(self, start_s: float = 2.0, cap_s: float = 5.0, follow: float | None = None):
        if start_s < 0 or cap_s <= 0:
            raise SegueError(f"the release hazard needs start >= 0 ({start_s}) and cap > 0 ({cap_s})")
        if follow is not None and not 0 <= follow <= 1:
            raise SegueError(f"the release hazard's length quantile must be in 0..1, got {follow}")
        self.max_cap = max(1, int(round(cap_s * codec.STEPS_PER_SECOND)))
        self.max_start = min(int(round(start_s * codec.STEPS_PER_SECOND)), self.max_cap)
        self.min_start = min(int(round(self.MIN_START_S * codec.STEPS_PER_SECOND)), self.max_start)
        self.follow = follow

    def limits(self, ctx: LiveContext) -> tuple[int, int]:
        """(start, cap) in steps: fixed, or following the context's recent note lengths."""
        ranked = ctx.lengths.ranked
        if self.follow is None or len(ranked) < self.FOLLOW_MIN_NOTES:
            return self.max_start, self.max_cap
        start = min(max(ctx.lengths.quantile(self.follow), self.min_start), self.max_start)
        return start, min(max(int(self.CAP_FACTOR * ranked[-1]), start + 1), self.max_cap)

    def shape(self, probs: np.ndarray, ctx: LiveContext) -> np.ndarray:
        sounding = ctx.sounding
        if ctx.pedal_down or not sounding:
            return probs
        start, cap = self.limits(ctx)
        oldest = ctx.step - min(begin for begin, _ in sounding.values())
        if oldest <= start and oldest + codec.MAX_SHIFT_STEPS <= cap:
            return probs                                 # the common case, kept cheap: nothing is old yet
        pitches = np.fromiter(sounding, dtype=np.int64, count=len(sounding))
        ages = ctx.step - np.fromiter((begin for begin, _ in sounding.values()), dtype=np.int64,
                                      count=len(sounding))
        left = cap - int(ages.max())
        if left <= 0:                                    # due now: nothing else may happen first
            due = codec.NOTE_OFF_OFFSET + pitches[ages >= cap]
            forced = np.zeros_like(probs)
            forced[due] = probs[due] + 1e-12             # the model's own preference among them, never zero mass
            return forced / forced.sum()
        out = probs
        if left < codec.MAX_SHIFT_STEPS:                 # the longest shift allowed ends exactly at the cap
            too_long = slice(codec.TIME_SHIFT_OFFSET + left, codec.VELOCITY_OFFSET)
            out[codec.time_shift(left)] += out[too_long].sum()
            out[too_long] = 0.0
        old = ages > start
        if old.any() and start < cap:
            weights = (ages[old] - start) / (cap - start)
            hazard = float(weights.max()) ** self.EXPONENT
            # From every event but the releases (measured: taking it from the time shifts only made time stand
            # still for the releases, and onsets follow releases: 29% more notes than the primer's density).
            releases = out[codec.NOTE_OFFS]
            kept = releases.copy()
            out *= 1.0 - hazard
            releases[:] = kept
            out[codec.NOTE_OFF_OFFSET + pitches[old]] += hazard * (1.0 - kept.sum()) * weights / weights.sum()
        return out


class FollowDynamics:
    """VELOCITY draws follow the player's dynamics and keep their own shape: the model's velocity distribution is
    moved, not squeezed, so that its level is the context's recent level and (with `follow_spread`) its spread the
    context's recent spread.

    The context's level and spread: the mean and SD of the velocity bins of the last `notes` note-ons (the player's
    and the answer's own: the context's `dynamics` follower). The model's: the mean and SD of its velocity
    distributions over its last MODEL_DRAWS draws, each weighted by the VELOCITY share of its draw. So a draw the
    model makes louder than its recent ones (an accent, a melody note, a step of a crescendo) stays louder by as much
    (times the spread ratio); only where the model as a whole drifts from the player's level is it moved back. Each
    draw maps bin b to level + k (b - model level), k = context spread / model spread within [1 / MAX_SCALE,
    MAX_SCALE] (1 without follow_spread or before MIN_SPREAD_NOTES notes), the mass split between the two nearest
    bins, clipped to 1..32; the current bin gets none (a VELOCITY event of the bin in force changes nothing and is
    not in the codec's vocabulary of changes). Re-weights within the VELOCITY events only, keeping their mass.

    The model's recent draws are this preference's own estimate of the model's tendency, not the timeline: a new
    context (attach) clears them, a rollback keeps them (a discarded lookahead's draws were the model's too).
    Measured against squeezing toward the level (the previous rule) and shifting each draw onto it: MODEL.md,
    "Dynamics that breathe"."""

    MODEL_DRAWS = 64           # ~2-4 s of an answer's draws: its recent tendency, not one draw's intention
    MAX_SCALE = 2.0            # the spread ratio's bound: a model sure of one bin is not blown up to a cluster
    MIN_SPREAD_NOTES = 8       # the context's SD from fewer notes is noise

    def __init__(self, notes: int = 64, follow_spread: bool = True):
        self.notes, self.follow_spread = notes, follow_spread
        self._drawn: deque[tuple[float, float, float]] = deque()   # (weight, weight x mean, weight x mean square)
        self._sums = [0.0, 0.0, 0.0]                                  # ... summed over the draws kept

    def attach(self, ctx: LiveContext) -> None:
        if ctx.dynamics is None:
            ctx.dynamics = DynamicsFollower(self.notes)
        self._drawn.clear()
        self._sums = [0.0, 0.0, 0.0]

    def _model_level(self, weight: float, mean: float, square: float) -> tuple[float, float]:
        """Take one draw's (velocity mass, mean bin, mean squared bin) in; the model's recent (level, spread)."""
        sums = self._sums
        if len(self._drawn) == self.MODEL_DRAWS:
            for k, old in enumerate(self._drawn.popleft()):
                sums[k] -= old
        entry = (weight, weight * mean, weight * square)
        self._drawn.append(entry)
        for k, new in enumerate(entry):
            sums[k] += new
        level = sums[1] / sums[0]
        return level, math.sqrt(max(sums[2] / sums[0] - level * level, 0.0))

    def shape(self, probs: np.ndarray, ctx: LiveContext) -> np.ndarray:
        recent = ctx.dynamics.recent
        velocities = probs[codec.VELOCITIES]
        mass = float(velocities.sum())
        if not recent or mass <= 1e-9:
            return probs
        share = velocities / mass
        model_level, model_spread = self._model_level(mass, float(share @ _BINS), float(share @ _BIN_SQUARES))
        count = len(recent)                   # plain Python: numpy's std and clip cost ~10 us on 64 numbers
        level = sum(recent) / count
        scale = 1.0
        if self.follow_spread and count >= self.MIN_SPREAD_NOTES and model_spread > 0:
            spread = math.sqrt(max(sum(b * b for b in recent) / count - level * level, 0.0))
            scale = min(max(spread / model_spread, 1.0 / self.MAX_SCALE), self.MAX_SCALE)
        target = (level - 1.0) + scale * (_BINS - model_level)              # as a 0-based bin index
        np.maximum(target, 0.0, out=target)
        np.minimum(target, codec.NUM_VELOCITY_BINS - 1.0, out=target)
        below = target.astype(np.int64)
        above = np.minimum(below + 1, codec.NUM_VELOCITY_BINS - 1)
        part = target - below
        moved = (np.bincount(below, share * (1.0 - part), codec.NUM_VELOCITY_BINS) +
                 np.bincount(above, share * part, codec.NUM_VELOCITY_BINS))
        if ctx.velocity_bin:
            moved[ctx.velocity_bin - 1] = 0.0
        total = moved.sum()
        if total > 0:
            np.multiply(moved, mass / total, out=velocities)
        return probs


def _in_scale(key: int) -> np.ndarray:
    """bool [128]: the NOTE_ON pitches in the key's scale (segue.codec.keys)."""
    return np.tile(keys.scale(key), 11)[:128]


def _key_weights(key: int, strength: float) -> np.ndarray:
    """[128] NOTE_ON weights of a key mask: 1 in the key's scale, 1 - strength outside it (strength in 0..1:
    GrammarSettings checks it)."""
    return np.where(_in_scale(key), 1.0, 1.0 - strength)


class PinnedKey:
    """NOTE_ONs outside the pinned key's scale keep (1 - strength) of their probability (1 = never), the mass
    going to the scale's pitches: the key holds however far the model's own conditioning drifts."""

    def __init__(self, key: str, strength: float = 0.9):
        self.weights = _key_weights(keys.parse_key(key), strength)

    def shape(self, probs: np.ndarray, ctx: LiveContext) -> np.ndarray:
        return _reweight(probs, codec.NOTE_ONS, self.weights)


class FollowKey:
    """NOTE_ONs outside the key the context has been playing (the context's `key` follower: the last `notes` ended
    notes, the player's and the answer's own) are held to the share of them the player plays, the mass going to the
    key's pitches: an answer stays in the player's key however far the model's held pitch-class control lets it
    drift, and keeps a chromatic player's chromatic notes. Until the follower has a key, nothing is re-weighted.

    With `chromatic` (the default), an out-of-scale NOTE_ON keeps the share k of its chance that brings the model's
    out-of-scale share m to the player's c: k m / (k m + 1 - m) = c, so k = c (1 - m) / (m (1 - c)), within
    [1 - strength, 1]. m is the model's out-of-scale share of its NOTE_ON mass over its last MODEL_DRAWS draws
    (this preference's estimate of the model's tendency, cleared by attach, as FollowDynamics keeps the model's
    level); c is the key follower's `outside`, over the player's notes only. A diatonic player (c near 0) gets the
    old mask, out-of-scale notes at 1 - strength; a player whose blue notes or chromatic lines lie outside the
    scale gets them at their own rate, never more often than the model would play them. Without `chromatic`, every
    out-of-scale note keeps 1 - strength. Measured: MODEL.md, "The key follows the player's chromatic notes"."""

    MODEL_DRAWS = 64           # ~2-4 s of an answer's draws: the model's recent tendency, as FollowDynamics

    def __init__(self, strength: float = 0.9, notes: int = 128, chromatic: bool = True):
        self.in_scale = [_in_scale(key) for key in range(keys.KEYS)]
        self.floor = 1.0 - strength
        self.notes, self.chromatic = notes, chromatic
        self._drawn: deque[tuple[float, float]] = deque()   # (NOTE_ON mass, its out-of-scale part) per draw
        self._sums = [0.0, 0.0]

    def attach(self, ctx: LiveContext) -> None:
        if ctx.key is None:
            ctx.key = KeyFollower(self.notes)
        self._drawn.clear()
        self._sums = [0.0, 0.0]

    def _model_share(self, mass: float, outside: float) -> float:
        """Take one draw's NOTE_ON mass and its out-of-scale part in; the model's recent out-of-scale share."""
        sums = self._sums
        if len(self._drawn) == self.MODEL_DRAWS:
            old_mass, old_outside = self._drawn.popleft()
            sums[0] -= old_mass
            sums[1] -= old_outside
        self._drawn.append((mass, outside))
        sums[0] += mass
        sums[1] += outside
        return sums[1] / sums[0] if sums[0] > 0 else 0.0

    def keep(self, probs: np.ndarray, ctx: LiveContext, in_scale: np.ndarray) -> float:
        """The share of its chance an out-of-scale NOTE_ON keeps at this draw."""
        if not self.chromatic:
            return self.floor
        ons = probs[codec.NOTE_ONS]
        mass = float(ons.sum())
        if mass <= 1e-9:
            return self.floor
        model = self._model_share(mass, mass - float(ons[in_scale].sum()))
        player = ctx.key.outside
        if model <= 0 or player <= 0:
            return self.floor
        return min(max(player * (1.0 - model) / (model * (1.0 - player)), self.floor), 1.0)

    def shape(self, probs: np.ndarray, ctx: LiveContext) -> np.ndarray:
        key = ctx.key.key
        if key is None:
            return probs
        in_scale = self.in_scale[key]
        keep = self.keep(probs, ctx, in_scale)
        return probs if keep >= 1.0 else _reweight(probs, codec.NOTE_ONS, np.where(in_scale, 1.0, keep))


class YieldToMemory:
    """The grammar's preferences (key, dynamics, the pulse, the release hazard, no re-strike) step back by the
    session memory's mixing weight at each draw: out = w * p + (1 - w) * preferences(p), p already mixed with the
    memory.

    Where the memory is confident it is replaying the player's own material, which needs no correcting, and the
    preferences would break the replay (measured: segue/models/MODEL.md, "Decoding experiments"). What must hold
    whatever the memory says (the note cap, no release of a silent pitch) runs after this, in build_shapers."""

    def __init__(self, memory, preferences: list):
        self.memory, self.preferences = memory, preferences

    def attach(self, ctx: LiveContext) -> None:
        for shaper in self.preferences:
            if hasattr(shaper, "attach"):
                shaper.attach(ctx)

    def shape(self, probs: np.ndarray, ctx: LiveContext) -> np.ndarray:
        weight = self.memory.weight
        if weight >= 1.0:
            return probs
        mixed = probs.copy() if weight > 0 else None
        for shaper in self.preferences:
            probs = shaper.shape(probs, ctx)
        return probs if mixed is None else weight * mixed + (1.0 - weight) * probs


def build_shapers(settings: GrammarSettings, key: str | None = None, memory=None) -> list:
    """The shapers `settings` turn on, in the order they must run; `key` pins a key ("D minor"; None: none).

    With `memory` (a SessionMemory) the list starts with it, and the grammar's preferences yield to it
    (YieldToMemory); the note cap and the note-off mask still hold, after everything."""
    if memory is not None:
        restrike_rule = settings.note_off_mask and settings.no_restrike     # a preference: real music re-strikes
        # The pulse yields too: where the memory is confident it replays the player's own rhythm, timing and all,
        # which keeps their tempo as a pianist does (MODEL.md "The player's pulse", session 19).
        preferences = build_shapers(replace(settings, note_off_mask=restrike_rule), key)
        rules: list = []
        if settings.release_start_seconds >= 0:   # the cap alone: a hazard that starts at the cap
            rules.append(ReleaseHazard(settings.note_cap_seconds, settings.note_cap_seconds))
        if settings.note_off_mask:
            rules.append(NoteOffMask())
        return [memory, YieldToMemory(memory, preferences), *rules]
    shapers: list = []
    if key:
        shapers.append(PinnedKey(key, settings.key_strength))
    elif settings.follow_key_strength > 0:
        shapers.append(FollowKey(settings.follow_key_strength, settings.follow_key_notes,
                                 settings.follow_key_chromatic))
    if settings.follow_dynamics:
        shapers.append(FollowDynamics(settings.dynamics_notes, settings.dynamics_follow_spread))
    if settings.pulse_strength > 0:            # before the hazard: a shift it shortens to the note cap stays short
        from segue.inference.pulse_preference import FollowPulse
        shapers.append(FollowPulse(settings.pulse_strength, settings.pulse_timing_temperature, settings.pulse_sway_ms))
    if settings.release_start_seconds >= 0:
        follow = settings.release_follow_quantile if settings.release_follow_quantile >= 0 else None
        shapers.append(ReleaseHazard(settings.release_start_seconds, settings.note_cap_seconds, follow))
    if settings.note_off_mask:                 # last: whatever the others moved, a silent pitch is never released
        shapers.append(NoteOffMask(settings.no_restrike))
    return shapers
