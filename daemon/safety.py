"""Note safety: know every note segue has sounding, and silence them all on demand.

Barge-in, the panic CC, SIGINT/SIGTERM and uncaught exceptions all end in `panic_messages()`: a note-off for each
sounding note, then sustain off (CC64 = 0) and all-notes-off (CC123) on every channel segue has used.
`EchoFilter` recognises segue's own output coming back into its input (a loop in the user's routing).
"""
from __future__ import annotations

import collections
import threading

NOTE_OFF, NOTE_ON, CONTROL = 0x80, 0x90, 0xB0
SUSTAIN_CC, ALL_NOTES_OFF_CC = 64, 123


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
    """Drops input messages that are segue's own output routed back in within `window_s`.

    Each sent message can excuse one identical arrival; a player striking the same key within the window is the
    rare casualty, a feedback loop that answers itself forever is the disaster avoided."""

    def __init__(self, window_s: float = 0.25, capacity: int = 512):
        self.window_s = window_s
        self._recent: collections.deque[tuple[float, tuple[int, ...]]] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()     # the scheduler adds, the session's input loop checks

    def sent(self, data, t: float) -> None:
        with self._lock:
            self._recent.append((t, tuple(data)))

    def is_echo(self, data, t: float) -> bool:
        key = tuple(data)
        with self._lock:
            while self._recent and t - self._recent[0][0] > self.window_s:
                self._recent.popleft()
            for i, (_, sent) in enumerate(self._recent):
                if sent == key:
                    del self._recent[i]
                    return True
        return False
