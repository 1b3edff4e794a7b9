"""The generator thread: owns the engine, keeps it warm, samples answers ahead into the scheduler.

Everything that touches the model happens here, in order, from one command queue: the player's events as they
arrive (warm state: the whole session is context, nothing is ever re-primed), answers, and rollbacks.
While answering it samples ahead of the clock by at most `lookahead_s`, keeping the engine state after every
event, so that when the player barges in the model is rolled back to exactly what sounded and then told that the
sounding notes were released at the barge-in.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from segue.codec import codec
from segue.codec.midi import NOTE_OFF, NOTE_ON, kind_of
from segue.inference.grammar_settings import GrammarSettings
from segue.inference.grammar import build_shapers
from segue.inference.memory import MemorySettings, SessionMemory
from segue.inference.sampling_loop import SamplingLoop
from daemon.scheduler import Scheduled

# After hearing the player mid-answer, the continuation starts this far ahead of the present (the answer's grid
# and the session's may differ by half a step; this keeps the next note from being due in the past).
CATCH_UP_S = 0.01


@dataclass(slots=True)
class Answer:
    id: int
    start: float                  # wall time (perf_counter) the answer begins: its first note-on goes then
    end_step: int | None          # absolute step where it stops (None: until barge-in)
    start_step: int | None = None # the context's step when the answer began (its grid's anchor)
    pulse: object = None          # the player's pulse the answer keeps (OpenAnswer.pulse), None: the context's own
    started_notes: bool = False   # a note-on has been generated (leading time shifts are capped before that)
    leading_steps: int = 0
    events: int = 0
    notes: int = 0
    finished: bool = False
    opened: float = 0.0           # when the session opened it (the scheduler silences it for a later player note)


# --- what the session tells the generator (one queue, handled in order) ------------------------------------------
@dataclass(frozen=True, slots=True)
class PlayerNotes:
    edges: list                   # the player's note edges (codec.NoteEdge) since the last ones
    controls: object              # the control vector to hear them with (None: unconditioned model)


@dataclass(frozen=True, slots=True)
class OpenAnswer:
    id: int
    start: float                  # wall time its first note-on goes
    end_step: int | None          # absolute step where it stops (None: until barge-in)
    opened: float                 # when the session opened it
    pulse: object = None          # the player's pulse as the turn policy heard it (a PulseFollower on the wall clock);
                                  # an answer that waited for the pulse starts on one of its beats


@dataclass(frozen=True, slots=True)
class Rollback:
    answer_id: int
    last_sent: int                # index of the answer's last event that sounded (-1: none)
    at: float                     # when it was cut
    silenced: bool                # its sounding notes were released (the model hears that too)
    epoch: int                    # the scheduler's epoch after the cancel


@dataclass(frozen=True, slots=True)
class SetControls:
    controls: object


@dataclass(frozen=True, slots=True)
class ForgetMemory:
    """A panic: the session memory starts afresh (the model's state stays)."""


@dataclass(frozen=True, slots=True)
class MemoryStrength:
    factor: float                 # of the fitted strength (the CC knob: 0 off .. 2 double)


@dataclass(frozen=True, slots=True)
class Quit:
    pass


# --- what the generator tells the session (its notify callback, run on the generator's thread) --------------------
@dataclass(frozen=True, slots=True)
class AnswerOpened:
    answer: Answer


@dataclass(frozen=True, slots=True)
class AnswerDone:
    answer: Answer
    end_due: float                # when its last message is due


@dataclass(frozen=True, slots=True)
class GeneratorFailed:
    error: BaseException


@dataclass(slots=True)
class Record:
    """The model and its context as they were right after one event: a rollback point."""
    state: object
    logits: np.ndarray
    loop: tuple                  # the sampling loop's snapshot: a copy of the LiveContext, the memory's serial


@dataclass
class GeneratorSettings:
    lookahead_s: float = 0.2
    lead_in_ms: float = 0.0          # longest silence allowed before the answer's first note
    channel: int = 0                 # output channel, 0-based
    grammar: GrammarSettings = dataclasses.field(default_factory=GrammarSettings)   # config.yaml sampling:
    key: str = ""                    # a pinned key the grammar holds ("D minor"); "" = none
    memory: MemorySettings | None = None   # the session memory's fitted settings; None = no memory
    memory_learns: str = "player"    # "player": it stores the player's events only; "session": segue's too


class Generator:
    def __init__(self, engine, sampler, scheduler, origin: float, settings: GeneratorSettings, notify):
        self.engine, self.sampler, self.scheduler = engine, sampler, scheduler
        self.origin = origin                 # perf_counter time of step 0
        self.settings = settings
        self.notify = notify                 # callback(AnswerOpened | AnswerDone | GeneratorFailed), on this thread
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.logits: np.ndarray | None = None
        self.answer: Answer | None = None
        self.records: list[Record] = []      # records[i] = state after the answer's event i
        self.base: Record | None = None      # state the answer started from / the last player checkpoint
        self.base_index = -1                 # records index the base stands for (-1: before the answer)
        self.epoch = 0                       # the scheduler's epoch of the last cancel heard (see Scheduler.cancel)
        # The memory mixes in first, the grammar's preferences yield to it, its rules hold after all (build_shapers).
        self.memory = SessionMemory(settings.memory) if settings.memory is not None else None
        # The live timeline is the loop's context (self.ctx), written here only: the player's notes (the streaming
        # encoder's note edges) go in at their steps, segue's own events as generated, so its time shifts always
        # sum to the wall-clock steps since the session began, whoever played.
        self.loop = SamplingLoop(sampler, build_shapers(settings.grammar, settings.key or None, self.memory))
        self._learning(settings.memory_learns == "session")
        self._thread = threading.Thread(target=self._run, name="segue-generator", daemon=True)

    # --- the session's side -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def thread_id(self) -> int:
        """The generator thread's native id, once started (daemon/realtime.lift_threads)."""
        return self._thread.native_id

    def send(self, command) -> None:
        self.commands.put(command)

    def backlog(self) -> int:
        """Commands sent and not yet taken (the session holds the player's notes back while it is behind)."""
        return self.commands.qsize()

    def stop(self) -> None:
        self.commands.put(Quit())
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def step_at(self, t: float) -> int:
        return codec.quantize(t - self.origin)

    # --- the thread ---------------------------------------------------------------------------------------------
    def _warm_up(self) -> None:
        """One throwaway model step and draw, so the first answer does not pay ONNX Runtime's first-run costs."""
        snapshot = self.engine.snapshot()
        self.sampler.probabilities(self.engine.step(codec.NO_EVENT))
        self.engine.restore(snapshot)

    def _run(self) -> None:
        try:
            self._warm_up()
            while True:
                timeout = self._idle_timeout()
                try:
                    command = self.commands.get(timeout=timeout) if timeout != 0 else self.commands.get_nowait()
                except queue.Empty:
                    command = None
                if command is not None:
                    if isinstance(command, Quit):
                        return
                    self._handle(command)
                    continue                 # drain every pending command before sampling more
                self._generate_some()
        except BaseException as exc:          # noqa: BLE001 - the session silences everything and reports it
            self.notify(GeneratorFailed(exc))

    def _idle_timeout(self) -> float | None:
        """None: nothing to do until a command; 0: work now; else seconds until the lookahead has room."""
        answer = self.answer
        if answer is None or answer.finished:
            return None
        horizon = max(time.perf_counter(), answer.start) + self.settings.lookahead_s
        ahead = self._due(answer, self.ctx.step) - horizon
        return 0 if ahead < 0 else min(ahead + 0.002, 0.05)

    def _handle(self, command) -> None:
        match command:
            case PlayerNotes(edges, controls):
                self._feed_player(edges, controls)
            case OpenAnswer(answer_id, start, end_step, opened, pulse):
                self._begin(Answer(id=answer_id, start=start, end_step=end_step, opened=opened, pulse=pulse))
            case Rollback():
                self._rollback(command)
            case SetControls(controls):
                self._set_controls(controls)
            case ForgetMemory():
                if self.memory is not None:
                    self.memory.reset()
            case MemoryStrength(factor):
                if self.memory is not None:
                    self.memory.set_strength(self.memory.settings.strength * factor)

    def _set_controls(self, controls) -> None:
        if controls is not None and self.engine.conditioned:
            self.engine.set_controls(controls)

    @property
    def ctx(self):
        """The live timeline (segue.inference.live_context.LiveContext)."""
        return self.loop.ctx

    def _feed(self, events: list[int]) -> None:
        """Feed the model events the context has taken in already."""
        if events:
            self.logits = self.engine.feed(events)

    def _feed_player(self, edges: list[codec.NoteEdge], controls) -> None:
        """The player's notes go in at their steps (one stamped before the context's step, where segue's sounded
        events got first, goes in at once), a VELOCITY event where the bin changed."""
        self._set_controls(controls)
        self._learning(True)
        self._feed(self.loop.hear(edges))
        self._learning(self.settings.memory_learns == "session")
        if self.answer is not None and not self.answer.finished:
            # Playing along (the session rolled the answer back to what sounded first): the player's notes are
            # now part of what sounded, so later rollbacks must not undo them.
            self.base = self._record()
            self.base_index = len(self.records) - 1
            # Time passed while the player's notes travelled here; segue goes on from now, not from the past
            # (its next notes would otherwise all be late).
            self._feed(self.loop.shift_to(self.step_at(time.perf_counter() + CATCH_UP_S)))

    def _learning(self, on: bool) -> None:
        """Whether the memory stores what is fed next as material (it always hears it as context)."""
        if self.memory is not None:
            self.memory.learning = on

    def _record(self) -> Record:
        return Record(self.engine.snapshot(), self.logits, self.loop.snapshot())

    def _restore(self, record: Record) -> None:
        self.engine.restore(record.state)
        self.logits = record.logits
        self.loop.restore(record.loop)

    def _begin(self, answer: Answer) -> None:
        """Open an answer: remember the state to fall back to, then bring the context to the answer's start."""
        self.answer = answer
        self.records = []
        self.base = self._record()           # before the silence: a cancelled answer un-hears that silence too
        self.base_index = -1
        self.notify(AnswerOpened(answer))
        self._catch_up(answer)

    def _catch_up(self, answer: Answer) -> None:
        """The silence between the context and the answer's start is heard before the answer's first event."""
        self._feed(self.loop.shift_to(self.step_at(answer.start)))
        if self.logits is None:
            # Nothing came before the answer (it opens at step 0; any later start brought its shifts above) and the
            # model needs an event to start from: Magenta's default, a second of silence. That second lies before
            # step 0, as when generate primes a continuation without primer, so it is not in the timeline.
            self.loop.prelude(codec.NO_EVENT)
            self._feed([codec.NO_EVENT])
        if answer.start_step is None:
            answer.start_step = self.ctx.step
        self._keep_pulse(answer)

    def _keep_pulse(self, answer: Answer) -> None:
        """One grid: the pulse preference steers the answer by the turn policy's pulse, whose beat the answer's start
        is, moved onto the answer's own clock (a step s sounds at answer.start + (s - start_step) / 100 s), so the
        start is a point of the preference's grid to the microsecond and its first note-on never waits. Taken once:
        after a rollback past the start (a player playing along) the context's own pulse has heard newer notes."""
        if answer.pulse is not None and self.ctx.pulse is not None:
            self.ctx.pulse = answer.pulse.moved(answer.start - answer.start_step / codec.STEPS_PER_SECOND)
        answer.pulse = None

    def _rollback(self, cut: Rollback) -> None:
        """Undo what was generated but never sounded; if segue's notes were cut, tell the model so."""
        self.epoch = cut.epoch               # what is made from here on belongs after the cancel
        answer = self.answer
        if answer is None or answer.id != cut.answer_id:
            return
        index = max(cut.last_sent, self.base_index)
        self._restore(self.records[index] if index >= 0 else self.base)
        del self.records[index + 1:]
        if cut.silenced:
            self._feed(self.loop.release_own(self.step_at(cut.at)))
            answer.finished = True
            self.answer = None
            self.records = []
        else:
            self.base = self._record()
            self.base_index = index

    # --- sampling -------------------------------------------------------------------------------------------------
    def _generate_some(self) -> None:
        """Sample events until the lookahead is full or a command arrives."""
        answer = self.answer
        while not answer.finished and self.commands.empty():
            now = time.perf_counter()
            if self._due(answer, self.ctx.step) > max(now, answer.start) + self.settings.lookahead_s:
                return
            quiet = self.scheduler.quiet_for(now)
            if quiet:                        # a send is imminent: keep off the GIL until it has gone
                time.sleep(quiet)
                continue
            if answer.end_step is not None and self.ctx.step >= answer.end_step:
                self._finish(answer)
                return
            if not self.records or self.logits is None:
                self._catch_up(answer)       # after a rollback to before the start (player notes came in)
            self._generate_one(answer)

    def _generate_one(self, answer: Answer) -> None:
        """One event from the sampling loop (its grammar caps note length; its guard keeps time moving). Before the
        first note at most lead_in_ms of silence may pass (0: start playing at once); the answer ends on time."""
        lead_in = None if answer.started_notes else int(self.settings.lead_in_ms / 10) - answer.leading_steps
        event = self.loop.next_event(self.logits, max_shift=lead_in)
        if codec.event_kind(event) == "time_shift":
            if answer.end_step is not None and self.ctx.step + codec.shift_steps(event) > answer.end_step:
                event = codec.time_shift(answer.end_step - self.ctx.step)
            if not answer.started_notes:
                answer.leading_steps += codec.shift_steps(event)
        self._emit(answer, event)

    def _finish(self, answer: Answer) -> None:
        """End of the answer's length: release its notes (the model hears that too) and close it."""
        for pitch in sorted(self.ctx.own.sounding):
            self._emit(answer, codec.note_off(pitch))
        answer.finished = True
        self.notify(AnswerDone(answer, self._due(answer, self.ctx.step)))

    def _due(self, answer: Answer, step: int) -> float:
        """Wall time of a step of the answer. The grid is anchored at the answer's start, not at the session's
        step 0: rounding the start to a 10 ms step would otherwise delay the first note by up to 5 ms."""
        anchor = self.ctx.step if answer.start_step is None else answer.start_step
        return answer.start + (step - anchor) / codec.STEPS_PER_SECOND

    def _emit(self, answer: Answer, event: int) -> None:
        """Feed one generated event to the model, keep the rollback point, schedule its MIDI message."""
        self.logits = self.engine.step(event)
        ended = self.loop.play(event)        # a note of segue's this event ends, by the decoder's rules
        kind = codec.event_kind(event)
        messages = []
        first = False
        if ended is not None:
            messages.append((NOTE_OFF | self.settings.channel, ended[0], 0))
        if kind == "note_on":
            messages.append((NOTE_ON | self.settings.channel, event - codec.NOTE_ON_OFFSET, self.ctx.velocity))
            first = not answer.started_notes
            answer.started_notes = True
            answer.notes += 1
        answer.events += 1
        self.records.append(self._record())
        index = len(self.records) - 1
        due = max(self._due(answer, self.ctx.step), answer.start)
        for data in messages:
            self.scheduler.push(Scheduled(due, data, answer.id, index, first_note=first and kind_of(data[0]) == NOTE_ON,
                                          epoch=self.epoch, opened=answer.opened))
