"""Connections other programs made to segue's own JACK ports, remembered while the server runs and made again after
segue rejoined a server that restarted (python-rtmidi cannot list connections, so this talks to libjack itself).

One client, opened with the system's libjack through ctypes and never activated: it has no process thread, so it
costs the server no cycle and can never sleep on a semaphore (daemon/jack_semaphores.py). It lives in a libjack apart
from the one segue's ports use: the system's beside python-rtmidi's clients (the wheel carries its own), the wheel's
beside segue's own client (daemon/jack_client.py), which so stays alone in its libjack, where the race cannot meet
it (measured: see daemon/serve.py _connections).
Like segue's ports it is never closed once its server went away (closing can wait forever in libjack, see
daemon/backends/rtmidi.py _keep): it is abandoned, and a new one is opened on the next server.
"""
from __future__ import annotations

import ctypes
import logging
import re
import time

from daemon.jack_client import (JACK_NO_START_SERVER, JACK_PORT_IS_INPUT, JACK_PORT_IS_OUTPUT, MIDI_TYPE,
                                 close_client, libjack, port_names)
from daemon.ports import probe_port_pattern

log = logging.getLogger("segue.daemon")

ROLES = ("in", "out")            # segue's own ports in a remembered connection (other ports' names have a colon)
EEXIST = 17                      # jack_connect: the two ports are connected already
# How long a remembered connection is tried again after a rejoin: a synth or a patchbay may come back much later than
# the server (like an --out port followed by name, but not for ever: a port that comes back after this long is
# somebody else's business).
RESTORE_FOR_S = 600.0


class JackConnections:
    """segue's own ports (`in`: its input, `out`: its output) and what other programs connected to them.

    Connections are kept as (source, destination) pairs in which segue's own ports are written as the roles "in" and
    "out", so that they are made again under whatever names segue's new ports get."""

    def __init__(self, lib, client_name: str, in_port_name: str, out_port_name: str):
        self._lib = lib
        self._client = None
        self._name = f"{client_name}-links"
        self._own_pattern = {"in": rf"^{re.escape(client_name)}(-[0-9]+)?:{re.escape(in_port_name)}$",
                             "out": rf"^{re.escape(client_name)}(-[0-9]+)?:{re.escape(out_port_name)}$"}
        # the probe's link to segue's input is segue's own (daemon/backends/sysex_probe.py): the input makes it again
        self._probe = probe_port_pattern(re.escape(client_name))
        self.own: dict[str, str] = {}
        self._before: dict[str, set[str]] = {}
        self.remembered: set[tuple[str, str]] = set()
        self._pending: dict[tuple[str, str], float] = {}     # to make again, until then (time.monotonic)

    @classmethod
    def load(cls, client_name: str, in_port_name: str, out_port_name: str,
             library: str | None = None) -> JackConnections | None:
        """On `library` (a libjack's path; the system's by default): one that segue's ports do not use."""
        lib = libjack(library)
        return None if lib is None else cls(lib, client_name, in_port_name, out_port_name)

    @property
    def joined(self) -> bool:
        return self._client is not None

    def open(self) -> bool:
        """A new client on the server that runs now; False when the server does not take it (yet)."""
        status = ctypes.c_int(0)
        client = self._lib.jack_client_open(self._name.encode(), JACK_NO_START_SERVER, ctypes.byref(status))
        self._client = client or None
        return self.joined

    def abandon(self) -> None:
        """The server went away: never touch its client again. What was remembered is made again after a rejoin."""
        if self._client is not None:
            self._client = None
            self.ports_gone()

    def ports_gone(self) -> None:
        """segue's ports died with the server or were closed: their connections are to be made again once segue's
        new ports are there."""
        self._keep_trying(self.remembered)
        self.remembered, self.own = set(), {}

    def _keep_trying(self, pairs) -> None:
        until = time.monotonic() + RESTORE_FOR_S
        for pair in pairs:
            self._pending.setdefault(pair, until)

    def close(self) -> None:
        """At the end of the session, on a server that is still there."""
        if self._client is not None:
            close_client(self._lib, self._client, "connections'")
            self._client = None

    def _candidates(self) -> dict[str, set[str]]:
        flags = {"in": JACK_PORT_IS_INPUT, "out": JACK_PORT_IS_OUTPUT}
        return {role: set(port_names(self._lib, self._lib.jack_get_ports(self._client, pattern.encode(), MIDI_TYPE,
                                                                     flags[role])))
                for role, pattern in self._own_pattern.items()}

    def before_ports(self) -> None:
        """Call just before segue's ports are opened: the ports then new are segue's (see ports_opened)."""
        if self._client is not None:
            self._before = self._candidates()

    def ports_opened(self) -> None:
        """Find segue's new ports: those that appeared since before_ports (JACK renames a client whose name is
        taken, e.g. segue-01:out, or segue-02:in while another segue runs). Unclear: none, nothing is remembered."""
        if self._client is None:
            return
        self.own = {}
        for role, names in self._candidates().items():
            new = names - self._before.get(role, set())
            if len(new) == 1:
                self.own[role] = new.pop()
            else:
                log.debug("JACK: segue's %s port not told apart from %s; its connections are not kept", role,
                          sorted(new) or "nothing")

    def look(self, followed: set[str]) -> list[str]:
        """Once a second while the server runs: remember the connections of segue's ports (except to the ports in
        `followed`, which the ports follow by name themselves), and make the remembered ones again where both ends
        are there again. A connection is remembered when its other end vanished (a synth that quit, or its clients
        leaving a server that shuts down), forgotten when it was undone (the other end is still there). Returns a
        log line for each one made again or given up."""
        if self._client is None:
            return []
        now = set()
        for role, own in self.own.items():
            port = self._port(own)
            if not port:
                return []                    # a port of segue is being made anew: look again next time
            for other in port_names(self._lib, self._lib.jack_port_get_all_connections(self._client, port)):
                if other not in followed and not self._probe.match(other):
                    now.add((other, role) if role == "in" else (role, other))
        self._keep_trying(pair for pair in self.remembered - now if not self._port(_other_end(pair)))
        restored = self._restore() if self._pending else []
        self.remembered = now
        return restored

    def _port(self, name: str):
        return self._lib.jack_port_by_name(self._client, name.encode())

    def _restore(self) -> list[str]:
        lines = []
        for pair, until in sorted(self._pending.items()):
            source, destination = (self.own.get(end, end) for end in pair)
            if source in ROLES or destination in ROLES or not (self._port(source) and self._port(destination)):
                result = None                # the other end is not back yet (or segue's own port was not found)
            else:
                result = self._lib.jack_connect(self._client, source.encode(), destination.encode())
            if result == 0:
                lines.append(f"restored the connection {destination} <- {source}")
            if result in (0, EEXIST):        # EEXIST: a patchbay was quicker
                del self._pending[pair]
            elif time.monotonic() > until:
                lines.append(f"gave up restoring the connection {destination} <- {source} (not back within "
                             f"{RESTORE_FOR_S:.0f} s)")
                del self._pending[pair]
        return lines


class NotKept:
    """What stands in for JackConnections where connections are not kept (not JACK, or no libjack to ask): those
    die with a server that goes away. Every call does nothing."""

    joined = False

    def open(self) -> bool:
        return False

    def before_ports(self) -> None: ...

    def ports_opened(self) -> None: ...

    def ports_gone(self) -> None: ...

    def abandon(self) -> None: ...

    def close(self) -> None: ...

    def look(self, followed: set[str]) -> list[str]:
        return []


def _other_end(pair: tuple[str, str]) -> str:
    return pair[1] if pair[0] in ROLES else pair[0]
