"""segue's own JACK client (daemon/jack_client.py): the events it joins into messages, and over a real JACK server,
its shape (both ports on one client) and where in a cycle its messages land; its input stamps each message with the
JACK frame it arrived at."""
from __future__ import annotations

import collections
import threading
import time

import pytest

from daemon import jack_client
from daemon.backends import own_jack
from daemon.jack_client import EventJoiner
from daemon.testing import MidiDump, wait_until


def joined(*events: bytes) -> list[list[int]]:
    joiner = EventJoiner()
    return [message for event in events for message in joiner.messages(event)]


def test_whole_events_are_messages_and_a_split_sysex_is_joined():
    assert joined(bytes([0x90, 60, 90]), bytes([0xF8])) == [[0x90, 60, 90], [0xF8]]
    assert joined(bytes([0xF0, 1, 2]), bytes([3, 4]), bytes([5, 0xF7]), bytes([0x80, 60, 0])) == [
        [0xF0, 1, 2, 3, 4, 5, 0xF7], [0x80, 60, 0]]


def test_a_status_byte_ends_an_unfinished_sysex_which_comes_out_alone_before_it():
    assert joined(bytes([0xF0, 1, 2]), bytes([0x90, 60, 90]), bytes([0x80, 60, 0])) == [
        [0xF0, 1, 2], [0x90, 60, 90], [0x80, 60, 0]]
    # a new sysex ends the unfinished one too; a piece whose head was lost is dropped
    assert joined(bytes([0xF0, 1]), bytes([0xF0, 2, 0xF7]), bytes([7, 0xF7])) == [[0xF0, 1], [0xF0, 2, 0xF7]]


RATE = 48000


class FramedHandle:
    """Stands in for a JackMidiIn: messages waiting with the absolute frames they arrived at, frame 0 at `zero`."""

    def __init__(self, client_name):
        self.port_name, self.zero, self.waiting = f"{client_name}:in", time.perf_counter(), collections.deque()

    def open_virtual_port(self, port_name):
        pass

    def get_message(self):
        return self.waiting.popleft() if self.waiting else None

    def seconds_at(self, frame):
        return self.zero + frame / RATE

    def close_port(self):
        pass

    def delete(self):
        pass

    def dropped(self):
        return 0

    def dropped_summary(self):
        return None


def test_the_own_clients_input_stamps_each_message_with_the_frame_it_arrived_at(monkeypatch):
    monkeypatch.setattr(own_jack.Input, "handle", FramedHandle)
    heard, done = [], threading.Event()

    def sink(data, stamp):
        heard.append((data, stamp))
        if len(heard) == 4:
            done.set()

    port = own_jack.Input(sink, client_name="framed", port_name="in")
    with port:
        handle = port._rt
        ago = round((time.perf_counter() - handle.zero) * RATE) - RATE // 20    # they came 50 ms before the read
        frames = [ago, ago + 480, ago + 960]               # 10 ms apart, read in one go
        future = ago + RATE                                # placed later in a cycle than the moment it is read
        with port._lock:
            handle.waiting.extend([([0x90, 60, 90], frames[0]), ([0x80, 60, 0], frames[1]), ([0x90, 62, 90], frames[2]),
                                   ([0x80, 62, 0], future)])
        assert done.wait(5)
        read = time.perf_counter()
    assert [stamp for _, stamp in heard[:3]] == [handle.seconds_at(frame) for frame in frames]   # to the frame
    assert heard[3][1] <= read < handle.seconds_at(future)                                     # never ahead


needs_own_client = pytest.mark.skipif(not jack_client.available(), reason="segue's own JACK client was not built")


@needs_own_client
def test_both_ports_are_on_one_client_and_messages_land_where_in_the_cycle_they_were_sent(rig, jack, tmp_path):
    # thru: the player's own messages through segue, sent as they arrive (an answer of the tiny random model may hold
    # a single note); the bench measures the scheduled ones to the frame
    daemon, listener, player = rig("--thru", "--silence-ms", "60000")
    assert daemon.in_port.split(":")[0] == daemon.out_port.split(":")[0], (daemon.in_port, daemon.out_port)
    dump = MidiDump(jack, tmp_path)
    try:
        jack.connect(daemon.out_port, dump.port)
        player.phrase(pitches=(60, 62, 64, 65, 67, 69, 71, 72))    # all different: none is taken for an echo
        assert wait_until(lambda: len(dump.frames()) >= 16, 5), dump.messages()
        # python-rtmidi's client puts every message at the start of the cycle after its send (frame 0); segue's own
        # places each one period after its send, so they fall all over the cycle
        assert len(set(dump.frames())) > 1, dump.frames()
    finally:
        dump.close()


def test_seconds_at_asks_libjack_for_the_clocks_offset_once_per_refresh_not_per_message():
    """A flood's backlog is read message by message: a libjack call more per message kept the input thread from
    ever catching up after a 30 s flood of 20,000 messages a second (bench/flood.py: no answer for a minute)."""
    from types import SimpleNamespace

    from daemon.jack_client import JackClient

    calls = []
    client = JackClient.__new__(JackClient)
    client._zero, client._zero_taken, client._client = 0.0, float("-inf"), None
    client._lib = SimpleNamespace(jack_get_time=lambda: calls.append("time") or 5_000_000,
                                  jack_frames_to_time=lambda _client, frame: 5_000_000 + frame * 1000 // 48)
    stamps = [client.seconds_at(frame) for frame in range(0, 48_000, 48)]
    assert calls.count("time") == 1
    assert stamps[1] - stamps[0] == pytest.approx(0.001, abs=1e-6)


class StuckLibjack:
    """A libjack whose jack_client_close waits for ever (its synchro lock kept by a cancelled notification thread)."""

    def __init__(self):
        self.release = threading.Event()

    def jack_client_close(self, client):
        self.release.wait()


def test_a_client_close_that_never_returns_is_left_behind_within_its_bound(monkeypatch):
    monkeypatch.setattr(jack_client, "CLIENT_CLOSE_WAIT_S", 0.2)
    stuck = StuckLibjack()
    started = time.monotonic()
    try:
        assert jack_client.close_client(stuck, object(), "test") is False
        assert time.monotonic() - started < 5
    finally:
        stuck.release.set()
    assert jack_client.close_client(stuck, object(), "test") is True    # released: an ordinary close returns
