"""Which of the input's messages the session hears as the player's, and what it says, once, about those it cannot.

The player is everything on the listened channel (`in_channel`, 0 = all) that is not segue's own output come back
(a synth's or DAW's MIDI thru routes segue's notes to its input). Drum notes are the player's but never the model's
business (as in files): the session records and passes them thru, and does not hear them.
"""
from __future__ import annotations

import logging

from segue.codec.midi import DRUM_CHANNEL, channel_of, hex_bytes, is_note_off, is_note_on, split_swallowed
from daemon.safety import EchoFilter

log = logging.getLogger("segue.daemon")


class InputFilter:
    def __init__(self, in_channel: int, ignore_echo: bool, echo: EchoFilter, sysex_deafness_s: float = 0.0):
        """`in_channel`: 1-16, 0 = every channel; `echo`: the scheduler's record of what segue sent;
        `sysex_deafness_s`: how long the input port stays deaf after an unfinished sysex (0: it does not)."""
        self.channel = in_channel - 1 if in_channel else None
        self.ignore_echo = ignore_echo
        self.echo = echo
        self.sysex_deafness_s = sysex_deafness_s
        self.loop_warned = False
        self.sysex_warned = False

    def listens_to(self, channel: int) -> bool:
        return self.channel is None or channel == self.channel

    def player_note_on(self, data, stamp: float) -> bool:
        """A note-on the turn policy will take as the player's (input thread: it only looks, it takes nothing)."""
        if not is_note_on(data):
            return False
        channel = channel_of(data[0])
        if channel == DRUM_CHANNEL or not self.listens_to(channel):
            return False
        return not (self.ignore_echo and self.echo.matches(data, stamp))

    def is_echo(self, data, stamp: float, keys_down) -> bool:
        """Segue's own message come back (the session's thread: the echo is used up). A note-off for a key the player
        holds is the player's, even if segue just sent the same bytes."""
        if not self.ignore_echo or (is_note_off(data) and data[1] in keys_down):
            return False
        if not self.echo.is_echo(data, stamp):
            return False
        self._warn_loop_once()
        return True

    def _warn_loop_once(self) -> None:
        delay = None if self.loop_warned else self.echo.loop_delay()
        if delay is not None:
            self.loop_warned = True
            log.warning("segue's own notes come back into its input %.0f ms after it plays them: something (a "
                        "synth's or DAW's MIDI thru, a track monitoring segue's output) routes segue's output to its "
                        "input. segue ignores them, but fix the routing: a player playing the same note within "
                        "%.1f s of segue is ignored too.", delay * 1000, self.echo.window_s)

    def unfinished_sysex(self, data) -> None:
        """Said once. Under JACK the input cut an unfinished sysex off and delivered what it swallowed
        (daemon/ports.py PROBE): `data` is its head. Other backends glue the next message onto it (then it is lost)."""
        if self.sysex_warned:
            return
        self.sysex_warned = True
        if len(split_swallowed(data)) > 1:
            log.warning("an unfinished sysex (%s ...) from the input swallowed %d bytes of messages after it; those "
                        "notes were lost. A device or script sends sysex without its closing F7.",
                        hex_bytes(data[:3]), len(data))
        elif self.sysex_deafness_s:
            log.warning("an unfinished sysex (%s ...) from the input: the MIDI backend took what followed it for "
                        "part of it until segue ended it; the notes played meanwhile arrived up to %.0f ms late. A "
                        "device or script sends sysex without its closing F7.", hex_bytes(data[:3]),
                        self.sysex_deafness_s * 1000)
        else:
            log.warning("an unfinished sysex (%s ...) from the input: segue dropped it at the next message. A device "
                        "or script sends sysex without its closing F7.", hex_bytes(data[:3]))
