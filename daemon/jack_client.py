"""segue's own JACK client: both MIDI ports on one client, whose process cycle is C (daemon/jack_process.c).

python-rtmidi opens one JACK client per port, and every client is a thread the server wakes and waits for in every
cycle (measured idle here: 1.45% of a core for a bare python-rtmidi input, 0.60% for an output). One client of
segue's own carries `in` and `out`: one wake per cycle for both. It also hears raw JACK events, so an unfinished
sysex ends at the next event instead of swallowing everything after it (RtMidi's JACK input), and it places each
message exactly one period after the moment it is meant for (its send call, or the due time the scheduler hands it
over with a moment early) instead of anywhere in the cycle after its send.

`JackMidiIn` and `JackMidiOut` are the handles of one port each (the client interface of daemon/backends: get_ports,
open_port, open_virtual_port, close_port, delete), which daemon/backends/own_jack.py's Input and Output stand on. An
input and an output of the same client name share one client (`_shared`).

Everything but the cycle goes through the system's libjack with ctypes; the cycle's compiled part is built by
`pip install` (an optional extension: without a C compiler segue falls back to python-rtmidi's JACK clients).
"""
from __future__ import annotations

import collections
import ctypes
import ctypes.util
import functools
import importlib.util
import logging
import threading
import time

from segue.codec.midi import STATUS_BIT, SYSEX, SYSEX_END

log = logging.getLogger("segue.daemon")

JACK_NO_START_SERVER = 0x01      # jack_options_t: never let libjack spawn a server
JACK_PORT_IS_INPUT, JACK_PORT_IS_OUTPUT = 0x1, 0x2
JACK_PLAYBACK_LATENCY = 1        # jack_latency_callback_mode_t: from a port to where its signal leaves the graph
MIDI_TYPE = b"8 bit raw midi"
READ_BYTES = 1 << 16             # the longest event the input hands over (a longer sysex is dropped, said once)
GAP = -2                         # sj_read: the ring overflowed here
# A port leaves the cycle before it is unregistered: the C side stops touching it at the next cycle, so two cycles
# later nothing can; a server that stopped cycling is given this long.
UNREGISTER_WAIT_S = 0.5
ZERO_REFRESH_S = 0.5        # how often seconds_at takes the JACK clock's offset to perf_counter again
CLIENT_CLOSE_WAIT_S = 2.0   # the longest segue waits for libjack to close a client (see close_client)


class _Calls(ctypes.Structure):
    """jack_process.c's jack_calls: the libjack functions its cycle calls, in its order."""
    _fields_ = [(name, ctypes.c_void_p) for name in (
        "jack_port_get_buffer", "jack_midi_get_event_count", "jack_midi_event_get", "jack_midi_clear_buffer",
        "jack_midi_event_reserve", "jack_last_frame_time", "jack_frame_time")]


@functools.cache
def libjack(path: str | None = None):
    """A libjack (by default the system's) with the calls segue makes typed, or None (no JACK here)."""
    path = path or ctypes.util.find_library("jack")
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    p, s, u32, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_int
    for name, restype, argtypes in [
        ("jack_client_open", p, [s, i, ctypes.POINTER(i)]),
        ("jack_client_close", i, [p]),
        ("jack_get_client_name", s, [p]),
        ("jack_activate", i, [p]),
        ("jack_set_process_callback", i, [p, p, p]),
        ("jack_get_sample_rate", u32, [p]),
        ("jack_get_buffer_size", u32, [p]),
        ("jack_port_get_latency_range", None, [p, i, ctypes.POINTER(u32 * 2)]),
        ("jack_port_register", p, [p, s, s, ctypes.c_ulong, ctypes.c_ulong]),
        ("jack_port_unregister", i, [p, p]),
        ("jack_port_name", s, [p]),
        ("jack_get_ports", p, [p, s, s, ctypes.c_ulong]),
        ("jack_port_by_name", p, [p, s]),
        ("jack_port_get_all_connections", p, [p, p]),
        ("jack_connect", i, [p, s, s]),
        ("jack_free", None, [p]),
        ("jack_frames_to_time", ctypes.c_uint64, [p, u32]),
        ("jack_get_time", ctypes.c_uint64, []),
        ("jack_on_info_shutdown", None, [p, p, p]),
    ]:
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    quiet(lib)       # its messages (no server, a lost server, an abandoned client's cleanup): said in segue's words
    return lib


@functools.cache
def ignore_message():
    """The message hook that says nothing, for C libraries that print straight to stderr (libjack, alsa-lib). Their
    hooks may be called on JACK's realtime thread, where Python must never run: a C function that ignores its
    argument (libc's strlen) stands in."""
    return ctypes.CDLL(None).strlen


def quiet(lib) -> None:
    """Stop the libjack `lib` printing its error and info messages."""
    lib.jack_set_error_function(ignore_message())
    lib.jack_set_info_function(ignore_message())


def close_client(lib, client, what: str) -> bool:
    """jack_client_close(client) in the libjack `lib`, given CLIENT_CLOSE_WAIT_S; after that the client is left
    behind (the server drops it when segue's process ends) and False returned.

    Why a bound: libjack's close cancels the client's notification thread, and a thread cancelled while it handles
    another client's arrival or departure never gives back the library's process-wide synchro lock, which the close
    then waits on for ever. Seen at the end of a session during a flood, 2 Ctrl-Cs in 12 (gdb: jack_client_close in
    JackPosixMutex::Lock, the notification thread gone): segue's own client leaving is such a departure for the
    connections' client closing just after it."""
    closed = threading.Event()

    def close() -> None:
        lib.jack_client_close(client)
        closed.set()

    threading.Thread(target=close, name=f"segue-close-{what}", daemon=True).start()
    if closed.wait(CLIENT_CLOSE_WAIT_S):
        return True
    log.debug("JACK: closing the %s client did not return within %.0f s; left behind", what, CLIENT_CLOSE_WAIT_S)
    return False


@functools.cache
def _process_library():
    """jack_process.c as built by pip (daemon/_jack_process*.so), typed, or None (not built here)."""
    spec = importlib.util.find_spec("daemon._jack_process")
    if spec is None or not spec.origin:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError:
        return None
    p, u32, u64 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64
    for name, restype, argtypes in [
        ("sj_new", p, [ctypes.POINTER(_Calls), p]),
        ("sj_free", None, [p]),
        ("sj_set_ports", None, [p, p, p]),
        ("sj_cycles", u64, [p]),
        ("sj_read", ctypes.c_int32, [p, ctypes.c_char_p, u32, ctypes.POINTER(u32), ctypes.POINTER(u32)]),
        ("sj_write", ctypes.c_int, [p, ctypes.c_char_p, u32, ctypes.c_int32]),
        ("sj_in_dropped", u64, [p]),
        ("sj_server_gone", ctypes.c_int, [p]),
    ]:
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def available() -> bool:
    """Whether segue's own JACK client can run here (libjack and the compiled cycle)."""
    return libjack() is not None and _process_library() is not None


def port_names(lib, array) -> list[str]:
    """The NULL-terminated array of port names libjack returned, freed."""
    if not array:
        return []
    names = []
    strings = ctypes.cast(array, ctypes.POINTER(ctypes.c_char_p))
    while strings[len(names)] is not None:
        names.append(strings[len(names)].decode())
    lib.jack_free(array)
    return names


class NoJackServer(Exception):
    """The server refused a client (none runs): daemon/ports.py no_midi_system_line says what to do."""


class JackClient:
    """One JACK client and its cycle; ports are registered on it by the JackMidiIn/JackMidiOut that share it."""

    def __init__(self, name: str):
        self._zero, self._zero_taken = 0.0, float("-inf")   # JACK time - perf_counter, in us; when taken
        self._lib, self._cycle_lib = libjack(), _process_library()
        status = ctypes.c_int(0)
        self._client = self._lib.jack_client_open(name.encode(), JACK_NO_START_SERVER, ctypes.byref(status))
        if not self._client:
            raise NoJackServer(f"jack_client_open status 0x{status.value:x}")
        self.name = self._lib.jack_get_client_name(self._client).decode()
        self.rate = self._lib.jack_get_sample_rate(self._client)
        calls = _Calls(*(ctypes.cast(getattr(self._lib, field), ctypes.c_void_p) for field, _ in _Calls._fields_))
        self.cycle = self._cycle_lib.sj_new(ctypes.byref(calls), self._client)
        self._ports: dict[str, int | None] = {"input": None, "output": None}
        self.users: set[str] = set()                     # "input", "output": the kinds of port handle on it
        self._lock = threading.Lock()
        self._lib.jack_set_process_callback(self._client, ctypes.cast(self._cycle_lib.sj_process, ctypes.c_void_p),
                                            self.cycle)
        # The server's own word that it left this client (stopped, killed, or dropped the client): a flag in C
        self._lib.jack_on_info_shutdown(self._client, ctypes.cast(self._cycle_lib.sj_on_shutdown, ctypes.c_void_p),
                                        self.cycle)
        if self._lib.jack_activate(self._client) != 0:
            self._lib.jack_client_close(self._client)
            self._cycle_lib.sj_free(self.cycle)
            raise NoJackServer("jack_activate failed")
        self._asked = name

    def ports(self, flags: int) -> list[str]:
        return port_names(self._lib, self._lib.jack_get_ports(self._client, None, MIDI_TYPE, flags))

    def register(self, kind: str, port_name: str) -> str:
        """Our port of `kind` ('input' or 'output'), in the cycle from now on; returns its full name."""
        flags = JACK_PORT_IS_INPUT if kind == "input" else JACK_PORT_IS_OUTPUT
        port = self._lib.jack_port_register(self._client, port_name.encode(), MIDI_TYPE, flags, 0)
        if not port:
            raise NoJackServer(f"jack_port_register {port_name!r} failed")
        with self._lock:
            self._ports[kind] = port
            self._cycle_lib.sj_set_ports(self.cycle, self._ports["input"], self._ports["output"])
        return self._lib.jack_port_name(port).decode()

    def unregister(self, kind: str) -> None:
        with self._lock:
            port, self._ports[kind] = self._ports[kind], None
            self._cycle_lib.sj_set_ports(self.cycle, self._ports["input"], self._ports["output"])
        if port is None:
            return
        cycles = self._cycle_lib.sj_cycles(self.cycle)
        deadline = time.monotonic() + UNREGISTER_WAIT_S
        while self._cycle_lib.sj_cycles(self.cycle) < cycles + 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        self._lib.jack_port_unregister(self._client, port)

    def connect(self, source: str, destination: str) -> None:
        self._lib.jack_connect(self._client, source.encode(), destination.encode())

    def read(self, buffer, frame: ctypes.c_uint32, size: ctypes.c_uint32) -> int:
        """The next input event into `buffer` (see sj_read): its size, 0 for none, -1 for one too long, -2 for the
        place where the ring overflowed (`frame` then holds how many events were dropped there)."""
        return self._cycle_lib.sj_read(self.cycle, buffer, len(buffer), ctypes.byref(frame), ctypes.byref(size))

    def input_dropped(self) -> int:
        """Input events the cycle's ring had no room for, since the client opened."""
        return self._cycle_lib.sj_in_dropped(self.cycle)

    def server_gone(self) -> bool:
        """JACK said (its shutdown notification) that the server left this client."""
        return bool(self._cycle_lib.sj_server_gone(self.cycle))

    def write(self, message: bytes, ahead: int) -> bool:
        """Queue `message` for the frame `ahead` frames from now; False when the cycle has taken nothing for long."""
        return bool(self._cycle_lib.sj_write(self.cycle, message, len(message), ahead))

    def seconds_at(self, frame: int) -> float:
        """The perf_counter time of an absolute frame (JACK's clock has another zero than perf_counter's)."""
        # The offset between the two clocks is taken again only every ZERO_REFRESH_S: asking libjack for it with every
        # message slowed the input thread enough that after a 30 s flood of 20,000 messages a second it never caught
        # up, and segue answered nothing for over a minute (bench/flood.py); both clocks are monotonic, so the offset
        # holds between refreshes.
        now = time.perf_counter()
        if now - self._zero_taken > ZERO_REFRESH_S:
            self._zero, self._zero_taken = self._lib.jack_get_time() - now * 1e6, now
        return (self._lib.jack_frames_to_time(self._client, frame) - self._zero) / 1e6

    def delays_after_due_s(self) -> tuple[float, float]:
        """When a message sent on our output is heard, after its due time: (one period, where the cycle places it
        (jack_process.c): it reaches the ports connected to ours; plus the playback latency JACK reports for our
        port, what the clients and the hardware downstream declare, e.g. a synth's audio buffers: it sounds)."""
        latency = (ctypes.c_uint32 * 2)()                # jack_latency_range_t: min, max frames
        with self._lock:
            port = self._ports["output"]
            if port is not None:
                self._lib.jack_port_get_latency_range(port, JACK_PLAYBACK_LATENCY, latency)
        return self._lib.jack_get_buffer_size(self._client) / self.rate, latency[1] / self.rate

    def release(self, kind: str) -> None:
        """A handle of `kind` is done with the client: the last one closes it (the server is alive)."""
        self.unregister(kind)
        self.users.discard(kind)
        if not self.users:
            # a close that returned deactivated the client (its cycle never runs again); one left behind may still
            # run it, so its cycle's memory is kept
            if close_client(self._lib, self._client, "MIDI ports'"):
                self._cycle_lib.sj_free(self.cycle)
            if _shared.get(self._asked) is self:
                _shared.pop(self._asked)


# client name asked for -> the live client an input and an output of that name share
_shared: dict[str, JackClient] = {}
_shared_lock = threading.Lock()


def _client_for(kind: str, client_name: str) -> JackClient:
    """The client of that name that has no port handle of `kind` yet (an input joins the output's, or the other way
    round), else a new one. A client abandoned with its server (daemon/jack_supervisor.py) keeps its handles
    for good, so the ports of a rejoin get a new client."""
    with _shared_lock:
        client = _shared.get(client_name)
        if client is None or kind in client.users:
            client = JackClient(client_name)
            _shared[client_name] = client
        client.users.add(kind)
        return client


class _JackMidiPort:
    """What the input and the output handle share: a port of `kind` on a shared JackClient."""

    kind = ""
    others = 0                   # the flag of the ports it may connect to

    def __init__(self, client_name: str):
        self._client = _client_for(self.kind, client_name)
        self.port_name: str | None = None               # our port's full name while it is open

    def get_ports(self) -> list[str]:
        return self._client.ports(self.others)

    def open_virtual_port(self, port_name: str) -> None:
        self.port_name = self._client.register(self.kind, port_name)

    def open_port(self, index: int, port_name: str) -> None:
        other = self.get_ports()[index]
        self.open_virtual_port(port_name)
        self._connect(other)

    def _connect(self, other: str) -> None:
        raise NotImplementedError

    def is_port_open(self) -> bool:
        return self.port_name is not None

    def close_port(self) -> None:
        if self.port_name is not None:
            self._client.unregister(self.kind)          # its connections go with it
            self.port_name = None

    def delete(self) -> None:
        self._client.release(self.kind)


class EventJoiner:
    """JACK MIDI events -> whole messages. Each event is a whole message, but a sender may split a long sysex over
    several events (the pieces after the first start with a data byte). A status byte ends an unfinished sysex:
    it comes out alone, just before the message that ended it (the session says so once), and costs no time.
    A sysex that segue's own ring cut short (`gap`) is dropped here: it is no sender's missing F7."""

    def __init__(self) -> None:
        self._sysex = bytearray()

    def gap(self) -> int:
        """Events were lost here; returns the length of the unfinished sysex they cut (dropped), or 0."""
        cut = len(self._sysex)
        self._sysex.clear()
        return cut

    def messages(self, data: bytes) -> list[list[int]]:
        out: list[list[int]] = []
        if data[0] < STATUS_BIT:
            if not self._sysex:
                return out                              # a piece of a sysex whose head was lost
            self._sysex += data
        else:
            if self._sysex:
                out.append(list(self._sysex))
                self._sysex.clear()
            if data[0] != SYSEX:
                return out + [list(data)]
            self._sysex += data
        if self._sysex[-1] == SYSEX_END:
            out.append(list(self._sysex))
            self._sysex.clear()
        return out


class JackMidiIn(_JackMidiPort):
    kind, others = "input", JACK_PORT_IS_OUTPUT

    def __init__(self, client_name: str):
        super().__init__(client_name)
        self._buffer = ctypes.create_string_buffer(READ_BYTES)
        self._frame, self._size = ctypes.c_uint32(0), ctypes.c_uint32(0)
        self._joiner = EventJoiner()
        self._ready: collections.deque[tuple[list[int], int]] = collections.deque()
        self._said_long = self._said_overflow = self._said_cut_sysex = False

    def _connect(self, source: str) -> None:
        self._client.connect(source, self.port_name)

    def get_message(self) -> tuple[list[int], int] | None:
        """(message bytes, the absolute JACK frame it arrived at: `seconds_at` turns it into perf_counter time), or
        None when nothing waits."""
        while not self._ready:
            got = self._client.read(self._buffer, self._frame, self._size)
            if got == 0:
                return None
            if got == GAP:
                self._overflowed(self._frame.value)
                continue
            if got < 0:
                if not self._said_long:
                    log.warning("input: dropped a %d-byte MIDI event (segue reads up to %d); said once",
                                self._size.value, READ_BYTES)
                    self._said_long = True
                continue
            messages = self._joiner.messages(ctypes.string_at(self._buffer, got))   # only the event's bytes
            self._ready.extend((message, self._frame.value) for message in messages)
        return self._ready.popleft()

    def _overflowed(self, dropped: int) -> None:
        """The cycle's ring was full: `dropped` events went here. Said once (the total: `dropped_summary`)."""
        cut = self._joiner.gap()
        if cut and not self._said_cut_sysex:
            log.warning("input: a sysex was cut short after %d bytes by segue's own input buffer (a flood faster than "
                        "segue reads), not by its sender; it was dropped (said once)", cut)
            self._said_cut_sysex = True
        if not self._said_overflow:
            log.warning("input: segue's input buffer overflowed (a flood faster than segue reads): %d MIDI events "
                        "dropped here; said once, counted", dropped)
            self._said_overflow = True

    def dropped(self) -> int:
        """Input events the C cycle's full ring dropped since the client opened."""
        return self._client.input_dropped()

    def dropped_summary(self) -> str | None:
        dropped = self.dropped()
        return f"input: {dropped} MIDI events dropped in all by segue's full input buffer" if dropped else None

    def server_gone(self) -> bool:
        return self._client.server_gone()

    def seconds_at(self, frame: int) -> float:
        return self._client.seconds_at(frame)


class JackMidiOut(_JackMidiPort):
    kind, others = "output", JACK_PORT_IS_INPUT

    def __init__(self, client_name: str):
        super().__init__(client_name)
        self._said_full = False

    def _connect(self, destination: str) -> None:
        self._client.connect(self.port_name, destination)

    def delays_after_due_s(self) -> tuple[float, float]:
        return self._client.delays_after_due_s()

    def send_message(self, data, ahead_s: float = 0.0) -> None:
        """Send `data`, placed `ahead_s` seconds from now (0: now; either way, one period later at the other end)."""
        if not self._client.write(bytes(data), max(0, round(ahead_s * self._client.rate))):
            # 64 KiB of messages the cycle has not taken: the server stopped cycling (a lost server is noticed and
            # its ports abandoned within a second: see daemon/serve.py)
            if not self._said_full:
                log.warning("output: the JACK server took no messages from segue for a while; dropping what segue "
                            "plays until it does (said once)")
                self._said_full = True
