"""segue's own JACK client as a backend: both ports on one client whose process cycle is C (daemon/jack_client.py).
One wake per cycle for both ports; an unfinished sysex ends at the next event; each message sent is placed one
period after the moment it is meant for."""
from __future__ import annotations

import logging
import time

from segue.errors import SegueError

from daemon import jack_client
from daemon.backends.client_port import ClientInput, ClientOutput
from daemon.port_base import BaseInput, BaseOutput
from daemon.ports import no_midi_system_line

log = logging.getLogger("segue.daemon")

DROPS_READ_S = 0.05              # the ring's drop count is read this often (while the input thread polls)


class _OwnJackPort:
    handle = jack_client.JackMidiIn

    def _new_client(self):
        try:
            return self.handle(self._client_name)
        except jack_client.NoJackServer as exc:
            raise SegueError(no_midi_system_line("jack", self.kind, exc)) from exc

    def _virtual(self, handle) -> str:
        handle.open_virtual_port(self._port_name)
        return handle.port_name

    def server_gone(self) -> bool | None:
        """JACK's own word (its shutdown notification) that the server left this port's client."""
        return self._rt.server_gone()


class Output(_OwnJackPort, ClientOutput, BaseOutput):
    """Messages handed over with their due time are placed to the frame (`places_in_time`)."""

    handle = jack_client.JackMidiOut
    places_in_time = True

    def delays_after_due(self) -> tuple[float, float] | None:
        """(reaches the connected ports, then sounds) seconds after a message's due time, as JACK reports them."""
        with self._lock:
            return None if self.lost else self._rt.delays_after_due_s()

    def _send(self, data) -> None:
        self._rt.send_message(data)

    def _send_at(self, data, due: float) -> None:
        self._rt.send_message(data, due - time.perf_counter())


class Input(_OwnJackPort, ClientInput, BaseInput):
    """Each message is stamped with the JACK frame it arrived at, as perf_counter time: exact, not rebuilt from
    spacings. A sender that places its events in time (segue's own client does) may put one later in the cycle than
    the moment segue reads it: such a stamp is the moment it was read, so that no stamp lies in the future."""

    _dropped, _dropped_read = 0, float("-inf")

    def _receive(self):
        got = self._rt.get_message()
        now = time.perf_counter()
        if now - self._dropped_read > DROPS_READ_S:
            # What the ring dropped is read here, on the input thread that holds the port's lock, not by the session
            # (its ticks would contend for the lock with every message of a flood).
            self._dropped, self._dropped_read = self._rt.dropped(), now
        if got is None:
            return None
        data, frame = got
        return data, min(self._rt.seconds_at(frame), now)

    def dropped(self) -> int | None:
        """What the C cycle's full ring dropped on this client (a client joined anew counts from 0), as of the input
        thread's last look."""
        return self._dropped

    def _close(self) -> None:
        summary = self._rt.dropped_summary()
        if summary:
            log.warning(summary)
        super()._close()
