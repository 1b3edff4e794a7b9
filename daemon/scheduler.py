"""The scheduler thread: sends each generated message at its intended time, and nothing after a cancel.

Timing: wait on a condition until ~1 ms before the message is due (so new work or a cancel wakes us), then spin on
`perf_counter` for the last stretch — on this machine plain sleeps were 288 us late at p99, sleep-then-spin 44 us.
An output that places messages in time itself (segue's own JACK client) gets the message then, with its due time,
and no spin: it is exact to the frame whenever the hand-over is not late. The generator asks `quiet_for()` before
each model step and stays off the GIL while a send is imminent.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

from segue.codec.midi import channel_of, is_note_off
from daemon.realtime import become_realtime
from daemon.safety import EchoFilter, NoteTracker, all_channels_off


@dataclass(slots=True)
class Scheduled:
    due: float                 # intended send time, perf_counter seconds
    data: tuple[int, ...]      # the MIDI message
    answer: int                # which answer it belongs to
    index: int                 # position of the generated event it came from (for rollback)
    first_note: bool = False   # the answer's first note-on (its latency is logged)
    epoch: int = 0             # the scheduler's epoch it was generated in (see Scheduler.cancel)
    opened: float = 0.0        # when the session opened its answer (a player note-on after that stops it)


@dataclass(slots=True)
class Sent:
    """News for the scheduler's owner: a scheduled message left."""
    item: Scheduled
    at: float                  # when it left: right after the send call, or its due time if handed over early


@dataclass(slots=True)
class Released:
    """News for the scheduler's owner: a release sent outside the schedule (cancel, panic, shutdown)."""
    data: list[int]
    at: float


class Scheduler:
    def __init__(self, output, spin_s: float = 0.001, post=None, echo: EchoFilter | None = None,
                 realtime_priority: int = 0, yield_to_player: bool = True):
        self.output = output
        self.spin_s = spin_s
        self.realtime_priority = realtime_priority
        self.realtime = False
        # post(Sent | Released): hands the news to its owner's thread (a mailbox's append; it must be quick, it runs
        # on the scheduler thread, or on whichever thread cancels or panics). The owner applies it on its own thread.
        self.post = post
        self.tracker = NoteTracker()
        self.echo = echo or EchoFilter()
        self.send_errors: collections.deque[float] = collections.deque(maxlen=100_000)   # Sent.at - due, seconds
        self._queue: collections.deque[Scheduled] = collections.deque()
        self._cond = threading.Condition()
        self._last_sent: dict[int, int] = {}     # answer -> index of its last sent message
        # Every cancel starts a new epoch: messages the generator made before it heard of the cancel are stale
        # (the model is rolled back past them) and are dropped when they arrive, however late.
        self.epoch = 0
        # The input thread stamps each player note-on here before the session's loop sees it: an answer opened
        # before it must not sound another note, even if the loop is busy (a prepared answer due right now).
        self.yield_to_player = yield_to_player   # False in continuous mode: segue plays along
        self._player_note_at = float("-inf")
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="segue-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # --- called by other threads --------------------------------------------------------------------------------
    def push(self, item: Scheduled) -> None:
        with self._cond:
            if item.epoch != self.epoch:
                return                      # generated before a cancel it had not yet heard of
            self._queue.append(item)
            self._cond.notify()

    def player_note(self, stamp: float) -> None:
        """A player's note-on arrived (input thread): answers opened before it go silent now."""
        self._player_note_at = max(self._player_note_at, stamp)

    def next_due(self) -> float | None:
        with self._cond:
            return self._queue[0].due if self._queue else None

    def pending(self, answer: int) -> int:
        with self._cond:
            return sum(1 for item in self._queue if item.answer == answer)

    def quiet_for(self, now: float, guard_s: float = 0.0015) -> float:
        """Seconds the generator should keep off the CPU so a send due within `guard_s` is not delayed."""
        due = self.next_due()
        if due is None or due - now > guard_s:
            return 0.0
        return max(0.0, due - now) + 0.0002

    def cancel(self, answer: int, silence: bool) -> int:
        """Drop the answer's messages not yet sent; with `silence`, also release every note of segue's sounding
        (note-offs only: the player's notes on the channel sound on; `panic` is the one that silences everything).

        Returns the index of the answer's last sent message (-1: nothing of it sounded): the rollback point.
        A cancelled answer that never sounded sends nothing (no stray controller messages while the player plays).
        Starts a new epoch: the generator tags what it makes after hearing of this cancel with `epoch`."""
        with self._cond:
            self.epoch += 1
            self._queue = collections.deque(item for item in self._queue if item.answer != answer)
            last = self._last_sent.pop(answer, -1)
            if silence and self.tracker.sounding:
                self._send_now(self.tracker.release_messages())
            self._cond.notify()
        return last

    def panic(self) -> None:
        """Drop everything and leave nothing sounding (panic CC, signals, exceptions, shutdown)."""
        with self._cond:
            self._queue.clear()
            self._send_now(self.tracker.panic_messages())

    def release_all_channels(self) -> None:
        """At start: whatever a previous segue (killed, crashed) left sounding on any channel is released. Not
        remembered as possible echoes: coming back through a loop they are harmless, and a player's own
        all-notes-off in the next second must still count."""
        with self._cond:
            for data in all_channels_off():
                self.output.send(data)

    def send_now(self, data, track: bool = True) -> None:
        """Send outside the schedule (state CC, thru). Thru notes are the player's: a barge-in must not cut them,
        so they are not tracked as segue's notes, but their channel still gets all-notes-off at shutdown."""
        with self._cond:
            if track:
                self._send_now([data])
            else:
                self.output.send(data)
                self.tracker.channels_used.add(channel_of(data[0]))
                self.echo.sent(data, time.perf_counter(), thru=True)   # thru looped back must not come round again

    def sounding(self) -> dict:
        with self._cond:
            return dict(self.tracker.sounding)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    # --- the thread ---------------------------------------------------------------------------------------------
    def _send_now(self, messages) -> None:
        for data in messages:
            self.output.send(data)
            now = time.perf_counter()
            self.tracker.sent(data, now)
            self.echo.sent(data, now)
            if self.post is not None:
                self.post(Released(data, now))

    def _releases(self, data) -> bool:
        """A note-off of a note segue has sounding. Still sent after the player came in: the session's cancel
        releases what sounds, but an answer that reached its length meanwhile (nothing left pending, once the rest
        was skipped) gets no cancel, and a skipped note-off left its note sounding for good."""
        return is_note_off(data) and (channel_of(data[0]), data[1]) in self.tracker.sounding

    def _run(self) -> None:
        self.realtime = become_realtime(self.realtime_priority)
        clock = time.perf_counter
        timed = self.output.places_in_time
        while True:
            with self._cond:
                while not self._stopping:
                    if self._queue:
                        wait = self._queue[0].due - clock() - self.spin_s
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopping:
                    return
                due = self._queue[0].due
            while not timed and clock() < due:        # the last ~1 ms: spin, holding no lock
                pass
            with self._cond:
                if not self._queue or self._queue[0].due != due:
                    continue           # cancelled (or replaced) while we spun
                item = self._queue.popleft()
                yielded = self.yield_to_player and item.opened < self._player_note_at
                if yielded and not self._releases(item.data):
                    continue           # the player came in: the answer sounds no more (the session cancels it)
                self.output.send(item.data, item.due)
                sent_at = max(clock(), item.due) if timed else clock()
                self.tracker.sent(item.data, sent_at)
                self.echo.sent(item.data, sent_at)
                if not yielded:        # the rollback point stays where the player came in (what the model heard)
                    self._last_sent[item.answer] = item.index
            self.send_errors.append(sent_at - item.due)
            if self.post is not None:
                self.post(Sent(item, sent_at))
