"""How often segue's start meets the libjack race of daemon/jack_semaphores.py: segue is started again and again while
short-lived JACK clients come and go (`jack_lsp`, 5 times a second), on one private server, on its own client and on
python-rtmidi's, taken in turn:

    python bench/jack_race.py                     # 20 starts of each
    python bench/jack_race.py --starts 40

Printed: per setting, how many starts met the race (segue's log: "kept segue's port asleep", after which it
reopened its ports) and how many were listening.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.latency import pick_model  # noqa: E402
from daemon.testing import JACK_CLIENTS, Daemon, JackServer  # noqa: E402

MET = "kept segue's port asleep"
CHURN = "while true; do jack_lsp > /dev/null 2>&1; sleep 0.2; done"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=20, help="starts of each setting")
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="segue-race-"))
    model, _ = pick_model(args.model, workdir)
    jack = JackServer()
    churn = subprocess.Popen(["sh", "-c", CHURN], env=jack.env)
    met = {setting: 0 for setting in JACK_CLIENTS}
    listening = {setting: 0 for setting in JACK_CLIENTS}
    try:
        for n in range(args.starts):
            for setting, clients in JACK_CLIENTS.items():
                try:
                    daemon = Daemon(jack, model, workdir, *clients, client=f"race{setting}{n}")
                except AssertionError as exc:                # its ports never appeared
                    print(f"{setting}: start {n} did not open its ports: {str(exc)[-300:]}", flush=True)
                    continue
                time.sleep(1.5)                              # the check at start runs a few periods in
                listening[setting] += 1
                met[setting] += MET in daemon.output()
                daemon.stop()
    finally:
        churn.kill()
        jack.stop()
    print(f"{args.starts} starts of each, jack_lsp 5 times a second meanwhile")
    for setting in JACK_CLIENTS:
        print(f"  {setting:6s} met the race at {met[setting]} starts (reopened); listening after {listening[setting]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
