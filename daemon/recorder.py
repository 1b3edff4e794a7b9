"""--record DIR: the session as a MIDI file with a player track and a segue track, rewritten at every turn.

Each flush writes a temporary file and renames it over the old one, so a crash loses at most the current turn and
never leaves a half-written file.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import mido

from segue.codec.midi import PLAYER_TRACK, SEGUE_TRACK, SYSEX
from segue.errors import SegueError

TICKS_PER_BEAT = 480
TEMPO_US = 500_000                         # 120 bpm: 960 ticks per second, finer than the codec's 10 ms
TICKS_PER_SECOND = TICKS_PER_BEAT * 1_000_000 / TEMPO_US


class Recorder:
    def __init__(self, directory: str | Path, origin: float):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SegueError(f"--record: cannot create {self.directory}: {exc.strerror or exc}") from None
        self.path = self.directory / time.strftime("segue-%Y%m%d-%H%M%S.mid")
        self.origin = origin
        self._player: list[tuple[float, tuple[int, ...]]] = []
        self._segue: list[tuple[float, tuple[int, ...]]] = []
        self._lock = threading.Lock()

    def player(self, data, t: float) -> None:
        if data[0] < SYSEX:                  # channel messages only: clock and sysex do not belong in the take
            self._player.append((t, tuple(data)))

    def segue(self, data, t: float) -> None:
        self._segue.append((t, tuple(data)))

    def flush(self) -> Path:
        with self._lock:
            midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
            for name, events in ((PLAYER_TRACK, list(self._player)), (SEGUE_TRACK, list(self._segue))):
                midi.tracks.append(self._track(name, events))
            tmp = self.path.with_suffix(".mid.tmp")
            midi.save(tmp)
            os.replace(tmp, self.path)
        return self.path

    def _track(self, name: str, events) -> mido.MidiTrack:
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        if name == PLAYER_TRACK:
            track.append(mido.MetaMessage("set_tempo", tempo=TEMPO_US, time=0))
        last_tick = 0
        for t, data in sorted(events, key=lambda item: item[0]):
            tick = max(0, round((t - self.origin) * TICKS_PER_SECOND))
            track.append(mido.Message.from_bytes(list(data), time=max(0, tick - last_tick)))
            last_tick = max(last_tick, tick)
        track.append(mido.MetaMessage("end_of_track", time=0))
        return track
