"""The event codec: Magenta's `performance_with_dynamics` encoding (388 classes), notes <-> event indices.

The vocabulary, in order (see ../shared/ARCHITECTURE.md, "The event codec"):
    NOTE_ON pitch 0..127        -> 0..127
    NOTE_OFF pitch 0..127       -> 128..255
    TIME_SHIFT 1..100 steps     -> 256..355   (a step is 10 ms)
    VELOCITY bin 1..32          -> 356..387
Notes handed to `encode_notes` are already sustain-resolved and drum-free (segue.codec.midi_io and segue.codec.streaming do that).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

STEPS_PER_SECOND = 100           # 10 ms resolution, as Performance RNN
MAX_SHIFT_STEPS = 100            # one TIME_SHIFT moves at most 1 s; longer gaps repeat it
NUM_VELOCITY_BINS = 32
MIN_VELOCITY, MAX_VELOCITY = 1, 127
VELOCITY_BIN_SIZE = math.ceil((MAX_VELOCITY - MIN_VELOCITY + 1) / NUM_VELOCITY_BINS)   # = 4

NOTE_ON_OFFSET = 0
NOTE_OFF_OFFSET = 128
TIME_SHIFT_OFFSET = 256
VELOCITY_OFFSET = TIME_SHIFT_OFFSET + MAX_SHIFT_STEPS        # 356
NUM_CLASSES = VELOCITY_OFFSET + NUM_VELOCITY_BINS             # 388
# The vocabulary's four parts as slices of a [388] distribution (the grammar, the sampling loop and the losses
# index with these).
NOTE_ONS = slice(NOTE_ON_OFFSET, NOTE_OFF_OFFSET)
NOTE_OFFS = slice(NOTE_OFF_OFFSET, TIME_SHIFT_OFFSET)
TIME_SHIFTS = slice(TIME_SHIFT_OFFSET, VELOCITY_OFFSET)
VELOCITIES = slice(VELOCITY_OFFSET, NUM_CLASSES)
NO_EVENT = TIME_SHIFT_OFFSET + MAX_SHIFT_STEPS - 1            # TIME_SHIFT(100) = 355, Magenta's default event

# A note that never gets its note-off (a model that forgot to release it) is ended this long after its start,
# as Magenta's generator caps notes at 5 s.
HANGING_NOTE_SECONDS = 5.0

# Velocity of notes decoded before any VELOCITY event (note-seq's default).
DEFAULT_VELOCITY = 100

_HANGING_NOTE_STEPS = int(HANGING_NOTE_SECONDS * STEPS_PER_SECOND)


def codec_params() -> dict:
    """The constants a trained model depends on; stored in datasets, checkpoints and ONNX metadata so a mismatch
    is caught when they are loaded."""
    return {
        "encoding": "performance_with_dynamics",
        "num_classes": NUM_CLASSES,
        "steps_per_second": STEPS_PER_SECOND,
        "max_shift_steps": MAX_SHIFT_STEPS,
        "num_velocity_bins": NUM_VELOCITY_BINS,
    }


@dataclass(slots=True)
class Note:
    pitch: int
    velocity: int
    start: float        # seconds
    end: float          # seconds


def quantize(seconds: float) -> int:
    """Seconds -> 10 ms steps, rounding half up exactly as note-seq's quantize_to_step (cutoff 0.5)."""
    return int(seconds * STEPS_PER_SECOND + 0.5)


def velocity_to_bin(velocity: int) -> int:
    return (velocity - MIN_VELOCITY) // VELOCITY_BIN_SIZE + 1


def bin_to_velocity(velocity_bin: int) -> int:
    return MIN_VELOCITY + (velocity_bin - 1) * VELOCITY_BIN_SIZE


def struck_velocity(velocity_bin: int) -> int:
    """The velocity a NOTE_ON gets under the current bin: note-seq's DEFAULT_VELOCITY before any VELOCITY event
    (bin 0)."""
    return bin_to_velocity(velocity_bin) if velocity_bin else DEFAULT_VELOCITY


def note_on(pitch: int) -> int:
    return NOTE_ON_OFFSET + pitch


def note_off(pitch: int) -> int:
    return NOTE_OFF_OFFSET + pitch


def time_shift(steps: int) -> int:
    if not 1 <= steps <= MAX_SHIFT_STEPS:
        raise ValueError(f"time shift of {steps} steps is outside 1..{MAX_SHIFT_STEPS}")
    return TIME_SHIFT_OFFSET + steps - 1


def velocity_event(velocity_bin: int) -> int:
    return VELOCITY_OFFSET + velocity_bin - 1


def event_kind(event: int) -> str:
    if event < NOTE_OFF_OFFSET:
        return "note_on"
    if event < TIME_SHIFT_OFFSET:
        return "note_off"
    if event < VELOCITY_OFFSET:
        return "time_shift"
    return "velocity"


def shift_steps(event: int) -> int:
    """Steps a TIME_SHIFT event moves time forward by (0 for any other event)."""
    if TIME_SHIFT_OFFSET <= event < VELOCITY_OFFSET:
        return event - TIME_SHIFT_OFFSET + 1
    return 0


def shift_steps_of(events) -> np.ndarray:
    """shift_steps over an array, int64: the steps each event moves time (0 for any event but a TIME_SHIFT). The
    controls' windows, the continuation test's primer cut, the scorer's per-10-ms figure and generate's lengths
    count time with it."""
    events = np.asarray(events, dtype=np.int64)
    is_shift = (events >= TIME_SHIFT_OFFSET) & (events < VELOCITY_OFFSET)
    return np.where(is_shift, events - TIME_SHIFT_OFFSET + 1, 0)


def quantize_array(seconds: np.ndarray) -> np.ndarray:
    """quantize() over an array: the same float operations, truncated the same way (times are never negative)."""
    return (np.asarray(seconds, dtype=np.float64) * STEPS_PER_SECOND + 0.5).astype(np.int64)


def encode_notes(notes: list[Note]) -> np.ndarray:
    """Notes -> event indices; see encode_arrays."""
    return encode_arrays(np.array([n.pitch for n in notes], dtype=np.int64),
                         np.array([n.velocity for n in notes], dtype=np.int64),
                         np.array([n.start for n in notes], dtype=np.float64),
                         np.array([n.end for n in notes], dtype=np.float64))


def encode_arrays(pitches: np.ndarray, velocities: np.ndarray, raw_starts: np.ndarray, raw_ends: np.ndarray) -> np.ndarray:
    """Notes as arrays -> event indices, exactly as note-seq's Performance(quantized sequence, 32 velocity bins).

    Notes are numbered by (unquantized start, pitch) — a stable order, so equal keys keep their input order —
    and every start/end becomes (step, note number, is_end); sorting those tuples gives the event order. Time
    runs from 0, gaps become TIME_SHIFT(100)s then a remainder, and a VELOCITY event precedes each note-on whose
    bin differs from the last one. Vectorised: this runs over whole corpora.
    """
    count = len(pitches)
    if count == 0:
        return np.zeros(0, dtype=np.int16)
    if pitches.min() < 0 or pitches.max() > 127 or velocities.min() < MIN_VELOCITY or velocities.max() > MAX_VELOCITY:
        raise ValueError("notes must have pitches 0..127 and velocities 1..127")
    starts = quantize_array(raw_starts)
    ends = quantize_array(raw_ends)
    ends = np.where(ends == starts, starts + 1, ends)       # a note never ends on the step it starts
    order = np.lexsort((pitches, raw_starts))      # note number -> input index; lexsort is stable

    # One row per start and per end, sorted by (step, note number, is_end).
    steps = np.concatenate([starts[order], ends[order]])
    number = np.concatenate([np.arange(count), np.arange(count)])
    is_end = np.concatenate([np.zeros(count, np.int64), np.ones(count, np.int64)])
    rows = np.lexsort((is_end, number, steps))
    steps, number, is_end = steps[rows], number[rows], is_end[rows]
    row_pitch = pitches[order][number]
    row_bin = (velocities[order][number] - MIN_VELOCITY) // VELOCITY_BIN_SIZE + 1

    # Time shifts before each row: k full seconds then the remainder (only when time moves).
    gap = np.diff(steps, prepend=0)
    moves = gap > 0
    full_shifts = np.where(moves, (gap - 1) // MAX_SHIFT_STEPS, 0)
    remainder = gap - full_shifts * MAX_SHIFT_STEPS
    # A VELOCITY event before a note-on whose bin differs from the previous note-on's (the first always differs).
    on_rows = np.flatnonzero(is_end == 0)
    on_bins = row_bin[on_rows]
    needs_velocity = np.zeros(len(rows), dtype=bool)
    needs_velocity[on_rows] = on_bins != np.concatenate([[0], on_bins[:-1]])

    tokens_per_row = full_shifts + moves + needs_velocity + 1
    row_end = np.cumsum(tokens_per_row)
    row_start = row_end - tokens_per_row
    # Filling with TIME_SHIFT(100) writes every full-second shift at once; the rest is placed by position.
    events = np.full(int(row_end[-1]), NO_EVENT, dtype=np.int16)
    shift_at = row_start + full_shifts
    events[shift_at[moves]] = TIME_SHIFT_OFFSET + remainder[moves] - 1
    velocity_at = shift_at + moves
    events[velocity_at[needs_velocity]] = VELOCITY_OFFSET + row_bin[needs_velocity] - 1
    events[row_end - 1] = np.where(is_end == 1, NOTE_OFF_OFFSET, NOTE_ON_OFFSET) + row_pitch
    return events


def decode_events(events, max_note_seconds: float | None = None) -> list[Note]:
    """Event indices -> notes (sorted by start, then pitch), walked with one EventCursor.

    A NOTE_ON while the same pitch sounds ends the sounding note there (one MIDI channel cannot hold a pitch
    twice); a NOTE_OFF for a pitch that is not sounding is ignored; a note that never gets its NOTE_OFF is
    ended HANGING_NOTE_SECONDS after its start. Zero-length notes are dropped. `max_note_seconds` additionally
    caps every note (the live daemon and `generate` use the 5 s cap on everything, as Magenta's generator).
    Before the first VELOCITY event notes get DEFAULT_VELOCITY, as in note-seq's Performance.to_sequence.
    """
    cursor = EventCursor()
    notes: list[Note] = []
    cap = None if max_note_seconds is None else int(round(max_note_seconds * STEPS_PER_SECOND))

    def close(pitch: int, start_step: int, end_step: int, velocity: int) -> None:
        if cap is not None:
            end_step = min(end_step, start_step + cap)
        if end_step > start_step:
            notes.append(Note(pitch, velocity, start_step / STEPS_PER_SECOND, end_step / STEPS_PER_SECOND))

    for event in events:
        ended = cursor.push(int(event))
        if ended is not None:
            pitch, start_step, velocity = ended
            close(pitch, start_step, cursor.step, velocity)
    for pitch, (start_step, velocity) in cursor.sounding.items():
        close(pitch, start_step, start_step + _HANGING_NOTE_STEPS, velocity)
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


def transpose_events(events: np.ndarray, semitones: int) -> np.ndarray | None:
    """Shift every NOTE_ON/NOTE_OFF by `semitones`; None when a pitch would leave 0..127 (skip that shift)."""
    events = np.asarray(events)
    is_note = events < TIME_SHIFT_OFFSET
    pitches = events[is_note] % 128 + semitones
    if pitches.size and (pitches.min() < 0 or pitches.max() > 127):
        return None
    out = events.copy()
    out[is_note] = events[is_note] + semitones
    return out


class NoteEdge(NamedTuple):
    """One note start or end at an absolute step: what EventCursor.write turns into events and EventCursor.read
    gives back (velocity is the note's for a start, 0 for an end)."""
    step: int
    is_end: bool
    pitch: int
    velocity: int


class OpenNotes:
    """Note-ons not yet matched by a note-off, per pitch (`count`), and which pitches that leaves sounding, counted
    as the encoder writes them: merged parts in unison give ON 60, ON 60, OFF 60, OFF 60, and the second OFF ends
    a real note. (EventCursor follows decoding instead: there a NOTE_ON of a sounding pitch ends the note.)"""

    __slots__ = ("count", "sounding")

    def __init__(self) -> None:
        self.count = np.zeros(NOTE_OFF_OFFSET - NOTE_ON_OFFSET, dtype=np.int64)   # one per MIDI pitch
        self.sounding = np.zeros(NOTE_OFF_OFFSET - NOTE_ON_OFFSET, dtype=bool)

    def observe(self, event: int) -> None:
        if event < NOTE_OFF_OFFSET:
            self.count[event] += 1
            self.sounding[event] = True
        elif event < TIME_SHIFT_OFFSET:
            pitch = event - NOTE_OFF_OFFSET
            if self.count[pitch]:
                self.count[pitch] -= 1
                self.sounding[pitch] = self.count[pitch] > 0

    def copy(self) -> "OpenNotes":
        other = OpenNotes()
        other.count, other.sounding = self.count.copy(), self.sounding.copy()
        return other


class EventCursor:
    """Where a walk over an event stream stands, in either direction: `push` and `read` read events (decoding,
    following what a model or the player plays), `shift_to` and `write` produce them (the live encoder, the live
    context, which merges the player's notes read from the encoder with what the model itself generated).

    It keeps what decoding needs: the step reached, the current velocity bin (0 before any VELOCITY event, as
    the encoder's "current bin" starts) and the notes sounding, pitch -> (start step, velocity). Written events
    follow encode_arrays' rules exactly (tests hold the live encoder equal to it); read events follow
    decode_events' rules, which is built on `push`.
    """

    __slots__ = ("step", "velocity_bin", "sounding")

    def __init__(self) -> None:
        self.step = 0
        self.velocity_bin = 0
        self.sounding: dict[int, tuple[int, int]] = {}

    @property
    def velocity(self) -> int:
        """Velocity a NOTE_ON gets now (note-seq's DEFAULT_VELOCITY before any VELOCITY event)."""
        return struck_velocity(self.velocity_bin)

    def copy(self) -> "EventCursor":
        other = EventCursor()
        other.step, other.velocity_bin, other.sounding = self.step, self.velocity_bin, dict(self.sounding)
        return other

    def push(self, event: int) -> tuple[int, int, int] | None:
        """Consume one event; return the note it ended, as (pitch, start step, velocity), ending at self.step.

        A NOTE_ON of a sounding pitch ends that note and starts a new one; a NOTE_OFF of a silent pitch ends
        nothing."""
        if event < NOTE_OFF_OFFSET:
            ended = self.sounding.pop(event, None)
            self.sounding[event] = (self.step, self.velocity)
            return None if ended is None else (event, *ended)
        if event < TIME_SHIFT_OFFSET:
            pitch = event - NOTE_OFF_OFFSET
            ended = self.sounding.pop(pitch, None)
            return None if ended is None else (pitch, *ended)
        if event < VELOCITY_OFFSET:
            self.step += event - TIME_SHIFT_OFFSET + 1
        elif event < NUM_CLASSES:
            self.velocity_bin = event - VELOCITY_OFFSET + 1
        else:
            raise ValueError(f"event {event} is outside the {NUM_CLASSES}-class vocabulary")
        return None

    def read(self, events) -> list[NoteEdge]:
        """Consume events; return their note starts and ends at the steps they fall on, each start with the velocity
        it sounds at: the edges that `write`, on another cursor, turns back into note events."""
        edges = []
        for event in events:
            event = int(event)
            if event < NOTE_OFF_OFFSET:
                edges.append(NoteEdge(self.step, False, event, self.velocity))
            elif event < TIME_SHIFT_OFFSET:
                edges.append(NoteEdge(self.step, True, event - NOTE_OFF_OFFSET, 0))
            self.push(event)
        return edges

    def shift_to(self, step: int) -> list[int]:
        """TIME_SHIFTs that move the cursor to `step` (none if it is there or past it): full seconds, then the
        remainder. The one place time shifts are split, as encode_arrays splits them."""
        events = []
        while step > self.step + MAX_SHIFT_STEPS:
            events.append(NO_EVENT)
            self.step += MAX_SHIFT_STEPS
        if step > self.step:
            events.append(time_shift(step - self.step))
            self.step = step
        return events

    def write(self, step: int, is_end: bool, pitch: int, velocity: int) -> list[int]:
        """Events for one note start or end at `step` (rows given in encode_arrays' sorted order): the shifts
        there, a VELOCITY event before a NOTE_ON whose bin differs from the current one, the note event. A step
        the cursor has passed writes the note where the cursor stands: time never runs backwards."""
        events = self.shift_to(step)
        if not is_end and velocity_to_bin(velocity) != self.velocity_bin:
            events.append(velocity_event(velocity_to_bin(velocity)))
            self.push(events[-1])
        events.append(note_off(pitch) if is_end else note_on(pitch))
        self.push(events[-1])
        return events
