"""Tiny helpers for tests that write their own MIDI files with mido (absolute ticks in, a file out)."""
from __future__ import annotations

import mido

TPQ = 480          # with the default tempo of 120 bpm, 480 ticks = 0.5 s, 96 ticks = 0.1 s


def note(tick: int, length: int, pitch: int, velocity: int = 80, channel: int = 0) -> list:
    return [(tick, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)),
            (tick + length, mido.Message("note_off", note=pitch, velocity=0, channel=channel))]


def pedal(tick: int, value: int, channel: int = 0) -> list:
    return [(tick, mido.Message("control_change", control=64, value=value, channel=channel))]


def tempo(tick: int, microseconds_per_quarter: int) -> list:
    return [(tick, mido.MetaMessage("set_tempo", tempo=microseconds_per_quarter))]


def write(path, *tracks: list, tpq: int = TPQ) -> str:
    """Each track is a list of (absolute tick, message); messages at equal ticks keep their listed order."""
    mid = mido.MidiFile(ticks_per_beat=tpq)
    for events in tracks:
        track = mido.MidiTrack()
        previous = 0
        for tick, message in sorted(events, key=lambda item: item[0]):
            track.append(message.copy(time=tick - previous))
            previous = tick
        mid.tracks.append(track)
    mid.save(str(path))
    return str(path)
