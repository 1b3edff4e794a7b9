"""The input ring of segue's C cycle (daemon/jack_process.c) overflowing (issue 22, item 9): the cycle runs here
in-process on fake libjack calls, so a flood of any size is exact; what it drops is counted, the place is marked, and
a sysex the ring cut short is dropped as segue's doing, not reported as the sender's missing F7. Over real JACK:
tests/daemon/test_hostile_live.py (a burst of 120,000 events)."""
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
    fake.cycle_with([note] * 30_000)                          # 3-byte events take 11 bytes of the 256 KiB ring
    dropped = fake.lib.sj_in_dropped(fake.cycle)
    first = fake.read_all()
    assert dropped > 0 and len(first) + dropped == 30_000 and all(event == note for event in first)
    fake.cycle_with([bytes([0x80, 60, 0])])
    assert fake.read_all() == [("gap", dropped), bytes([0x80, 60, 0])]   # the gap comes before what followed it
    fake.cycle_with([note])
    assert fake.read_all() == [note]                          # said once: no gap without a new drop
    assert fake.lib.sj_in_dropped(fake.cycle) == dropped


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
