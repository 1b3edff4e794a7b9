"""What every MIDI port of the daemon does, the real ones (daemon/ports.py) and the tests' fakes alike.

Template methods, as mido's ports: the base checks, then calls what the subclass provides (`_send`, `_close`), so a
fake that subclasses the base inherits the real checks. An input hands each message to `deliver`, the one entrance
the session hears the player through, in production and in the tests.
"""
from __future__ import annotations

from segue.codec.midi import ACTIVE_SENSING      # a keyboard's keep-alive: never the model's business


class BaseOutput:
    name = ""
    closed = False
    places_in_time = False      # True: send(data, due) places the message at `due` itself (the scheduler need not wait)

    def send(self, data, due: float | None = None) -> None:
        """Send `data`; `due` (perf_counter seconds) is when it is meant to sound: an output that places messages in
        time holds it until then, the others send it now."""
        if self.closed:
            raise ValueError(f"send on the closed MIDI output {self.name!r}")
        if due is None or not self.places_in_time:
            self._send(data)
        else:
            self._send_at(data, due)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def _send(self, data) -> None:
        raise NotImplementedError

    def _send_at(self, data, due: float) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class BaseInput:
    """`sink(data, stamp)` gets every message worth hearing, stamped at arrival (the sink may be replaced while
    running); `busy()` says when the session must hear the player at once (it replaces it)."""
    name = ""
    # How late the notes played after an unfinished sysex (F0 with no F7) may arrive: 0 where the next message ends it
    deaf_after_unfinished_sysex_s = 0.0

    def __init__(self, sink) -> None:
        self.sink = sink
        self.busy = lambda: False

    def deliver(self, data, stamp: float) -> None:
        if data and data[0] != ACTIVE_SENSING:
            self.sink(data, stamp)
