"""The generator with a scripted engine: immediate entry, lookahead, rollback to what sounded, note cap."""
import time

import pytest

from segue.codec import codec
from segue.codec.codec import NoteEdge
from segue.inference.grammar_settings import GrammarSettings
from segue.inference.memory import _RELATIVE_BASE, MemorySettings
from segue.inference.sampling import Sampler

from daemon.generator import (AnswerDone, ForgetMemory, Generator, GeneratorSettings, OpenAnswer, PlayerNotes,
                              Rollback)
from daemon.scheduler import Scheduler
from tests.daemon.fakes import FakeOutput, ScriptedEngine, wait_for


def make(engine=None, **settings):
    out = FakeOutput()
    sched = Scheduler(out)
    notes = []
    origin = time.perf_counter()
    gen = Generator(engine or ScriptedEngine(), Sampler(temperature=0), sched, origin,
                    GeneratorSettings(**settings), notes.append)
    sched.start()
    gen.start()
    return out, sched, gen, notes


def stop(sched, gen):
    gen.stop()
    sched.stop()


def test_answer_starts_at_its_start_time_even_when_the_model_wants_to_wait():
    out, sched, gen, _ = make(ScriptedEngine(shift_first=True), lookahead_s=0.1)
    try:
        start = time.perf_counter() + 0.05
        gen.send(OpenAnswer(1, start, None, time.perf_counter()))
        assert wait_for(lambda: out.note_ons())
        first_at = next(at for at, d in out.sent if d[0] == 0x90)
        # leading time shifts are masked: no waiting (the script's shift would wait 0.3 s; a loaded machine is late)
        assert start <= first_at < start + 0.15
    finally:
        stop(sched, gen)


def test_lookahead_is_bounded():
    out, sched, gen, _ = make(lookahead_s=0.1)
    try:
        start = time.perf_counter()
        gen.send(OpenAnswer(1, start, None, time.perf_counter()))
        assert wait_for(lambda: out.note_ons())       # it plays (a generator that makes nothing is never "ahead")
        time.sleep(0.05)
        ahead = gen.ctx.step / 100 + gen.origin - time.perf_counter()
        assert 0.02 < ahead < 0.1 + 0.06               # it fills the lookahead, and never goes more than that
                                                       # (+ one scripted shift) ahead
    finally:
        stop(sched, gen)


def test_rollback_restores_exactly_what_sounded_and_tells_the_model_notes_were_released():
    engine = ScriptedEngine(hold_steps=20)
    out, sched, gen, _ = make(engine, lookahead_s=0.3)
    try:
        start = time.perf_counter()
        gen.send(OpenAnswer(1, start, None, time.perf_counter()))
        assert wait_for(lambda: len(out.note_ons()) >= 2)
        cut = time.perf_counter()
        last = sched.cancel(1, silence=True)
        gen.send(Rollback(1, last, cut, True, sched.epoch))
        wait_for(lambda: gen.answer is None)
        sent = out.messages()
        heard = engine.heard
        # every note-on the model heard was sent, and every one got its note-off (sent, and heard)
        heard_ons = [e for e in heard if codec.event_kind(e) == "note_on"]
        sent_ons = [d[1] for d in sent if d[0] == 0x90]
        assert [codec.note_on(p) for p in sent_ons] == heard_ons
        for pitch in sent_ons:
            assert any(d[0] == 0x80 and d[1] == pitch for d in sent)
        assert engine._sounding() == []
        assert sched.sounding() == {}
    finally:
        stop(sched, gen)


def test_answer_of_fixed_length_releases_its_notes_and_reports_done():
    out, sched, gen, notes = make(ScriptedEngine(hold_steps=50), lookahead_s=0.2)
    try:
        start = time.perf_counter()
        gen.send(OpenAnswer(1, start, gen.step_at(start) + 30, time.perf_counter()))      # 0.3 s answer, notes held 0.5 s
        assert wait_for(lambda: any(isinstance(note, AnswerDone) for note in notes))
        assert wait_for(lambda: sched.pending(1) == 0, timeout=2)
        ons = [d[1] for d in out.messages() if d[0] == 0x90]
        offs = [d[1] for d in out.messages() if d[0] == 0x80]
        assert ons and sorted(ons) == sorted(offs)
    finally:
        stop(sched, gen)


def test_notes_longer_than_the_cap_are_released():
    engine = ScriptedEngine(hold_steps=100)                      # the script holds notes 1 s
    out, sched, gen, _ = make(engine, lookahead_s=0.1,
                              grammar=GrammarSettings(release_start_seconds=0.1, note_cap_seconds=0.2))
    try:
        start = time.perf_counter()
        gen.send(OpenAnswer(1, start, None, time.perf_counter()))
        assert wait_for(lambda: len([d for d in out.messages() if d[0] == 0x80]) >= 1)
        on_at = next(at for at, d in out.sent if d[0] == 0x90)
        off_at = next(at for at, d in out.sent if d[0] == 0x80)
        assert 0.15 < off_at - on_at < 0.6              # capped at 0.2 s, not held the script's 1 s (slack for load)
    finally:
        stop(sched, gen)


def test_player_events_are_heard_between_answers_with_wall_clock_shifts():
    engine = ScriptedEngine()
    out, sched, gen, _ = make(engine)
    try:
        gen.send(PlayerNotes([NoteEdge(120, False, 50, codec.bin_to_velocity(20)), NoteEdge(150, True, 50, 0)], None))
        assert wait_for(lambda: len(engine.heard) >= 6)
        assert engine.heard == (codec.time_shift(100), codec.time_shift(20), codec.velocity_event(20),
                                codec.note_on(50), codec.time_shift(30), codec.note_off(50))
    finally:
        stop(sched, gen)


def _phrase(start_step: int) -> list[NoteEdge]:
    velocity = codec.bin_to_velocity(20)
    return [NoteEdge(start_step, False, 60, velocity), NoteEdge(start_step + 20, True, 60, 0),
            NoteEdge(start_step + 20, False, 64, velocity), NoteEdge(start_step + 40, True, 64, 0)]


def _stored_events(memory) -> set[int]:
    """The events the memory holds as material (absolute pitches: stored codes are offset by 2 * _RELATIVE_BASE)."""
    return {code - 2 * _RELATIVE_BASE for _, _, code in memory.stored}


def test_player_only_memory_stores_the_players_notes_but_not_segues_answer():
    memory = MemorySettings(order=4, lambdas=[0.1] * (5 * 8))
    out, sched, gen, _ = make(ScriptedEngine(), lookahead_s=0.1, memory=memory, memory_learns="player")
    try:
        gen.send(PlayerNotes(_phrase(10), None))
        assert wait_for(lambda: codec.note_on(64) in _stored_events(gen.memory))
        gen.send(OpenAnswer(1, time.perf_counter(), None, time.perf_counter()))
        assert wait_for(lambda: len(out.note_ons()) >= 3)
        answered = {codec.note_on(d[1]) for d in out.messages() if d[0] == 0x90}
        assert answered - {codec.note_on(60), codec.note_on(64)}, "the script plays other pitches than the phrase"
        assert not (answered - {codec.note_on(60), codec.note_on(64)}) & _stored_events(gen.memory)
    finally:
        stop(sched, gen)


def test_session_memory_stores_segues_answer_too_and_a_panic_forgets_it():
    memory = MemorySettings(order=4, lambdas=[0.1] * (5 * 8))
    out, sched, gen, notes = make(ScriptedEngine(), lookahead_s=0.1, memory=memory, memory_learns="session")
    try:
        start = time.perf_counter()
        gen.send(OpenAnswer(1, start, gen.step_at(start) + 40, start))             # a 0.4 s answer
        assert wait_for(lambda: any(isinstance(note, AnswerDone) for note in notes))
        answered = {codec.note_on(d[1]) for d in out.messages() if d[0] == 0x90}
        assert wait_for(lambda: answered & _stored_events(gen.memory))
        gen.send(ForgetMemory())
        assert wait_for(lambda: not gen.memory.stored)
    finally:
        stop(sched, gen)


def _heard_steps(engine) -> int:
    return sum(codec.shift_steps(e) for e in engine.heard if codec.event_kind(e) == "time_shift")


@pytest.mark.parametrize("first, first_heard, default_event_steps", [
    ("answer at step 0", codec.NO_EVENT, codec.MAX_SHIFT_STEPS),
    ("answer after 0.3 s of silence", codec.time_shift(30), 0),
    ("player", codec.time_shift(10), 0)])
def test_the_model_hears_the_time_that_passed_and_a_default_event_only_when_an_answer_opens_at_step_0(
        first, first_heard, default_event_steps):
    """What the model heard = what sounded: its time shifts sum to the context's steps (the wall clock's since step
    0), whoever came first. The one exception is an answer opening at step 0: nothing came before it, and the model
    needs an event to start from. It gets Magenta's default event, a second of silence before the session, as
    `segue generate` primes a continuation without primer; that second lies before step 0, so it is not part of
    the session's timeline (the context)."""
    engine = ScriptedEngine()
    out, sched, gen, notes = make(engine, lookahead_s=0.1)
    try:
        if first == "player":
            gen.send(PlayerNotes([NoteEdge(10, False, 50, 80), NoteEdge(20, True, 50, 0)], None))
            start = gen.origin + 0.3
        else:
            start = gen.origin + (0 if first == "answer at step 0" else 0.3)
        gen.send(OpenAnswer(1, start, gen.step_at(start) + 30, time.perf_counter()))
        assert wait_for(lambda: any(isinstance(note, AnswerDone) for note in notes))
        assert gen.ctx.step == gen.step_at(start) + 30           # the answer ran to its end step
        assert engine.heard[0] == first_heard
        assert _heard_steps(engine) == gen.ctx.step + default_event_steps
    finally:
        stop(sched, gen)
