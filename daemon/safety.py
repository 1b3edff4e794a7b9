"""Note safety: know every note segue has sounding, and silence them all on demand.

Barge-in, the panic CC, SIGINT/SIGTERM and uncaught exceptions all end in `panic_messages()`: a note-off for each
sounding note, then sustain off (CC64 = 0) and all-notes-off (CC123) on every channel segue has used. At start,
and by `segue panic`, `all_channels_off()` covers what a killed segue may have left on any channel.
`EchoFilter` recognises segue's own output coming back into its input (a loop in the user's routing).
"""
from __future__ import annotations

import collections
import threading

NOTE_OFF, NOTE_ON, CONTROL = 0x80, 0x90, 0xB0
SUSTAIN_CC, ALL_SOUND_OFF_CC, ALL_NOTES_OFF_CC = 64, 120, 123
MIDI_CHANNELS = 16
LOOP_EVIDENCE = 8                # echoes recognised before segue says its output is routed back to its input


def all_channels_off() -> list[list[int]]:
    """Sustain off, all sound off and all notes off on all 16 channels: what `segue serve` sends when it starts
    (a previous segue may have died with notes sounding) and `segue panic` sends on demand. 48 messages: well
    within what one JACK period carries and a receiver like jack_midi_dump buffers."""
    return [[CONTROL | ch, cc, 0] for ch in range(MIDI_CHANNELS) for cc in (SUSTAIN_CC, ALL_SOUND_OFF_CC, ALL_NOTES_OFF_CC)]


class NoteTracker:
    """Sounding output notes, keyed (channel, pitch) -> send time. Not thread-safe: its owner holds a lock."""

    def __init__(self) -> None:
        self.sounding: dict[tuple[int, int], float] = {}
        self.channels_used: set[int] = set()

    def sent(self, data, t: float) -> None:
        status = data[0] & 0xF0
        channel = data[0] & 0x0F
        if status == NOTE_ON and data[2] > 0:
            self.sounding[(channel, data[1])] = t
            self.channels_used.add(channel)
        elif status == NOTE_OFF or (status == NOTE_ON and data[2] == 0):
            self.sounding.pop((channel, data[1]), None)
        elif status == CONTROL:
            self.channels_used.add(channel)

    def panic_messages(self) -> list[list[int]]:
        """Messages that leave nothing sounding; forgets the notes (the caller sends the messages)."""
        messages = [[NOTE_OFF | ch, pitch, 0] for ch, pitch in sorted(self.sounding)]
        for ch in sorted(self.channels_used | {ch for ch, _ in self.sounding}):
            messages.append([CONTROL | ch, SUSTAIN_CC, 0])
            messages.append([CONTROL | ch, ALL_NOTES_OFF_CC, 0])
        self.sounding.clear()
        return messages


class EchoFilter:
    """Recognises segue's own output routed back to its input (a synth's or DAW's MIDI thru) up to `window_s` later.

    Each sent message can excuse one identical arrival, the oldest first (a loop keeps order). A player striking
    the same key at the same velocity within the window is the rare casualty; a feedback loop that answers itself
    forever is the disaster avoided. The delays of recognised echoes tell the session that a loop exists."""

    def __init__(self, window_s: float = 1.0, capacity: int = 512):
        self.window_s = window_s
        self._recent: collections.deque[tuple[float, tuple[int, ...]]] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()     # the scheduler adds, the input thread and the session's loop check
        self.delays: collections.deque[float] = collections.deque(maxlen=LOOP_EVIDENCE)

    def sent(self, data, t: float) -> None:
        with self._lock:
            self._recent.append((t, tuple(data)))

    def matches(self, data, t: float) -> bool:
        """Whether `data` at `t` looks like an echo, without using up the sent message that excuses it."""
        key = tuple(data)
        with self._lock:
            return any(sent == key and 0 <= t - at <= self.window_s for at, sent in self._recent)

    def is_echo(self, data, t: float) -> bool:
        key = tuple(data)
        with self._lock:
            while self._recent and t - self._recent[0][0] > self.window_s:
                self._recent.popleft()
            for i, (at, sent) in enumerate(self._recent):
                if sent == key:
                    del self._recent[i]
                    self.delays.append(t - at)
                    return True
        return False

    def loop_delay(self) -> float | None:
        """The typical delay of the echoes once enough came back to be sure it is a loop, not chance."""
        with self._lock:
            if len(self.delays) < LOOP_EVIDENCE:
                return None
            return sorted(self.delays)[len(self.delays) // 2]
