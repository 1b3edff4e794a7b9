"""The input ring of segue's C cycle (daemon/jack_process.c) overflowing (issue 22, item 9): the cycle runs here
in-process on fake libjack calls, so a flood of any size is exact; what it drops is counted, the place is marked, and
a sysex the ring cut short is dropped as segue's doing, not reported as the sender's missing F7, and no release
(note-off, pedal up, all notes off) is ever what is dropped. Over real JACK: tests/daemon/test_hostile_live.py (a burst
of 120,000 events)."""
from __future__ import annotations

import ctypes

import pytest

from daemon import jack_client
from daemon.jack_client import GAP, EventJoiner, _Calls, _process_library

frames_t = ctypes.c_uint32


class MidiEvent(ctypes.Structure):          # jack_midi_event_t
    _fields_ = [("time", frames_t), ("size", ctypes.c_size_t), ("buffer", ctypes.c_void_p)]


class FakeJack:
    """The libjack calls the cycle makes, answering with the events of `self.events` (bytes) on the input port."""

    def __init__(self):
        self.events: list[bytes] = []
        self._keep = []
        self.calls = _Calls(*(ctypes.cast(self._hold(kind, function), ctypes.c_void_p) for kind, function in [
            (ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, frames_t), lambda port, n: 1),
            (ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p), lambda buffer: len(self.events)),
            (ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(MidiEvent), ctypes.c_void_p, ctypes.c_uint32),
             self._event_get),
            (ctypes.CFUNCTYPE(None, ctypes.c_void_p), lambda buffer: None),
            (ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, frames_t, ctypes.c_size_t), lambda b, t, s: None),
            (ctypes.CFUNCTYPE(frames_t, ctypes.c_void_p), lambda client: 0),
            (ctypes.CFUNCTYPE(frames_t, ctypes.c_void_p), lambda client: 0)]))
        self.lib = _process_library()
        self.lib.sj_process.argtypes, self.lib.sj_process.restype = [frames_t, ctypes.c_void_p], ctypes.c_int
        self.lib.sj_on_shutdown.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
        self.cycle = self.lib.sj_new(ctypes.byref(self.calls), None)
        self.lib.sj_set_ports(self.cycle, 1, None)            # an input port, no output
        self._buffers = []

    def _hold(self, kind, function):
        callback = kind(function)
        self._keep.append(callback)
        return callback

    def _event_get(self, event, buffer, index):
        data = ctypes.create_string_buffer(self.events[index], len(self.events[index]))
        self._buffers.append(data)
        event.contents.time, event.contents.size = index % 128, len(self.events[index])
        event.contents.buffer = ctypes.cast(data, ctypes.c_void_p)
        return 0

    def cycle_with(self, events: list[bytes]) -> None:
        self.events, self._buffers = events, []
        self.lib.sj_process(128, self.cycle)

    def read_all(self) -> list:
        """Everything the input thread would read now: bytes, or ("gap", how many dropped)."""
        buffer, frame, size, got = ctypes.create_string_buffer(1 << 16), frames_t(0), frames_t(0), []
        while True:
            n = self.lib.sj_read(self.cycle, buffer, len(buffer), ctypes.byref(frame), ctypes.byref(size))
            if n == 0:
                return got
            got.append(("gap", frame.value) if n == GAP else buffer.raw[:n])

    def close(self):
        self.lib.sj_free(self.cycle)


@pytest.fixture
def fake():
    if not jack_client.available():
        pytest.fail("segue's JACK cycle is not built here (pip install -e . builds daemon/_jack_process)")
    made = FakeJack()
    yield made
    made.close()


def test_a_flood_beyond_the_input_ring_is_counted_and_its_place_marked(fake):
    note = bytes([0x90, 60, 90])
    fake.cycle_with([note] * 30_000)                          # 3-byte events take 11 bytes of the ring
    dropped = fake.lib.sj_in_dropped(fake.cycle)
    first = fake.read_all()
    assert dropped > 0 and len(first) + dropped == 30_000 and all(event == note for event in first)
    assert len(first) < 12_000                                # a short backlog: what segue reads in a second or so
    fake.cycle_with([bytes([0x80, 60, 0])])
    assert fake.read_all() == [("gap", dropped), bytes([0x80, 60, 0])]   # the gap comes before what followed it
    fake.cycle_with([note])
    assert fake.read_all() == [note]                          # said once: no gap without a new drop
    assert fake.lib.sj_in_dropped(fake.cycle) == dropped


def test_a_flood_of_releases_costs_one_message_per_key_once_the_ring_is_full(fake):
    fake.cycle_with([SYSEX_20K] * 5 + [bytes([0x80, 60, 0])] * 20_000)
    got = [event for event in fake.read_all() if not isinstance(event, tuple)]
    fake.cycle_with([])                                       # room again: the one held aside comes now
    got += [event for event in fake.read_all() if not isinstance(event, tuple)]
    offs = got.count(bytes([0x80, 60, 0]))
    assert offs < 3_000 and got[-1] == bytes([0x80, 60, 0])
    assert len(got) + fake.lib.sj_in_dropped(fake.cycle) == 20_005


def last_word(messages) -> dict:
    """What each (channel, key) heard last: "on" or "off" (an all-notes-off releases its channel's keys)."""
    word = {}
    for data in messages:
        kind, channel = data[0] & 0xF0, data[0] & 0x0F
        if kind == 0x90 and data[2] > 0:
            word[(channel, data[1])] = "on"
        elif kind == 0x80 or kind == 0x90:
            word[(channel, data[1])] = "off"
        elif kind == 0xB0 and data[1] in (120, 123):
            word.update({key: "off" for key in word if key[0] == channel})
    return word


def flood_of_notes(count: int, keys: int = 2048, start: int = 0) -> list[bytes]:
    """Every key of 16 channels struck and released in turn, `count` events from event `start` on."""
    events = []
    for i in range(start, start + count):
        key = (i // 2) % keys
        events.append(bytes([(0x90 if i % 2 == 0 else 0x80) | key // 128, key % 128, 90 if i % 2 == 0 else 0]))
    return events


SYSEX_20K = bytes([0xF0, 0x7D, *([1] * 20_000), 0xF7])      # a few of these fill the 256 KiB ring fast


def test_a_flood_beyond_the_input_ring_loses_no_release(fake):
    sent = [SYSEX_20K] * 4 + flood_of_notes(8_000)            # about 2,900 notes fit after the sysex
    fake.cycle_with(sent)
    got = [event for event in fake.read_all() if not isinstance(event, tuple)]
    assert fake.lib.sj_in_dropped(fake.cycle) > 0
    assert sum(data[0] & 0xF0 == 0x90 for data in got) > 500  # notes got in until only the releases' room was left
    assert all(data[0] & 0xF0 == 0x80 for data in got[-100:])  # ... which went to releases
    fake.cycle_with([])                                       # room again: the releases held aside come now
    got += [event for event in fake.read_all() if not isinstance(event, tuple)]
    word = last_word(got)
    assert len(word) == 2048 and set(word.values()) == {"off"}   # every key struck was heard released
    assert len(got) + fake.lib.sj_in_dropped(fake.cycle) == len(sent)


def test_releases_held_aside_come_before_what_followed_them_and_the_pedal_and_all_notes_off_too(fake):
    fake.cycle_with([SYSEX_20K] * 13)                         # full, to the releases' reserve
    fake.cycle_with([bytes([0x80, 60, 0])] * 3_000 + [bytes([0xB0, 64, 0]), bytes([0xB3, 123, 0]),
                                                     bytes([0x90, 61, 90]), bytes([0x90, 62, 0])])
    first = fake.read_all()
    fake.cycle_with([bytes([0x90, 70, 90])])                  # the held releases go first, then this
    then = fake.read_all()
    assert then[0][0] == "gap"
    assert sorted(then[1:-1]) == sorted([bytes([0xB0, 64, 0]), bytes([0xB3, 123, 0]), bytes([0x80, 60, 0]),
                                         bytes([0x80, 62, 0])])
    assert then[-1] == bytes([0x90, 70, 90])
    assert bytes([0x90, 61, 90]) not in first + then          # a note-on that came while releases waited: dropped
    assert last_word([e for e in first + then if not isinstance(e, tuple)])[(0, 60)] == "off"


def test_jacks_shutdown_notification_sets_the_flag_the_server_watch_reads(fake):
    assert fake.lib.sj_server_gone(fake.cycle) == 0
    fake.lib.sj_on_shutdown(0, b"server gone", fake.cycle)
    assert fake.lib.sj_server_gone(fake.cycle) == 1


def test_a_sysex_the_ring_cut_short_is_dropped_not_taken_for_a_missing_f7():
    joiner = EventJoiner()
    assert joiner.messages(bytes([0xF0, 0x7D, 1, 2, 3])) == []          # a long sysex, its first piece
    assert joiner.gap() == 5                                            # the ring dropped the rest
    assert joiner.messages(bytes([4, 5, 0xF7])) == []                   # its tail, headless: dropped
    assert joiner.messages(bytes([0x90, 60, 90])) == [[0x90, 60, 90]]   # no unfinished sysex comes out
