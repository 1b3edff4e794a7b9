"""CLI verbs of the training area: `segue data build`, `segue data render`, `segue train`, `segue plot`.

Handlers import torch (and the heavy modules) inside the function, so `segue --help` stays fast.
"""

from __future__ import annotations

import sys

from segue.cli.main import TRAIN_MARK, add_config_args, config_from_args

# The sections of config.yaml this room owns (segue/config.py sections(): loaded only when a config is read).
SETTINGS = {"model": "training.settings:ModelConfig", "train": "training.settings:TrainConfig"}


def add_parser(subparsers) -> None:
    data = subparsers.add_parser("data", help=f"build a training dataset from music files {TRAIN_MARK}")
    data_sub = data.add_subparsers(dest="data_command", metavar="{build,render}")
    data_sub.required = True
    build = data_sub.add_parser(
        "build", help="encode files/folders/globs and music21:<composer>|all into shards + index",
        description="Encode music into a dataset folder (shards + index.json), split 90:10 by piece. "
                    "Sources: files, folders, globs, music21:bach (any music21 composer) or music21:all; "
                    "MAESTRO, ASAP and POP909 folders are recognised by their files.")
    build.add_argument("sources", nargs="+", metavar="SRC")
    build.add_argument("-o", "--out", required=True, help="dataset folder to write (re-uses its cache)")
    build.add_argument("--workers", type=int, help="parallel encoding processes (default: data.workers)")
    build.add_argument("--compress", action="store_true", default=None, help="zlib-compress the shards")
    add_config_args(build)
    build.set_defaults(func=_data_build)
    render = data_sub.add_parser(
        "render", help="write a dataset folder with one split's score pieces played as a performance",
        description="Render the score pieces of one split (real performances are copied) into a new dataset "
                    "folder that `segue evaluate --data` reads; prints the event-type shares plain vs rendered. "
                    "The rendering rules and their sizes: data.render in config.yaml.")
    render.add_argument("data", help="dataset folder from `segue data build`")
    render.add_argument("-o", "--out", required=True, help="dataset folder to write")
    render.add_argument("--seed", type=int, default=0, help="rendition seed (train.seed gives the trainer's own)")
    render.add_argument("--split", default="eval", choices=("eval", "train"), help="split to render (default eval)")
    add_config_args(render)
    render.set_defaults(func=_data_render)

    train = subparsers.add_parser(
        "train", help=f"train a model (progress, eval, curves, best.pt / last.pt) {TRAIN_MARK}",
        description="Train a model on a built dataset. Every config key can be overridden with "
                    "--set section.key=value (e.g. --set train.lr=0.001 --set model.hidden_size=256).")
    train.add_argument("--data", help="dataset folder from `segue data build`")
    train.add_argument("--out", help="run folder for checkpoints, metrics.csv and plots")
    train.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN where it stopped")
    train.add_argument("--init-from", metavar="CKPT",
                       help="start from these weights (fine-tuning): a checkpoint, a run folder, or 'default' "
                            "(the shipped model)")
    train.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default: auto)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    add_config_args(train)
    train.set_defaults(func=_train)

    plot = subparsers.add_parser("plot", help=f"draw loss / accuracy / lr curves of a run as PNG {TRAIN_MARK}")
    plot.add_argument("run", help="run folder (with metrics.csv)")
    plot.add_argument("-o", "--out", help="PNG path (default: RUN/curves.png)")
    plot.set_defaults(func=_plot)


def _data_build(args) -> int:
    from pathlib import Path

    from training.dataset import build_dataset, format_summary

    cfg = config_from_args(args).data
    workers = args.workers if args.workers is not None else cfg.workers
    compress = cfg.compress if args.compress is None else True
    summary = build_dataset(args.sources, args.out, eval_fraction=cfg.eval_fraction, workers=workers,
                            compress=compress, limits=cfg)
    import json
    skipped = json.loads((Path(args.out) / "index.json").read_text())["skipped"]
    print(format_summary(summary, skipped, Path(args.out)))
    return 0


def _data_render(args) -> int:
    from training.render_dataset import format_shares, render_split
    from training.rendering import RenderParams

    params = RenderParams.from_config(config_from_args(args).data.render)
    result = render_split(args.data, args.out, args.seed, params, args.split)
    print(f"{args.out}: {result['pieces']} {args.split} pieces, {result['pieces_rendered']} rendered "
          f"(seed {args.seed}), the rest copied as recorded")
    print(format_shares(result))
    return 0


def _train(args) -> int:
    from training.init_from import init_checkpoint
    from training.trainer import run_from_args

    warn_if_busy(config_from_args(args).train.threads)
    if args.resume:                        # a resumed run continues from its own last.pt
        return run_from_args(args)
    with init_checkpoint(args.init_from) as path:   # `default`: the shipped model's checkpoint
        args.init_from = path
        return run_from_args(args)


# Load average per core from which a run is warned: on 2 cores a load of 1 is another job with a core to itself,
# and a run beside one was 5x slower (issue 23; torch's threads and the job's contend).
BUSY_LOAD_PER_CORE = 0.5


def warn_if_busy(threads: int) -> None:
    """Say so when other work loads the machine: training then shares the cores and runs slower."""
    import os

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):         # Windows has no load average
        return
    cores = os.cpu_count() or 1
    if load >= BUSY_LOAD_PER_CORE * cores:
        using = "every core" if threads == 0 else f"{threads} thread{'s' * (threads > 1)}"
        print(f"segue train: the machine is busy (load average {load:.1f} on {cores} cores): training shares the "
              f"cores and runs slower. It uses {using} (train.threads); --set train.threads=1 leaves the others "
              "room, or train when the machine is idle", file=sys.stderr)


def _plot(args) -> int:
    from training.plots import plot_run

    path = plot_run(args.run, args.out)
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    """Standalone entry (`python -m training ...`, e.g. under torchrun) with the same verbs as `segue`."""
    from segue.cli.main import main_for

    return main_for(add_parser, "segue", argv)


if __name__ == "__main__":
    sys.exit(main())
