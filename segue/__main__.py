"""`python -m segue` is the same as the `segue` console script."""
import sys

from segue.cli.main import main

sys.exit(main())
