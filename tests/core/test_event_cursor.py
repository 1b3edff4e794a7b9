"""The incremental cursor the live daemon builds its context with: read what one stream holds, write it into another."""
import numpy as np

from segue.codec import codec
from segue.codec.codec import EventCursor, NoteEdge


def test_shifts_to_a_step_are_full_seconds_then_the_remainder_and_never_run_backwards():
    cursor = EventCursor()
    assert cursor.shift_to(0) == []
    assert cursor.shift_to(250) == [codec.time_shift(100), codec.time_shift(100), codec.time_shift(50)]
    assert cursor.shift_to(240) == [] and cursor.step == 250
    assert cursor.shift_to(350) == [codec.time_shift(100)]


def test_read_gives_each_note_edge_at_its_step_with_the_velocity_it_sounds_at():
    edges = EventCursor().read([codec.time_shift(30), codec.velocity_event(20), codec.note_on(60),
                                codec.time_shift(10), codec.note_off(60)])
    assert edges == [NoteEdge(30, False, 60, codec.bin_to_velocity(20)), NoteEdge(40, True, 60, 0)]


def test_written_edges_read_back_are_the_same_events():
    events = list(codec.encode_notes([codec.Note(60, 80, 0.1, 0.5), codec.Note(64, 30, 0.3, 2.7),
                                      codec.Note(67, 80, 2.5, 2.6)]))
    writer = EventCursor()
    written = [e for edge in EventCursor().read(events) for e in writer.write(*edge)]
    assert written == events


def test_the_context_merges_player_notes_after_segues_events():
    context = EventCursor()
    for event in [codec.time_shift(50), codec.velocity_event(10), codec.note_on(64)]:   # segue played at step 50
        context.push(event)
    player = [NoteEdge(80, False, 60, codec.bin_to_velocity(20)), NoteEdge(80, True, 64, 0)]
    events = [e for edge in player for e in context.write(*edge)]
    # 30 more steps; the player's velocity differs from segue's current bin, so a VELOCITY event goes first
    assert events == [codec.time_shift(30), codec.velocity_event(20), codec.note_on(60), codec.note_off(64)]
    assert context.step == 80 and set(context.sounding) == {60}


def test_a_late_player_note_goes_in_where_the_context_stands():
    context = EventCursor()
    context.shift_to(120)
    context.push(codec.velocity_event(5))
    assert context.write(110, False, 60, codec.bin_to_velocity(5)) == [codec.note_on(60)]
    assert context.step == 120


def test_shift_steps_of_an_array_is_shift_steps_of_each_event():
    every_class = np.arange(codec.NUM_CLASSES)
    assert codec.shift_steps_of(every_class).tolist() == [codec.shift_steps(int(e)) for e in every_class]
    assert codec.shift_steps_of([]).tolist() == []
