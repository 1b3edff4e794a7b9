"""What every MIDI port of the daemon does, the real ones (daemon/backends/) and the tests' fakes alike.

Template methods, as mido's ports (mido/ports.py): the base opens in `__init__` (the subclass's `_open`), holds the
port's one lock, closes once (`close` -> `_close`) and is a context manager; `send` checks, then calls what the
subclass provides (`_send`, `_send_at`); an input's thread reads the backend through `_receive` and hands each
message to `deliver`, the one entrance the session hears the player through, in production and in the tests. So a
fake that subclasses the base inherits the real checks, and a backend writes only the underscored methods.
"""
from __future__ import annotations

import threading
import time

from segue.codec.midi import ACTIVE_SENSING      # a keyboard's keep-alive: never the model's business

# The input thread polls the backend every millisecond while the player is playing or segue answers (a barge-in must
# silence segue at once) or thru is on, every 50 ms otherwise (idle CPU: the first note of a phrase only starts the
# player's turn, nothing audible waits for it); arrival stamps are exact either way. Measured idle here, per thread
# over 30 s: the poller took 0.37% of a core at 20 ms, 0.13% at 50 ms.
POLL_EAGER_S, POLL_IDLE_S = 0.001, 0.05
EAGER_S = 2.0                    # stay eager this long after the last message
CLOSE_WAIT_S = 1.0               # the longest close() waits for the input thread's last poll


class BasePort:
    """Opened by `__init__` (its keyword arguments go to `_open`), closed once by `close()` or a `with` block.

    `_lock` guards the backend's client: sends from several threads (scheduler, thru, panic), the input thread's
    reads, and the supervisor's leave/join/abandon never meet. `lost`: the JACK server under the port went away
    (daemon/jack_supervisor.py); the port stays quiet until it joins the server that runs again."""

    name = ""
    closed = False
    lost = False

    def __init__(self, **kwargs) -> None:
        self._lock = threading.RLock()
        self._open(**kwargs)

    def _open(self, **kwargs) -> None:
        pass

    def _close(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        state = "closed" if self.closed else "lost" if self.lost else "open"
        return f"<{type(self).__name__} {self.name!r} {state}>"


class BaseOutput(BasePort):
    places_in_time = False      # True: send(data, due) places the message at `due` itself (the scheduler need not wait)

    def send(self, data, due: float | None = None) -> None:
        """Send `data`; `due` (perf_counter seconds) is when it is meant to sound: an output that places messages in
        time holds it until then, the others send it now. While `lost` sends go nowhere: the backend would queue
        them for a process cycle that never comes, and once its queue is full, spin in the send."""
        if self.closed:
            raise ValueError(f"send on the closed MIDI output {self.name!r}")
        with self._lock:
            if self.lost:
                return
            if due is None or not self.places_in_time:
                self._send(data)
            else:
                self._send_at(data, due)

    def delays_after_due(self) -> tuple[float, float] | None:
        """(reaches the connected ports, then sounds) seconds after a message's due time, where the backend says."""
        return None

    def _send(self, data) -> None:
        raise NotImplementedError

    def _send_at(self, data, due: float) -> None:
        raise NotImplementedError


class BaseInput(BasePort):
    """`sink(data, stamp)` gets every message worth hearing, stamped at arrival on perf_counter (the sink may be
    replaced while running); `busy()` says when the session must hear the player at once (it replaces it).

    A backend provides `_receive()`: its next message as (data, stamp), or None when nothing waits. A thread of
    segue's own (`segue-input`) calls it under the port's lock and delivers outside it: no Python ever runs in the
    backend's thread (under JACK the audio server's process cycle, where a Python callback would wait for the GIL
    while any busy thread of segue holds it: xruns, then lost messages). A port without `_receive` (a test's fake)
    is played into through `deliver` alone."""

    # How late the notes played after an unfinished sysex (F0 with no F7) may arrive: 0 where the next message ends it
    deaf_after_unfinished_sysex_s = 0.0
    _receive = None

    def __init__(self, sink, **kwargs) -> None:
        self.sink = sink
        self.busy = lambda: False
        super().__init__(**kwargs)
        self._thread = None
        if self._receive is not None:
            self._thread = threading.Thread(target=self._read, name="segue-input", daemon=True)
            self._thread.start()

    @property
    def thread_id(self) -> int | None:
        """The native id of the thread that reads the backend (daemon/realtime.lift_threads)."""
        return self._thread.native_id if self._thread is not None else None

    def deliver(self, data, stamp: float) -> None:
        if data and data[0] != ACTIVE_SENSING:
            self.sink(data, stamp)

    def close(self) -> None:
        """No message is delivered once this returns (the input thread has ended), then the port closes."""
        if self.closed:
            return
        with self._lock:
            self.closed = True                   # the thread's last poll: it reads nothing more
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=CLOSE_WAIT_S)
        self._close()

    def _read(self) -> None:
        now, sleep, lock, receive = time.perf_counter, time.sleep, self._lock, self._receive
        last_message = -1e9
        while True:
            with lock:
                if self.closed:
                    return
                got = None if self.lost else receive()
            if got is None:
                eager = now() - last_message < EAGER_S or self.busy()
                sleep(POLL_EAGER_S if eager else POLL_IDLE_S)
                continue
            last_message = now()
            self.deliver(*got)
