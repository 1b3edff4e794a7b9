"""The live front end of the codec: timestamped MIDI messages in, performance events out, as they become final.

It applies the same rules as the whole-file reader (segue.codec.midi_io) — pretty_midi's note pairing, note-seq's sustain
pedal (segue.codec.sustain), 10 ms quantization and the (step, note number, is_end) order — so a performance played live
yields exactly the events its MIDI file would. A property test holds the two equal.

Events at a 10 ms step are final once time has moved past that step, because every later message quantizes to the
same or a later step. A note-off that closes nothing is no event for note-seq and finalizes nothing: finish() ends
the notes the pedal still holds at the last event's time, which may lie in that note-off's step. Long silences become
TIME_SHIFT(100)s as soon as a full second has certainly passed.

The same rows, as they are written, are also kept as note edges (`take_edges`): the daemon's generator writes the
player's notes into its timeline from them (segue.inference.live_context) instead of reading the events back.
"""
from __future__ import annotations

from dataclasses import dataclass

from segue.codec.codec import MAX_SHIFT_STEPS, EventCursor, NoteEdge, quantize
from segue.codec.sustain import PedalNote, SustainPedal


@dataclass(slots=True)
class _Row:
    """One NOTE_ON or NOTE_OFF waiting for its step to become final."""
    step: int
    order: tuple            # (unquantized start, pitch, arrival): the note number of the file encoder
    is_end: bool
    note: PedalNote

    def key(self):
        return (self.step, self.order, self.is_end)


class StreamingEncoder:
    """Feed messages in time order (seconds on any clock); each call returns the events that became final.

    `origin` is the clock time of step 0 (the start of the session), so silence before the first note is encoded.
    """

    def __init__(self, origin: float = 0.0) -> None:
        self.origin = origin
        self.pedal = SustainPedal()
        self.writer = EventCursor()
        self.open: dict[int, list[PedalNote]] = {}      # pitch -> notes whose key is down (pretty_midi pairing)
        self.rows: list[_Row] = []
        self.orders: dict[int, tuple] = {}             # id(note) -> its note-number key
        self.arrivals = 0
        self.last_time = 0.0                           # time of the last note or pedal event (note-seq's end)
        self.edges: list[NoteEdge] = []                # the rows written since the last take_edges()

    # --- messages -------------------------------------------------------------------------------------------------

    def note_on(self, t: float, pitch: int, velocity: int) -> list[int]:
        if velocity == 0:
            return self.note_off(t, pitch)
        t = self._local(t)
        self.last_time = max(self.last_time, t)
        note = PedalNote(pitch, velocity, t)
        self.open.setdefault(pitch, []).append(note)
        self.arrivals += 1
        order = (t, pitch, self.arrivals)
        self.orders[id(note)] = order
        self.rows.append(_Row(quantize(t), order, False, note))
        self._ended(self.pedal.note_on(t, note))
        return self._flush(t)

    def note_off(self, t: float, pitch: int) -> list[int]:
        t = self._local(t)
        held = self.open.pop(pitch, [])
        # One note-off closes every open note of the pitch except one struck at this very instant (pretty_midi);
        # if every open note was struck at this instant, pretty_midi forgets them all.
        closing = [note for note in held if note.start != t]
        struck_now = [note for note in held if note.start == t]
        if closing and struck_now:
            self.open[pitch] = struck_now
        elif struck_now:
            self._forget(struck_now)
        if not closing:
            # A note-off that closes nothing is no event for note-seq, so it cannot finalize a step: notes the pedal
            # holds may still end at the last event's time (finish), which can lie in the step this one falls in.
            return self._flush(self.last_time)
        self.last_time = max(self.last_time, t)
        for note in closing:
            self._ended(self.pedal.note_off(t, note))
        return self._flush(t)

    def sustain(self, t: float, value: int) -> list[int]:
        t = self._local(t)
        self.last_time = max(self.last_time, t)
        self._ended(self.pedal.pedal(t, value))
        return self._flush(t)

    # --- time -----------------------------------------------------------------------------------------------------

    def advance(self, t: float) -> list[int]:
        """Time has reached `t` with no message: emit what is final, and a TIME_SHIFT(100) per second of silence."""
        t = self._local(t)
        events = self._flush(t)
        limit = quantize(t)
        # Every row left is at `limit` or later, so a whole second of silence before it is certain.
        while self.writer.step + MAX_SHIFT_STEPS < limit:
            events += self.writer.shift_to(self.writer.step + MAX_SHIFT_STEPS)
        return events

    def finish(self, t: float | None = None) -> list[int]:
        """End of the performance: ring-on notes end at the last event time (note-seq), everything is emitted."""
        end = self.last_time if t is None else max(self.last_time, self._local(t))
        self._ended(self.pedal.finish(end))
        rows, self.rows = sorted(self.rows, key=_Row.key), []
        return self._write(rows)

    def take_edges(self) -> list[NoteEdge]:
        """The note starts and ends written as events since the last call, at the steps they were written at."""
        edges, self.edges = self.edges, []
        return edges

    @property
    def step(self) -> int:
        """The step the emitted events have reached."""
        return self.writer.step

    # --- internals ------------------------------------------------------------------------------------------------

    def _local(self, t: float) -> float:
        return t - self.origin

    def _ended(self, notes: list[PedalNote]) -> None:
        for note in notes:
            order = self.orders.pop(id(note))
            if note.dropped:
                self.rows = [row for row in self.rows if row.note is not note]
                continue
            start = quantize(note.start)
            end = quantize(note.end)
            self.rows.append(_Row(end if end != start else start + 1, order, True, note))

    def _forget(self, notes: list[PedalNote]) -> None:
        for note in notes:
            self.orders.pop(id(note), None)        # a note re-struck at the same instant already ended (its order went)
            self.rows = [row for row in self.rows if row.note is not note]
            self.pedal.active = [other for other in self.pedal.active if other is not note]

    def _flush(self, t: float) -> list[int]:
        """Emit every row whose step is final: all steps before the one `t` falls in."""
        limit = quantize(t)
        ready = sorted((row for row in self.rows if row.step < limit), key=_Row.key)
        if ready:
            self.rows = [row for row in self.rows if row.step >= limit]
        return self._write(ready)

    def _write(self, rows: list[_Row]) -> list[int]:
        events: list[int] = []
        for row in rows:
            velocity = 0 if row.is_end else row.note.velocity
            events += self.writer.write(row.step, row.is_end, row.note.pitch, velocity)
            self.edges.append(NoteEdge(self.writer.step, row.is_end, row.note.pitch, velocity))
        return events
