"""segue's encoder against MidiTok's MIDILike tokenizer on the same files, measured side by side in one run.

    python bench/encode.py [--pieces 200]

The files are music21 corpus pieces written out as MIDI (cached in ~/.cache/segue-bench/corpus-midi). Two
figures each: from the file on disk (parse + tokenize) and tokenizing alone (both libraries given parsed input:
segue its notes, MidiTok its symusic Score). Needs the `bench` extra (miditok) and music21.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

CACHE = Path.home() / ".cache" / "segue-bench" / "corpus-midi"


def corpus_midi(count: int) -> list[Path]:
    """Write the first `count` convertible music21 corpus pieces as MIDI (once; later runs reuse them)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    existing = sorted(CACHE.glob("*.mid"))
    if len(existing) >= count:
        return existing[:count]
    from music21 import corpus

    written = len(existing)
    for index, path in enumerate(corpus.getPaths()):
        if written >= count:
            break
        target = CACHE / f"{index:05d}_{Path(str(path)).stem}.mid"
        if target.exists():
            continue
        try:
            corpus.parse(path).write("midi", fp=str(target))
            written += 1
        except Exception as e:     # some corpus files do not convert (bad repeats etc.): skip them
            print(f"  skipped {Path(str(path)).name}: {type(e).__name__}", file=sys.stderr)
    return sorted(CACHE.glob("*.mid"))[:count]


def best_of(repeats: int, run) -> float:
    """Fastest of several runs: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import symusic
    from miditok import MIDILike, TokenizerConfig

    from segue.codec.codec import encode_notes
    from segue.codec.midi_io import encode_file, read_notes

    files = corpus_midi(args.pieces)
    print(f"{len(files)} music21 corpus pieces as MIDI ({sum(f.stat().st_size for f in files) / 1e6:.1f} MB)")
    # MIDILike with velocities and time shifts, the closest MidiTok relative of the performance encoding.
    tokenizer = MIDILike(TokenizerConfig(use_velocities=True, use_programs=False, num_velocities=32))

    segue_tokens = sum(len(encode_file(f)) for f in files)
    miditok_tokens = sum(_miditok_count(tokenizer(symusic.Score(str(f)))) for f in files)
    notes = [read_notes(f) for f in files]
    scores = [symusic.Score(str(f)) for f in files]

    rows = [
        ("from file (parse + tokenize)",
         best_of(args.repeats, lambda: [encode_file(f) for f in files]),
         best_of(args.repeats, lambda: [tokenizer(symusic.Score(str(f))) for f in files])),
        ("tokenize only (parsed input)",
         best_of(args.repeats, lambda: [encode_notes(n) for n in notes]),
         best_of(args.repeats, lambda: [tokenizer(s) for s in scores])),
    ]
    print(f"tokens: segue {segue_tokens:,}  MidiTok MIDILike {miditok_tokens:,}")
    print(f"{'':32} {'segue tok/s':>14} {'MidiTok tok/s':>14} {'ratio':>7}")
    for label, segue_seconds, miditok_seconds in rows:
        segue_rate = segue_tokens / segue_seconds
        miditok_rate = miditok_tokens / miditok_seconds
        print(f"{label:32} {segue_rate:14,.0f} {miditok_rate:14,.0f} {segue_rate / miditok_rate:6.1f}x")
    print("goal: segue >= 10x MidiTok MIDILike tokens/s")
    return 0


def _miditok_count(result) -> int:
    sequences = result if isinstance(result, list) else [result]
    return sum(len(seq.ids) for seq in sequences)


if __name__ == "__main__":
    sys.exit(main())
