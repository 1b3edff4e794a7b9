"""The live timeline's one owner: what the model has heard, whoever played it, as every decoding preference reads it.

A SamplingLoop owns one LiveContext; whoever owns the loop (offline generate, the continuation test, scoring, beam
search, the daemon's generator thread) writes it through the loop, and nothing else writes it. Every shaper reads
it (`shape(probs, ctx)`) and keeps no cursor of its own, so a rollback point is the engine state, a copy of the
context and the learners' (the session memory's) snapshots. docs/design.md describes the shape.

Followers are the context's derived views of the past (recent note lengths, the followed key, the dynamic level,
the player's pulse): each has `observe(ctx, event, ended)`, called after the context has taken the event in
(`ended` = (pitch, start step, velocity) of the note it ended by the decoder's rules, else None), and `copy()`.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

import numpy as np

from segue.codec import codec, keys

PLAYER, SEGUE = "player", "segue"    # who played an event (offline: the primer is the player's)

_SCALES = tuple(tuple(keys.scale(key).tolist()) for key in range(keys.KEYS))   # per key: is a pitch class in its scale
RECENT_LENGTHS = 64                  # ~8 s of a pianist's notes: the recent texture, not the whole piece's


class NoteLengths:
    """The lengths (steps) of the last RECENT_LENGTHS notes that ended, pedal included, kept ranked."""

    def __init__(self) -> None:
        self.lengths: deque[int] = deque(maxlen=RECENT_LENGTHS)   # in the order the notes ended
        self.ranked: list[int] = []                                # the same, sorted

    def observe(self, ctx: "LiveContext", event: int, ended) -> None:
        if ended is None:
            return
        if len(self.lengths) == self.lengths.maxlen:
            del self.ranked[bisect_left(self.ranked, self.lengths[0])]
        length = ctx.step - ended[1]
        self.lengths.append(length)
        insort(self.ranked, length)

    def quantile(self, q: float) -> int:
        return self.ranked[int(q * (len(self.ranked) - 1) + 0.5)]

    def copy(self) -> "NoteLengths":
        other = NoteLengths()
        other.lengths, other.ranked = self.lengths.copy(), list(self.ranked)
        return other


class KeyFollower:
    """The key the context has been playing: Krumhansl-Schmuckler (segue.codec.keys' profiles) over the pitch
    classes of the last `notes` ended notes, weighted by length (pedal included), re-estimated only when a note
    ends. `key` is None until MIN_NOTES notes have ended. `outside`: the share of the player's own last `notes`
    notes (segue's answers not counted, so an answer cannot talk itself out of the key) outside the key's scale:
    a chromatic player's is high, a diatonic one's near 0."""

    MIN_NOTES = 8
    PRIOR_NOTES = 8   # pseudo-notes in the scale: a few notes say little about how chromatic a player is

    def __init__(self, notes: int = 128):
        profiles = keys.key_profiles()
        self.profiles = profiles - profiles.mean(axis=1, keepdims=True)
        self.recent: deque[tuple[int, int]] = deque(maxlen=notes)    # (pitch class, length in steps)
        self.histogram = np.zeros(keys.PITCH_CLASSES)
        self.key: int | None = None
        self.played: deque[int] = deque(maxlen=notes)   # the player's own ended notes' pitch classes
        self.outside = 0.0       # the share of the player's notes outside the key's scale (how chromatic they play)

    def observe(self, ctx: "LiveContext", event: int, ended) -> None:
        if ended is None:
            return
        if len(self.recent) == self.recent.maxlen:
            pitch_class, length = self.recent[0]
            self.histogram[pitch_class] -= length
        note = (ended[0] % keys.PITCH_CLASSES, ctx.step - ended[1])
        self.recent.append(note)
        self.histogram[note[0]] += note[1]
        if ctx.by == PLAYER:
            self.played.append(note[0])
        if len(self.recent) >= self.MIN_NOTES:
            self.key = int(np.argmax(self.profiles @ (self.histogram - self.histogram.mean())))
            in_scale = _SCALES[self.key]
            outside = sum(not in_scale[pitch_class] for pitch_class in self.played)
            self.outside = outside / (len(self.played) + self.PRIOR_NOTES)

    def copy(self) -> "KeyFollower":
        other = KeyFollower.__new__(KeyFollower)
        other.profiles, other.recent = self.profiles, self.recent.copy()
        other.histogram, other.key, other.outside = self.histogram.copy(), self.key, self.outside
        other.played = self.played.copy()
        return other


class DynamicsFollower:
    """The velocity bins of the last `memory` note-ons (the player's and segue's own)."""

    def __init__(self, memory: int = 16):
        self.recent: deque[int] = deque(maxlen=memory)

    def observe(self, ctx: "LiveContext", event: int, ended) -> None:
        if event < codec.NOTE_OFF_OFFSET:
            self.recent.append(ctx.velocity_bin or codec.velocity_to_bin(codec.DEFAULT_VELOCITY))

    def level(self) -> float | None:
        """The mean velocity bin (None before any note)."""
        return sum(self.recent) / len(self.recent) if self.recent else None

    def copy(self) -> "DynamicsFollower":
        other = DynamicsFollower.__new__(DynamicsFollower)
        other.recent = self.recent.copy()
        return other


class LiveContext:
    """The timeline: step, velocity bin, what sounds (for everyone, for segue, for the player), open-note counts,
    and the followers. Written only through the owning SamplingLoop."""

    def __init__(self) -> None:
        self.cursor = codec.EventCursor()     # step, velocity bin, sounding (pitch -> start, velocity): decoder rules
        self.open = codec.OpenNotes()         # note-ons not matched by a note-off: the encoder's rules (unisons)
        self.own = codec.EventCursor()        # segue's own notes only (its step is unused)
        self.player: dict[int, int] = {}      # the player's sounding notes: pitch -> start step (from note edges)
        self.events_this_step = 0             # events since time last moved (the loop's runaway guard)
        self.by: str = PLAYER                 # who played the last event
        self.pedal_down = False               # the player's sustain pedal (suspends the release hazard)
        self.lengths = NoteLengths()
        self.key: KeyFollower | None = None   # attached by the FollowKey preference
        self.dynamics: DynamicsFollower | None = None   # attached by FollowDynamics
        self.pulse = None                     # the player's tempo and beat phase (issue 26): any follower

    # --- reading ----------------------------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self.cursor.step

    @property
    def velocity_bin(self) -> int:
        return self.cursor.velocity_bin

    @property
    def velocity(self) -> int:
        """The velocity a NOTE_ON gets now."""
        return self.cursor.velocity

    @property
    def sounding(self) -> dict[int, tuple[int, int]]:
        return self.cursor.sounding

    def followers(self) -> list:
        return [f for f in (self.lengths, self.key, self.dynamics, self.pulse) if f is not None]

    # --- writing (through the SamplingLoop) -------------------------------------------------------------------------
    def observe(self, event: int, by: str = PLAYER):
        """Take one event in; return the note of segue's own it ended (pitch, start, velocity) if `by` is SEGUE."""
        step = self.cursor.step
        ended = self.cursor.push(event)
        self.open.observe(event)
        self.events_this_step = 0 if self.cursor.step != step else self.events_this_step + 1
        self.by = by
        own_ended = self.own.push(event) if by == SEGUE and event < codec.TIME_SHIFT_OFFSET else None
        for follower in self.followers():
            follower.observe(self, event, ended)
        return own_ended

    def encode(self, edge: codec.NoteEdge) -> list[int]:
        """The events that write a note edge at its step (a step the timeline has passed: where it stands),
        without taking them in."""
        return self.cursor.copy().write(*edge)

    def note_player(self, edge: codec.NoteEdge) -> None:
        if edge.is_end:
            self.player.pop(edge.pitch, None)
        else:
            self.player[edge.pitch] = max(edge.step, self.step)

    def copy(self) -> "LiveContext":
        other = LiveContext.__new__(LiveContext)
        other.cursor, other.open, other.own = self.cursor.copy(), self.open.copy(), self.own.copy()
        other.player, other.events_this_step, other.by = dict(self.player), self.events_this_step, self.by
        other.pedal_down, other.lengths = self.pedal_down, self.lengths.copy()
        other.key = None if self.key is None else self.key.copy()
        other.dynamics = None if self.dynamics is None else self.dynamics.copy()
        other.pulse = None if self.pulse is None else self.pulse.copy()
        return other
