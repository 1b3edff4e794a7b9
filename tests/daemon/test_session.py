"""The whole session on fake ports: answer, barge-in, echo, junk messages, modes, recording; then the turn machine on
a fake wall clock (no threads, no sleeps)."""
import dataclasses
import queue
import threading
import time

import mido
import pytest

from segue.codec import codec
from segue.codec.midi import ALL_NOTES_OFF_CC, CONTROL_CHANGE, is_note_off, is_note_on, kind_of

from daemon.generator import Answer, AnswerDone, OpenAnswer, PlayerNotes, Rollback
from daemon.scheduler import Scheduled, Sent
from daemon.session import Session
from daemon.session_timers import LOSING_INPUT_S, LOST_INPUT_STALE_S, SETTLE_S
from daemon.settings import DaemonConfig
from tests.daemon.fakes import FakeInput, FakeOutput, ScriptedEngine, wait_for

WAIT_S = 30.0          # waits that only pass or hang: generous, a loaded CI machine may stall threads for seconds


class Running:
    """A session on fake ports, wired as `segue serve` wires it (the input's messages reach it through the port)."""

    def __init__(self, recorder_dir=None, **cfg):
        self.cfg = dataclasses.replace(DaemonConfig(), **{"silence_ms": 100.0, "lookahead_ms": 100.0, **cfg})
        self.out = FakeOutput()
        self.port_in = FakeInput()
        self.engine = ScriptedEngine()
        origin = time.perf_counter()
        recorder = None
        if recorder_dir is not None:
            from daemon.recorder import Recorder
            recorder = Recorder(recorder_dir, origin)
        self.session = Session(self.cfg, self.engine, self.out, self.port_in, origin=origin, recorder=recorder)
        self.session.start()
        self.thread = threading.Thread(target=self.session.run, daemon=True)
        self.thread.start()

    def play(self, *data, stamp=None):
        self.port_in.play(data, stamp)

    def phrase(self, pitches=(60, 62, 64)):
        for p in pitches:
            self.play(0x90, p, 90)
            time.sleep(0.02)
            self.play(0x80, p, 0)
        return time.perf_counter()

    def close(self):
        self.session.request_stop()
        self.thread.join(5)
        self.session.close()


def sounding(messages):
    on = set()
    for d in messages:
        if is_note_on(d):
            on.add(d[1])
        elif is_note_off(d):
            on.discard(d[1])
        elif kind_of(d[0]) == CONTROL_CHANGE and d[1] == ALL_NOTES_OFF_CC:
            on.clear()
    return on


def count_ticks(session) -> list[float]:
    """The times the session's loop ticks at from now on: a loop that ticked twice since t has handled what came before t
    and then had its chance to act on it (say, to answer the same silence again)."""
    ticks, tick = [], session._tick
    session._tick = lambda now: (tick(now), ticks.append(now))
    return ticks


def ticked_twice_since(ticks, t) -> bool:
    return sum(1 for at in ticks if at > t) >= 2


def test_silence_after_a_phrase_brings_an_answer_that_starts_at_the_deadline():
    r = Running(response_seconds=0.3)
    try:
        r.phrase()
        assert wait_for(lambda: r.out.note_ons(), timeout=WAIT_S)
        assert wait_for(lambda: r.session.stats.turns == 1 and r.session.turn is None, timeout=WAIT_S)
        assert sounding(r.out.messages()) == set()
        assert len(r.session.stats.latencies) == 1 and 0 <= r.session.stats.latencies[0] < 0.05
    finally:
        r.close()


def test_barge_in_silences_segue_and_the_model_forgets_what_never_sounded():
    r = Running(response_seconds=5.0)
    try:
        r.phrase()
        assert wait_for(lambda: len(r.out.note_ons()) >= 2, timeout=WAIT_S)
        r.play(0x90, 48, 100)                                    # the player takes the turn back
        assert wait_for(lambda: r.session.turn is None)
        count = len(r.out.note_ons())
        time.sleep(0.2)
        assert len(r.out.note_ons()) == count                    # nothing more from segue
        assert sounding(r.out.messages()) == set()
        assert wait_for(lambda: 48 in [e for e in r.engine.heard])
        heard_ons = [e for e in r.engine.heard if e < 128 and e != 48]
        sent_ons = [d[1] for d in r.out.note_ons()]
        assert heard_ons[-len(sent_ons):] == sent_ons            # the answer the model remembers is what sounded
    finally:
        r.close()


def test_own_output_echoed_back_does_not_barge_in():
    r = Running(response_seconds=30.0)                           # a loaded machine cannot end it by its length
    ticks = count_ticks(r.session)
    try:
        r.phrase()
        assert wait_for(lambda: r.out.note_ons(), timeout=WAIT_S)
        echoed = r.out.note_ons()[0]
        r.play(*echoed)
        heard = time.perf_counter()
        assert wait_for(lambda: ticked_twice_since(ticks, heard), timeout=WAIT_S)   # the loop has handled it
        assert r.session.turn is not None and r.session.next_answer == 2          # still answering, the same answer
    finally:
        r.close()


def test_sysex_clock_aftertouch_bend_and_program_change_do_not_break_it():
    r = Running(response_seconds=0.3)
    try:
        for data in ([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], [0xF8], [0xFA], [0xD0, 40], [0xA0, 60, 30],
                     [0xE0, 0, 64], [0xC0, 5], [0xFC], [], [0xB0, 1, 10]):
            r.play(*data)
        r.phrase()
        assert wait_for(lambda: r.session.stats.turns == 1, timeout=WAIT_S)
    finally:
        r.close()


def test_continuous_mode_plays_along_and_hears_the_player():
    r = Running(mode="continuous")
    try:
        r.play(0x90, 40, 100)
        assert wait_for(lambda: r.out.note_ons(), timeout=WAIT_S)
        time.sleep(0.05)
        r.play(0x80, 40, 0)
        r.play(0x90, 41, 100)
        n = len(r.out.note_ons())
        assert wait_for(lambda: len(r.out.note_ons()) > n + 2, timeout=WAIT_S)   # it keeps playing
        # ... and hears the player: at its next step, which a loaded machine can put after notes drawn ahead
        assert wait_for(lambda: codec.note_on(41) in r.engine.heard, timeout=WAIT_S)
    finally:
        r.close()


def test_panic_cc_silences_everything(tmp_path):
    r = Running(response_seconds=5.0, cc_map={"panic": 25})
    try:
        r.phrase()
        assert wait_for(lambda: len(r.out.note_ons()) >= 1, timeout=WAIT_S)
        r.play(0xB0, 25, 127)
        assert wait_for(lambda: r.session.turn is None)
        assert (0xB0, 123, 0) in r.out.messages()
        assert sounding(r.out.messages()) == set()
    finally:
        r.close()


def test_record_writes_player_and_segue_tracks_each_turn(tmp_path):
    r = Running(tmp_path, response_seconds=0.2)
    try:
        r.phrase()
        assert wait_for(lambda: r.session.stats.turns == 1 and r.session.turn is None, timeout=WAIT_S)
        assert wait_for(r.session.recorder.path.exists)          # flushed at the end of the turn
        midi = mido.MidiFile(r.session.recorder.path)
        assert [len([m for m in t if m.type == "note_on"]) > 0 for t in midi.tracks] == [True, True]
    finally:
        r.close()


def test_a_players_note_off_equal_to_segues_last_message_is_not_taken_for_an_echo():
    r = Running(response_seconds=5.0)
    try:
        r.phrase()
        assert wait_for(lambda: r.out.note_ons(), timeout=WAIT_S)
        pitch = r.out.note_ons()[0][1]
        r.play(0x90, pitch, 1)                    # the player strikes segue's pitch (barge-in) ...
        assert wait_for(lambda: (0x80, pitch, 0) in r.out.messages())   # ... segue releases it (0x80 pitch 0)
        r.play(0x80, pitch, 0)                    # the player's own release: same bytes, but it is the player's
        assert wait_for(lambda: pitch not in r.session.policy.keys_down)
        assert wait_for(lambda: r.session.policy.deadline() is not None or r.session.turn is not None)
    finally:
        r.close()


def test_thru_passes_the_player_on_segues_channel_and_it_is_not_taken_as_segues_note():
    r = Running(response_seconds=5.0, thru=True, out_channel=3)
    try:
        r.play(0x90, 50, 80)
        assert wait_for(lambda: (0x92, 50, 80) in r.out.messages())
        assert 50 in r.session.policy.keys_down
        assert r.session.scheduler.sounding() == {}              # a barge-in will not cut the player's own note
    finally:
        r.close()


def test_a_cc_knob_changes_the_temperature_live():
    r = Running(cc_map={"temperature": 21})
    try:
        r.play(0xB0, 21, 127)
        assert wait_for(lambda: r.session.sampler.temperature == 2.0)
    finally:
        r.close()


def test_answer_length_in_bars_follows_the_midi_clock():
    r = Running(response_bars=1, beats_per_bar=4)
    try:
        t0 = time.perf_counter()
        for i in range(48):                                      # 120 bpm clock: a pulse every 1/48 s
            r.play(0xF8, stamp=t0 + i / 48)
        assert wait_for(lambda: r.session.clock.bpm(t0 + 47 / 48) is not None)
        now = t0 + 47 / 48
        for start in (now + 0.4, now + 1.5):                     # the next beat, or a deadline a long silence ahead
            assert abs(r.session.end_step(start, now) - r.session.generator.step_at(start) - 200) <= 1   # 4 beats
    finally:
        r.close()


def test_a_recorded_answer_cut_short_by_the_player_ends_its_notes_in_the_file(tmp_path):
    r = Running(tmp_path, response_seconds=5.0)
    try:
        r.phrase()
        assert wait_for(lambda: len(r.out.note_ons()) >= 2, timeout=WAIT_S)
        r.play(0x90, 48, 100)                                    # barge-in: segue's sounding notes are released
        assert wait_for(lambda: r.session.turn is None)
        r.play(0x80, 48, 0)
    finally:
        r.close()                                                # shutdown releases go in too
    segue_track = mido.MidiFile(r.session.recorder.path).tracks[1]
    on = set()
    for m in segue_track:
        if m.type == "note_on" and m.velocity > 0:
            on.add(m.note)
        elif m.type in ("note_off", "note_on"):
            on.discard(m.note)
    assert on == set()


# --- the turn machine on a fake wall clock: no threads, no sleeps -----------------------------------------------------
class FakeClock:
    """The session's wall clock, moved by the test. Far from perf_counter's values, so nothing the scheduler stamps
    with the real time (its echo record) is ever taken for the player's."""

    def __init__(self, t: float = 1e6):
        self.t = t

    def now(self) -> float:
        return self.t


class Stepped:
    """A session whose threads never start: the test plays, moves the clock and pumps the loop; it reads what the
    session told the generator from its command queue and posts what the scheduler would report."""

    def __init__(self, port_in: FakeInput | None = None, **cfg):
        # on_beat off: an answer starts at its trigger, not on a beat the pulse tracker may or may not trust
        self.cfg = dataclasses.replace(DaemonConfig(), **{"silence_ms": 100.0, "on_beat": "off", **cfg})
        self.clock = FakeClock()
        self.out = FakeOutput()
        self.port_in = port_in or FakeInput()
        self.session = Session(self.cfg, ScriptedEngine(), self.out, self.port_in, origin=self.clock.now(),
                               wall_clock=self.clock)
        self.commands: list = []

    def play(self, *data) -> None:
        self.port_in.play(data, self.clock.now())
        self.pump()

    def phrase(self, pitches=(60, 62, 64)) -> float:
        """The player's phrase, 20 ms a note; returns when its last key came up."""
        for p in pitches:
            self.play(0x90, p, 90)
            self.wait(0.02)
            self.play(0x80, p, 0)
        return self.clock.now()

    def wait(self, seconds: float) -> None:
        self.clock.t += seconds
        self.pump()

    def until(self, t: float) -> None:
        self.clock.t = t
        self.pump()

    def pump(self) -> None:
        self.session.pump()
        while True:
            try:
                self.commands.append(self.session.generator.commands.get_nowait())
            except queue.Empty:
                return

    def opened(self) -> list:
        return [c for c in self.commands if isinstance(c, OpenAnswer)]

    def rollbacks(self) -> list:
        return [c for c in self.commands if isinstance(c, Rollback)]

    def sent_first_note(self, at: float) -> None:
        """The scheduler's news that the open answer's first note left at `at` (posted, as from its thread)."""
        answer = self.session.turn.answer_id
        self.session.scheduler.post(Sent(Scheduled(at, (0x90, 67, 80), answer, 0, first_note=True), at))

    def generator_finished(self, end_due: float) -> None:
        """The generator's news that the open answer ran its length, its last message due at `end_due`."""
        turn = self.session.turn
        self.session.queue.put((self.clock.now(), AnswerDone(Answer(turn.answer_id, turn.trigger, None), end_due)))
        self.pump()


def test_the_answer_is_prepared_before_the_silence_deadline_and_starts_at_it():
    s = Stepped(state_cc=20)
    released = s.phrase()
    deadline = released + 0.1
    s.until(deadline - 0.1 + SETTLE_S - 0.001)
    assert s.opened() == []                                          # the encoder's last step may still change
    s.until(deadline - 0.1 + SETTLE_S)
    assert [(o.id, o.start) for o in s.opened()] == [(1, deadline)]  # prepared, due at the deadline
    assert s.session.turn is not None and not s.session.turn.started and s.session.stats.turns == 0
    assert (0xB0, 20, 127) not in s.out.messages()
    s.until(deadline)
    assert s.session.turn.started and s.session.stats.turns == 1
    assert (0xB0, 20, 127) in s.out.messages()                      # the state CC says segue answers



def test_a_silence_heard_late_is_answered_from_now_not_from_its_past_deadline():
    s = Stepped()
    heard = s.clock.now()
    for pitch in (60, 62):                                  # stamped 2 s before the loop hears them (a backlog)
        s.port_in.play((0x90, pitch, 90), heard - 2.0)
        s.port_in.play((0x80, pitch, 0), heard - 1.98)
    s.pump()
    assert [o.start for o in s.opened()] == [heard]         # its deadline passed 1.88 s ago

def test_an_answer_that_ran_its_length_ends_once_its_last_message_is_due():
    s = Stepped(state_cc=20)
    deadline = s.phrase() + 0.1
    s.until(deadline)
    s.sent_first_note(deadline + 0.004)
    s.generator_finished(end_due=deadline + 0.5)
    s.until(deadline + 0.5)
    assert s.session.turn is not None                                # its last message may still be on its way
    s.until(deadline + 0.502)
    assert s.session.turn is None and s.rollbacks() == []            # ended by its length: nothing to roll back
    assert s.session.stats.latencies == [pytest.approx(0.004)]
    assert s.out.messages()[-1] == (0xB0, 20, 0)                     # listening again
    s.wait(5.0)
    assert len(s.opened()) == 1                                      # segue never answers its own silence


def test_the_schedulers_news_reaches_the_turn_on_the_sessions_thread_only():
    s = Stepped()
    deadline = s.phrase() + 0.1
    s.until(deadline)
    s.sent_first_note(deadline)
    assert s.session.turn.first_note_at is None                      # posted, not yet applied
    s.pump()
    assert s.session.turn.first_note_at == deadline


def test_a_players_note_during_the_answer_cuts_it_and_rolls_the_model_back():
    s = Stepped()
    deadline = s.phrase() + 0.1
    s.until(deadline + 0.3)
    s.play(0x90, 48, 100)
    assert s.session.turn is None
    assert [(r.answer_id, r.at, r.silenced) for r in s.rollbacks()] == [(1, deadline + 0.3, True)]


def test_a_note_barging_in_with_thru_sounds_on_after_segues_releases():
    s = Stepped(thru=True)
    deadline = s.phrase() + 0.1
    s.until(deadline)
    s.session.scheduler.send_now([0x90, 67, 80])                    # segue's answer sounds G4 and C3 ...
    s.session.scheduler.send_now([0x90, 48, 80])
    answered = len(s.out.messages())
    s.play(0x90, 67, 100)                                            # ... the player strikes G4
    assert s.out.messages()[answered:] == [(0x80, 48, 0), (0x80, 67, 0), (0x90, 67, 100)]

def test_a_pedal_going_down_before_the_deadline_cancels_the_prepared_answer():
    s = Stepped()
    deadline = s.phrase() + 0.1
    s.until(deadline - 0.02)                                         # prepared
    s.play(0xB0, 64, 127)
    s.wait(0.0)
    assert s.session.turn is None and len(s.rollbacks()) == 1 and s.session.stats.turns == 0
    s.until(deadline + 1.0)
    assert len(s.opened()) == 1                                      # the pedal holds the turn
    up = s.clock.now()
    s.play(0xB0, 64, 0)
    s.until(up + 0.1)
    assert [o.start for o in s.opened()][1:] == [up + 0.1] and s.session.stats.turns == 1


def test_takeover_pedal_hands_segue_the_turn_and_takes_it_back():
    s = Stepped(mode="takeover")
    s.phrase()
    s.wait(5.0)
    assert s.opened() == []                                          # silence alone does nothing in takeover mode
    s.play(0xB0, 67, 127)
    assert [o.start for o in s.opened()] == [s.clock.now()] and s.session.turn.started
    s.wait(1.0)
    s.play(0xB0, 67, 0)
    assert s.session.turn is None and s.rollbacks()[-1].silenced


def test_a_key_whose_note_off_was_lost_stops_blocking_the_answer_after_the_stale_time():
    s = Stepped(stale_key_seconds=0.3)
    s.play(0x90, 50, 90)                                             # its note-off never arrives (an xrun ate it)
    last_input = s.phrase()
    s.until(last_input + 0.299)
    assert s.opened() == [] and s.session.policy.keys_down == {50}
    s.until(last_input + 0.3)
    assert s.session.policy.keys_down == set()
    s.until(last_input + 0.3 + 0.1)
    assert s.session.stats.turns == 1
    heard = [e.pitch for c in s.commands if isinstance(c, PlayerNotes) for e in c.edges if e.is_end]
    assert 50 in heard                                               # the model hears it released too


class DroppingInput(FakeInput):
    """An input whose backend drops messages before segue reads them (python-rtmidi's full queue, the C ring)."""

    count = 0

    def dropped(self) -> int:
        return self.count


def test_a_key_left_down_when_the_backend_dropped_input_counts_as_released_soon():
    port_in = DroppingInput()
    s = Stepped(port_in, stale_key_seconds=60.0)
    s.play(0x90, 50, 90)
    port_in.count = 300                                              # its note-off was among them
    last_input = s.phrase()
    s.until(last_input + LOST_INPUT_STALE_S - 0.01)
    assert s.session.policy.keys_down == {50}
    s.until(last_input + LOST_INPUT_STALE_S)
    assert s.session.policy.keys_down == set()                       # not after stale_key_seconds
    s.until(last_input + LOST_INPUT_STALE_S + 0.1)
    assert s.session.stats.turns == 1

def test_a_gap_that_dropped_input_left_is_no_silence_to_answer():
    port_in = DroppingInput()
    s = Stepped(port_in)
    deadline = s.phrase() + 0.1
    while s.clock.now() < deadline + 1.0:                           # a flood's messages dropped before segue heard them
        port_in.count += 100
        s.wait(0.05)
    assert s.opened() == []
    stopped = s.clock.now()
    s.until(stopped + LOSING_INPUT_S - 0.01)
    assert s.opened() == []
    s.until(stopped + LOSING_INPUT_S)
    assert [o.start for o in s.opened()] == [stopped + LOSING_INPUT_S]

def test_the_players_all_notes_off_releases_keys_at_once():
    for cc in (123, 120):
        s = Stepped(stale_key_seconds=60.0)
        s.play(0x90, 50, 90)
        s.phrase()
        s.wait(5.0)
        assert s.session.stats.turns == 0                            # a key is down: no answer
        s.play(0xB0, cc, 0)
        s.wait(0.1)
        assert s.session.stats.turns == 1


def test_continuous_mode_stops_the_answer_length_after_the_player_stops_and_starts_again_with_a_note():
    s = Stepped(mode="continuous", response_seconds=0.3)
    s.play(0x90, 40, 100)
    assert len(s.opened()) == 1 and s.session.turn.started
    s.wait(0.2)
    s.play(0x80, 40, 0)
    stopped = s.clock.now()
    s.until(stopped + 0.299)
    assert s.session.turn is not None                                # the player's release does not cut it
    assert not any(r.silenced for r in s.rollbacks())                # (the model is rolled back to hear it)
    s.until(stopped + 0.3)
    assert s.session.turn is None and s.rollbacks()[-1].silenced and s.session.stats.turns == 1
    s.wait(1.0)
    s.play(0x90, 41, 100)                                            # the next note starts segue again
    assert len(s.opened()) == 2


def test_continuous_mode_answers_are_capped_by_max_response_seconds():
    s = Stepped(mode="continuous", response_seconds=30.0, max_response_seconds=0.4)
    started = s.clock.now()
    s.play(0x90, 40, 100)
    for _ in range(3):                                               # the player keeps playing
        s.wait(0.1)
        s.play(0x80, 40, 0)
        s.play(0x90, 40, 100)
    s.until(started + 0.399)
    assert s.session.turn is not None
    s.until(started + 0.4)
    assert s.session.turn is None and s.rollbacks()[-1].silenced


def test_midi_stop_ends_the_answer_that_is_playing():
    s = Stepped()
    deadline = s.phrase() + 0.1
    s.until(deadline + 0.2)
    s.play(0xFC)
    assert s.session.turn is None and s.rollbacks()[-1].silenced
    s.wait(5.0)
    assert s.session.stats.turns == 1 and len(s.opened()) == 1      # and no new answer


def test_a_midi_stop_as_the_first_note_goes_out_does_not_bring_the_answer_again():
    """The band stops just as segue's prepared answer sounds, before the loop has marked the turn begun: the turn
    still counts as the answer to that silence (it used to be prepared and played again at once)."""
    s = Stepped()
    deadline = s.phrase() + 0.1
    s.until(deadline - 0.01)                                         # prepared, not yet begun
    s.clock.t = deadline
    s.sent_first_note(deadline)                                      # the scheduler's news, then the stop
    s.play(0xFC)
    assert s.session.turn is None and s.session.stats.turns == 1
    s.wait(5.0)
    assert len(s.opened()) == 1 and s.session.stats.turns == 1
