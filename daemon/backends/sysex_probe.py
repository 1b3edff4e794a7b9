"""The sysex probe of python-rtmidi's JACK input: a client of segue's own that keeps that input live.

Under JACK, RtMidi's input takes every event after an unfinished sysex (F0 without F7) for part of it and delivers
nothing until some event ends in F7 (jackProcessIn's continueSysex flag, python-rtmidi 1.5.8). So the probe, a
client beside segue's input, sends a tiny complete sysex to that input every PROBE_PERIOD_S, which ends any
unfinished one; the input drops it and cuts the swallowed messages apart again (`Probe.heard`). segue's own JACK
client and the other backends end an unfinished sysex at the next message themselves.
"""
from __future__ import annotations

from segue.codec.midi import STATUS_BIT, SYSEX, SYSEX_END, split_swallowed

from daemon.port_base import POLL_IDLE_S
from daemon.ports import PROBE_PORT_NAME, find_port

# 0x7D: the manufacturer id for non-commercial use.
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


class Probe:
    """The probe's client (a python-rtmidi output), linked to segue's own input port, and what the input makes of
    the messages it reads: `heard`."""

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
