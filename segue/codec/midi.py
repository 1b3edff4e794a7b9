"""MIDI in one place: status bytes and how to read them, controller numbers, the switch-pedal threshold, pitch
names, session-file tracks.

Values are the MIDI 1.0 specification's; the sustain threshold is also note-seq's (the codec's reference).
"""

STATUS_BIT = 0x80                  # a byte with this bit set is a status byte; data bytes are 0..127

# Channel messages: the status byte's high nibble is the kind, its low nibble the channel (0..15).
STATUS_KIND = 0xF0                 # status & STATUS_KIND: the kind of a channel message
CHANNEL_MASK = 0x0F
NOTE_OFF = 0x80
NOTE_ON = 0x90                     # ... with velocity 0 is a note-off
POLY_PRESSURE = 0xA0
CONTROL_CHANGE = 0xB0
PROGRAM_CHANGE = 0xC0
CHANNEL_PRESSURE = 0xD0
PITCH_BEND = 0xE0
CHANNELS = 16
DRUM_CHANNEL = 9                   # MIDI channel 10 (General MIDI percussion): the codec drops its notes

# System messages (status >= 0xF0): no channel.
SYSEX, SYSEX_END = 0xF0, 0xF7
MTC_QUARTER_FRAME, SONG_POSITION, SONG_SELECT, TUNE_REQUEST = 0xF1, 0xF2, 0xF3, 0xF6
CLOCK, START, CONTINUE, STOP = 0xF8, 0xFA, 0xFB, 0xFC
ACTIVE_SENSING = 0xFE

# In a Standard MIDI File the status 0xFF (a live stream's System Reset) opens a meta event: type, length, payload.
META = 0xFF
META_TRACK_NAME, META_TEMPO = 0x03, 0x51

# Controller numbers.
SUSTAIN_CC = 64
SOFT_PEDAL_CC = 67                 # the left pedal: takeover mode's default hand-over pedal
ALL_SOUND_OFF_CC = 120
ALL_NOTES_OFF_CC = 123
PEDAL_DOWN = 64                    # switch pedals (sustain, a takeover pedal): a value >= 64 is "down"
SWITCH_ON, SWITCH_OFF = 127, 0       # what a switch controller sends (segue's state CC for its LEDs)

# Pitch names: MIDI 60 is middle C, C4 (scientific pitch notation); black keys spelled as in key names.
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# The tracks of a session file (`segue serve --record`): what the player played and what segue answered.
PLAYER_TRACK, SEGUE_TRACK = "player", "segue"


def kind_of(status: int) -> int:
    """The kind of a channel message (NOTE_ON, CONTROL_CHANGE ...) from its status byte."""
    return status & STATUS_KIND


def channel_of(status: int) -> int:
    """The channel (0..15) of a channel message from its status byte."""
    return status & CHANNEL_MASK


def is_system(status: int) -> bool:
    """A system message (sysex, clock, transport ...): it belongs to no channel."""
    return status >= SYSEX


def is_note_on(data) -> bool:
    """A message that starts a note: a three-byte NOTE_ON with a velocity above 0."""
    return len(data) == 3 and data[0] & STATUS_KIND == NOTE_ON and data[2] > 0


def is_note_off(data) -> bool:
    """A message that ends a note: a three-byte NOTE_OFF, or a NOTE_ON with velocity 0 (which running-status
    senders use, one status byte for a whole run of notes)."""
    if len(data) != 3:
        return False
    kind = data[0] & STATUS_KIND
    return kind == NOTE_OFF or (kind == NOTE_ON and data[2] == 0)


def unfinished_sysex(data) -> bool:
    """A sysex that was never finished (F0 without F7): it does not end in F7, or it holds status bytes, which the MIDI
    backend (python-rtmidi's RtMidi) glued onto it: everything that came after it until some message ended in F7."""
    return len(data) > 0 and data[0] == SYSEX and (data[-1] != SYSEX_END or any(b >= STATUS_BIT for b in data[1:-1]))


def split_swallowed(data) -> list[list[int]]:
    """The messages an unfinished sysex swallowed, cut apart, in order: its head (F0 and its data bytes), then each
    message the backend glued onto it. RtMidi's JACK input glues whole JACK events, and JACK MIDI has no running
    status, so each swallowed message starts at a status byte; an F7 belongs to the message it ends. Anything else
    comes back whole."""
    if not unfinished_sysex(data):
        return [list(data)]
    messages: list[list[int]] = []
    for byte in data:
        if not messages or (byte >= STATUS_BIT and byte != SYSEX_END):
            messages.append([byte])
        else:
            messages[-1].append(byte)
    return messages


def pitch_name(pitch: int) -> str:
    """60 -> "C4", 61 -> "C#4", 21 -> "A0"."""
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def hex_bytes(data) -> str:
    """A message as the MIDI monitors print it: "90 3C 64"."""
    return " ".join(f"{byte:02X}" for byte in data)
