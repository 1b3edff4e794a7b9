"""python-rtmidi's ports: ALSA, CoreMIDI, WinMM, and JACK where segue's own client was not built (one JACK client per
port, so segue shows up as `segue:in` and `segue-01:out`, and `segue-probe`: sysex_probe.py).

We talk to python-rtmidi directly (mido's rtmidi backend is a thin layer over the same calls). Its input queues each
message with the time since the previous one; segue's input thread (daemon/port_base.py) reads the queue and turns
those spacings back into perf_counter arrival times (ArrivalClock), so a message is stamped when it arrived, not
when segue got round to it.
"""
from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import sys
import time

import rtmidi

from segue.errors import SegueError

from daemon.backends.client_port import ClientInput, ClientOutput
from daemon.backends.stderr_tap import StderrTap
from daemon.backends.sysex_probe import DEAF_AT_MOST_S, Probe
from daemon.port_base import BaseInput, BaseOutput
from daemon.ports import BACKENDS, find_port, no_midi_system_line, probe_client

NO_VIRTUAL_PORTS = {"winmm"}     # Windows MultiMedia has no virtual ports; loopMIDI provides them
INPUT_QUEUE = 8192               # messages the backend holds for the input thread: 4 s of a 2,000 msg/s flood

log = logging.getLogger("segue.daemon")

# RtMidi prints a line of its own for every message its full input queue drops (JACK's and ALSA's inputs alike):
# counted, and said once in segue's words instead.
QUEUE_FULL = StderrTap(b"message queue limit reached",
                       "input: python-rtmidi's input queue is full (a flood faster than segue reads); it drops the "
                       "newest messages. Said once; counted.")


def client(kind: str, backend: str, client_name: str):
    """A python-rtmidi MidiIn (`kind` "input") or MidiOut on `backend`; a missing MIDI system is a SegueError."""
    if backend == "jack":
        os.environ.setdefault("JACK_NO_START_SERVER", "1")   # never let libjack spawn a server behind our back
    try:
        # libjack and libasound print lines of their own to fd 2 when there is no server or sequencer; the error
        # below says what to do instead
        with _quiet_stderr():
            if kind == "input":
                rt = rtmidi.MidiIn(BACKENDS[backend], name=client_name, queue_size_limit=INPUT_QUEUE)
                # Nothing filtered by the backend: a message it drops would take its time spacing with it.
                rt.ignore_types(sysex=False, timing=False, active_sense=False)
            else:
                rt = rtmidi.MidiOut(BACKENDS[backend], name=client_name)
    except rtmidi.SystemError as exc:
        raise SegueError(no_midi_system_line(backend, kind, exc)) from exc
    rt.set_error_callback(lambda *args: None)   # nothing may print from the backend's threads
    return rt


@contextlib.contextmanager
def _quiet_stderr():
    """Point file descriptor 2 at /dev/null for the duration: C libraries write there directly, past sys.stderr (or
    through the tap, QUEUE_FULL, which then drops what they wrote)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        with QUEUE_FULL.discarding():
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _RtMidiPort:
    """What python-rtmidi's input and output share: the backend, virtual ports, clients that outlive their server."""

    def _open(self, backend: str, client_name: str, port_name: str, connect_to: str | None = None) -> None:
        self._backend = backend
        super()._open(client_name, port_name, connect_to)

    def _new_client(self):
        return client(self.kind, self._backend, self._client_name)

    def _virtual(self, rt) -> str:
        if self._backend in NO_VIRTUAL_PORTS:
            raise SegueError("Windows MIDI has no virtual ports: install loopMIDI, create a port, and pass "
                             "--in/--out with its name")
        try:
            rt.open_virtual_port(self._port_name)
        except (rtmidi.NoDevicesError, rtmidi.SystemError, NotImplementedError) as exc:
            raise SegueError(f"cannot create virtual MIDI port {self._port_name!r} on {self._backend}: {exc}") from exc
        return f"{self._client_name}:{self._port_name}"

    def _keep(self, rt) -> None:
        """Keep a client of a JACK server that went away alive for good. Closing it can wait forever in libjack (its
        process thread never wakes again), and the next client this process opens makes libjack free the dead
        clients itself ("Jack server was closed but clients are still allocated, cleanup..."), so afterwards
        python-rtmidi's object points at freed memory: one reference that is never given back keeps its destructor
        from running (at any time, interpreter exit included)."""
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(rt))


class Output(_RtMidiPort, ClientOutput, BaseOutput):
    """One python-rtmidi output port; with `connect_to` it follows a named destination (a synth that restarts)."""

    def _virtual(self, rt) -> str:
        name = super()._virtual(rt)
        # JACK gives each python-rtmidi port its own client, so the second one is renamed (segue-01:out)
        return name + (f" (JACK may show it as {self._client_name}-01:{self._port_name})"
                       if self._backend == "jack" else "")

    def _send(self, data) -> None:
        self._rt.send_message(data)


class Input(_RtMidiPort, ClientInput, BaseInput):
    """One python-rtmidi input port; with `connect_to` it follows a named source (a keyboard unplugged and plugged
    in again). Under JACK a probe (see sysex_probe.py; `probe=False` leaves it out) keeps it live after an
    unfinished sysex; the probe comes and goes with the input's client. Elsewhere the next message ends an
    unfinished sysex (RtMidi's ALSA code glues that message onto it)."""

    def _open(self, backend: str, client_name: str, port_name: str, connect_to: str | None = None,
              probe: bool = True) -> None:
        self._probing = probe and backend == "jack"
        if self._probing:
            self.deaf_after_unfinished_sysex_s = DEAF_AT_MOST_S
        QUEUE_FULL.start()
        try:
            super()._open(backend, client_name, port_name, connect_to)
        except BaseException:
            QUEUE_FULL.stop()
            raise

    def dropped(self) -> int:
        return QUEUE_FULL.count

    def _close(self) -> None:
        super()._close()
        QUEUE_FULL.stop()                    # after the client: what it printed last is counted
        if QUEUE_FULL.count:
            log.warning("input: %s%d MIDI messages dropped in all by python-rtmidi's full input queue",
                        "at least " if QUEUE_FULL.lost_some() else "", QUEUE_FULL.count)

    def join(self, must_find: bool = False) -> None:
        with self._lock:
            # a new client's first message comes with no spacing: the arrival clock starts again from it
            self._probe, self._clock, self._ready = None, ArrivalClock(), []
        probe_rt = None
        try:
            if self._probing:
                # The probe's client first: the port that appears when ours is made is ours (JACK renames a client
                # whose name is taken, e.g. segue-01:in while another segue runs).
                probe_rt = client("output", self._backend, probe_client(self._client_name))
                before = set(probe_rt.get_ports())
            super().join(must_find)
            if probe_rt is not None:
                probe = Probe(probe_rt)
                if self.connected or self.connect_to is None:    # else check() links it once our port is opened
                    new = [name for name in probe_rt.get_ports() if name not in before]
                    probe.link(new[find_port(new, f":{self._port_name}", "input")])
                with self._lock:
                    self._probe = probe
        except BaseException:
            if probe_rt is not None and self._probe is None:
                probe_rt.delete()
            if not self.lost:
                self.leave()
            raise

    def _clients(self) -> list:
        return [self._rt] + ([self._probe.rt] if self._probe is not None else [])

    def _receive(self):
        if self._ready:
            return self._ready.pop(0)
        probe = self._probe
        while True:
            if probe is not None:
                probe.send_if_due(time.perf_counter())
            got = self._rt.get_message()
            if got is None:
                return None
            data, delta = got
            polled = time.perf_counter()
            messages, glued = ([data], False) if probe is None else probe.heard(data)
            if glued:
                # RtMidi gave the glued message the spacing of its last event only, so the clock starts again here,
                # and what the sysex swallowed is stamped at this arrival: in order, late by up to DEAF_AT_MOST_S.
                self._clock = ArrivalClock()
            stamp = self._clock.stamp(delta, polled)
            if messages:                          # not for a probe alone: it is no message (nor keeps the poll eager)
                self._ready = [(message, stamp) for message in messages[1:]]
                return messages[0], stamp

    def check(self) -> str | None:
        line = super().check()
        if line and self.connected and self._probe is not None:
            # check() opened our port anew: a new port, without the probe's link. Its name: the one found by join(),
            # or (a server rejoined while the source was away) the one a client gets whose name is free.
            with self._lock:
                self._probe.link(self._probe.destination or f"{self._client_name}:{self._port_name}")
        return line


class ArrivalClock:
    """Arrival times on perf_counter from the backend's spacings (seconds since the previous message).

    Summed spacings place every message exactly relative to the first; the offset to perf_counter is bounded by
    each poll (a message cannot have arrived after we picked it up), so the tightest bound among the last
    WINDOW messages is used. Not the tightest ever: a message python-rtmidi drops (its queue is full in a flood)
    takes its spacing with it, and every later sum falls behind by that much; a bound from before the drop would keep
    the stamps early for good (measured: a 30 s flood left them 1 s early, and the answer to the next phrase was
    due before it was asked for). A queue that dropped was full, so at least its size of messages follow the drop:
    WINDOW is well below it. Stamps never run backwards and never lie in the future."""

    WINDOW = INPUT_QUEUE // 8

    def __init__(self) -> None:
        self._since_first: float | None = None
        self._count = 0
        self._bounds: collections.deque[tuple[int, float]] = collections.deque()   # (message, bound), rising bounds

    def stamp(self, delta: float, polled_at: float) -> float:
        self._since_first = 0.0 if self._since_first is None else self._since_first + delta
        bound = polled_at - self._since_first
        while self._bounds and self._bounds[-1][1] >= bound:
            self._bounds.pop()               # a looser bound than this one never becomes the tightest again
        self._bounds.append((self._count, bound))
        if self._bounds[0][0] <= self._count - self.WINDOW:
            self._bounds.popleft()
        self._count += 1
        return self._since_first + self._bounds[0][1]
