"""The codec room: events <-> MIDI. The event codec, SMF and score reading, sustain, the streaming encoder, controls,
the MIDI constants, per-file limits and the one reader of built datasets. Imports nothing above it in segue."""
