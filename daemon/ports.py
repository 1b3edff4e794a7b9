"""MIDI ports through python-rtmidi: pick a backend, list ports, open by exact name or substring, or virtually.

We talk to python-rtmidi directly (mido's rtmidi backend is a thin layer over the same calls): input arrives on a
thread of ours with exact arrival stamps (see Input), and sends are one C call.
Under JACK both ports are on one client of segue's own (daemon/jack_client.py: `segue:in`, `segue:out`) where pip
could build its cycle; else python-rtmidi opens one client per port, so segue shows up as `segue:in` and
`segue-01:out` (and `segue-probe`, see PROBE). Always look ports up by name, never by position.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import logging
import os
import re
import socket
import sys
import threading
import time

import rtmidi

from segue.codec.midi import STATUS_BIT, SYSEX, SYSEX_END, split_swallowed
from segue.config import DaemonConfig
from segue.errors import SegueError

from daemon import jack_client
from daemon.port_base import BaseInput, BaseOutput

log = logging.getLogger("segue.daemon")

BACKENDS = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
NO_VIRTUAL_PORTS = {"winmm"}     # Windows MultiMedia has no virtual ports; loopMIDI provides them
CLOSE_GRACE_S = 0.1              # time for the backend to deliver the last messages before an output port closes
# The input thread polls the backend's queue every millisecond while the player is playing or segue answers (a
# barge-in must silence segue at once) or thru is on, every 50 ms otherwise (idle CPU: the first note of a phrase only
# starts the player's turn, nothing audible waits for it); arrival stamps are exact either way. Measured idle here,
# per thread over 30 s: the poller took 0.37% of a core at 20 ms, 0.13% at 50 ms.
POLL_EAGER_S, POLL_IDLE_S = 0.001, 0.05
EAGER_S = 2.0                    # stay eager this long after the last message
INPUT_QUEUE = 8192               # messages the backend holds for the input thread: 4 s of a 2,000 msg/s flood
# A segue killed a moment ago keeps its JACK ports until the server has removed it, and the server goes on tidying
# up a moment after they are gone: a client joining inside that moment was left out of the server's cycle (jackd
# 1.9.21, measured here: 1 restart in 3 within half a second heard nothing), so the new one waits for both.
PREVIOUS_GONE_S, PREVIOUS_SETTLE_S = 10.0, 1.0
# Under JACK, RtMidi's input takes every event after an unfinished sysex (F0 without F7) for part of it and delivers
# nothing until some event ends in F7 (jackProcessIn's continueSysex flag, python-rtmidi 1.5.8). So a client of
# segue's own, the probe, sends this tiny complete sysex to segue's input, which ends any unfinished one; the input
# drops it and cuts the swallowed messages apart again (Probe). 0x7D: the manufacturer id for non-commercial use.
PROBE = [SYSEX, 0x7D, 0x73, 0x67, SYSEX_END]
# How often: well inside the silence before an answer (400 ms by default), so a phrase played into a deaf input is
# heard before segue would answer. The probe costs its JACK client's process cycle whatever the period (measured
# here: the same CPU at 0.05, 0.1 and 0.25 s).
PROBE_PERIOD_S = 0.1
# The longest the input stays deaf, and how late the notes played meanwhile arrive: a probe goes out at the first
# poll once due (a JACK cycle more takes it to the input).
DEAF_AT_MOST_S = PROBE_PERIOD_S + POLL_IDLE_S
# One probe at a time: one lost in a cycle jackd gave up on is sent again after this. So a server that went away
# unnoticed fills the probe's ring buffer (16 KiB, where a send would spin) only after an hour.
PROBE_LOST_S = 2.0


def compiled_backends() -> list[str]:
    """Backends this python-rtmidi wheel was built with, in our spelling."""
    apis = set(rtmidi.get_compiled_api())
    return [name for name, api in BACKENDS.items() if api in apis]


def resolve_backend(name: str) -> str:
    """'auto' -> the platform's usual backend; otherwise check the name is known and compiled in."""
    available = compiled_backends()
    if name == "auto":
        if sys.platform == "darwin":
            name = "coremidi"
        elif sys.platform.startswith("win"):
            name = "winmm"
        # Linux: ALSA needs the sequencer device; without it (containers, JACK-only boxes) JACK is the way.
        elif os.path.exists("/dev/snd/seq") or "jack" not in available:
            name = "alsa"
        else:
            name = "jack"
    if name not in BACKENDS:
        raise SegueError(f"unknown MIDI backend {name!r}: use one of {', '.join(['auto', *BACKENDS])}")
    if name not in available:
        raise SegueError(f"MIDI backend {name!r} is not in this python-rtmidi build (it has: {', '.join(available)})")
    return name


def quiet_backend_libraries() -> None:
    """Stop libjack and alsa-lib printing straight to stderr (no server, no sequencer, a lost server: segue says
    what matters in its own words; -v leaves them on). Their message hooks may be called on JACK's realtime
    thread, where Python must never run (it would wait for the GIL), so the hook is a C function that ignores
    its argument: libc's strlen."""
    libc = ctypes.CDLL(None)
    try:
        jack = ctypes.CDLL(rtmidi_libjack())
        jack.jack_set_error_function(libc.strlen)
        jack.jack_set_info_function(libc.strlen)
    except (OSError, TypeError, AttributeError):
        pass                             # no libjack here: nothing of it can print either
    try:
        ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2").snd_lib_error_set_handler(libc.strlen)
    except (OSError, TypeError, AttributeError):
        pass


def own_jack_client(backend: str, wanted: bool) -> bool:
    """Whether segue's ports go on its own JACK client (daemon/jack_client.py): JACK, asked for, and built here."""
    return backend == "jack" and wanted and jack_client.available()


def rtmidi_libjack() -> str | None:
    """The libjack python-rtmidi's clients use: its wheel carries one; a build from source links the system's."""
    wheel_libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(rtmidi.__file__)), "python_rtmidi.*",
                                        "libjack*.so*"))
    return wheel_libs[0] if wheel_libs else ctypes.util.find_library("jack")


def _client(kind: str, backend: str, client_name: str, own_jack: bool = False):
    if own_jack:
        try:
            return (jack_client.JackMidiIn if kind == "input" else jack_client.JackMidiOut)(client_name)
        except jack_client.NoJackServer as exc:
            raise SegueError(_no_midi_system_line(backend, kind, exc)) from exc
    if backend == "jack":
        os.environ.setdefault("JACK_NO_START_SERVER", "1")   # never let libjack spawn a server behind our back
    try:
        # libjack and libasound print lines of their own to fd 2 when there is no server or sequencer; the error
        # below says what to do instead
        with _quiet_stderr():
            if kind == "input":
                return rtmidi.MidiIn(BACKENDS[backend], name=client_name, queue_size_limit=INPUT_QUEUE)
            return rtmidi.MidiOut(BACKENDS[backend], name=client_name)
    except rtmidi.SystemError as exc:
        raise SegueError(_no_midi_system_line(backend, kind, exc)) from exc


def _no_midi_system_line(backend: str, kind: str, exc: Exception) -> str:
    start_jack = "start a JACK server (`jackd -d dummy -r 48000 -p 128 &`, or your usual one, e.g. from qjackctl)"
    if backend == "jack":
        others = [name for name in jack_servers_running() if name != jack_server_name()]
        if others:          # a server runs under another name: libjack looks for JACK_DEFAULT_SERVER's only
            running = f"{others[0]!r} is" if len(others) == 1 else f"{', '.join(map(repr, others))} are"
            return (f"no JACK server named {jack_server_name()!r} is running, but {running}: segue joins the "
                    f"server JACK_DEFAULT_SERVER names, 'default' when it is unset (export "
                    f"JACK_DEFAULT_SERVER={others[0]})")
    load_alsa = "load ALSA's sequencer with `sudo modprobe snd-seq`"
    if sys.platform.startswith("linux") and not os.path.exists("/dev/snd/seq"):
        if backend == "jack":
            return (f"no MIDI system to connect to: no JACK server is running and there is no ALSA sequencer "
                    f"(/dev/snd/seq). Either {start_jack} or {load_alsa}, then run segue again")
        if backend == "alsa":
            return f"there is no ALSA sequencer (/dev/snd/seq): {load_alsa}, or {start_jack} and use --backend jack"
    if backend == "jack":
        return f"no JACK server is running: {start_jack}, or pick another backend (--backend alsa on Linux)"
    return f"cannot open the {backend} MIDI {kind} system ({exc})"


def jack_server_name() -> str:
    """The JACK server libjack joins: JACK_DEFAULT_SERVER's, else 'default'."""
    return os.environ.get("JACK_DEFAULT_SERVER") or "default"


def jack_server_socket(name: str) -> str:
    """Where jackd2 keeps the socket of the server `name` started by this user."""
    return f"/dev/shm/jack_{name}_{os.getuid()}_0"


def jack_servers_running() -> list[str]:
    """The names of this user's jackd2 servers that answer on their socket."""
    found = (re.fullmatch(r"jack_(.+)_\d+_0", os.path.basename(path))
             for path in glob.glob(jack_server_socket("*")))
    return sorted(match.group(1) for match in found if match and socket_answers(jack_server_socket(match.group(1))))


def socket_answers(path: str) -> bool:
    """Connecting and hanging up tells a running server from a killed one's leftover socket file."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _quiet_stderr():
    """Point file descriptor 2 at /dev/null for the duration: C libraries write there directly, past sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


PROBE_PORT_NAME = "probe"


def probe_client(client_name: str) -> str:
    """The JACK client name of segue's probe (see PROBE) beside its client `client_name`."""
    return f"{client_name}-probe"


def probe_port_pattern(client_name_pattern: str) -> re.Pattern:
    """The probe's port of a segue whose client name matches `client_name_pattern` (a regex), also when JACK renamed
    the probe's client because its name was taken (CLIENT-probe-01)."""
    return re.compile(rf"{probe_client(client_name_pattern)}(-\d+)?:{PROBE_PORT_NAME}$")


# Any running segue's probe port: a source only segue's own input may hear, so no listing offers it to play into segue.
ANY_PROBE_PORT = probe_port_pattern(".+")


def _segue_ports() -> re.Pattern:
    """The ports of a segue serve under its default names (`segue:in`, `segue:out`; python-rtmidi's JACK output
    `segue-01:out`; ALSA lists them with their numbers, `segue:out 128:1`). Listings leave them out: segue playing
    into itself is never what a user means, and `segue panic` has nothing to silence there."""
    defaults = DaemonConfig()
    ports = "|".join(re.escape(name) for name in (defaults.in_port_name, defaults.out_port_name))
    return re.compile(rf"{re.escape(defaults.client_name)}(-\d+)?:({ports})( \d+:\d+)?$")


SEGUE_PORT = _segue_ports()


def others(names: list[str]) -> list[str]:
    """The port names that are neither segue's own (SEGUE_PORT) nor a segue's probe."""
    return [name for name in names if not SEGUE_PORT.match(name) and not ANY_PROBE_PORT.match(name)]


def list_ports(backend: str) -> tuple[list[str], list[str]]:
    """(inputs, outputs) visible on a backend. Inputs are ports we can read from (sources)."""
    lister_in = _client("input", backend, "segue-list")
    lister_out = _client("output", backend, "segue-list")
    try:
        return others(lister_in.get_ports()), others(lister_out.get_ports())
    finally:
        lister_in.delete()
        lister_out.delete()


def wait_for_previous_instance(backend: str, client_name: str) -> str | None:
    """Under JACK, wait while ports of a client called `client_name` (a segue that was just killed or is still
    running) are there, so that ours get the same names and join a server that has finished removing the old one.
    One listing client looks, joined once (a second client in this process could meet the race in
    daemon/jack_semaphores.py): it sees the old segue's input port. Returns a log line when it waited."""
    if backend != "jack":
        return None
    ours = re.compile(rf"{re.escape(client_name)}(-\d+)?:")
    lister = _client("output", backend, "segue-list")
    try:
        taken = lambda: any(ours.match(name) for name in lister.get_ports())  # noqa: E731
        if not taken():
            return None
        deadline = time.monotonic() + PREVIOUS_GONE_S
        while taken() and time.monotonic() < deadline:
            time.sleep(0.25)
        still_there = taken()
    finally:
        lister.delete()
    if still_there:
        return (f"JACK ports of another client called {client_name!r} are still there after {PREVIOUS_GONE_S:.0f} s;"
                f" JACK will give segue's ports other names (use --client-name to choose one)")
    time.sleep(PREVIOUS_SETTLE_S)
    return f"waited for the JACK server to remove a previous {client_name!r}"


def find_port(names: list[str], wanted: str, kind: str) -> int:
    """Index of the port called `wanted`: an exact name wins, else a unique case-insensitive substring among the
    ports that are not segue's own."""
    if wanted in names:
        return names.index(wanted)
    candidates = others(names)
    hits = [i for i, name in enumerate(names) if name in candidates and wanted.lower() in name.lower()]
    if len(hits) == 1:
        return hits[0]
    listing = ", ".join(repr(n) for n in candidates) or "none"
    if not hits:
        raise SegueError(f"no MIDI {kind} port matches {wanted!r}; available {kind}s: {listing} (see `segue ports`)")
    raise SegueError(f"MIDI {kind} name {wanted!r} is ambiguous: it matches "
                     + ", ".join(repr(names[i]) for i in hits) + "; give more of the name")


def follow_port(port, kind: str, while_gone: str, reopen_lock=contextlib.nullcontext()) -> str | None:
    """Follow a port opened by name (`port.connect_to`): note when it vanishes, reopen it when it is back.
    Returns a log line when something changed. `reopen_lock` is held only while the port is reopened (an output's
    send lock: listing ports takes milliseconds, and a send must not wait on that)."""
    if port.connect_to is None or port.lost:
        return None
    names = list(port._rt.get_ports())
    present = port.name in names
    if port.connected and not present:
        port.connected = False
        return f"{kind} {port.name!r} disappeared; {while_gone}"
    if not port.connected and present:
        with reopen_lock:
            port._rt.close_port()
            port._rt.open_port(names.index(port.name), port._port_name)
        port.connected = True
        return f"{kind} {port.name!r} is back; reconnected"
    return None


class _BackendClient:
    """What Output and Input share about their backend client `_rt` (and Input's probe), guarded by `_client_lock`:
    opening it on a named port, and the two ways to let it go when the JACK server is left or lost."""

    _rt: object
    _client_lock: threading.Lock
    _port_name: str
    lost: bool
    name: str
    connect_to: str | None
    connected: bool

    def _open_named(self, rt, kind: str, must_find: bool) -> None:
        """Open our port on a named one: `connect_to` at start (it must be there), the port found then when a
        server is rejoined. Not there yet: not connected, and follow_port opens it when it appears."""
        names = list(rt.get_ports())
        if must_find or self.name in names:
            index = find_port(names, self.connect_to if must_find else self.name, kind)
            rt.open_port(index, self._port_name)
            self.name, self.connected = names[index], True
        else:
            self.connected = False

    def _clients(self) -> list:
        return [self._rt]

    def leave(self) -> None:
        """Close the port and its client (the server is alive)."""
        with self._client_lock:
            self.lost = True
            for rt in self._clients():
                rt.close_port()
                rt.delete()

    def abandon(self) -> None:
        """The server went away: never touch this client again (see _keep_forever)."""
        with self._client_lock:
            self.lost = True
            for rt in self._clients():
                _keep_forever(rt)


class Output(BaseOutput, _BackendClient):
    """One output port. Sends from several threads (scheduler, thru, panic) go through one lock.

    With `connect_to` the port follows a named destination like Input follows its source: `check()` reconnects
    when a synth that restarted is back. While `lost` (its JACK server went away) sends go nowhere: the backend
    would queue them for a process cycle that never comes, and once its queue is full, spin in the send."""

    def __init__(self, backend: str, client_name: str, port_name: str, connect_to: str | None = None,
                 own_jack: bool = False):
        self._backend, self._client_name, self._port_name = backend, client_name, port_name
        self._own_jack = own_jack
        self._client_lock = threading.Lock()
        self.connect_to = connect_to
        self.connected = connect_to is not None
        self.lost = True
        self.join(must_find=True)

    def join(self, must_find: bool = False) -> None:
        """Open a new client of the backend and our port on it (at start, and when a JACK server is back)."""
        rt = _client("output", self._backend, self._client_name, self._own_jack)
        if self.connect_to is None:
            _open_virtual(rt, self._backend, self._port_name)
            if self._own_jack:
                self.name = rt.port_name
            else:
                # JACK gives each python-rtmidi port its own client, so the second one is renamed (segue-01:out)
                self.name = f"{self._client_name}:{self._port_name}" + (
                    f" (JACK may show it as {self._client_name}-01:{self._port_name})" if self._backend == "jack"
                    else "")
        else:
            self._open_named(rt, "output", must_find)
        with self._client_lock:
            self._rt, self.lost = rt, False

    @property
    def places_in_time(self) -> bool:
        return self._own_jack

    def delays_after_due(self) -> tuple[float, float] | None:
        """(reaches the connected ports, then sounds) seconds after a message's due time, as JACK reports them for
        segue's own client (daemon/jack_client.py); None where the backend does not say (python-rtmidi's ports)."""
        with self._client_lock:
            return self._rt.delays_after_due_s() if self._own_jack and not self.lost else None

    def _send(self, data) -> None:
        with self._client_lock:
            if not self.lost:
                self._rt.send_message(data)

    def _send_at(self, data, due: float) -> None:
        with self._client_lock:
            if not self.lost:
                self._rt.send_message(data, due - time.perf_counter())

    def check(self) -> str | None:
        """Reconnect a followed destination that vanished and is back. Returns a log line when something changed."""
        return follow_port(self, "output", "segue plays on and reconnects when it is back", self._client_lock)

    def _close(self) -> None:
        if self.lost:
            return
        # Backends like JACK deliver queued messages at their next cycle; closing at once would drop the
        # final note-offs and all-notes-off. A few cycles' grace is cheap at shutdown.
        time.sleep(CLOSE_GRACE_S)
        self.leave()


class Input(BaseInput, _BackendClient):
    """One input port; `sink(data, stamp)` runs on segue's own input thread for every message, stamped at arrival
    (the sink may be replaced while running).

    No Python runs in the backend's thread: under JACK that thread is the audio server's process cycle, and a
    Python callback there waits for the GIL, which any busy thread of segue may hold while the OS has it preempted
    (xruns, then lost messages). The backend queues each message with the time since the previous one; a thread of
    ours polls the queue and turns those spacings back into perf_counter arrival times (ArrivalClock), so a message
    is stamped when it arrived, not when we got round to it.

    With `connect_to` the port follows a named source: `check()` (called about once a second) reconnects when the
    source disappears and comes back, as a keyboard that is unplugged and plugged in again does.

    Under python-rtmidi's JACK clients a probe (see PROBE; `probe=False` leaves it out) keeps the input live after
    an unfinished sysex; it comes and goes with the input's client. segue's own JACK client (`own_jack`) and other
    backends end an unfinished sysex at the next message themselves (RtMidi's ALSA code glues that message onto it).
    """

    def __init__(self, backend: str, client_name: str, port_name: str, sink, connect_to: str | None = None,
                 probe: bool = True, own_jack: bool = False):
        super().__init__(sink)
        self._backend, self._client_name, self._port_name = backend, client_name, port_name
        self._own_jack = own_jack
        self._probing = probe and backend == "jack" and not own_jack
        if self._probing:
            self.deaf_after_unfinished_sysex_s = DEAF_AT_MOST_S
        self.connect_to = connect_to
        self.connected = False
        self.lost = True
        self._client_lock = threading.Lock()    # the input thread never reads a client that leave() is deleting
        self._probe: Probe | None = None
        self.join(must_find=True)
        self._closing = False
        self._thread = threading.Thread(target=self._poll, name="segue-input", daemon=True)
        self._thread.start()

    def join(self, must_find: bool = False) -> None:
        """Open a new client of the backend and our port on it (at start, and when a JACK server is back)."""
        probe_rt = rt = None
        try:
            if self._probing:
                # The probe's client first: the port that appears when ours is made is ours (JACK renames a client
                # whose name is taken, e.g. segue-01:in while another segue runs).
                probe_rt = _client("output", self._backend, probe_client(self._client_name))
                probe_rt.set_error_callback(lambda *args: None)
                others = set(probe_rt.get_ports())
            rt = _client("input", self._backend, self._client_name, self._own_jack)
            # Nothing filtered by the backend: a message it drops would take its time spacing with it. We drop here.
            rt.ignore_types(sysex=False, timing=False, active_sense=False)
            rt.set_error_callback(lambda *args: None)   # nothing may print from the backend's threads
            if self.connect_to is None:
                _open_virtual(rt, self._backend, self._port_name)
                self.name = rt.port_name if self._own_jack else f"{self._client_name}:{self._port_name}"
            else:
                self._open_named(rt, "input", must_find)
            probe = None
            if probe_rt is not None:
                probe = Probe(probe_rt)
                if self.connected or self.connect_to is None:    # else check() links it once our port is opened
                    new = [name for name in probe_rt.get_ports() if name not in others]
                    probe.link(new[find_port(new, f":{self._port_name}", "input")])
        except BaseException:
            for client in (probe_rt, rt):
                if client is not None:
                    client.delete()
            raise
        with self._client_lock:
            # a new client's first message comes with no spacing: the arrival clock starts again from it
            self._rt, self._probe, self._clock, self.lost = rt, probe, ArrivalClock(), False

    def _clients(self) -> list:
        return [self._rt] + ([self._probe.rt] if self._probe is not None else [])

    @property
    def thread_id(self) -> int:
        """The native id of the thread that polls the backend (daemon/realtime.lift_threads)."""
        return self._thread.native_id

    def _poll(self) -> None:
        now, sleep, deliver, lock = time.perf_counter, time.sleep, self.deliver, self._client_lock
        last_message = -1e9
        while not self._closing:
            # self._rt each time: a rejoined server gives the port a new client. The queue read touches only
            # python-rtmidi's memory, never libjack's, so reading an abandoned client once more is harmless.
            with lock:
                got, probe = None, self._probe
                if not self.lost:
                    got = self._rt.get_message()
                    if probe is not None:
                        probe.send_if_due(now())
            if got is None:
                eager = now() - last_message < EAGER_S or self.busy()
                sleep(POLL_EAGER_S if eager else POLL_IDLE_S)
                continue
            data, delta = got
            polled = now()
            messages, glued = ([data], False) if probe is None else probe.heard(data)
            if glued:
                # RtMidi gave the glued message the spacing of its last event only, so the clock starts again here,
                # and what the sysex swallowed is stamped at this arrival: in order, late by up to DEAF_AT_MOST_S.
                self._clock = ArrivalClock()
            stamp = self._clock.stamp(delta, polled)
            if messages:
                last_message = polled           # not for a probe alone: it would keep the poll eager (idle CPU)
            for message in messages:
                deliver(message, stamp)

    def check(self) -> str | None:
        """Reconnect a followed source port if it vanished and is back. Returns a log line when something changed."""
        line = follow_port(self, "input", "waiting for it to come back")
        if line and self.connected and self._probe is not None:
            # follow_port opened our port anew: a new port, without the probe's link. Its name: the one found by
            # join(), or (a server rejoined while the source was away) the one a client gets whose name is free.
            with self._client_lock:
                self._probe.link(self._probe.destination or f"{self._client_name}:{self._port_name}")
        return line

    def server_gone(self) -> bool | None:
        """On segue's own JACK client: whether JACK said the server left it (its shutdown notification); None on
        python-rtmidi's clients, which do not say."""
        return self._rt.server_gone() if self._own_jack else None

    def close(self) -> None:
        self._closing = True
        self._thread.join(timeout=1)
        summary = self._rt.dropped_summary() if self._own_jack else None
        if summary:
            log.warning(summary)
        if not self.lost:
            self.leave()


class Probe:
    """The probe's client (see PROBE), linked to segue's own input port, and what the input thread makes of the
    messages it reads: `heard`."""

    def __init__(self, rt):
        self.rt = rt
        self.destination: str | None = None
        self._sent = self._due = 0.0

    def link(self, destination: str) -> None:
        """Open the probe's port on segue's input port `destination` (again, after that port was made anew)."""
        self.destination = None              # unlinked, nothing is sent: a client without a port drains no sends
        if self.rt.is_port_open():
            self.rt.close_port()
        names = list(self.rt.get_ports())
        self.rt.open_port(find_port(names, destination, "input"), PROBE_PORT_NAME)
        self.destination = destination

    def send_if_due(self, now: float) -> None:
        if self.destination is not None and now >= self._due:
            self.rt.send_message(PROBE)       # a ring-buffer write: JACK's process thread sends it, no Python there
            self._sent, self._due = now, now + PROBE_LOST_S

    def heard(self, data) -> tuple[list, bool]:
        """(the messages to deliver of `data`, whether it was an unfinished sysex glued to what it swallowed)."""
        if data == PROBE:
            self._back()
            return [], False
        if not data or data[0] < STATUS_BIT:
            # the rest of a sysex a probe cut short: a sender split a long sysex over several JACK events
            return [], False
        if data[0] != SYSEX:
            return [data], False
        messages = split_swallowed(data)
        if len(messages) == 1:
            return [data], False
        if messages[-1] == PROBE:
            messages.pop()
            self._back()
        return messages, True

    def _back(self) -> None:
        self._due = self._sent + PROBE_PERIOD_S


class ArrivalClock:
    """Arrival times on perf_counter from the backend's spacings (seconds since the previous message).

    Summed spacings place every message exactly relative to the first; the offset to perf_counter is bounded by
    each poll (a message cannot have arrived after we picked it up), so the tightest bound seen so far is used.
    Stamps never run backwards and never lie in the future."""

    def __init__(self) -> None:
        self._since_first: float | None = None
        self._offset = float("inf")

    def stamp(self, delta: float, polled_at: float) -> float:
        self._since_first = 0.0 if self._since_first is None else self._since_first + delta
        self._offset = min(self._offset, polled_at - self._since_first)
        return self._since_first + self._offset


def _keep_forever(rt) -> None:
    """Keep a client of a JACK server that went away alive for good. Closing it can wait forever in libjack (its
    process thread never wakes again), and the next client this process opens makes libjack free the dead clients
    itself ("Jack server was closed but clients are still allocated, cleanup..."), so afterwards python-rtmidi's
    object points at freed memory: one reference that is never given back keeps its destructor from running
    (at any time, interpreter exit included)."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(rt))


def _open_virtual(rt, backend: str, port_name: str) -> None:
    if backend in NO_VIRTUAL_PORTS:
        raise SegueError("Windows MIDI has no virtual ports: install loopMIDI, create a port, and pass "
                         "--in/--out with its name")
    try:
        rt.open_virtual_port(port_name)
    except (rtmidi.NoDevicesError, rtmidi.SystemError, NotImplementedError) as exc:
        raise SegueError(f"cannot create virtual MIDI port {port_name!r} on {backend}: {exc}") from exc


def describe_ports(backend: str) -> str:
    """The text `segue ports` prints for one backend."""
    inputs, outputs = list_ports(backend)
    lines = [f"{backend}:", "  inputs (play into segue with --in NAME):"]
    lines += [f"    {name}" for name in inputs] or ["    (none)"]
    lines.append("  outputs (segue plays to them with --out NAME):")
    lines += [f"    {name}" for name in outputs] or ["    (none)"]
    return "\n".join(lines)
