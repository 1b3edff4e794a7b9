"""The signals that end `segue serve`, and the promise that they do end it.

Every signal a user or the system sends to end a program (Ctrl-C, kill, a closed terminal or dropped ssh session's
SIGHUP, Ctrl-\\'s SIGQUIT, the user signals, CPU and file-size limits, a power failure) goes through the same
shutdown: the session releases every note, sustain off, all-notes-off, then segue exits. Left to their default
action, SIGHUP and SIGQUIT killed segue at once with notes held at the synth.

A shutdown can itself hang: a JACK server that stopped (SIGSTOP, a debugger) never answers the libjack calls that
close segue's ports, and Python runs its signal handlers only between the main thread's bytecodes, so a main thread
inside such a call hears nothing. A watch thread hears the signals anyway (Python's wakeup file descriptor, written
by the C-level handler whatever the main thread is doing): when segue has not ended GRACE_S after the first one, or
at a second one once the first has had a moment, it exits at once and leaves the JACK client behind (what it sent
before is all a stopped server could play anyway).

That watch, not the signal handler, is also what asks the session to stop. Python runs a handler on the main thread
between two bytecodes, wherever that thread is: inside a `with lock:` of the very queue the stop word goes into, a
handler that takes the lock waits for itself for ever (measured: Ctrl-C during a flood, whose input keeps the main
thread in the inbox's lock most of the time, hung 1 shutdown in 6 until the grace ran out). So the handler does
nothing; the signal's byte on the wakeup file descriptor reaches the watch, which calls `on_stop` on a thread of
its own.
"""
from __future__ import annotations

import os
import select
import signal
import threading
import time

STOP_SIGNALS = frozenset(getattr(signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU",
    "SIGXFSZ", "SIGPWR") if hasattr(signal, name))
# A clean shutdown takes well under a second (a few JACK periods of grace for the last note-offs, threads joined),
# but a JACK server starved on a loaded machine (its cycles given up on, half a second each) answers late, not never:
# measured here, 4 s cut one such shutdown short (jackd gave up on 211 cycles meanwhile), leaving notes sounding.
# A user in a hurry sends a second signal.
GRACE_S = 10.0
# A second signal this soon after the first is the same keypress bouncing or a script sending two: not "hurry up".
SECOND_SIGNAL_S = 0.5
FORCED_EXIT = 1


def install(on_stop) -> "StopWatch":
    """Route every stop signal to `on_stop(name)` (called on a thread of the watch's, never inside a signal handler)
    and start the watch. Main thread only."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _heard_by_the_watch)
    return StopWatch(on_stop)


def _heard_by_the_watch(signum, frame) -> None:
    """A Python handler must be set, or the signal's default action kills segue; the wakeup fd tells the watch."""


class StopWatch:
    """Exits the process when a stop signal has not ended it within GRACE_S (see the module's docstring)."""

    def __init__(self, on_stop) -> None:
        self._on_stop = on_stop
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        self._write = write
        self._previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        self._first: float | None = None
        self._thread = threading.Thread(target=self._watch, name="segue-stop-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            timeout = None if self._first is None else max(0.0, self._first + GRACE_S - time.monotonic())
            readable, _, _ = select.select([self._read], [], [], timeout)
            now = time.monotonic()
            if readable:
                got = os.read(self._read, 64)
                if not got:
                    os.close(self._read)                 # closed: segue ended on its own
                    return
                if self._first is None:
                    self._first = now
                    # its own thread: a stop that cannot get through (a lock held by a hung call) must not keep
                    # this watch from its deadline
                    name = signal.Signals(got[0]).name
                    threading.Thread(target=self._on_stop, args=(name,), name="segue-stop", daemon=True).start()
                    continue
                if now - self._first < SECOND_SIGNAL_S:
                    continue
            if self._first is not None:
                os.write(2, b"segue: shutdown did not finish (a JACK server that stopped answering?); exiting now "
                            b"and leaving its client behind\n")
                os._exit(FORCED_EXIT)

    def close(self) -> None:
        """segue ended on its own: no more watching."""
        signal.set_wakeup_fd(self._previous)
        os.close(self._write)

