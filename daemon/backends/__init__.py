"""MIDI backends, each a small module with an `Input` and an `Output` built on daemon/port_base.py's template (the
base opens, locks, closes, checks; a backend writes `_send`, `_send_at`, `_receive`) and on client_port.py (a port on
one backend client: opened virtually or on a named port, followed, joined again after a JACK server restart).

- own_jack: segue's own JACK client (daemon/jack_client.py): both ports on one client whose process cycle is C; input
  stamped with JACK's frame time, output placed to the frame.
- rtmidi: python-rtmidi (ALSA, CoreMIDI, WinMM, and JACK where segue's own client was not built); input stamped from
  the spacings python-rtmidi gives (ArrivalClock), and under JACK the sysex probe (sysex_probe.py).

daemon/ports.py chooses one (`open_input`, `open_output`). What a backend's client offers the port on it:
"""
from __future__ import annotations

from typing import Protocol


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
