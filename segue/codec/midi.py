"""MIDI constants, in one place: status bytes, controller numbers, the switch-pedal threshold, session-file tracks.

Values are the MIDI 1.0 specification's; the sustain threshold is also note-seq's (the codec's reference).
"""

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

# System messages (status >= 0xF0).
SYSEX, SYSEX_END = 0xF0, 0xF7
CLOCK, START, CONTINUE, STOP = 0xF8, 0xFA, 0xFB, 0xFC
ACTIVE_SENSING = 0xFE

# Controller numbers.
SUSTAIN_CC = 64
ALL_SOUND_OFF_CC = 120
ALL_NOTES_OFF_CC = 123
PEDAL_DOWN = 64                    # switch pedals (sustain, a takeover pedal): a value >= 64 is "down"

# The tracks of a session file (`segue serve --record`): what the player played and what segue answered.
PLAYER_TRACK, SEGUE_TRACK = "player", "segue"
