"""MIDI ports by name: which backend, segue's own ports (left out of every listing), finding a port by exact name or
substring, the JACK server segue joins, and the one line said when there is no MIDI system to join.

The ports themselves are the backends' (daemon/backends: `own_jack`, segue's own JACK client, and `rtmidi`,
python-rtmidi, on daemon/port_base.py's template), which stand on this module. Under JACK both ports are on one
client of segue's own (`segue:in`, `segue:out`) where pip could build its cycle; else python-rtmidi opens one client
per port, so segue shows up as `segue:in` and `segue-01:out` (and `segue-probe`: daemon/backends/sysex_probe.py).
Always look ports up by name, never by position.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
import socket
import sys

import rtmidi

from daemon.settings import DaemonConfig
from segue.errors import SegueError

from daemon import jack_client

BACKENDS = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
PROBE_PORT_NAME = "probe"        # the port of the sysex probe's client (daemon/backends/sysex_probe.py)


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
    what matters in its own words; -v leaves them on)."""
    try:
        jack_client.quiet(ctypes.CDLL(rtmidi_libjack()))
    except (OSError, TypeError, AttributeError):
        pass                             # no libjack here: nothing of it can print either
    try:
        asound = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
        asound.snd_lib_error_set_handler(jack_client.ignore_message())
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


def no_midi_system_line(backend: str, kind: str, exc: Exception) -> str:
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


def probe_client(client_name: str) -> str:
    """The JACK client name of segue's probe (daemon/backends/sysex_probe.py) beside its client `client_name`."""
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
