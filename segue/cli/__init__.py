"""The front end: `segue <verb>` (main.py) and the core's own verbs. Verb modules import only argparse at import time
so that `segue --help` answers at once; the upper rooms (training, export, daemon) register their verbs themselves."""
