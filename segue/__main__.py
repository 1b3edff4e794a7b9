"""`python -m segue` is the same as the `segue` console script."""
import sys

from segue.cli import main

sys.exit(main())
