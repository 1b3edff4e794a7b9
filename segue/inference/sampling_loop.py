"""The one sampling loop: every generator of events draws its next event here.

Offline generate, the continuation test, beam search, the Markov baseline and the live daemon all call
`SamplingLoop.next_event`, so there is one runaway guard, one time limit and one place where the decoding grammar
(segue.inference.grammar) and the session memory plug in. One draw:

    logits -> softmax (temperature 1) -> each shaper in turn -> time limit and runaway guard
           -> the Sampler's temperature, top-k, min-p, top-p -> one event

Everything the shapers read about the past is the loop's LiveContext (`loop.ctx`, segue.inference.live_context),
written only through the loop. A shaper is any object with
    shape(probs, ctx) -> probs   a normalised [388] distribution at temperature 1 in, a normalised one out (it may
                                 write into `probs`: each caller hands over an array of its own)
and optionally
    attach(ctx)                  add the follower it reads (the key, the dynamic level, a pulse) to a new context
    observe(event), reset(), snapshot() -> object, restore(object)
                                 only for shapers that learn from the events (the session memory): the loop calls
                                 observe after the context took the event in; without snapshot/restore it
                                 deep-copies them for rollback.
Shapers run in list order: put those that mix in other distributions (a session memory) before the masks, so a
ruled-out event stays ruled out. A rollback point is the context's copy and the learners' snapshots.
Scoring uses the same shapers through `segue.evaluation.scoring.score_piece`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from segue.codec import codec
from segue.errors import SegueError
from segue.inference.live_context import PLAYER, SEGUE, LiveContext
from segue.inference.sampling import Sampler, softmax

# More events than this at one instant is a model babbling (a 10-finger chord with velocities is ~30): from then
# on only time may pass, or a sounding note end. This also bounds any generation: time moves at least every
# MAX_EVENTS_PER_STEP + 1 events.
MAX_EVENTS_PER_STEP = 64


@dataclass
class Length:
    """Generate until the continuation spans `seconds`, or exactly `steps` events. (A model stuck emitting events
    that let no time pass still ends: the sampling loop's runaway guard moves time on.)"""
    seconds: float | None = None
    steps: int | None = None

    def __post_init__(self):
        if (self.seconds is None) == (self.steps is None):
            raise SegueError("give the length as --seconds or --steps (one of them)")
        if self.seconds is not None and self.seconds <= 0:
            raise SegueError(f"--seconds must be > 0, got {self.seconds}")
        if self.steps is not None and self.steps <= 0:
            raise SegueError(f"--steps must be > 0, got {self.steps}")

    def done(self, events: int, elapsed_steps: int) -> bool:
        if self.steps is not None:
            return events >= self.steps
        return elapsed_steps >= self.seconds * codec.STEPS_PER_SECOND


@dataclass
class Extension:
    """What SamplingLoop.extend drew: all events (those it went on from first), the probability each new one was
    drawn with, the steps all of them span, and the logits after the last event fed."""
    events: list[int]
    probabilities: list[float]
    elapsed: int
    logits: np.ndarray


class Shaper(Protocol):
    def shape(self, probs: np.ndarray, ctx: LiveContext) -> np.ndarray: ...


class SamplingLoop:
    """A Sampler plus the shapers, and the context they read (`ctx`: the live timeline, segue.inference.live_context).

    Every write to the context goes through here: `observe` (an event the model was fed: a primer's, a generated
    one), `play` (one of segue's own, live), `hear` (the player's note edges), `shift_to` and `release_own`; each
    passes the events on to the shapers that learn."""

    def __init__(self, sampler: Sampler | None, shapers: Sequence[Shaper] = ()):
        self.sampler = sampler
        self.shapers = list(shapers)
        self.learners = [shaper for shaper in self.shapers if hasattr(shaper, "observe")]
        self.reset()

    def reset(self) -> None:
        """A new piece, a new session: a fresh context, the learners forget."""
        for learner in self.learners:
            learner.reset()
        self.ctx = LiveContext()
        for shaper in self.shapers:
            if hasattr(shaper, "attach"):
                shaper.attach(self.ctx)

    def observe(self, event: int, by: str = PLAYER):
        """One event entered the model's context (call it for every event the model is fed, whoever played it).
        Returns the note of segue's own it ended, if `by` is SEGUE (see `play`)."""
        event = int(event)
        ended = self.ctx.observe(event, by)
        for learner in self.learners:
            learner.observe(event)
        return ended

    def observe_all(self, events: Iterable[int], by: str = PLAYER) -> None:
        for event in events:
            self.observe(event, by)

    def start(self, context: Iterable[int]) -> None:
        """Begin a new piece whose context so far is `context` (a primer; empty for none)."""
        self.reset()
        self.observe_all(context)

    # --- the live timeline's writes ---------------------------------------------------------------------------------
    def play(self, event: int) -> tuple[int, int, int] | None:
        """One of segue's own events; returns the note of segue's own it ends (pitch, start step, velocity) by the
        decoder's rules (a NOTE_ON of a pitch segue holds ends that note), else None."""
        return self.observe(event, SEGUE)

    def hear(self, edges: Iterable[codec.NoteEdge]) -> list[int]:
        """The player's note edges (the streaming encoder's rows) written into the timeline at their steps (one
        stamped before the context's step goes in where it stands); returns the events to feed the model."""
        events: list[int] = []
        for edge in edges:
            self.ctx.note_player(edge)
            written = self.ctx.encode(edge)
            self.observe_all(written)
            events += written
        return events

    def shift_to(self, step: int) -> list[int]:
        """The silence up to `step`, taken in; returns its TIME_SHIFTs (none if the context is there already)."""
        events = self.ctx.cursor.copy().shift_to(step)
        self.observe_all(events, self.ctx.by)
        return events

    def release_own(self, step: int) -> list[int]:
        """segue's sounding notes released at `step` (a barge-in silenced them), taken in; returns the events."""
        events: list[int] = []
        for pitch in sorted(self.ctx.own.sounding):
            written = self.ctx.encode(codec.NoteEdge(step, True, pitch, 0))
            for event in written:
                self.observe(event, SEGUE)
            events += written
        return events

    def prelude(self, event: int) -> None:
        """An event the model hears before the timeline's step 0 (the daemon's first answer with nothing before
        it: Magenta's default second of silence): the learners hear it, the timeline does not move."""
        for learner in self.learners:
            learner.observe(int(event))

    def shape(self, probs: np.ndarray) -> np.ndarray:
        """Every shaper in turn over a temperature-1 distribution (scoring applies them this way too)."""
        for shaper in self.shapers:
            probs = shaper.shape(probs, self.ctx)
        return probs

    # --- drawing ----------------------------------------------------------------------------------------------------
    def distribution(self, logits: np.ndarray, max_shift: int | None = None) -> np.ndarray:
        """The temperature-1 distribution the next event is drawn from, before the Sampler's truncation.

        `max_shift` limits how many steps the next event may move time (0: no time shift at all), e.g. the
        daemon's lead-in before an answer's first note."""
        probs = self.shape(softmax(logits))
        limited = probs
        if max_shift is not None:
            limited = probs.copy()
            limited[codec.TIME_SHIFT_OFFSET + max(max_shift, 0):codec.VELOCITY_OFFSET] = 0.0
        if self.ctx.events_this_step >= MAX_EVENTS_PER_STEP:
            limited = self._only_time_or_release(limited)
        total = limited.sum()
        if total > 0:
            return limited / total
        # The limits exclude everything the shapers allow: the guard's way out (time passes) wins.
        way_out = self._only_time_or_release(softmax(logits))
        return way_out / way_out.sum()

    def _only_time_or_release(self, probs: np.ndarray) -> np.ndarray:
        kept = np.zeros_like(probs)
        kept[codec.TIME_SHIFTS] = probs[codec.TIME_SHIFTS]
        offs = [codec.note_off(pitch) for pitch in self.ctx.sounding]
        kept[offs] = probs[offs]
        return kept

    def next_event(self, logits: np.ndarray, max_shift: int | None = None) -> int:
        """Draw one event (not yet observed: observe it once the model has been fed it)."""
        return self.choose(logits, max_shift)[0]

    def choose(self, logits: np.ndarray, max_shift: int | None = None) -> tuple[int, float]:
        """next_event, with the probability it was drawn with (beam search ranks branches by it)."""
        probs = self.sampler.truncate(self.distribution(logits, max_shift))
        event = self.sampler.draw(probs)
        return event, float(probs[event])

    def run(self, step: Callable[[int], np.ndarray], logits: np.ndarray, length) -> np.ndarray:
        """Draw, observe and feed events (`step(event)` -> next logits) until `length.done(events, elapsed steps)`.

        The model has been primed and the loop `start`ed with the same context; `logits` follow it. The last event
        is observed but not fed, so the model's state ends where the caller can go on from it."""
        return np.array(self.extend(step, logits, length).events, dtype=np.int64)

    def extend(self, step: Callable[[int], np.ndarray], logits: np.ndarray, length, events: Sequence[int] = (),
               elapsed: int = 0, at_most: int | None = None) -> "Extension":
        """run, going on from `events` already drawn (`elapsed` steps long; `length` counts them too), for at most
        `at_most` new events: beam search grows each branch a few events at a time.

        Once `length` is done the last event is observed but not fed (as in run); after `at_most` events it is
        fed too, so the returned logits follow it and the next call carries on."""
        out, probabilities = [int(e) for e in events], []
        while at_most is None or len(probabilities) < at_most:
            event, probability = self.choose(logits)
            self.play(event)                       # what the loop draws is segue's, offline as live
            out.append(event)
            probabilities.append(probability)
            elapsed += codec.shift_steps(event)
            if length.done(len(out), elapsed):
                break
            logits = step(event)
        return Extension(out, probabilities, elapsed, logits)

    # --- rollback ---------------------------------------------------------------------------------------------------
    def snapshot(self) -> tuple:
        """The context's copy and the learners' snapshots: with the engine's state, a rollback point."""
        learned = [s.snapshot() if hasattr(s, "snapshot") else copy.deepcopy(s) for s in self.learners]
        return self.ctx.copy(), learned

    def restore(self, snap: tuple) -> None:
        ctx, learned = snap
        self.ctx = ctx.copy()
        for i, (learner, state) in enumerate(zip(self.learners, learned)):
            if hasattr(learner, "restore"):
                learner.restore(state)
            else:
                restored = copy.deepcopy(state)
                self.shapers[self.shapers.index(learner)] = self.learners[i] = restored
