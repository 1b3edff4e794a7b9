"""Music files -> sustain-resolved notes -> events, and notes -> MIDI files.

MIDI is read the way Magenta's note-seq reads it (through pretty_midi), because the codec contract is note-seq's
output on real files: pretty_midi's note pairing and instrument grouping, its track-0 tempo map and float time
arithmetic, then note-seq's sustain rule per instrument, drums dropped, all instruments merged. MusicXML, .mxl,
kern and ABC go through music21 (the `train` extra, segue/codec/scores.py), rendered to MIDI bytes and read by
the same path.
Every reader takes the per-file limits of config.yaml's `data` section (segue.codec.file_limits); None = the defaults.

A session file of `segue serve --record` (tracks "player" and "segue", daemon/recorder.py) is read as its player
track only: what the pianist played is music to learn from and to continue, segue's own answers are not. Its
silences are cut to SESSION_MAX_SILENCE_S: where segue answered, the player's track is silent for the whole turn.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np

from segue.codec import smf
from segue.codec.codec import Note, encode_arrays
from segue.config import DataConfig
from segue.errors import SegueError
from segue.codec.file_limits import check_file_size, over_limit, read_file
from segue.codec.midi import (CHANNELS, CONTROL_CHANGE, DRUM_CHANNEL, META, META_TRACK_NAME, NOTE_OFF, NOTE_ON,
                              PEDAL_DOWN, PITCH_BEND, PLAYER_TRACK, PROGRAM_CHANGE, SEGUE_TRACK, SUSTAIN_CC)
from segue.codec.scores import score_to_midi_bytes
from segue.codec.sustain import PedalNote, SustainPedal

MIDI_SUFFIXES = {".mid", ".midi", ".smf"}
SCORE_SUFFIXES = {".mxl", ".musicxml", ".xml", ".krn", ".abc"}
MUSIC_SUFFIXES = MIDI_SUFFIXES | SCORE_SUFFIXES
DEFAULT_TEMPO = 500_000         # microseconds per quarter (120 bpm) until track 0 says otherwise
# The track names of a `segue serve --record` session file, in the order daemon/recorder.py writes them.
SESSION_TRACKS = (PLAYER_TRACK, SEGUE_TRACK)
# A rest inside a phrase seldom lasts longer. A session's longer silences are segue's turns (8 s by default) and the
# wait before the first note: left in, they would teach a model to fall silent for seconds after every phrase.
SESSION_MAX_SILENCE_S = 2.0


# --- public entry points --------------------------------------------------------------------------------------------

class NoteArrays(NamedTuple):
    """Notes as parallel arrays (pitch, velocity, start s, end s): what the whole-file path carries."""
    pitch: np.ndarray
    velocity: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def empty(cls) -> "NoteArrays":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))

    def to_notes(self) -> list[Note]:
        return [Note(int(p), int(v), float(s), float(e)) for p, v, s, e in zip(*self)]


def read_notes(path: str | Path, limits: DataConfig | None = None) -> list[Note]:
    """Read a MIDI or score file into sustain-resolved, drum-free notes. Raises SegueError naming the file."""
    return read_note_arrays(path, limits).to_notes()


def read_note_arrays(path: str | Path, limits: DataConfig | None = None) -> NoteArrays:
    path = Path(path)
    limits = limits or DataConfig()
    if path.is_dir():
        raise SegueError(f"{path}: is a folder, expected a MIDI or score file")
    suffix = path.suffix.lower()
    if suffix in SCORE_SUFFIXES:
        check_file_size(path, limits)
        return midi_bytes_to_arrays(score_to_midi_bytes(path, limits), str(path), limits)
    data = read_file(path, limits)
    if suffix not in MIDI_SUFFIXES and not data.startswith(b"MThd"):
        raise SegueError(f"{path}: not a MIDI or score file (known suffixes: {', '.join(sorted(MUSIC_SUFFIXES))})")
    return midi_bytes_to_arrays(data, str(path), limits)


def encode_file(path: str | Path, limits: DataConfig | None = None) -> np.ndarray:
    """The whole-file front end of the codec: file -> event indices."""
    return encode_arrays(*read_note_arrays(path, limits))


def midi_bytes_to_arrays(data: bytes, name: str = "<bytes>", limits: DataConfig | None = None) -> NoteArrays:
    limits = limits or DataConfig()
    if not data:
        raise SegueError(f"{name}: empty file, not a MIDI file")
    try:
        midi = smf.parse(data, max_notes=limits.max_notes)
    except smf.MidiFormatError as e:
        raise SegueError(f"{name}: {e}") from None
    except smf.TooManyNotes:
        raise over_limit(name, f"more than {limits.max_notes:,} notes", "max_notes", limits.max_notes) from None
    if any(track.last_tick < 0 for track in midi.tracks):
        raise SegueError(f"{name}: a track holds no messages at all (corrupt MIDI file)")
    session = is_session(midi)
    if session:
        midi.tracks = [track for track in midi.tracks if track.name == PLAYER_TRACK]
    max_tick = max((track.last_tick for track in midi.tracks), default=0) + 1
    if max_tick > smf.MAX_TICK:
        raise SegueError(f"{name}: last tick {max_tick} is absurdly large, the file is probably corrupt")
    tempo = _TempoMap(midi.ticks_per_beat, midi.tempos)
    seconds = float(tempo.seconds([max_tick - 1])[0])
    if seconds > limits.max_seconds:
        raise over_limit(name, f"{seconds:,.0f} s long", "max_seconds", limits.max_seconds)
    notes = _apply_sustain(_group_instruments(midi), tempo)
    return shorten_silences(notes, SESSION_MAX_SILENCE_S) if session else notes


def write_midi(notes: Iterable[Note], path: str | Path, program: int = 0, channel: int = 0) -> None:
    """One-track MIDI at 120 bpm with 500 ticks per beat, so a tick is exactly 1 ms and 10 ms steps survive."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=_WRITE_TPQ)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=DEFAULT_TEMPO, time=0))
    track.append(mido.Message("program_change", program=program, channel=channel, time=0))
    for tick, message in _note_messages(notes, channel, mido):
        track.append(message.copy(time=tick))
    _absolute_to_delta(track)
    try:
        mid.save(str(path))
    except OSError as e:
        raise SegueError(f"{path}: cannot write ({e.strerror or e})") from None


class SourcePath(NamedTuple):
    """One path a source argument names, and what to do with it (source_paths)."""
    path: Path
    kind: str       # FOLDER: walk it (folder_paths); MUSIC: read it; OTHER: pass it over, it is no music file


FOLDER, MUSIC, OTHER = "folder", "music", "other"


def source_paths(source: str | Path) -> Iterator[SourcePath]:
    """What one file / folder / glob argument names: the one rule of `segue info` and `segue data build`.

    A file named as itself is music whatever its suffix (the reader tells a MIDI file by its header). Otherwise the
    argument is a glob (`**` recursive) and its matches come sorted: a folder is walked as a named one would be, a
    file is music only with a music suffix (a glob such as `scores/*` also catches a README). A glob that matches
    nothing is an error: a typo should not build an empty dataset."""
    path = Path(source).expanduser()
    if path.is_dir():
        yield SourcePath(path, FOLDER)
    elif path.is_file():
        yield SourcePath(path, MUSIC)
    else:
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(str(source)), recursive=True))
        if not matches:
            raise SegueError(f"{source}: no such file, folder or glob match")
        for match in matches:
            kind = FOLDER if match.is_dir() else MUSIC if match.suffix.lower() in MUSIC_SUFFIXES else OTHER
            yield SourcePath(match, kind)


def folder_paths(folder: Path) -> Iterator[SourcePath]:
    """Every file under `folder`, sorted, as MUSIC (by suffix) or OTHER. Hidden files and folders (.DS_Store, .git,
    macOS's ._name.mid shadows) are not data and are left out."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if not any(part.startswith(".") for part in path.relative_to(folder).parts):
            yield SourcePath(path, MUSIC if path.suffix.lower() in MUSIC_SUFFIXES else OTHER)


def iter_music_files(sources: Iterable[str | Path]) -> Iterator[Path]:
    """The music files that files, folders (recursively) and glob patterns name (source_paths), sorted within each
    source, each once (a `**` glob names a folder and the files in it)."""
    seen = set()
    for source in sources:
        for named in source_paths(source):
            for item in folder_paths(named.path) if named.kind == FOLDER else [named]:
                if item.kind == MUSIC and item.path.resolve() not in seen:
                    seen.add(item.path.resolve())
                    yield item.path


# --- session files of `segue serve --record` ------------------------------------------------------------------------

def is_session(midi: smf.MidiFile) -> bool:
    return tuple(track.name for track in midi.tracks) == SESSION_TRACKS


def is_session_file(path: str | Path) -> bool:
    """Whether `path` is a `segue serve --record` session, from its track names alone (no message is parsed, the
    track bodies are skipped): cheap enough to ask of every MIDI file of a large folder."""
    try:
        if not Path(path).is_file():
            return False                     # a device or a FIFO never ends (or never opens): not a session
        with open(path, "rb") as handle:
            return tuple(_leading_track_names(handle, len(SESSION_TRACKS) + 1)) == SESSION_TRACKS
    except OSError:
        return False


def shorten_silences(notes: NoteArrays, longest: float) -> NoteArrays:
    """Every stretch with no note sounding (the pedal already applied), the one before the first note too, cut to
    `longest` seconds by moving everything after it earlier. The notes keep their order and their lengths."""
    if not len(notes.start):
        return notes
    order = np.argsort(notes.start, kind="stable")
    starts, ends = notes.start[order], notes.end[order]
    sounding_until = np.concatenate([[0.0], np.maximum.accumulate(ends)[:-1]])   # before each start, in order
    cut = np.cumsum(np.maximum(starts - sounding_until - longest, 0.0))
    shift = np.empty_like(cut)
    shift[order] = cut
    return NoteArrays(notes.pitch, notes.velocity, notes.start - shift, notes.end - shift)


_NAME_SCAN_BYTES = 256      # a track's name comes first in any file a sequencer (or the recorder) writes


def _leading_track_names(handle, max_tracks: int) -> list[str]:
    """The name of each of the first `max_tracks` tracks ("" for none), read from the metas that open the track."""
    head = handle.read(14)
    if len(head) < 14 or head[:4] != b"MThd":
        return []
    handle.seek(8 + int.from_bytes(head[4:8], "big"))
    names = []
    while len(names) < max_tracks:
        chunk = handle.read(8)
        if len(chunk) < 8:
            break
        size, body = int.from_bytes(chunk[4:8], "big"), handle.tell()
        if chunk[:4] == b"MTrk":
            names.append(_opening_name(handle.read(min(size, _NAME_SCAN_BYTES))))
        handle.seek(body + size)
    return names


def _opening_name(data: bytes) -> str:
    """The track-name meta among the meta events at the start of a track's bytes, else ""."""
    pos = 0
    try:
        while pos < len(data):
            _, pos = smf.read_vlq(data, pos)                # the delta time
            if data[pos] != META:
                return ""                                   # a channel message: the opening metas are over
            meta_type = data[pos + 1]
            length, pos = smf.read_vlq(data, pos + 2)
            if meta_type == META_TRACK_NAME:
                return data[pos:pos + length].decode("latin-1")
            pos += length
    except IndexError:                                      # the scanned bytes end inside a message
        pass
    return ""


# --- time: pretty_midi's tick -> seconds, bit for bit ---------------------------------------------------------------

class _TempoMap:
    """Track-0 tempo changes, with pretty_midi's rules and float arithmetic (a note at x.xx5 s rounds the same)."""

    def __init__(self, ticks_per_beat: int, tempos: list[tuple[int, int]]):
        scales = [(0, 60.0 / (120.0 * ticks_per_beat))]
        for tick, tempo in tempos:
            scale = 60.0 / ((6e7 / tempo) * ticks_per_beat)
            if tick == 0:
                scales = [(0, scale)]           # a tempo at tick 0 replaces the default
            elif scale != scales[-1][1]:
                scales.append((tick, scale))    # repeated tempos are ignored
        self.starts = [tick for tick, _ in scales]
        self.scales = [scale for _, scale in scales]
        self.offsets = [0.0]
        for (start, scale), (end, _) in zip(scales[:-1], scales[1:]):
            self.offsets.append(self.offsets[-1] + scale * (end - start))

    def seconds(self, ticks) -> np.ndarray:
        """Ticks -> seconds: offset of the tempo segment + scale * ticks into it (pretty_midi's array values)."""
        ticks = np.asarray(ticks, dtype=np.int64)
        starts = np.asarray(self.starts, dtype=np.int64)
        # The last segment starting at or before the tick; for equal starts the later one (pretty_midi's array).
        segment = np.maximum(np.searchsorted(starts, ticks, side="right") - 1, 0)
        return np.asarray(self.offsets)[segment] + np.asarray(self.scales)[segment] * (ticks - starts[segment])


# --- instruments: pretty_midi's note pairing and grouping -----------------------------------------------------------

@dataclass(eq=False)
class _Instrument:
    program: int
    is_drum: bool
    notes: list[tuple[int, int, int, int]] = field(default_factory=list)   # (start tick, end tick, pitch, velocity)
    controls: list[tuple[int, int, int]] = field(default_factory=list)     # (tick, control, value); may be shared


def _group_instruments(midi: smf.MidiFile) -> list[_Instrument]:
    """pretty_midi's _load_instruments: instruments keyed by (program, channel, track), created on the first note
    they close; control changes seen before that wait in a per-(channel, track) "straggler" whose list the
    instrument then shares. One note-off closes every open note of its pitch that did not start on that tick."""
    by_key: dict[tuple[int, int, int], _Instrument] = {}
    stragglers: dict[tuple[int, int], _Instrument] = {}

    def instrument(program: int, channel: int, track: int, create: bool) -> _Instrument:
        found = by_key.get((program, channel, track))
        if found is not None:
            return found
        if not create and (channel, track) in stragglers:
            return stragglers[(channel, track)]
        if create:
            made = _Instrument(program, channel == DRUM_CHANNEL)
            if (channel, track) in stragglers:
                made.controls = stragglers[(channel, track)].controls
            by_key[(program, channel, track)] = made
            return made
        made = _Instrument(program, False)
        stragglers[(channel, track)] = made
        return made

    for track_index, track in enumerate(midi.tracks):
        open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        programs = [0] * CHANNELS
        for tick, kind, channel, a, b in track.messages:
            if kind == PROGRAM_CHANGE:
                programs[channel] = a
            elif kind == NOTE_ON and b > 0:
                open_notes.setdefault((channel, a), []).append((tick, b))
            elif kind == NOTE_OFF or kind == NOTE_ON:
                opened = open_notes.get((channel, a))
                if opened is None:
                    continue                        # a note-off with nothing to close
                closing = [(start, velocity) for start, velocity in opened if start != tick]
                keeping = [(start, velocity) for start, velocity in opened if start == tick]
                for start, velocity in closing:
                    instrument(programs[channel], channel, track_index, True).notes.append((start, tick, a, velocity))
                if closing and keeping:
                    open_notes[(channel, a)] = keeping
                else:
                    del open_notes[(channel, a)]
            elif kind == CONTROL_CHANGE:
                instrument(programs[channel], channel, track_index, False).controls.append((tick, a, b))
            elif kind == PITCH_BEND:
                instrument(programs[channel], channel, track_index, False)   # may create a straggler
    return list(by_key.values())


# --- note-seq: merge instruments, apply the pedal, drop drums -------------------------------------------------------

_PEDAL_DOWN, _PEDAL_UP, _NOTE_START, _NOTE_END = 0, 1, 2, 3     # note-seq's processing order at equal times


def _apply_sustain(instruments: list[_Instrument], tempo: _TempoMap) -> NoteArrays:
    """note-seq's sequence after apply_sustain_control_changes, drums removed, as arrays in sequence order.

    The pedal acts per instrument, so each instrument with CC64 is replayed on its own in note-seq's order
    (time, then pedal-down < pedal-up < note start < note end; a stable sort of starts, ends, pedal changes).
    Instruments without CC64 pass through unchanged: with the pedal never down the rule changes nothing.
    Ring-on notes end at the time of the last event of the whole sequence, as note-seq's loop leaves it.
    """
    parts, pedalled = [], []
    last_time = 0.0
    for inst in instruments:
        pedal = [(tick, value) for tick, control, value in inst.controls if control == SUSTAIN_CC]
        if pedal:
            last_time = max(last_time, float(tempo.seconds([tick for tick, _ in pedal]).max()))
        if inst.is_drum or not inst.notes:
            continue
        ticks = np.array(inst.notes, dtype=np.int64)          # (start tick, end tick, pitch, velocity)
        starts, ends = tempo.seconds(ticks[:, 0]), tempo.seconds(ticks[:, 1])
        last_time = max(last_time, float(starts.max()), float(ends.max()))
        part = NoteArrays(ticks[:, 2], ticks[:, 3], starts, ends)
        parts.append(part)
        if pedal:
            pedalled.append((len(parts) - 1, tempo.seconds([tick for tick, _ in pedal]), [v for _, v in pedal]))
    for index, pedal_times, values in pedalled:
        parts[index] = replay_pedal(parts[index], pedal_times, values, last_time)
    if not parts:
        return NoteArrays.empty()
    return NoteArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in NoteArrays._fields))


def replay_pedal(part: "NoteArrays", pedal_times, values, last_time: float) -> "NoteArrays":
    """CC64 changes (times in seconds, values) applied to one instrument's notes in note-seq's order at equal times,
    through the one SustainPedal rule; notes still sounding end at `last_time`. The file reader uses it, and so does
    training/rendering.py for the pedal it adds to a rendered score."""
    notes = [PedalNote(int(p), int(v), float(s)) for p, v, s in zip(part.pitch, part.velocity, part.start)]
    events = [(note.start, _NOTE_START, note) for note in notes]
    events += [(float(end), _NOTE_END, note) for end, note in zip(part.end, notes)]
    events += [(float(t), _PEDAL_DOWN if v >= PEDAL_DOWN else _PEDAL_UP, v) for t, v in zip(pedal_times, values)]
    events.sort(key=lambda e: (e[0], e[1]))
    pedal = SustainPedal()
    for time, kind, payload in events:
        if kind == _NOTE_START:
            pedal.note_on(time, payload)
        elif kind == _NOTE_END:
            pedal.note_off(time, payload)
        else:
            pedal.pedal(time, payload)
    pedal.finish(last_time)
    kept = [note for note in notes if not note.dropped]
    return NoteArrays(np.array([n.pitch for n in kept], dtype=np.int64),
                      np.array([n.velocity for n in kept], dtype=np.int64),
                      np.array([n.start for n in kept]), np.array([n.end for n in kept]))


# --- writing ------------------------------------------------------------------------------------------------------

_WRITE_TPQ = 500     # with the default 120 bpm, one tick is 1 ms


def _note_messages(notes: Iterable[Note], channel: int, mido) -> list[tuple[int, object]]:
    """(absolute tick, message) pairs; at equal ticks note-offs go first so a re-struck pitch reads back right."""
    timed = []
    for note in notes:
        start = round(note.start * 1000)
        end = max(round(note.end * 1000), start + 1)
        timed.append((start, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity, channel=channel)))
        timed.append((end, 0, mido.Message("note_off", note=note.pitch, velocity=0, channel=channel)))
    timed.sort(key=lambda item: (item[0], item[1]))
    return [(tick, message) for tick, _, message in timed]


def _absolute_to_delta(track) -> None:
    previous = 0
    for message in track:
        tick = message.time
        message.time = tick - previous
        previous = tick
