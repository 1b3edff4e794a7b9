"""What the player's input may hand the session: whole MIDI messages with data bytes 0..127, nothing else.

A clock byte that lands inside a note message on a merged cable (`90 3C F8`), a sender's stray byte, a truncated
message: the codec would read a velocity of 248 or a pitch of 255 as an event outside its vocabulary, `--thru` would
pass it to the synth and the recorder could not write it. So every message is checked where it enters the session
(Session.on_midi, the sink of every port: segue's own JACK client, python-rtmidi's, the tests' fakes); what fails is
dropped, counted, and said once.

Sysex is not judged here: an unfinished one is the input's and the session's business (daemon/ports.py PROBE,
Session._warn_swallowed_once), and a complete one's bytes are never read.
"""
from __future__ import annotations

import logging

from segue.codec.midi import (CHANNEL_PRESSURE, MTC_QUARTER_FRAME, PROGRAM_CHANGE, SONG_POSITION, SONG_SELECT,
                              STATUS_BIT, SYSEX, hex_bytes, kind_of)

log = logging.getLogger("segue.daemon")

# Bytes in a whole message, by its status (MIDI 1.0): channel messages by kind, system common by status; every other
# system status (tune request, real time, the undefined ones) stands alone.
_TWO_BYTE_KINDS = (PROGRAM_CHANGE, CHANNEL_PRESSURE)
_SYSTEM_LENGTHS = {MTC_QUARTER_FRAME: 2, SONG_POSITION: 3, SONG_SELECT: 2}


def expected_length(status: int) -> int | None:
    """How many bytes a message with this status byte has (None: a sysex, any length)."""
    if status == SYSEX:
        return None
    if status > SYSEX:
        return _SYSTEM_LENGTHS.get(status, 1)
    return 2 if kind_of(status) in _TWO_BYTE_KINDS else 3


def malformed(data) -> str | None:
    """Why `data` is not a whole MIDI message segue can hear, or None when it is one."""
    if not data:
        return "empty"
    status = data[0]
    if status < STATUS_BIT:
        return "no status byte"
    length = expected_length(status)
    if length is None:
        return None
    if len(data) != length:
        return f"{len(data)} bytes where its status byte says {length}"
    if any(byte >= STATUS_BIT or byte < 0 for byte in data[1:]):
        return "a data byte above 127"
    return None


class InputCheck:
    """Drops what `malformed` refuses; counts it and says so once (the first one, as bytes), then at the end."""

    def __init__(self) -> None:
        self.dropped = 0

    def accepts(self, data) -> bool:
        why = malformed(data)
        if why is None:
            return True
        self.dropped += 1
        if self.dropped == 1:
            log.warning("input: dropped a malformed MIDI message (%s: %s); a device, a merged cable or a script sends "
                        "broken bytes. Further ones are dropped silently and counted.", hex_bytes(data[:8]), why)
        return False

    def summary(self) -> str | None:
        """The line said at the end of the session, if anything was dropped."""
        if self.dropped:
            return f"input: {self.dropped} malformed MIDI message(s) dropped in all"
        return None
