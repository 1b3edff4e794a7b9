"""`python -m daemon serve|ports ...`: the daemon's commands without the rest of the segue CLI (tests, benches)."""
import argparse
import sys

from segue.errors import SegueError

from daemon.cli import add_parser


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m daemon")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SegueError as exc:
        print(f"segue: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
