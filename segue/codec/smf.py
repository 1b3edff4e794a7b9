"""A lean Standard MIDI File reader that keeps exactly what the codec needs, in file order.

Why not symusic or mido: the codec contract is Magenta's note-seq, which reads MIDI through pretty_midi, and
pretty_midi's note pairing (one note-off closes *every* open note of that pitch), its instrument grouping by
(program, channel, track) with "straggler" control changes, and its track-0-only tempo map all depend on the raw
message order. symusic pairs notes first-in-first-out and merges tempos from every track, so it cannot reproduce
note-seq on real files. This reader walks the bytes the way mido does (running status, sysex, meta) and keeps only
note on/off, control change, program change, track names and track-0 tempo changes.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

from segue.codec.midi import (ACTIVE_SENSING, CHANNELS, CHANNEL_PRESSURE, CLOCK, CONTINUE, CONTROL_CHANGE, META,
                              META_TEMPO, META_TRACK_NAME, MTC_QUARTER_FRAME, NOTE_OFF, NOTE_ON, PITCH_BEND,
                              POLY_PRESSURE, PROGRAM_CHANGE, SONG_POSITION, SONG_SELECT, START, STATUS_BIT, STOP,
                              SYSEX, SYSEX_END, TUNE_REQUEST)

# Channel-message kinds kept per track (a message's kind is its status byte's, midi.NOTE_ON ...). Everything else
# (aftertouch, sysex, other metas) is skipped. Pitch bends are kept only because pretty_midi files them under an
# instrument, which changes how control changes are grouped.
_KEPT = frozenset((NOTE_ON, NOTE_OFF, CONTROL_CHANGE, PROGRAM_CHANGE, PITCH_BEND))

# Data bytes that follow each channel-message status, as in the MIDI spec.
_DATA_LENGTH = {NOTE_OFF: 2, NOTE_ON: 2, POLY_PRESSURE: 2, CONTROL_CHANGE: 2, PROGRAM_CHANGE: 1, CHANNEL_PRESSURE: 1,
                PITCH_BEND: 2}
# Every channel-message status byte -> (kind, channel, data bytes, kept), so the loop reads a status in one lookup.
_CHANNEL_STATUS = {kind | channel: (kind, channel, length, kind in _KEPT)
                   for kind, length in _DATA_LENGTH.items() for channel in range(CHANNELS)}
# System common / realtime statuses mido accepts inside a track, with their data lengths.
_SYSTEM_LENGTH = {MTC_QUARTER_FRAME: 1, SONG_POSITION: 2, SONG_SELECT: 1, TUNE_REQUEST: 0, CLOCK: 0, START: 0,
                  CONTINUE: 0, STOP: 0, ACTIVE_SENSING: 0}
# A variable-length quantity (delta times, meta and sysex lengths) carries 7 bits a byte; the top bit says more follow.
_VLQ_MORE, _VLQ_BITS = 0x80, 0x7F
# Files whose last tick exceeds this are refused as corrupt (pretty_midi's check, with the limit note-seq sets).
MAX_TICK = 10**10


class MidiFormatError(ValueError):
    """The bytes are not a readable Standard MIDI File; the message says why."""


class TooManyNotes(ValueError):
    """The file holds more note-ons than the caller's cap; parsing stopped there."""

    def __init__(self, limit: int):
        super().__init__(f"more than {limit} notes")
        self.limit = limit


@dataclass
class Track:
    # Each message: (absolute tick, kind, channel, data1, data2); kind is the status byte's (midi.NOTE_ON ...).
    messages: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    name: str = ""
    last_tick: int = -1           # tick of the last message of any kind; -1 for a track with no messages


@dataclass
class MidiFile:
    ticks_per_beat: int
    tracks: list[Track]
    tempos: list[tuple[int, int]]  # (tick, microseconds per quarter) from track 0, in file order


def parse(data: bytes, max_notes: int | None = None) -> MidiFile:
    """Parse SMF bytes. Raises MidiFormatError with a short human reason, TooManyNotes past `max_notes` note-ons."""
    if len(data) < 14 or data[:4] != b"MThd":
        raise MidiFormatError("not a MIDI file (no MThd header)")
    header_size = int.from_bytes(data[4:8], "big")
    if header_size < 6 or len(data) < 8 + header_size:
        raise MidiFormatError("truncated MIDI header")
    num_tracks = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big", signed=True)
    if division < 0:
        raise MidiFormatError("SMPTE time division is not supported (only ticks per beat)")
    if division == 0:
        raise MidiFormatError("time division is 0 ticks per beat (corrupt header)")
    tempos: list[tuple[int, int]] = []
    tracks = []
    notes_left = max_notes if max_notes is not None else sys.maxsize
    for index, (start, size) in enumerate(_track_chunks(data, 8 + header_size, num_tracks)):
        track, notes_left = _parse_track(data, start, size, tempos if index == 0 else None, notes_left)
        if notes_left < 0:
            raise TooManyNotes(max_notes)
        tracks.append(track)
    return MidiFile(division, tracks, tempos)


def _track_chunks(data: bytes, pos: int, num_tracks: int) -> list[tuple[int, int]]:
    """(start, size) of every track chunk, read from the chunk headers alone, so a corrupt length or a missing
    track is refused before any message is parsed."""
    chunks = []
    for index in range(num_tracks):
        if pos + 8 > len(data):
            raise MidiFormatError(f"truncated: header promises {num_tracks} tracks, file holds {index}")
        if data[pos:pos + 4] != b"MTrk":
            raise MidiFormatError(f"track {index} has no MTrk header")
        size = int.from_bytes(data[pos + 4:pos + 8], "big")
        if pos + 8 + size > len(data):
            raise MidiFormatError(f"truncated: track {index} claims {size} bytes, the file ends first")
        chunks.append((pos + 8, size))
        pos += 8 + size
    return chunks


def _parse_track(data: bytes, start: int, size: int, tempos: list | None, notes_left: int) -> tuple[Track, int]:
    """The track's messages and how many note-ons the budget has left; it stops below 0 (TooManyNotes)."""
    track = Track()
    messages = track.messages
    pos = start
    end = start + size
    length = len(data)
    tick = 0
    last_status = None
    try:
        while pos - start != size:
            # Delta time (variable-length quantity).
            byte = data[pos]
            pos += 1
            delta = byte & _VLQ_BITS
            while byte & _VLQ_MORE:
                byte = data[pos]
                pos += 1
                delta = (delta << 7) | (byte & _VLQ_BITS)
            tick += delta
            track.last_tick = tick
            status = data[pos]
            pos += 1
            if status < STATUS_BIT:
                if last_status is None:
                    raise MidiFormatError("running status without a previous status byte")
                pos -= 1                     # the byte we read is the first data byte
                status = last_status
            elif status != META:
                last_status = status         # meta events do not set running status (as mido)
            if status == META:
                meta_type = data[pos]
                pos += 1
                meta_length, pos = read_vlq(data, pos)
                payload = data[pos:pos + meta_length]
                pos += meta_length
                if len(payload) < meta_length:
                    raise IndexError
                if meta_type == META_TEMPO and tempos is not None:
                    tempo = (payload[0] << 16) | (payload[1] << 8) | payload[2]
                    if tempo == 0:           # no time per beat: every later tick would be at the same instant
                        raise MidiFormatError(f"a tempo of 0 microseconds per beat at tick {tick} (corrupt MIDI file)")
                    tempos.append((tick, tempo))
                elif meta_type == META_TRACK_NAME:
                    track.name = payload.decode("latin-1")
            elif status == SYSEX or status == SYSEX_END:
                sysex_length, pos = read_vlq(data, pos)
                pos += sysex_length
            elif status >= SYSEX:
                if status not in _SYSTEM_LENGTH:
                    raise MidiFormatError(f"undefined status byte 0x{status:02x}")
                pos += _SYSTEM_LENGTH[status]
            else:
                kind, channel, data_bytes, kept = _CHANNEL_STATUS[status]
                if data_bytes == 2:
                    a, b = data[pos], data[pos + 1]
                    pos += 2
                else:
                    a, b = data[pos], 0
                    pos += 1
                if a >= STATUS_BIT or b >= STATUS_BIT:
                    raise MidiFormatError("data byte out of range 0..127")
                if kept:
                    messages.append((tick, kind, channel, a, b))
                    if kind == NOTE_ON and b:
                        notes_left -= 1
                        if notes_left < 0:
                            return track, notes_left
            if pos > length:
                raise IndexError
            if pos > end and pos - start != size:
                # mido would read on into the next chunk; a message straddling the chunk end means corruption.
                raise MidiFormatError("a track's messages overrun its chunk (corrupt length)")
    except IndexError:
        raise MidiFormatError("truncated: a track ends in the middle of a message") from None
    return track, notes_left


def read_vlq(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the variable-length quantity at `pos`; IndexError if the bytes end inside it."""
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & _VLQ_BITS)
        if not byte & _VLQ_MORE:
            return value, pos
