"""`segue encode`, `segue decode`, `segue info`: the codec from the command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from segue.cli.main import add_config_args, config_from_args


def add_parser(subparsers) -> None:
    encode = subparsers.add_parser(
        "encode", help="music file -> performance events (388-class Performance RNN encoding)",
        description="Encode a MIDI or score file as Magenta performance events (note-seq compatible).")
    encode.add_argument("file", help="a .mid/.midi file, or a score: .mxl .musicxml .xml .krn .abc")
    encode.add_argument("--json", action="store_true", help="print the event indices as one JSON array")
    add_config_args(encode)
    encode.set_defaults(func=run_encode)

    decode = subparsers.add_parser(
        "decode", help="performance events (JSON array) -> MIDI file",
        description="Turn a JSON array of event indices (as printed by `segue encode --json`) into a MIDI file.")
    decode.add_argument("events", help="JSON file holding an array of event indices ('-' for stdin)")
    decode.add_argument("-o", "--output", required=True, help="MIDI file to write")
    decode.set_defaults(func=run_decode)

    info = subparsers.add_parser(
        "info", help="what a music file holds: notes, duration, events, density, pitch classes, key",
        description="Summarise a MIDI or score file as segue sees it.")
    info.add_argument("file", nargs="+", help="MIDI or score files, folders or globs")
    add_config_args(info)
    info.set_defaults(func=run_info)


def run_encode(args: argparse.Namespace) -> int:
    from segue.codec.codec import NOTE_OFF_OFFSET, VELOCITY_OFFSET, event_kind, shift_steps
    from segue.codec.midi_io import encode_file

    events = encode_file(args.file, config_from_args(args).data)
    if args.json:
        json.dump(events.tolist(), sys.stdout)
        sys.stdout.write("\n")
        return 0
    for event in events.tolist():
        kind = event_kind(event)
        value = {"note_on": event, "note_off": event - NOTE_OFF_OFFSET, "time_shift": shift_steps(event),
                 "velocity": event - VELOCITY_OFFSET + 1}[kind]      # a pitch, steps, a velocity bin 1..32
        print(f"{event:3d}  {kind:<10} {value}")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    from segue.codec.codec import NUM_CLASSES, decode_events
    from segue.errors import SegueError
    from segue.codec.midi_io import write_midi

    source = sys.stdin if args.events == "-" else None
    try:
        text = source.read() if source else Path(args.events).read_text()
    except OSError as e:
        raise SegueError(f"{args.events}: cannot read ({e.strerror or e})") from None
    try:
        events = json.loads(text)
    except json.JSONDecodeError as e:
        raise SegueError(f"{args.events}: not JSON ({e.msg} at line {e.lineno}); expected an array of event indices")
    if not isinstance(events, list) or not all(isinstance(e, int) and 0 <= e < NUM_CLASSES for e in events):
        raise SegueError(f"{args.events}: expected a JSON array of integers 0..{NUM_CLASSES - 1}")
    notes = decode_events(events)
    write_midi(notes, args.output)
    print(f"wrote {args.output}: {len(notes)} notes, {notes[-1].end if notes else 0:.2f} s")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from segue.errors import SegueError
    from segue.codec.midi_io import is_session_file, iter_music_files, read_notes

    limits = config_from_args(args).data
    paths = list(iter_music_files(args.file))
    skipped = 0
    for path in paths:
        try:
            notes = read_notes(path, limits)
        except SegueError as e:
            if len(paths) == 1:      # nothing else to go on to: the plain error, no "skipped"
                raise
            print(f"segue: skipped {e}", file=sys.stderr)
            skipped += 1
            continue
        print(describe(str(path), notes, session=is_session_file(path)))
    if skipped:
        print(f"segue: skipped {skipped} of {len(paths)} files (reasons above)", file=sys.stderr)
    return 2 if skipped == len(paths) else 0


def describe(path: str, notes, session: bool = False) -> str:
    import numpy as np

    from segue.codec.codec import encode_notes
    from segue.codec.controls import CONTROL_DIM, HISTOGRAM_SLICE, compute_controls
    from segue.codec.midi import PITCH_CLASS_NAMES
    from segue.codec.midi_io import SESSION_MAX_SILENCE_S
    from segue.evaluation.musical_metrics import estimate_key, key_name

    events = encode_notes(notes)
    duration = max((n.end for n in notes), default=0.0)
    lines = [f"{path}"]
    if session:
        lines.append("  session    recorded by `segue serve --record`: its player track (segue's answers are left out), "
                     f"silences cut to {SESSION_MAX_SILENCE_S:g} s")
    lines += [f"  notes      {len(notes)}",
              f"  duration   {duration:.2f} s",
              f"  events     {len(events)}  ({len(events) / duration if duration else 0:.1f} events/s)"]
    if notes:
        onsets_per_second = len(notes) / duration if duration else 0.0
        controls = compute_controls(events) if len(events) else np.zeros((1, CONTROL_DIM))
        histogram = controls[:, HISTOGRAM_SLICE].mean(axis=0)
        key, correlation = estimate_key(notes)
        lines += [f"  density    {onsets_per_second:.2f} notes/s",
                  "  pitch classes " + " ".join(f"{n}:{h:.2f}" for n, h in zip(PITCH_CLASS_NAMES, histogram)),
                  f"  key        {key_name(key) if key >= 0 else 'none'}"
                  + (f" (Krumhansl-Schmuckler r={correlation:.2f})" if key >= 0 else "")]
    return "\n".join(lines)
