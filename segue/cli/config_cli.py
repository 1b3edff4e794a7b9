"""`segue config [-o FILE]`: the documented default config.yaml, to read or to copy and edit.

The file ships inside the package (segue/config.yaml; in a checkout a link to the config.yaml at the top), so an
installed segue has it too: `segue config -o my.yaml`, edit, then pass `--config my.yaml` to any verb.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segue.cli.main import add_force_arg, refuse_to_overwrite


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "config", help="print the documented default config.yaml, or write it to a file to edit",
        description="Print segue's default config.yaml (every key, documented), or write it to FILE. Edit the copy "
                    "and pass it to any verb with --config FILE; single keys can be changed with --set.")
    parser.add_argument("-o", "--output", type=Path, default=None, help="write to this file instead of printing")
    add_force_arg(parser)
    parser.set_defaults(func=run_config)


def run_config(args: argparse.Namespace) -> int:
    from segue.config import DEFAULT_CONFIG_PATH
    from segue.errors import SegueError

    text = DEFAULT_CONFIG_PATH.read_text()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    refuse_to_overwrite([args.output], args.force)
    try:
        args.output.write_text(text)
    except OSError as e:
        raise SegueError(f"{args.output}: cannot write ({e.strerror or e})") from None
    print(f"wrote {args.output}: edit it, then pass --config {args.output} to segue's verbs")
    return 0
