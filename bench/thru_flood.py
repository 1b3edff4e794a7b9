"""Messages through segue under load: a flood of 10,000 played into segue (thru) and counted at jack_midi_dump, on
segue's own JACK client and on python-rtmidi's clients, taken in turn, round after round, on one private server:

    python bench/thru_flood.py                    # 3 rounds, two CPU-bound processes as load
    python bench/thru_flood.py --rounds 5 --hogs 3

Printed per run: messages lost between the flood and jack_midi_dump, and the cycles jackd gave up on meanwhile
(its log's "Process error": what was written in such a cycle may be dropped on either hop, whoever the clients
are); then the totals per setting (goal: 0 lost of 10,000 on a loaded box).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.latency import pick_model  # noqa: E402
from daemon.testing import JACK_CLIENTS, Daemon, JackServer, flood_through  # noqa: E402


def one_run(jack: JackServer, model: Path, workdir: Path, setting: str, n: int, rate: float,
            seconds: float) -> tuple[int, int, int, int]:
    """(sent, lost, cycles jackd gave up on, jack_midi_dump's own overflows) for one flood through segue."""
    # the echo guard is off: a flood repeats identical messages within its first window; this counts transport
    daemon = Daemon(jack, model, workdir, "--thru", "--silence-ms", "60000", "--set", "daemon.ignore_echo=false",
                    *JACK_CLIENTS[setting], client=f"{setting}{n}")
    try:
        return flood_through(jack, daemon, workdir, rate, seconds, client=f"counter{n}")
    finally:
        daemon.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes running meanwhile (the load)")
    parser.add_argument("--rate", type=float, default=2000.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="segue-flood-"))
    model, _ = pick_model(args.model, workdir)
    jack = JackServer()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    totals = {setting: [0, 0, 0] for setting in JACK_CLIENTS}
    try:
        n = 0
        for _ in range(args.rounds):
            for setting in JACK_CLIENTS:
                n += 1
                sent, lost, failed, overflows = one_run(jack, model, workdir, setting, n, args.rate, args.seconds)
                for i, value in enumerate((sent, lost, failed)):
                    totals[setting][i] += value
                print(f"{setting:6s} lost {lost} of {sent}; jackd gave up on {failed} cycles; "
                      f"jack_midi_dump's ring overflowed {overflows} times", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
        jack.stop()
    print(f"\n{args.rate:g} messages a second for {args.seconds:g} s through segue (thru), {args.hogs} CPU hog(s), "
          f"{args.rounds} rounds")
    for setting, (sent, lost, failed) in totals.items():
        print(f"  {setting:6s} lost {lost} of {sent} ({lost / max(sent, 1) * 100:.3f} %); cycles jackd gave up on: "
              f"{failed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
