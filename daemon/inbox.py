"""The session's inbox: the player's messages (from the input thread), stop words and the generator's news, in order.

Where the player's input enters segue, whichever port it came through: a malformed message is dropped here
(daemon/input_check.py), before the codec, thru or the recorder could meet it.

Bounded for the player's messages: a flood (a stuck controller, a runaway script, a feedback loop) must cost neither
memory without bound nor minutes of backlog. Past CAPACITY waiting messages the oldest is dropped, except a release
(a note-off, the sustain pedal up, all notes/sound off): that is kept aside, the latest per key, pedal or channel,
and handed over before everything that came after it, so no key or pedal stays down in segue's ears (and the player's
own notes passed thru are still released). Stop words and the generator's news are never dropped.
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
import time

from daemon.input_check import InputCheck
from segue.codec.midi import (ALL_NOTES_OFF_CC, ALL_SOUND_OFF_CC, CONTROL_CHANGE, PEDAL_DOWN, SUSTAIN_CC, channel_of,
                              is_note_off, kind_of)

log = logging.getLogger("segue.daemon")

# About a second of a dense flood (the session loop takes well over 10,000 messages a second here), a minute of the
# densest playing: a player never meets it, and a flood's backlog drains in a blink once it ends.
CAPACITY = 8192


def release_key(data) -> tuple | None:
    """What a release lets go of ((channel, pitch), (channel, "pedal"), (channel, "all")), or None for anything else."""
    if is_note_off(data):
        return channel_of(data[0]), data[1]
    if len(data) == 3 and kind_of(data[0]) == CONTROL_CHANGE:
        if data[1] == SUSTAIN_CC and data[2] < PEDAL_DOWN:
            return channel_of(data[0]), "pedal"
        if data[1] in (ALL_NOTES_OFF_CC, ALL_SOUND_OFF_CC):
            return channel_of(data[0]), "all"
    return None


class Inbox:
    """queue.SimpleQueue's put/get/get_nowait for (stamp, item) pairs; `put_message` for the player's messages."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._items: collections.deque = collections.deque()
        self._messages = 0                                 # player's messages among _items
        self._kept: dict[tuple, tuple] = {}                # releases of dropped messages, oldest first
        self._cond = threading.Condition(threading.Lock())
        self.dropped = 0
        self.last_drop: float | None = None                # perf_counter time of the latest flood drop (anywhere)
        self._backend_dropped = 0                          # what the input's backend said it dropped, so far
        self.last_put = float("-inf")                      # ... of the latest message queued
        self.check = InputCheck()

    def put_message(self, stamp: float, data) -> bool:
        """Queue a message of the player's; False when it is malformed and what it meant is lost (input_check.salvage
        may still queue its real-time bytes or, of a broken note-off, the release)."""
        messages, whole = self.check.messages(data)
        if not messages:
            return False
        with self._cond:
            for message in messages:
                self._items.append((stamp, message, True))
                self._messages += 1
                if self._messages > self.capacity:
                    self._drop_oldest_message()
            self.last_put = time.perf_counter()
            self._cond.notify()
        return whole

    def put(self, item) -> None:
        """A stop word or the generator's news: (stamp, object); never dropped."""
        with self._cond:
            self._items.append((*item, False))
            self._cond.notify()

    def _drop_oldest_message(self) -> None:
        for i, (stamp, data, is_message) in enumerate(self._items):
            if is_message:
                del self._items[i]
                break
        self._messages -= 1
        self.dropped += 1
        self.last_drop = time.perf_counter()
        if self.dropped == 1:
            log.warning("input: more MIDI than segue can take (a flood?); dropping the oldest messages, keeping note "
                        "and pedal releases. Said once; counted.")
        key = release_key(data)
        if key is not None:
            self._kept.pop(key, None)                      # the latest release of that key, after the older ones
            self._kept[key] = (stamp, data)

    def backend_dropped(self, total: int | None, now: float) -> None:
        """The input's backend has dropped `total` messages so far before they reached the inbox (python-rtmidi's
        queue, segue's own client's C ring; None: it cannot say). New drops are lost input like the inbox's own."""
        if total is None:
            return
        if total > self._backend_dropped:
            self.last_drop = now
        self._backend_dropped = total                      # a client joined anew counts from 0

    def waiting(self) -> bool:
        """Whether any of the player's messages wait (a backlog is input still to hear, not silence)."""
        with self._cond:
            return bool(self._messages or self._kept)

    def get(self, timeout: float | None = None):
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._kept, timeout):
                raise queue.Empty
            return self._take()

    def get_nowait(self):
        with self._cond:
            if not (self._items or self._kept):
                raise queue.Empty
            return self._take()

    def _take(self):
        if self._kept:
            key = next(iter(self._kept))
            return self._kept.pop(key)
        stamp, item, is_message = self._items.popleft()
        self._messages -= is_message
        return stamp, item

    def summaries(self) -> list[str]:
        """The lines said at the end of the session: what was dropped, if anything."""
        flood = [f"input: {self.dropped} messages of a flood dropped in all (releases kept)"] if self.dropped else []
        return [line for line in (self.check.summary(), *flood) if line]
