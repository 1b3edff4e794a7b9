"""`segue <verb>`: one argparse parser; each verb is defined in the room it belongs to.

The rooms register their verbs as entry points of the group "segue.verbs" (pyproject.toml): the value is a module
with add_parser(subparsers). So the core never imports an upper room (training/, export/, daemon/ import segue, never
the other way round), a room that is not installed simply has no verbs, and adding a verb touches only its own room
and pyproject.toml. Entry points are read from the installed metadata: after changing them, run `pip install -e .`.

Verb modules only build parsers at import time; their handlers import the heavy things (torch, music21, onnx,
onnxruntime) when they run, so `segue --help` and `segue encode --help` answer at once.
"""
from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from segue import __version__
from segue.errors import SegueError

VERB_GROUP = "segue.verbs"


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
        description="Real-time MIDI continuation: play a phrase, pause, and segue answers in your key and feel.")
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


def config_from_args(args: argparse.Namespace):
    """The Config named by a verb's --config/--set arguments."""
    from segue.config import load_config

    return load_config(args.config, args.overrides)


def run_handler(args: argparse.Namespace) -> int:
    """Run a verb: a user mistake becomes one line and exit 2; a bug keeps its traceback."""
    try:
        return int(args.func(args) or 0)
    except SegueError as e:
        print(f"segue: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("segue: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
