"""--record DIR: the session as a MIDI file with a player track and a segue track, rewritten at every turn.

A take is a musician's work: nothing that happens on stage may lose it. Each message is encoded into its track's
bytes as it comes (a few bytes each, so a long session or a flood costs megabytes, not a list of objects), and each
flush writes the whole file to a temporary file and renames it over the old one: a crash loses at most the current
turn and never leaves a half-written file. A message that is no whole channel message (sysex, clock, broken bytes)
is not part of the take; a removed record folder is made again; a folder that cannot be written is said once, and
the take goes on in memory (at the end, to the temporary folder if its own still refuses it).
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from segue.codec.midi import META, META_TEMPO, META_TRACK_NAME, PLAYER_TRACK, SEGUE_TRACK, SYSEX
from segue.errors import SegueError

from daemon.input_check import malformed

log = logging.getLogger("segue.daemon")

TICKS_PER_BEAT = 480
TEMPO_US = 500_000                         # 120 bpm: 960 ticks per second, finer than the codec's 10 ms
TICKS_PER_SECOND = TICKS_PER_BEAT * 1_000_000 / TEMPO_US
META_END_OF_TRACK = 0x2F


def _vlq(value: int) -> bytes:
    """A Standard MIDI File's variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(meta_type: int, payload: bytes) -> bytes:
    return bytes([0, META, meta_type]) + _vlq(len(payload)) + payload


class _Track:
    """One track's bytes so far; messages come in time order (a few microseconds out of order across threads are
    placed at the previous message's tick)."""

    def __init__(self, name: str, origin: float, tempo: bool):
        self.origin = origin
        self.body = bytearray(_meta(META_TRACK_NAME, name.encode("latin-1")))
        if tempo:
            self.body += _meta(META_TEMPO, TEMPO_US.to_bytes(3, "big"))
        self.last_tick = 0

    def add(self, data, t: float) -> None:
        tick = max(self.last_tick, round((t - self.origin) * TICKS_PER_SECOND))
        self.body += _vlq(tick - self.last_tick) + bytes(data)
        self.last_tick = tick

    def chunk(self) -> bytes:
        body = self.body + _meta(META_END_OF_TRACK, b"")
        return b"MTrk" + len(body).to_bytes(4, "big") + body


class Recorder:
    def __init__(self, directory: str | Path, origin: float):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SegueError(f"--record: cannot create {self.directory}: {exc.strerror or exc}") from None
        self.path = self.directory / time.strftime("segue-%Y%m%d-%H%M%S.mid")
        self.origin = origin
        self._tracks = {PLAYER_TRACK: _Track(PLAYER_TRACK, origin, tempo=True),
                        SEGUE_TRACK: _Track(SEGUE_TRACK, origin, tempo=False)}
        self._lock = threading.Lock()              # the session's loop, the scheduler and a panic add; flush reads
        self.skipped = 0
        self._write_failed = False

    def player(self, data, t: float) -> None:
        self._add(PLAYER_TRACK, data, t)

    def segue(self, data, t: float) -> None:
        self._add(SEGUE_TRACK, data, t)

    def _add(self, track: str, data, t: float) -> None:
        if not data or data[0] >= SYSEX:
            return                                 # clock, sysex, transport: not part of the take
        if malformed(data) is not None:
            self.skipped += 1
            if self.skipped == 1:
                log.warning("--record: a malformed MIDI message is left out of the take (said once)")
            return
        with self._lock:
            self._tracks[track].add(data, t)

    def _file_bytes(self) -> bytes:
        with self._lock:
            chunks = [track.chunk() for track in self._tracks.values()]
        header = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(chunks).to_bytes(2, "big")
        return header + TICKS_PER_BEAT.to_bytes(2, "big") + b"".join(chunks)

    def flush(self, final: bool = False) -> Path | None:
        """Write the take so far; returns where it is, or None when it could not be written (said once; the take
        stays in memory). `final`: the session ends, so a take its folder refuses goes to the temporary folder."""
        data = self._file_bytes()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)     # removed mid-session: made again
            _write_atomically(self.path, data)
        except OSError as exc:
            if not final:
                if not self._write_failed:
                    log.warning("--record: cannot write %s (%s); the take is kept and written again at the next turn "
                                "(said once)", self.path, exc.strerror or exc)
                self._write_failed = True
                return None
            rescue = Path(tempfile.gettempdir()) / self.path.name
            try:
                _write_atomically(rescue, data)
            except OSError:
                log.error("--record: the take could not be written to %s (%s) nor to %s", self.path,
                          exc.strerror or exc, rescue)
                return None
            log.error("--record: cannot write %s (%s); the take was written to %s instead", self.path,
                      exc.strerror or exc, rescue)
            self.path = rescue
        if self._write_failed:
            self._write_failed = False
            log.info("--record: the take is written to %s again", self.path)
        return self.path


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".mid.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
