"""What the player's input may hand the session: whole MIDI messages with data bytes 0..127, nothing else.

A clock byte that lands inside a note message on a merged cable (`90 3C F8`), a sender's stray byte, a truncated
message: the codec would read a velocity of 248 or a pitch of 255 as an event outside its vocabulary, `--thru` would
pass it to the synth and the recorder could not write it. So every message is checked where it enters the session
(Session.on_midi, the sink of every port: segue's own JACK client, python-rtmidi's, the tests' fakes); what fails is
dropped, counted, and said once.

Two things of a malformed message are kept (`salvage`). Real-time bytes (clock, start, stop ...), which MIDI 1.0
lets fall anywhere, even inside another message, come out as messages of their own. And a note-off whose velocity
byte is missing or broken is still a release of its key, at velocity 0: dropped, the key stays down in segue's ears
and, passed thru, the note sounds on at the synth for good.

Sysex is not judged here: an unfinished one is the input's and the session's business (daemon/ports.py PROBE,
Session._warn_swallowed_once), and a complete one's bytes are never read.
"""
from __future__ import annotations

import logging

from segue.codec.midi import (CHANNEL_PRESSURE, CLOCK, MTC_QUARTER_FRAME, NOTE_OFF, PROGRAM_CHANGE, SONG_POSITION,
                              SONG_SELECT, STATUS_BIT, SYSEX, hex_bytes, kind_of)

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


def salvage(data) -> tuple[list[list[int]], bool]:
    """What segue can still hear of a message `malformed` refuses (see the module's docstring): its real-time bytes,
    each alone, then the message without them if that is whole, or a note-off whose pitch byte is whole as a
    release at velocity 0. And whether the message itself was kept (whole but for real-time bytes inside it)."""
    kept = [[byte] for byte in data[1:] if byte >= CLOCK]
    rest = [byte for byte in data if byte < CLOCK]
    if kept and rest and malformed(rest) is None:
        return kept + [rest], True
    if len(rest) >= 2 and kind_of(rest[0]) == NOTE_OFF and rest[1] < STATUS_BIT:
        kept.append([rest[0], rest[1], 0])
    return kept, False


class InputCheck:
    """Lets whole messages through; of a malformed one, what `salvage` keeps. Counts the malformed ones and says so
    once (the first one, as bytes), then at the end."""

    def __init__(self) -> None:
        self.dropped = 0

    def messages(self, data) -> tuple[list, bool]:
        """What of `data` segue hears ([data] if it is whole; of a malformed one, what `salvage` keeps, often
        nothing), and whether that includes the message itself."""
        why = malformed(data)
        if why is None:
            return [data], True
        self.dropped += 1
        if self.dropped == 1:
            log.warning("input: dropped a malformed MIDI message (%s: %s); a device, a merged cable or a script sends "
                        "broken bytes. Further ones are dropped silently and counted (a clock byte inside a message "
                        "and a note-off's key are kept).", hex_bytes(data[:8]), why)
        return salvage(data)

    def summary(self) -> str | None:
        """The line said at the end of the session, if anything was dropped."""
        if self.dropped:
            return f"input: {self.dropped} malformed MIDI message(s) dropped in all"
        return None
