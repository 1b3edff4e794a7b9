"""MIDI backends, each a small module with an `Input` and an `Output` built on daemon/port_base.py's template (the
base opens, locks, closes, checks; a backend writes `_send`, `_send_at`, `_receive`) and on client_port.py (a port on
one backend client: opened virtually or on a named port, followed, joined again after a JACK server restart).

- own_jack: segue's own JACK client (daemon/jack_client.py): both ports on one client whose process cycle is C; input
  stamped with JACK's frame time, output placed to the frame.
- rtmidi: python-rtmidi (ALSA, CoreMIDI, WinMM, and JACK where segue's own client was not built); input stamped from
  the spacings python-rtmidi gives (ArrivalClock), and under JACK the sysex probe (sysex_probe.py); the line RtMidi
  prints for every message its full queue drops is counted and kept out of the terminal (stderr_tap.py).

This package chooses one (`open_input`, `open_output`: segue's own JACK client where it runs, else python-rtmidi)
and lists ports with python-rtmidi's clients. What a backend's client offers the port on it: `Client` below.
"""
from __future__ import annotations

import re
import time
from typing import Protocol

from daemon.backends import own_jack as own_jack_backend
from daemon.backends import rtmidi as rtmidi_backend
from daemon.ports import others

# A segue killed a moment ago keeps its JACK ports until the server has removed it, and the server goes on tidying
# up a moment after they are gone: a client joining inside that moment was left out of the server's cycle (jackd
# 1.9.21, measured here: 1 restart in 3 within half a second heard nothing), so the new one waits for both.
PREVIOUS_GONE_S, PREVIOUS_SETTLE_S = 10.0, 1.0


class Client(Protocol):
    """One backend client, with at most one port of ours on it."""

    def get_ports(self) -> list[str]:
        """The names of the ports ours may connect to (sources for an input, destinations for an output)."""

    def open_virtual_port(self, port_name: str) -> None:
        """Make our port, connected to nothing."""

    def open_port(self, index: int, port_name: str) -> None:
        """Make our port, connected to get_ports()[index]."""

    def close_port(self) -> None:
        """Remove our port (its connections go with it)."""

    def delete(self) -> None:
        """Close the client (its server is alive)."""


def open_input(backend: str, client_name: str, port_name: str, sink, connect_to: str | None = None,
               probe: bool = True, own_jack: bool = False):
    """The input port on `backend` (segue's own JACK client where `own_jack`); `sink(data, stamp)` hears it. `probe`:
    python-rtmidi's JACK input keeps its sysex probe (daemon/backends/sysex_probe.py)."""
    if own_jack:
        return own_jack_backend.Input(sink, client_name=client_name, port_name=port_name, connect_to=connect_to)
    return rtmidi_backend.Input(sink, backend=backend, client_name=client_name, port_name=port_name,
                                connect_to=connect_to, probe=probe)


def open_output(backend: str, client_name: str, port_name: str, connect_to: str | None = None,
                own_jack: bool = False):
    """The output port on `backend` (segue's own JACK client where `own_jack`)."""
    if own_jack:
        return own_jack_backend.Output(client_name=client_name, port_name=port_name, connect_to=connect_to)
    return rtmidi_backend.Output(backend=backend, client_name=client_name, port_name=port_name,
                                 connect_to=connect_to)


def list_ports(backend: str) -> tuple[list[str], list[str]]:
    """(inputs, outputs) visible on a backend. Inputs are ports we can read from (sources)."""
    lister_in = rtmidi_backend.client("input", backend, "segue-list")
    lister_out = rtmidi_backend.client("output", backend, "segue-list")
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
    lister = rtmidi_backend.client("output", backend, "segue-list")
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


def describe_ports(backend: str) -> str:
    """The text `segue ports` prints for one backend."""
    inputs, outputs = list_ports(backend)
    lines = [f"{backend}:", "  inputs (play into segue with --in NAME):"]
    lines += [f"    {name}" for name in inputs] or ["    (none)"]
    lines.append("  outputs (segue plays to them with --out NAME):")
    lines += [f"    {name}" for name in outputs] or ["    (none)"]
    return "\n".join(lines)
