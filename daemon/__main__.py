"""`python -m daemon serve|ports ...`: the daemon's commands without the rest of the segue CLI (tests, benches)."""
import sys

from daemon.cli import add_parser
from segue.cli.main import main_for

if __name__ == "__main__":
    sys.exit(main_for(add_parser, "python -m daemon"))
