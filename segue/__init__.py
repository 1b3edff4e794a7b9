"""segue: real-time MIDI continuation. The torch-free core: codec, file I/O, controls, config, engine, CLI."""

__version__ = "0.1.0"
