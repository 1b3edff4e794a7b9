"""The session loop's time: the clock it reads, and the moments it acts on its own (no player message needed).

The clock is injectable: the real one is perf_counter (monotonic, the time every stamp in segue is on: ports,
scheduler, generator); tests pass a clock they advance, and drive the loop with `Session.pump()`, without sleeps.
"""
from __future__ import annotations

import time

SETTLE_S = 0.03              # wait this long after the last release before preparing: the encoder's last step is final
FLUSH_S = 0.01               # while the player is active, let the encoder finalize steps every 10 ms
ACTIVE_S = 2.0               # ... for this long after the last player message
IDLE_WAKE_S = 1.0            # the input loop's longest sleep
DEADLINE_LAG_S = 0.003       # the loop marks a prepared turn as started this long after its first note went out
END_LAG_S = 0.001            # an answer that ran its length ends this long after its last message was due
PORT_WATCH_S = 1.0           # the ports are looked at this often (reconnects)
# After a flood a note-off may have been lost before segue saw it (in the inbox, the own client's ring or
# python-rtmidi's queue, all counted as lost input): keys still down this long after the last input, with input lost
# in the LOST_INPUT_RECENT_S before it, count as released (measured: without it, the answer after a 30 s flood on
# python-rtmidi's clients came 10 s late, stale_key_seconds).
LOST_INPUT_STALE_S = 0.5
LOST_INPUT_RECENT_S = 2.0
# ... and such input leaves gaps in what the session hears, and a gap is no silence: no answer is prepared until input
# has been kept whole this long (measured on segue's own client, a 30 s flood: 55 answers opened into its gaps, their
# notes up to 1.4 s late; 5 with this hold).
LOSING_INPUT_S = 0.25


class WallClock:
    """The session's wall clock (as against a MIDI clock): perf_counter seconds."""

    @staticmethod
    def now() -> float:
        return time.perf_counter()


class Timers:
    """When the player last did something, and the moments that follow from it."""

    def __init__(self, stale_key_s: float):
        self.stale_key_s = stale_key_s
        self.last_player = -1e9      # the player's last note or pedal message
        self.last_input = -1e9       # the player's last message of any kind
        self.next_watch = 0.0        # when the ports are looked at next

    def player_active(self, now: float) -> bool:
        """The player played lately: the encoder's steps are finalized every FLUSH_S."""
        return now - self.last_player < ACTIVE_S

    @staticmethod
    def prepare_at(deadline: float, silence_s: float, inbox) -> float:
        """When to prepare the answer due at the silence `deadline`: once the encoder's last step is final, and not
        before input has been kept whole for LOSING_INPUT_S since the latest drop."""
        at = deadline - silence_s + min(SETTLE_S, silence_s)
        return at if inbox.last_drop is None else max(at, inbox.last_drop + LOSING_INPUT_S)

    def stale_at(self, holding: bool, inbox) -> float | None:
        """When keys or the pedal still down (`holding`) count as released: a lost note-off must not block the turn
        for good. Soon after input was lost (a flood: the backend's queue or the inbox dropped messages, releases
        among them where the backend dropped them), they are presumed released after LOST_INPUT_STALE_S instead."""
        if not holding:
            return None
        if inbox.last_drop is None or inbox.last_drop < self.last_input - LOST_INPUT_RECENT_S:
            return self.last_input + self.stale_key_s
        if inbox.waiting():
            return None                         # the flood's backlog still drains: that is input, not silence
        return max(self.last_input, inbox.last_put) + LOST_INPUT_STALE_S

    def watch_due(self, now: float) -> bool:
        """Whether the ports are to be looked at now (then not again for PORT_WATCH_S)."""
        if now < self.next_watch:
            return False
        self.next_watch = now + PORT_WATCH_S
        return True
