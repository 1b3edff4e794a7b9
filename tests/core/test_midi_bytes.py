"""Reading MIDI bytes (segue/codec/midi.py): the rules every module that parses a message relies on."""
from segue.codec.midi import (CONTROL_CHANGE, NOTE_ON, channel_of, hex_bytes, is_note_off, is_note_on, is_system,
                              kind_of, pitch_name, split_swallowed, unfinished_sysex)


def test_a_status_byte_holds_the_kind_and_the_channel():
    assert kind_of(0x9B) == NOTE_ON and channel_of(0x9B) == 11
    assert kind_of(0xB0) == CONTROL_CHANGE and channel_of(0xB0) == 0
    assert is_system(0xF0) and is_system(0xF8) and not is_system(0xEF)


def test_a_note_on_with_velocity_0_ends_a_note():
    assert is_note_on([0x90, 60, 1]) and not is_note_off([0x90, 60, 1])
    assert is_note_off([0x90, 60, 0]) and not is_note_on([0x90, 60, 0])
    assert is_note_off([0x83, 60, 64])
    assert not is_note_on([0x90, 60]) and not is_note_off([0x80, 60])     # truncated: neither
    assert not is_note_on([0xB0, 64, 127]) and not is_note_off([0xB0, 64, 0])


def test_a_sysex_holding_status_bytes_was_never_finished():
    assert not unfinished_sysex([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7])
    assert unfinished_sysex([0xF0, 0x7E, 0x90, 60, 100, 0xF7])            # a note swallowed before the F7
    assert not unfinished_sysex([0x90, 60, 100]) and not unfinished_sysex([])


def test_a_sysex_without_its_f7_was_never_finished():
    assert unfinished_sysex([0xF0, 0x01, 0x02]) and unfinished_sysex([0xF0])


def test_an_unfinished_sysex_is_cut_back_into_its_head_and_the_messages_it_swallowed():
    glued = [0xF0, 0x01, 0x02, 0x90, 60, 90, 0xF8, 0x80, 60, 0, 0xF0, 0x7D, 0x73, 0x67, 0xF7]
    assert split_swallowed(glued) == [[0xF0, 0x01, 0x02], [0x90, 60, 90], [0xF8], [0x80, 60, 0],
                                      [0xF0, 0x7D, 0x73, 0x67, 0xF7]]
    # a later unfinished sysex is a message of its own; an F7 ends the message it is in
    assert split_swallowed([0xF0, 1, 0xF0, 2, 0xC0, 5, 0xF0, 3, 0xF7]) == [[0xF0, 1], [0xF0, 2], [0xC0, 5],
                                                                          [0xF0, 3, 0xF7]]


def test_what_is_no_unfinished_sysex_comes_back_whole():
    for whole in ([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], [0x90, 60, 100], [0xB0, 64, 127], []):
        assert split_swallowed(whole) == [whole]


def test_pitches_are_named_with_middle_c_as_c4():
    assert [pitch_name(p) for p in (60, 61, 70, 21, 0, 127)] == ["C4", "C#4", "Bb4", "A0", "C-1", "G9"]


def test_messages_print_as_hex_bytes():
    assert hex_bytes([0x90, 60, 100]) == "90 3C 64"
