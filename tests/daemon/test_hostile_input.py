"""Any bytes at all into the input path (issue 22): the session survives, nothing malformed reaches the codec, thru or
the take, and nothing segue played is left sounding. A property test over random byte streams (thousands of them),
and the pieces it rests on: the message check, the bounded inbox, the flood shedding, the recorder."""
from __future__ import annotations

import dataclasses
import logging
import signal
import subprocess
import sys
import threading
import time

from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.inbox import Inbox
from daemon.input_check import malformed, salvage
from daemon.jack_client import EventJoiner
from daemon.recorder import Recorder
from daemon.stop_signals import STOP_SIGNALS
from daemon.player_backlog import shed_oldest_notes
from daemon.session import Session
from segue.codec import codec
from segue.codec.codec import NoteEdge
from daemon.settings import DaemonConfig
from tests.daemon.fakes import FakeInput, FakeOutput, ScriptedEngine, wait_for
from tests.daemon.test_session import sounding


class VocabularyEngine(ScriptedEngine):
    """The scripted engine, refusing events outside the vocabulary as the real engine does."""

    def _check(self, events):
        for event in events:
            if not 0 <= int(event) < codec.NUM_CLASSES:
                raise ValueError(f"event {event} is outside the {codec.NUM_CLASSES}-class vocabulary")

    def step(self, event, controls=None):
        self._check([event])
        return super().step(event, controls)

    def feed(self, events, controls=None):
        self._check(events)
        return super().feed(events, controls)


def run_session(events: list[bytes], folder, own_jack_path: bool) -> tuple[list, Session, Recorder]:
    cfg = dataclasses.replace(DaemonConfig(), silence_ms=20.0, lookahead_ms=50.0, thru=True, response_seconds=0.2)
    out, port_in, origin = FakeOutput(), FakeInput(), time.perf_counter()
    recorder = Recorder(folder, origin)
    session = Session(cfg, VocabularyEngine(), out, port_in, origin=origin, recorder=recorder)
    session.start()
    loop = threading.Thread(target=session.run, daemon=True)
    loop.start()
    joiner = EventJoiner()
    for event in events:
        # segue's own JACK client joins events into messages; python-rtmidi hands each event over as it is
        for message in (joiner.messages(event) if own_jack_path else [list(event)]):
            port_in.play(message)
    for pitch in (60, 64):                          # a phrase after the junk: the session still answers it
        port_in.play([0x90, pitch, 80])
        port_in.play([0x80, pitch, 0])
    wait_for(lambda: not session.queue._items, timeout=10)
    session.request_stop()
    loop.join(10)
    session.close()
    return out.messages(), session, recorder


byte_streams = st.lists(st.binary(min_size=1, max_size=6), min_size=1, max_size=30)
weighted_streams = st.lists(st.one_of(
    st.binary(min_size=1, max_size=6),
    st.tuples(st.sampled_from([0x80, 0x90, 0xB0, 0xC0, 0xE0, 0xF0, 0xF8]), st.binary(min_size=0, max_size=3))
    .map(lambda parts: bytes([parts[0]]) + parts[1])), min_size=1, max_size=30)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
@given(events=st.one_of(byte_streams, weighted_streams), own_jack_path=st.booleans())
def test_random_bytes_never_kill_the_session_nor_leave_a_note_sounding(tmp_path, events, own_jack_path):
    sent, session, recorder = run_session(events, tmp_path, own_jack_path)
    assert session.failure is None, session.failure
    assert all(malformed(message) is None for message in sent), [m for m in sent if malformed(m)]
    assert sounding(sent) == set()                  # what segue played (and passed thru) was all released
    take = mido.MidiFile(recorder.path)             # the take is whole and readable
    assert [track.name for track in take.tracks] == ["player", "segue"]


@pytest.mark.parametrize("message, why", [
    ([0x90, 0x3C, 0xF8], "a data byte above 127"), ([0x90, 0xFF, 0xFF], "a data byte above 127"),
    ([0x90, 0x3C], "2 bytes where its status byte says 3"), ([0xC0, 5, 5], "3 bytes where its status byte says 2"),
    ([0x3C, 0x40], "no status byte"), ([0xF8, 0x01], "2 bytes where its status byte says 1"), ([], "empty")])
def test_malformed_messages_are_named(message, why):
    assert malformed(message) == why


def test_whole_messages_pass(message=None):
    for ok in ([0x90, 60, 100], [0x80, 60, 0], [0xC0, 5], [0xD0, 64], [0xE0, 0, 64], [0xF8], [0xF2, 1, 2],
               [0xF0, 0x7E, 0x7F, 0xF7], [0xF0, 0x01]):
        assert malformed(ok) is None


def test_the_inbox_drops_malformed_messages_says_so_once_and_counts(caplog):
    inbox = Inbox()
    with caplog.at_level(logging.WARNING, logger="segue.daemon"):
        assert not inbox.put_message(0.0, [0x90, 0x3C, 0x00, 0x01])
        assert not inbox.put_message(0.1, [0x90, 0x3C])
        assert inbox.put_message(0.2, [0x90, 60, 90])
    assert [r.message for r in caplog.records if "malformed" in r.message].__len__() == 1
    assert inbox.get_nowait() == (0.2, [0x90, 60, 90])
    assert inbox.summaries() == ["input: 2 malformed MIDI message(s) dropped in all"]


@pytest.mark.parametrize("message, kept, whole", [
    ([0x90, 0x3C, 0xF8], [[0xF8]], False),                          # a clock byte where the velocity was
    ([0x90, 0x3C, 0xF8, 0x50], [[0xF8], [0x90, 0x3C, 0x50]], True),  # ... inside the message (MIDI allows it)
    ([0x80, 0x3C, 0xF8], [[0xF8], [0x80, 0x3C, 0]], False),         # a release is a release, whatever its velocity
    ([0x81, 0x3C], [[0x81, 0x3C, 0]], False),
    ([0x80, 0xF0, 0x3C], [], False), ([0xB0, 0x40], [], False), ([0x3C, 0x40], [], False)])
def test_of_a_malformed_message_its_real_time_bytes_and_a_note_offs_release_are_kept(message, kept, whole):
    assert malformed(message) is not None and salvage(message) == (kept, whole)


def test_a_note_off_with_a_broken_velocity_still_releases_the_key_and_the_note_passed_thru():
    cfg = dataclasses.replace(DaemonConfig(), silence_ms=20.0, lookahead_ms=50.0, thru=True, response_seconds=0.1)
    out, port_in = FakeOutput(), FakeInput()
    session = Session(cfg, VocabularyEngine(), out, port_in)
    session.start()
    loop = threading.Thread(target=session.run, daemon=True)
    loop.start()
    try:
        port_in.play([0x90, 60, 80])
        port_in.play([0x80, 60, 0xF8])                # a clock byte landed on its velocity (a merged cable)
        assert wait_for(lambda: (0x80 | session.channel, 60, 0) in out.messages(), timeout=5)
        assert wait_for(lambda: not session.policy.keys_down, timeout=5)
        assert wait_for(lambda: out.note_ons()[1:], timeout=8)   # and segue answers: the key is up
    finally:
        session.request_stop()
        loop.join(10)
        session.close()


def test_a_full_inbox_drops_the_oldest_but_keeps_every_release_before_what_came_after():
    inbox = Inbox(capacity=4)
    inbox.put_message(0.0, [0x90, 60, 90])
    inbox.put_message(0.1, [0xB0, 64, 127])
    inbox.put_message(0.2, [0x80, 60, 0])
    inbox.put_message(0.3, [0xB0, 64, 0])
    for i in range(6):
        inbox.put_message(1.0 + i, [0x90, 70 + i, 90])
    inbox.put((5.0, "stop word"))                   # never dropped
    taken = []
    while True:
        try:
            taken.append(inbox.get_nowait())
        except Exception:                           # queue.Empty
            break
    assert taken[:2] == [(0.2, [0x80, 60, 0]), (0.3, [0xB0, 64, 0])]   # the releases, first, in order
    assert [t for t, _ in taken[2:]] == [3.0, 4.0, 5.0, 6.0, 5.0]      # the last four notes, the stop word
    assert inbox.dropped == 6


def test_shedding_keeps_the_latest_notes_and_every_release_of_a_note_the_model_heard():
    heard_before = [NoteEdge(0, True, 50, 0)]       # the end of a note the model already heard
    edges = heard_before + [edge for i in range(10) for edge in (NoteEdge(i, False, 60 + i, 80),
                                                                 NoteEdge(i + 1, True, 60 + i, 0))]
    kept, shed = shed_oldest_notes(edges, limit=7)
    assert shed == 7
    assert kept[0] == NoteEdge(0, True, 50, 0)
    assert [e.pitch for e in kept[1:]] == [67, 67, 68, 68, 69, 69]
    assert shed_oldest_notes(edges[:5], limit=7) == (edges[:5], 0)


def test_the_recorder_leaves_out_what_it_cannot_write_and_survives_a_removed_folder(tmp_path, caplog):
    folder = tmp_path / "takes"
    recorder = Recorder(folder, origin=0.0)
    for message in ([0x90, 0x3C], [0xB0, 0x40], [0xC0, 5, 5], [0x90, 0xF8, 0x50]):
        recorder.player(message, 0.1)
    recorder.player([0x90, 60, 80], 0.5)
    recorder.segue([0x90, 72, 80], 0.6)
    first = recorder.flush()
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()                                  # removed mid-session
    recorder.player([0x80, 60, 0], 1.0)
    recorder.segue([0x80, 72, 0], 1.2)
    with caplog.at_level(logging.WARNING, logger="segue.daemon"):
        assert recorder.flush() == first
    take = mido.MidiFile(first)
    notes = [(m.type, m.note) for track in take.tracks for m in track if not m.is_meta]
    assert notes == [("note_on", 60), ("note_off", 60), ("note_on", 72), ("note_off", 72)]
    assert sum("malformed" in r.message for r in caplog.records) <= 1


def test_a_record_folder_that_cannot_be_written_is_said_once_and_the_take_goes_to_the_temporary_folder(tmp_path,
                                                                                                     caplog):
    folder = tmp_path / "takes"
    recorder = Recorder(folder, origin=0.0)
    recorder.player([0x90, 60, 80], 0.5)
    folder.rmdir()
    folder.write_text("a file where the folder was")    # no folder can be made there, even by root
    with caplog.at_level(logging.WARNING, logger="segue.daemon"):
        assert recorder.flush() is None and recorder.flush() is None
        rescued = recorder.flush(final=True)
    assert sum("cannot write" in r.message for r in caplog.records) == 2      # once, and the rescue
    assert mido.MidiFile(rescued).tracks[0].name == "player"
    rescued.unlink()


def test_after_a_flood_that_lost_input_keys_left_down_are_released_soon_and_segue_answers():
    cfg = dataclasses.replace(DaemonConfig(), silence_ms=50.0, lookahead_ms=50.0, response_seconds=0.3)
    out, port_in = FakeOutput(), FakeInput()
    session = Session(cfg, VocabularyEngine(), out, port_in, inbox=Inbox(capacity=8))
    session.start()
    for i in range(200):                            # a flood of note-ons, before the loop runs: their note-offs
        port_in.play([0x90, 30 + i % 60, 80])       # were lost on the way, where segue cannot see (python-rtmidi)
    flood_end = time.perf_counter()
    loop = threading.Thread(target=session.run, daemon=True)
    loop.start()
    try:
        assert wait_for(lambda: out.note_ons(), timeout=8)
        assert time.perf_counter() - flood_end < cfg.stale_key_seconds
    finally:
        session.request_stop()
        loop.join(10)
        session.close()
    assert session.queue.dropped == 192


def test_a_burst_of_clock_bytes_is_no_tempo_and_the_next_beat_is_the_trigger_itself():
    from daemon.clock import MidiClock

    clock = MidiClock()
    for _ in range(20):                             # sent back to back: every interval 0
        clock.handle(0xF8, 5.0)
    assert clock.beat_seconds(5.0) is None and clock.bpm(5.0) is None
    assert clock.next_beat(5.2, 5.0) == 5.2


# The main thread inside the inbox's lock (where the session loop spends most of a flood) when a stop signal comes:
# Python runs a signal handler right there, between two bytecodes, so a handler that queued the stop word waited
# for its own lock for ever (Ctrl-C during a flood hung until the stop watch's grace ran out).
STOP_IN_THE_LOCK = """
import os, signal, sys, time
from daemon import stop_signals
from daemon.inbox import Inbox
inbox = Inbox()
stop_signals.install(lambda name: inbox.put((time.perf_counter(), name)))
with inbox._cond:
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(10000):                          # bytecodes: where Python runs the handler
        pass
print(inbox.get(timeout=5)[1], flush=True)
"""


def test_a_stop_signal_while_the_main_thread_holds_the_inbox_lock_still_stops():
    done = subprocess.run([sys.executable, "-c", STOP_IN_THE_LOCK], capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stdout.strip() == "SIGINT", done.stderr[-2000:]


EACH_STOP_SIGNAL = """
import os, queue, signal
from daemon import stop_signals
heard = queue.Queue()
for signum in sorted(stop_signals.STOP_SIGNALS):
    watch = stop_signals.install(heard.put)
    os.kill(os.getpid(), signum)
    print(heard.get(timeout=5), flush=True)
    watch.close()
"""


def test_every_stop_signal_asks_the_session_to_stop_and_kills_nothing():
    """The one route all of them take; SIGHUP and SIGQUIT also live in tests/daemon/test_hostile_live.py."""
    done = subprocess.run([sys.executable, "-c", EACH_STOP_SIGNAL], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [signal.Signals(s).name for s in sorted(STOP_SIGNALS)]
    assert len(STOP_SIGNALS) == 12
