"""One clock for everything the model hears: the player's events and segue's own, merged by absolute step.

The streaming encoder gives the player's events with its own time shifts; segue's generated events carry theirs.
Both are turned into (absolute step, event) and written into the model's context here, so the time shifts the
model sees always sum to the wall-clock time since the session began (in 10 ms steps), whoever played.
"""
from __future__ import annotations

from dataclasses import dataclass

from segue.codec import codec


def shifts_for(gap: int) -> list[int]:
    """TIME_SHIFT events covering `gap` steps: full seconds first, then the remainder (the codec's rule)."""
    if gap <= 0:
        return []
    events = [codec.time_shift(codec.MAX_SHIFT_STEPS)] * (gap // codec.MAX_SHIFT_STEPS)
    if gap % codec.MAX_SHIFT_STEPS:
        events.append(codec.time_shift(gap % codec.MAX_SHIFT_STEPS))
    return events


@dataclass(slots=True)
class PlayerEvent:
    step: int                  # absolute 10 ms step since the session origin
    event: int                 # NOTE_ON or NOTE_OFF index
    velocity_bin: int = 0      # for NOTE_ON: the player's velocity bin


class PlayerClock:
    """Reads the streaming encoder's output: keeps its step cursor and velocity bin, yields note events."""

    def __init__(self) -> None:
        self.step = 0
        self.velocity_bin = 0

    def absolute(self, events) -> list[PlayerEvent]:
        notes = []
        for event in events:
            event = int(event)
            kind = codec.event_kind(event)
            if kind == "time_shift":
                self.step += codec.shift_steps(event)
            elif kind == "velocity":
                self.velocity_bin = event - codec.VELOCITY_OFFSET + 1
            else:
                notes.append(PlayerEvent(self.step, event, self.velocity_bin if kind == "note_on" else 0))
        return notes


@dataclass(slots=True)
class Context:
    """Where the model's context stands: the absolute step of its last event and its current velocity bin."""
    step: int = 0
    velocity_bin: int = 0

    def advance_to(self, step: int) -> list[int]:
        """Time shifts that bring the context to `step` (none if it is there or past it)."""
        events = shifts_for(step - self.step)
        self.step = max(self.step, step)
        return events

    def player_events(self, items: list[PlayerEvent]) -> list[int]:
        """The player's notes as context events: time shifts between, a VELOCITY event where the bin changed.

        An event stamped before the context's step (segue's sounded events got there first) goes in at once:
        the context never runs backwards."""
        events: list[int] = []
        for item in items:
            events += self.advance_to(item.step)
            if codec.event_kind(item.event) == "note_on" and item.velocity_bin != self.velocity_bin:
                events.append(codec.velocity_event(item.velocity_bin))
                self.velocity_bin = item.velocity_bin
            events.append(item.event)
        return events

    def observe(self, event: int) -> None:
        """Account for one generated event the model has consumed."""
        kind = codec.event_kind(event)
        if kind == "time_shift":
            self.step += codec.shift_steps(event)
        elif kind == "velocity":
            self.velocity_bin = event - codec.VELOCITY_OFFSET + 1
