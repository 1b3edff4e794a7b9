"""Scores -> MIDI bytes through music21 (the `train` extra), which midi_io then reads as any MIDI file.

A compressed .mxl is unpacked under config.yaml's data limits before music21 sees it (segue/codec/file_limits.py);
a score whose repeat marks music21 cannot expand is played through once.
"""
from __future__ import annotations

from pathlib import Path

from segue.config import DataConfig
from segue.errors import SegueError
from segue.codec.file_limits import over_limit, read_mxl


def score_to_midi_bytes(path: Path, limits: DataConfig) -> bytes:
    """A score file (MusicXML, .mxl, kern, ABC) as the bytes of the MIDI file music21 renders from it."""
    try:
        import music21  # noqa: F401  (heavy; only scores need it)
        from music21 import converter
        from music21.midi import translate
    except ImportError:
        raise SegueError(f"{path}: reading scores needs music21; install it with: pip install 'segue[train]'") from None
    compressed = path.suffix.lower() == ".mxl"
    # An .mxl is unpacked here, under the limits: music21 would unpack a zip bomb whole before parsing a byte.
    text = read_mxl(path, limits) if compressed else None
    if not compressed and path.stat().st_size > limits.max_uncompressed_bytes:
        raise over_limit(str(path), f"{path.stat().st_size:,} bytes", "max_uncompressed_bytes",
                         limits.max_uncompressed_bytes)
    try:
        score = converter.parseData(text, format="musicxml") if compressed else converter.parse(str(path))
        try:
            midi_file = translate.streamToMidiFile(score)
        except Exception as e:
            if "repeat" not in str(e):
                raise
            # Badly formed repeat marks: play the score through once rather than lose it.
            _strip_repeats(score)
            midi_file = translate.streamToMidiFile(score)
        return midi_file.writestr()
    except Exception as e:  # music21 raises many unrelated types for malformed scores
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise SegueError(f"{path}: cannot read score ({reason})") from None


def _strip_repeats(score) -> None:
    from music21 import bar, repeat

    for mark in list(score.recurse().getElementsByClass((repeat.RepeatMark, bar.Repeat))):
        mark.activeSite.remove(mark)
