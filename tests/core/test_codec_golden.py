"""Golden tests: MIDI files written here, expected events derived by hand from the contract in ARCHITECTURE.md.

Event indices: NOTE_ON p = p; NOTE_OFF p = 128 + p; TIME_SHIFT s = 255 + s; VELOCITY bin b = 355 + b.
At 120 bpm and 480 ticks per beat, 96 ticks = 0.1 s = 10 steps.
"""
import pytest

from segue.codec.midi_io import encode_file
from tests.core.midi_builder import note, pedal, tempo, write

ON = lambda p: p                       # noqa: E731
OFF = lambda p: 128 + p                # noqa: E731
SHIFT = lambda s: 255 + s              # noqa: E731
VEL = lambda b: 355 + b                # noqa: E731


def encode(tmp_path, *tracks, tpq=480):
    return encode_file(write(tmp_path / "t.mid", *tracks, tpq=tpq)).tolist()


def test_single_note_has_velocity_then_on_shift_off(tmp_path):
    # velocity 80 -> bin (80-1)//4+1 = 20; 0.5 s -> 50 steps
    assert encode(tmp_path, note(0, 480, 60, 80)) == [VEL(20), ON(60), SHIFT(50), OFF(60)]


def test_leading_silence_and_gaps_over_one_second_repeat_full_shifts(tmp_path):
    # note at 2.5 s; next note starts 2.37 s after the first ends (0.1 s long)
    events = encode(tmp_path, note(2400, 96, 60) + note(2400 + 96 + 2275, 96, 62))  # 2275 ticks = 2.3698 s -> 237
    assert events == [SHIFT(100), SHIFT(100), SHIFT(50), VEL(20), ON(60), SHIFT(10), OFF(60),
                      SHIFT(100), SHIFT(100), SHIFT(37), ON(62), SHIFT(10), OFF(62)]


def test_gap_of_exactly_one_second_is_one_shift(tmp_path):
    assert encode(tmp_path, note(0, 96, 60) + note(96 + 960, 96, 60)) == [
        VEL(20), ON(60), SHIFT(10), OFF(60), SHIFT(100), ON(60), SHIFT(10), OFF(60)]


def test_velocity_event_only_when_the_bin_changes(tmp_path):
    # 77 and 80 share bin 20; 81 is bin 21; back to 80 -> bin 20 again
    events = encode(tmp_path, note(0, 96, 60, 77) + note(96, 96, 61, 80) + note(192, 96, 62, 81) + note(288, 96, 63, 80))
    assert events == [VEL(20), ON(60), SHIFT(10), OFF(60), ON(61), SHIFT(10), OFF(61),
                      VEL(21), ON(62), SHIFT(10), OFF(62), VEL(20), ON(63), SHIFT(10), OFF(63)]


def test_chord_notes_start_by_pitch_and_end_in_note_order(tmp_path):
    events = encode(tmp_path, note(0, 96, 67) + note(0, 96, 60) + note(0, 96, 64))
    assert events == [VEL(20), ON(60), ON(64), ON(67), SHIFT(10), OFF(60), OFF(64), OFF(67)]


def test_note_off_and_note_on_at_the_same_step_follow_note_numbers(tmp_path):
    # 60 ends at 0.1 s as 62 starts: the older note (lower number) goes first, so the off precedes the on
    events = encode(tmp_path, note(0, 96, 60) + note(96, 96, 62))
    assert events == [VEL(20), ON(60), SHIFT(10), OFF(60), ON(62), SHIFT(10), OFF(62)]


def test_velocity_zero_note_on_ends_a_note(tmp_path):
    import mido
    track = [(0, mido.Message("note_on", note=60, velocity=80)), (480, mido.Message("note_on", note=60, velocity=0))]
    assert encode(tmp_path, track) == [VEL(20), ON(60), SHIFT(50), OFF(60)]


def test_pedal_holds_a_released_note_until_it_lifts(tmp_path):
    events = encode(tmp_path, pedal(48, 127) + note(0, 96, 60) + pedal(960, 0))
    assert events == [VEL(20), ON(60), SHIFT(100), OFF(60)]


def test_pedal_below_64_is_up(tmp_path):
    events = encode(tmp_path, pedal(0, 63) + note(0, 96, 60) + pedal(960, 0))
    assert events == [VEL(20), ON(60), SHIFT(10), OFF(60)]


def test_key_held_through_pedal_up_keeps_sounding_until_released(tmp_path):
    events = encode(tmp_path, pedal(0, 127) + note(0, 960, 60) + pedal(480, 0))
    assert events == [VEL(20), ON(60), SHIFT(100), OFF(60)]


def test_same_pitch_struck_again_under_pedal_ends_the_first_there(tmp_path):
    events = encode(tmp_path, pedal(0, 127) + note(0, 96, 60) + note(480, 96, 60) + pedal(960, 0))
    assert events == [VEL(20), ON(60), SHIFT(50), OFF(60), ON(60), SHIFT(50), OFF(60)]


def test_pedal_never_lifted_ends_notes_at_the_last_event(tmp_path):
    # last event: pedal down again at 1.5 s
    events = encode(tmp_path, pedal(0, 127) + note(0, 96, 60) + note(192, 96, 62) + pedal(1440, 100))
    assert events == [VEL(20), ON(60), SHIFT(20), ON(62), SHIFT(100), SHIFT(30), OFF(60), OFF(62)]


def test_pedal_of_one_track_does_not_hold_another_tracks_notes(tmp_path):
    right = pedal(0, 127) + note(0, 96, 72) + pedal(960, 0)
    left = note(0, 96, 48)
    assert encode(tmp_path, right, left) == [VEL(20), ON(48), ON(72), SHIFT(10), OFF(48), SHIFT(90), OFF(72)]


def test_tracks_merge_and_drums_are_dropped(tmp_path):
    conductor = tempo(0, 500000)
    melody = note(0, 96, 72, 100)
    bass = note(48, 96, 36, 60)
    drums = note(0, 96, 36, 127, channel=9) + note(96, 96, 38, 127, channel=9)
    # 72 vel 100 -> bin 25; 36 vel 60 -> bin 15
    assert encode(tmp_path, conductor, melody, bass, drums) == [
        VEL(25), ON(72), SHIFT(5), VEL(15), ON(36), SHIFT(5), OFF(72), SHIFT(5), OFF(36)]


def test_tempo_change_mid_file_is_honoured(tmp_path):
    # 120 bpm for 2 beats (1 s), then 60 bpm: a note of one beat from tick 960 lasts 1 s
    conductor = tempo(0, 500000) + tempo(960, 1000000)
    assert encode(tmp_path, conductor, note(960, 480, 60)) == [SHIFT(100), VEL(20), ON(60), SHIFT(100), OFF(60)]


def test_tempo_outside_track_zero_is_ignored_like_note_seq(tmp_path):
    events = encode(tmp_path, [], tempo(0, 1000000) + note(0, 480, 60))
    assert events == [VEL(20), ON(60), SHIFT(50), OFF(60)]


def test_quantization_rounds_half_up_and_zero_length_notes_last_one_step(tmp_path):
    # tpq 100 at 120 bpm: a tick is 5 ms.
    # 60: 5 ms -> step 1 (0.5 rounds up), ends 10 ms -> step 1 too, so it lasts one step (1 -> 2);
    # 62: 40 ms -> step 4, ends 45 ms -> step 5 (4.5 rounds up)
    events = encode(tmp_path, note(1, 1, 60) + note(8, 1, 62), tpq=100)
    assert events == [SHIFT(1), VEL(20), ON(60), SHIFT(1), OFF(60), SHIFT(2), ON(62), SHIFT(1), OFF(62)]


def test_overlapping_same_pitch_notes_close_together_like_pretty_midi(tmp_path):
    import mido
    track = [(0, mido.Message("note_on", note=60, velocity=80)),
             (96, mido.Message("note_on", note=60, velocity=80)),
             (192, mido.Message("note_off", note=60)),
             (288, mido.Message("note_off", note=60))]
    # one note-off closes both open notes at 0.2 s; the second note-off closes nothing
    assert encode(tmp_path, track) == [VEL(20), ON(60), SHIFT(10), ON(60), SHIFT(10), OFF(60), OFF(60)]


def test_empty_midi_file_encodes_to_no_events(tmp_path):
    assert encode(tmp_path, []) == []


@pytest.mark.parametrize("velocity,expected_bin", [(1, 1), (4, 1), (5, 2), (100, 25), (124, 31), (125, 32), (127, 32)])
def test_velocity_bins(velocity, expected_bin):
    from segue.codec.codec import bin_to_velocity, velocity_to_bin
    assert velocity_to_bin(velocity) == expected_bin
    assert velocity_to_bin(bin_to_velocity(expected_bin)) == expected_bin
