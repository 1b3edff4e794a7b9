"""Note safety: know every note segue has sounding, and silence them all on demand.

The panic CC, stop signals and uncaught exceptions end in `panic_messages()`: a note-off for each sounding note,
then sustain off (CC64 = 0) and all-notes-off (CC123) on every channel segue has used. A barge-in releases segue's own
notes only (`release_messages()`): the player's just struck note may sound on the same channel. At start,
and by `segue panic`, `all_channels_off()` covers what a killed segue may have left on any channel.
`EchoFilter` recognises segue's own output coming back into its input (a loop in the user's routing).
"""
from __future__ import annotations

import collections
import threading

from segue.codec.midi import (ALL_NOTES_OFF_CC, ALL_SOUND_OFF_CC, CHANNELS, CONTROL_CHANGE, NOTE_OFF, SUSTAIN_CC,
                              channel_of, is_note_off, is_note_on, kind_of)

DIRECT_S = 0.03                  # an equal message this soon after segue sent it is its echo (a loop with no
                                 #   delay of its own: JACK periods, a DAW's buffer); longer loops are learnt
LOOP_EVIDENCE = 6                # arrivals at one delay that make a delayed loop certain
LOOP_TOLERANCE_S = 0.02          # how far a delayed loop's echoes may stray from its delay (JACK periods, a DAW)


def all_channels_off() -> list[list[int]]:
    """Sustain off, all sound off and all notes off on all 16 channels: what `segue serve` sends when it starts
    (a previous segue may have died with notes sounding) and `segue panic` sends on demand. 48 messages: well
    within what one JACK period carries and a receiver like jack_midi_dump buffers."""
    return [[CONTROL_CHANGE | ch, cc, 0] for ch in range(CHANNELS) for cc in (SUSTAIN_CC, ALL_SOUND_OFF_CC, ALL_NOTES_OFF_CC)]


class NoteTracker:
    """Sounding output notes, keyed (channel, pitch) -> send time. Not thread-safe: its owner holds a lock."""

    def __init__(self) -> None:
        self.sounding: dict[tuple[int, int], float] = {}
        self.channels_used: set[int] = set()

    def sent(self, data, t: float) -> None:
        channel = channel_of(data[0])
        if is_note_on(data):
            self.sounding[(channel, data[1])] = t
            self.channels_used.add(channel)
        elif is_note_off(data):
            self.sounding.pop((channel, data[1]), None)
        elif kind_of(data[0]) == CONTROL_CHANGE:
            self.channels_used.add(channel)

    def release_messages(self) -> list[list[int]]:
        """A note-off for each of segue's sounding notes, and nothing else; forgets them (the caller sends them). What a
        barge-in sends: the player's notes on the same channel (passed thru, or from a keyboard on the same synth)
        sound on, where sustain off and all-notes-off would cut the note that just barged in."""
        messages = [[NOTE_OFF | ch, pitch, 0] for ch, pitch in sorted(self.sounding)]
        self.sounding.clear()
        return messages

    def panic_messages(self) -> list[list[int]]:
        """Messages that leave nothing sounding, the player's notes on segue's channels included; forgets the notes
        (the caller sends the messages)."""
        channels = sorted(self.channels_used | {ch for ch, _ in self.sounding})
        messages = self.release_messages()
        for ch in channels:
            messages.append([CONTROL_CHANGE | ch, SUSTAIN_CC, 0])
            messages.append([CONTROL_CHANGE | ch, ALL_NOTES_OFF_CC, 0])
        return messages


class EchoFilter:
    """Recognises segue's own output routed back to its input (a synth's or DAW's MIDI thru), by content and timing.

    An input message equal to one segue sent is its echo when it comes within DIRECT_S (a loop with no delay), or
    when it comes after the loop's own delay: once LOOP_EVIDENCE note-ons equal to ones segue sent agree on one
    delay (within LOOP_TOLERANCE_S) up to `window_s` after the send, that is a loop, and every later arrival at that delay is an
    echo. A player who repeats one of segue's notes does so at no steady delay, so is not taken for one. Each sent
    message excuses one arrival, the oldest first (a loop keeps order).

    The player's own notes passed thru (`thru=True`) are excused like segue's, but never teach the filter a delay:
    a player repeating a riff at a steady tempo meets their own thru'd notes at one steady delay (measured: the
    JACK tests' phrase every 0.71 s was taken for a loop after six repeats, and the player's notes were ignored)."""

    def __init__(self, window_s: float = 1.5, capacity: int = 1024):
        self.window_s = window_s
        self._recent: collections.deque[tuple[float, tuple[int, ...], bool]] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()     # the scheduler adds, the input thread and the session's loop check
        self._delays: collections.deque[float] = collections.deque(maxlen=2 * LOOP_EVIDENCE)

    def sent(self, data, t: float, thru: bool = False) -> None:
        with self._lock:
            self._recent.append((t, tuple(data), thru))

    def matches(self, data, t: float) -> bool:
        """Whether `data` at `t` is an echo, without using up the sent message that excuses it."""
        with self._lock:
            return self._find(tuple(data), t) is not None

    def is_echo(self, data, t: float) -> bool:
        key = tuple(data)
        with self._lock:
            while self._recent and t - self._recent[0][0] > self.window_s:
                self._recent.popleft()
            if is_note_on(key):
                # Evidence for (or against) a delayed loop comes from note-ons (pitch and velocity make them
                # distinctive; releases and controllers repeat): the delay since the latest equal one sent.
                latest = max((at for at, sent, thru in self._recent if sent == key and not thru and at < t - DIRECT_S),
                             default=None)
                if latest is not None:
                    self._delays.append(t - latest)
            found = self._find(key, t)
            if found is None:
                return False
            del self._recent[found]
            return True

    def loop_delay(self) -> float | None:
        """The loop's delay once enough echoes agree on one, else None."""
        with self._lock:
            return self._loop_delay()

    def _loop_delay(self) -> float | None:
        if len(self._delays) < LOOP_EVIDENCE:
            return None
        recent = sorted(list(self._delays)[-LOOP_EVIDENCE:])
        middle = recent[len(recent) // 2]
        return middle if recent[-1] - recent[0] <= 2 * LOOP_TOLERANCE_S else None

    def _find(self, key: tuple[int, ...], t: float) -> int | None:
        """Index of the sent message that `key` arriving at `t` echoes (caller holds the lock)."""
        loop = self._loop_delay()
        for i, (at, sent, _) in enumerate(self._recent):
            if sent != key:
                continue
            delay = t - at
            if 0 <= delay <= DIRECT_S or (loop is not None and abs(delay - loop) <= LOOP_TOLERANCE_S):
                return i
        return None
