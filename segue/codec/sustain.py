"""The sustain-pedal rule, one event at a time: note-seq's apply_sustain_control_changes for one instrument.

Shared by the file reader (events replayed in note-seq's order) and the live streaming encoder (events as they
arrive), so both resolve the pedal identically:
- pedal down (CC64 >= 64): a released note keeps sounding;
- pedal up: every released note still sounding ends here; notes whose keys are still held go on;
- a key struck again while the pedal is down ends the earlier note of that pitch there (a note that would then
  last zero time is dropped);
- at the end of the performance, notes still sounding end at the last event time.
"""
from __future__ import annotations

from dataclasses import dataclass

from segue.codec.midi import PEDAL_DOWN


@dataclass(slots=True, eq=False)
class PedalNote:
    """A note whose end the pedal may still move. `end` is None while its key is held."""
    pitch: int
    velocity: int
    start: float
    end: float | None = None
    final: bool = False         # the end can no longer move
    dropped: bool = False       # struck again at the very same instant under the pedal: note-seq deletes it


class SustainPedal:
    """Resolves note ends for one instrument; each method returns the notes whose end became final."""

    def __init__(self) -> None:
        self.down = False
        self.active: list[PedalNote] = []

    def pedal(self, time: float, value: int) -> list[PedalNote]:
        if value >= PEDAL_DOWN:
            self.down = True
            return []
        self.down = False
        ended, still = [], []
        for note in self.active:
            if note.end is not None and note.end < time:
                note.end = time             # was ringing only because of the pedal
                note.final = True
                ended.append(note)
            else:
                still.append(note)          # key still held (or released at this very instant)
        self.active = still
        return ended

    def note_on(self, time: float, note: PedalNote) -> list[PedalNote]:
        ended = []
        if self.down:
            still = []
            for other in self.active:
                if other.pitch == note.pitch:
                    other.end = time
                    other.final = True
                    other.dropped = other.start == time
                    ended.append(other)
                else:
                    still.append(other)
            self.active = still
        self.active.append(note)
        return ended

    def note_off(self, time: float, note: PedalNote) -> list[PedalNote]:
        if note.final:
            return []                       # already ended by a re-strike under the pedal
        note.end = time
        if self.down:
            return []                       # rings on until the pedal lifts or the key is struck again
        if note in self.active:
            self.active.remove(note)
        note.final = True
        return [note]

    def finish(self, time: float) -> list[PedalNote]:
        """End of the performance: everything still sounding ends at `time` (the last event time)."""
        ended = self.active
        for note in ended:
            note.end = time
            note.final = True
        self.active = []
        return ended
