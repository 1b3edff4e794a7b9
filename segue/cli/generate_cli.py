"""`segue generate` (torch-free: it runs ONNX models through segue.inference.engine)."""

from __future__ import annotations

import argparse
from pathlib import Path

from segue.cli.main import add_config_args, add_force_arg, config_from_args, refuse_to_overwrite

# The sections of config.yaml this room owns (segue/config.py sections(): loaded only when a config is read).
SETTINGS = {"sampling": "segue.inference.grammar_settings:GrammarSettings"}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="continue a phrase (or start from nothing) and write MIDI + piano roll",
        description="Sample continuations from an ONNX model. Writes OUT/NAME-i.mid (primer + continuation) and "
                    "OUT/NAME-i.png (piano roll: primer blue, continuation orange).")
    p.add_argument("--model", type=Path, default=None, help="ONNX model from `segue export` (default: the shipped model)")
    p.add_argument("--primer", type=Path, nargs="+", default=[None], metavar="FILE",
                   help="MIDI or score file(s) to continue (MusicXML, .mxl, .krn, .abc); default: start from silence")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=None, help="length of each continuation (default 30)")
    length.add_argument("--steps", type=int, default=None, help="length in events instead of seconds")
    p.add_argument("-n", "--num-outputs", type=int, default=1, help="continuations per primer")
    p.add_argument("-o", "--output", type=Path, default=Path("generated"), help="output folder")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = always the likeliest")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest events only (0 = off)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling: smallest set with this mass (1 = off)")
    p.add_argument("--min-p", type=float, default=0.0, help="drop events below min-p x the likeliest's probability")
    p.add_argument("--seed", type=int, default=None, help="makes the output reproducible (printed when not given)")
    p.add_argument("--key", default=None, help='conditioned models: play in this key, e.g. "D minor", "F# major"')
    p.add_argument("--density", type=float, default=None, help="conditioned models: notes per second to aim for")
    p.add_argument("--beam-size", type=int, default=1, help="beam search: beams kept (1 = plain sampling)")
    p.add_argument("--branch-factor", type=int, default=1, help="beam search: branches sampled per beam")
    p.add_argument("--steps-per-iteration", type=int, default=1, help="beam search: events sampled per branch")
    p.add_argument("--wav", action="store_true", help="also render audio with fluidsynth (needs a GM soundfont)")
    p.add_argument("--soundfont", type=Path, default=None, help="the .sf2 for --wav (default: a system GM soundfont)")
    p.add_argument("--no-png", action="store_true", help="skip the piano-roll images")
    add_force_arg(p)
    p.add_argument("--memory", choices=["off", "player", "session"], default=None,
                   help="session memory, as segue serve plays: the answer reuses the primer's material (player) "
                        "and its own too (session); default: config.yaml daemon.memory (player). Needs the memory "
                        "settings fitted for the model (NAME.memory.json beside it)")
    grammar = p.add_argument_group("decoding grammar", "shapes each draw; defaults from config.yaml `sampling:`")
    grammar.add_argument("--no-grammar", action="store_true",
                         help="sample the model as it is: no note-off mask, release hazard or dynamics following")
    grammar.add_argument("--note-cap", type=float, default=None, metavar="SECONDS", help="no note sounds longer")
    grammar.add_argument("--release-start", type=float, default=None, metavar="SECONDS",
                         help="notes older than this get likelier to be released (negative: no hazard and no cap)")
    grammar.add_argument("--no-follow-dynamics", action="store_true",
                         help="let velocities go where the model takes them instead of near the primer's level")
    grammar.add_argument("--key-strength", type=float, default=None, metavar="0..1",
                         help="with --key: how firmly notes outside the key's scale are kept out (1 = never)")
    add_config_args(p)
    p.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    import numpy as np

    from segue.cli.generate_output import can_draw_piano_rolls, find_synth, planned_paths, write_result
    from segue.errors import SegueError
    from segue.inference import generate as gen
    from segue.inference.engine import Engine
    from segue.inference.memory import player_memory
    from segue.inference.sampling import Sampler

    if args.num_outputs < 1:
        raise SegueError(f"-n must be >= 1, got {args.num_outputs}")
    cfg = config_from_args(args)
    limits = cfg.data                        # per-file limits for the primers
    grammar = None if args.no_grammar else _grammar_settings(args, cfg.sampling)
    length = gen.Length(seconds=args.seconds, steps=args.steps) if (args.seconds or args.steps) else gen.Length(30.0)
    settings = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p)
    Sampler(**settings)  # reject bad settings before loading anything
    synth = find_synth(args.soundfont) if args.wav else None
    png = not args.no_png and can_draw_piano_rolls()
    stems = [primer.stem if primer is not None else "sample" for primer in args.primer]
    refuse_to_overwrite([path for stem in stems for i in range(args.num_outputs)
                         for path in planned_paths(args.output, f"{stem}-{i + 1}", png, args.wav)], args.force)
    engine = Engine.load(args.model)
    memory_mode = args.memory or cfg.daemon.memory
    memory = player_memory(engine.path, memory_mode)
    if (args.key or args.density is not None) and not engine.conditioned:
        raise SegueError(f"{engine.path} is not conditioned on controls, so --key/--density cannot steer it; "
                         "use a model trained with model.conditioned: true")
    seed = args.seed if args.seed is not None else int(np.random.default_rng().integers(2**31))
    if args.seed is None:
        print(f"seed {seed} (pass --seed {seed} to get these outputs again)")
    beam = dict(beam_size=args.beam_size, branch_factor=args.branch_factor,
                steps_per_iteration=args.steps_per_iteration)
    for p_index, primer_path in enumerate(args.primer):
        primer = gen.load_primer(primer_path, limits)
        stem = primer_path.stem if primer_path is not None else "sample"
        for i in range(args.num_outputs):
            run_seed = seed + p_index * args.num_outputs + i
            events = gen.generate(engine, primer, length, settings, run_seed, args.key, args.density, beam, grammar,
                                  memory, memory_mode)
            result = gen.Generated(f"{stem}-{i + 1}", primer, events, run_seed)
            paths = write_result(result, args.output, png=png, synth=synth)
            print(f"{', '.join(str(p) for p in paths)}: {len(events)} events, "
                  f"{result.continuation_seconds:.1f} s after a {result.primer_seconds:.1f} s primer")
    return 0


def _grammar_settings(args: argparse.Namespace, sampling):
    """config.yaml's `sampling:` section with the command line's changes (GrammarSettings checks them)."""
    import dataclasses

    changes = {name: value for name, value in (("note_cap_seconds", args.note_cap),
                                               ("release_start_seconds", args.release_start),
                                               ("key_strength", args.key_strength)) if value is not None}
    if args.no_follow_dynamics:
        changes["follow_dynamics"] = False
    return dataclasses.replace(sampling, **changes)
