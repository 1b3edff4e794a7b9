"""`segue evaluate`: how well a model (and the baselines, session memory) predict a dataset; torch-free."""

from __future__ import annotations

import argparse
from pathlib import Path

from segue.cli.main import add_config_args, config_from_args


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="how well the model (and baselines, session memory) predict a dataset, as a player hears it",
        description="Score an ONNX model on a dataset folder (`segue data build`, or a rendered copy from `segue data "
                    "render`) under the live protocol: whole pieces from their start, past-only controls. Also prints "
                    "the forward-controls and trainer's-window figures for comparison. Settings of the baselines "
                    "and the memory are fitted on held-out train pieces, never on the scored split.")
    p.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped model)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder")
    p.add_argument("--split", default="eval", choices=["eval", "train"],
                   help="which split to score and, with --continuations, to take the primers from (train: where a "
                        "setting may be chosen; the Markov baseline has then heard those pieces)")
    p.add_argument("--train-data", type=Path, default=None,
                   help="dataset whose train split trains the baselines and tunes the memory (default: --data; "
                        "a rendered eval copy from `segue data render` has none)")
    p.add_argument("--generation-data", type=Path, nargs="+", default=None, metavar="DATASET",
                   help="with --memory --continuations: datasets whose held-out train pieces choose the memory's "
                        "generation strength, shared between them (default: the train data). segue serve hears "
                        "both kinds of input: e.g. data/default data/default-rendered-train")
    p.add_argument("--exclude", action="append", default=[], metavar="PIECE_ID",
                   help="leave this piece of the scored split out of every figure (repeatable), e.g. one the model "
                        "was trained on: music21:beethoven/opus18no1/movement3 was in the shipped model's train "
                        "split before piece ids were made machine-independent")
    p.add_argument("--max-pieces", type=int, default=None, help="score only the first N pieces (quick look)")
    p.add_argument("--baselines", action="store_true",
                   help="also fit and score the count baselines (Kneser-Ney, + cache, + note-off grammar) with CIs")
    p.add_argument("--memory", action="store_true",
                   help="also score the model with session memory (on vs off), and with --continuations fit the "
                        "memory they play with (default: the one saved beside the model, as segue serve plays; "
                        "--set 'daemon.memory=\"off\"' plays without)")
    p.add_argument("--save-memory", action="store_true",
                   help="with --memory --continuations: keep the memory settings fitted for generation beside the "
                        "model (MODEL.memory.json), where generate and serve can find them")
    p.add_argument("--json", action="store_true", help="print everything as one JSON object")
    p.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                   help="also write the report as Markdown (the source of MODEL.md's evaluation section)")
    p.add_argument("--continuations", action="store_true",
                   help="also run the continuation test: what segue serve plays (grammar + session memory), the "
                        "model alone, the grammar alone, the memory alone and the Markov baseline vs the real music")
    p.add_argument("--prime-seconds", type=float, default=10.0,
                   help="continuation test: prime with this many seconds, generate as many")
    p.add_argument("--pieces", type=int, default=40, help="continuation test: eval pieces to continue")
    p.add_argument("--primers-every", type=float, default=None, metavar="SECONDS",
                   help="continuation test: a primer every SECONDS through each piece (default: one, from its "
                        "start); the measures of a piece's primers are averaged, so intervals stay over pieces")
    p.add_argument("--seed", type=int, default=0, help="continuation test: sampling seed")
    p.add_argument("--draws", type=int, default=1, metavar="N",
                   help="continuation test: continue every primer N times (seeds --seed, --seed + 1, ...) and "
                        "average them per piece: one 10 s answer is a noisy sample of how a system plays")
    p.add_argument("--fit-seeds", type=int, default=3, metavar="N",
                   help="with --save-memory: continue each held-out train piece with N seeds (--seed, --seed + 1, "
                        "...) when choosing the memory's generation strength")
    p.add_argument("--png", type=Path, default=None, metavar="FILE",
                   help="continuation test: also draw the comparison into FILE (needs matplotlib)")
    p.add_argument("--detail", action="store_true",
                   help="after the summary, print the full report: every protocol, gap, event type and table")
    add_config_args(p)
    p.set_defaults(func=run_evaluate)


def summary(report: dict) -> str:
    """The few lines a user reads first: each live system's NLL and the gaps with their intervals."""
    lines = [f"{report['model']} on {report['data']}, {report['split']} split: {report['pieces']} pieces, "
             f"{report['events']:,} events, as segue hears a player (past-only controls); lower NLL is better"]
    rows = report["rows"]
    width = max(len(row["label"]) for row in rows.values())
    lines += [f"  {row['label']:<{width}}  {row['nll']:.3f} nats/event, accuracy {row['accuracy']:.1%}"
              for row in rows.values()]
    first = next(iter(rows.values()))
    lines.append(f"  {first['label']} by event type: " + ", ".join(
        f"{kind} {part['nll']:.3f} ({part['share']:.0%} of events)" for kind, part in first["by_type"].items()))
    lines += [f"  {gap['label']}: {rows[gap['worse']]['label']} - {rows[gap['better']]['label']} = {gap['gap']:+.3f} "
              f"[{gap['low']:+.3f}, {gap['high']:+.3f}] nats/event (95% CI over {gap['pieces']} pieces)"
              for gap in report["gaps"]]
    if "continuations" in report:
        from segue.evaluation.continuations import headline

        system = report["settings"]["serve_system"]
        pieces = int(report["continuations"][system]["pieces"])
        lines.append(f"  continuations of {pieces} pieces' primers, as segue serve plays ({system}, session memory "
                     f"{report['settings']['memory_mode']}; 95% CI over pieces):")
        lines += [f"    {line}" for line in headline(report["continuations"], system)]
    lines.append("--detail prints the full report (other protocols, per event type, tables); --markdown FILE "
                 "writes it")
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    import json
    import sys

    from segue.errors import SegueError
    from segue.evaluation.evaluate import evaluate, format_markdown

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.primers_every is not None and args.primers_every <= 0:     # before the scoring's minutes, not after
        raise SegueError(f"--primers-every must be > 0 seconds, got {args.primers_every:g}")
    if args.draws < 1:
        raise SegueError(f"--draws must be at least 1, got {args.draws}")
    cfg = config_from_args(args)
    report = evaluate(args.model, args.data, split=args.split, baselines=args.baselines, memory=args.memory,
                      max_pieces=args.max_pieces, progress=progress, train_config=cfg.train,
                      train_data=args.train_data, exclude=args.exclude)
    text = format_markdown(report)
    memory = None
    memory_mode = cfg.daemon.memory       # the continuations are played as segue serve plays
    if args.continuations and "model_memory" in report["settings"]:
        from segue.evaluation.continuations import fit_memory_strength
        from segue.inference.memory import MemorySettings

        candidates = {label: MemorySettings.from_json(saved)
                      for label, saved in report["settings"]["model_memory"]["candidates"].items()}
        memory, tried = fit_memory_strength(args.model, args.generation_data or [args.train_data or args.data],
                                            candidates,
                                            seconds=args.prime_seconds, max_pieces=args.pieces,
                                            seeds=range(args.seed, args.seed + max(args.fit_seeds, 1)),
                                            grammar=cfg.sampling, memory_mode=memory_mode)
        report["settings"]["generation_memory"] = {"chosen": memory.to_json(), "distance": tried}
        text += ("\n\nMemory for generation, chosen on continuations of the held-out train pieces through the "
                 "decoding grammar, as segue serve plays (mean relative distance to their real continuations on "
                 "motif shares, key r and polyphony): " +
                 ", ".join(f"{name}: {value:.3f}" for name, value in tried.items()) +
                 f"; chosen {memory.describe()}, strength {memory.strength:g}.")
    elif args.continuations:              # the memory segue serve would play this model with
        from segue.inference.engine import default_model_path
        from segue.inference.memory import player_memory

        memory = player_memory(args.model or default_model_path(), memory_mode)
    if args.continuations:
        from segue.evaluation.continuations import run_continuations, serve_system

        # sampled as segue serve samples: its temperature and top-p (top-k and min-p are not applied here)
        continued = run_continuations(args.model, args.data, seconds=args.prime_seconds, max_pieces=args.pieces,
                                      temperature=cfg.daemon.temperature, top_p=cfg.daemon.top_p,
                                      seed=args.seed, png=args.png, memory=memory, train_data=args.train_data,
                                      grammar=cfg.sampling, exclude=args.exclude, progress=progress,
                                      memory_mode=memory_mode, every=args.primers_every, split=args.split,
                                      draws=args.draws)
        report["continuations"] = continued["summary"]
        report["settings"]["serve_system"] = serve_system(continued["summary"])
        report["settings"]["memory_mode"] = memory_mode if memory is not None else "off"
        report["settings"]["continuation_draws"] = args.draws
        text += ("\n\n**Continuations**\n\n" + continued["table"] +
                 f"\n\nWhat segue serve plays: {report['settings']['serve_system']} (session memory "
                 f"{report['settings']['memory_mode']}).")
    if args.save_memory:
        from segue.inference.engine import default_model_path
        from segue.inference.memory import memory_settings_path

        if memory is None:
            raise SegueError("--save-memory needs --memory and --continuations (the generation strength is fitted "
                             "on continuations)")
        path = memory_settings_path(args.model or default_model_path())
        path.write_text(memory.to_json() + "\n")
        progress(f"wrote {path}")
    print(json.dumps(report) if args.json else summary(report) + ("\n\n" + text if args.detail else ""))
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0
