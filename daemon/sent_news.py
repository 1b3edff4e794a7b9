"""What the scheduler reports, applied on the session's thread: the scheduler posts each `Sent` (a scheduled message
left) and each `Released` (a release outside the schedule: cancel, panic, shutdown) into this mailbox, and the
session's loop applies them before it acts; no other thread touches a turn, the counts or the take.

Applying them keeps each turn's first note and its messages (--turn-log), counts the notes sent, puts segue's
messages into the take (--record; releases too, so no recorded note is left hanging) and logs them (-v).
"""
from __future__ import annotations

import collections
import logging

from segue.codec.midi import NOTE_ON, hex_bytes, kind_of
from daemon.scheduler import Sent

log = logging.getLogger("segue.daemon")


class SentNews:
    def __init__(self, stats, recorder=None, origin: float = 0.0, verbose: bool = False):
        self.stats, self.recorder, self.origin, self.verbose = stats, recorder, origin, verbose
        self.mailbox: collections.deque = collections.deque()   # append and popleft are safe across threads

    def post(self, news) -> None:
        """The scheduler's `post` (its thread, or whichever thread cancels or panics): one append."""
        self.mailbox.append(news)

    def apply(self, turn) -> None:
        """Everything posted so far, in order; `turn` is the session's current one (or None)."""
        while self.mailbox:
            news = self.mailbox.popleft()
            if isinstance(news, Sent):
                self._sent(news, turn)
            elif self.recorder is not None:
                self.recorder.segue(news.data, news.at)

    def _sent(self, sent: Sent, turn) -> None:
        item = sent.item
        if turn is not None and turn.answer_id == item.answer:
            if item.first_note and turn.first_note_at is None:
                turn.first_note_at = sent.at
            if self.stats.turn_log is not None:
                turn.sent.append((item.due, sent.at, item.data))
        if kind_of(item.data[0]) == NOTE_ON:
            self.stats.notes_sent += 1
        if self.verbose:
            log.debug("out %+.4f %s (%+.2f ms)", sent.at - self.origin, hex_bytes(item.data),
                      (sent.at - item.due) * 1000)
        if self.recorder is not None:
            self.recorder.segue(item.data, sent.at)
