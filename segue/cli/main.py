"""`segue <verb>`: one argparse parser; each verb is defined in the room it belongs to.

The rooms register their verbs as entry points of the group "segue.verbs" (pyproject.toml): the value is a module
with add_parser(subparsers), and may name the config.yaml sections its room owns (SETTINGS, read by
segue/config.py). So the core never imports an upper room (training/, export/, daemon/ import segue, never
the other way round), a room that is not installed simply has no verbs, and adding a verb touches only its own room
and pyproject.toml. Entry points are read from the installed metadata: after changing them, run `pip install -e .`.

Verb modules only build parsers at import time; their handlers import the heavy things (torch, music21, onnx,
onnxruntime) when they run, so `segue --help` and `segue encode --help` answer at once.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from importlib.metadata import entry_points

from segue import __version__
from segue.cli.extras import install_line, missing_extra
from segue.errors import SegueError

VERB_GROUP = "segue.verbs"
TRAIN_MARK = "[train]"           # ends the --help line of a verb that needs the training extra


def verb_modules() -> list:
    """The modules registered under VERB_GROUP, ordered by their names ("10-codec", ...: --help keeps that order)."""
    modules = []
    for entry in sorted(entry_points(group=VERB_GROUP), key=lambda entry: entry.name):
        try:
            modules.append(entry.load())
        except ModuleNotFoundError as e:       # that room is not installed: no verbs from it; a missing dependency
            if not e.name or not entry.value.startswith(e.name):   # inside an installed room is a bug, and raises
                raise
    if not modules:
        raise SegueError(f"no verbs are registered (entry point group {VERB_GROUP!r}); install segue: pip install -e .")
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segue",
        description="Real-time MIDI continuation: play a phrase, pause, and segue answers in your key and feel.",
        epilog=f"{TRAIN_MARK}: the verb needs the training extra (torch, music21, matplotlib): "
               "pip install 'segue[train]'")
    parser.add_argument("--version", action="version", version=f"segue {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="<verb>")
    for module in verb_modules():
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_handler(args)


def main_for(add_parser, prog: str, argv: list[str] | None = None) -> int:
    """A standalone entry point (`python -m daemon`, `torchrun -m training`) with one room's verbs only."""
    parser = argparse.ArgumentParser(prog=prog)
    add_parser(parser.add_subparsers(dest="verb", required=True))
    return run_handler(parser.parse_args(argv))


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` and repeatable `--set section.key=value`: every verb that reads config.yaml takes both."""
    parser.add_argument("--config", help="config.yaml to read (default: the one shipped with segue; see `segue config`)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config key, e.g. --set data.max_notes=500000; repeatable")


def add_force_arg(parser: argparse.ArgumentParser) -> None:
    """`--force`: the one rule of every verb that writes files (generate, export, config -o): an existing file is
    kept unless this is given."""
    parser.add_argument("--force", action="store_true", help="overwrite files that exist (default: refuse)")


def refuse_to_overwrite(paths, force: bool) -> None:
    """Stop before any work when a file the verb would write exists and --force was not given."""
    existing = [str(path) for path in paths if Path(path).exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise SegueError(f"{existing[0]}{more} exists; pass --force to overwrite, or pick another name")


def check_model_arg(model) -> None:
    """`--model` (generate, evaluate, serve) takes an ONNX file: a folder or a training checkpoint is said for what
    it is, with the command that makes the model, before the engine tries to read it as ONNX."""
    import zipfile

    if model is None:
        return
    path = Path(model)
    export = f"export it first: segue export {path} -o {path.with_suffix('.onnx') if path.is_file() else 'model.onnx'}"
    if path.is_dir():
        if (path / "best.pt").is_file() or (path / "last.pt").is_file():
            raise SegueError(f"--model {path} is a training run's folder, not an ONNX model; {export}")
        models = sorted(path.glob("*.onnx"))
        raise SegueError(f"--model {path} is a folder; name the ONNX model in it"
                         + (f", e.g. --model {models[0]}" if models else " (it holds no .onnx file)"))
    if path.is_file() and zipfile.is_zipfile(path):          # torch.save's archive: what `segue train` writes
        raise SegueError(f"--model {path} is a training checkpoint, not an ONNX model; {export}")


def config_from_args(args: argparse.Namespace):
    """The Config named by a verb's --config/--set arguments."""
    from segue.config import load_config

    return load_config(args.config, args.overrides)


def run_handler(args: argparse.Namespace) -> int:
    """Run a verb: a user mistake becomes one line and exit 2; a bug keeps its traceback."""
    try:
        check_model_arg(getattr(args, "model", None))
        return int(args.func(args) or 0)
    except SegueError as e:
        print(f"segue: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("segue: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except ModuleNotFoundError as e:     # an extra the base install leaves out (torch, music21, matplotlib ...)
        missing = missing_extra(e)
        if missing is None:
            raise
        print(f"segue: {install_line(_command(args), *missing)}", file=sys.stderr)
        return 2


def _command(args: argparse.Namespace) -> str:
    """`segue data build`, `segue train`: the command the user ran, for messages."""
    words = [getattr(args, dest, None) for dest in ("verb", "data_command")]
    return "`" + " ".join(["segue"] + [word for word in words if word]) + "`"
