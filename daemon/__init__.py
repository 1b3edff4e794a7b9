"""segue's live player: MIDI ports, input stamping, turn-taking, generator, scheduler, note safety, clock, recording.

Imports the torch-free core (`segue`) only; nothing imports this package.
"""
