"""Are segue's xruns segue's, or any JACK client's? jackd's xrun reports per minute, idle, in four settings taken in
turn, round after round, on one private server:

    python bench/jack_clients.py                  # 4 rounds of 30 s each, one CPU-bound process as load
    python bench/jack_clients.py --rounds 8 --hogs 0

- none:   the server alone
- bare:   three bare python-rtmidi clients, one input and two outputs on virtual ports, no Python running in them
          (what segue's ports are on python-rtmidi: `segue:in`, `segue-01:out` and the sysex probe `segue-probe`)
- rtmidi: `segue serve --backend jack` on the shipped model, idle, on python-rtmidi's clients
          (daemon.own_jack_client=false)
- segue:  the same on segue's own client (daemon/jack_client.py: one client for both ports)

Printed: each window's rate, the mean differences with a 95% bootstrap interval over rounds, and the CPU each
segue took idle (of one core, over the window). bench/latency.py compares jackd with and without segue while it
plays; this tells what of a difference is the clients being in the graph at all.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.latency import cpu_seconds  # noqa: E402
from segue.evaluation.scoring import mean_with_ci  # noqa: E402
from daemon.testing import JACK_CLIENTS, JackServer, XrunWindow, listening_ports  # noqa: E402

SETTLE_S = 3.0                   # after a setting's clients join, before counting
BARE_CLIENTS = r"""
import sys, time, rtmidi
ports = [rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="bare"), rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="bare-out"),
         rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="bare-probe")]
for port, name in zip(ports, ("in", "out", "probe")):
    port.open_virtual_port(name)
print("ready", flush=True)
sys.stdin.readline()
"""


def start(setting: str, jack: JackServer, log: Path) -> subprocess.Popen | None:
    if setting == "bare":
        proc = subprocess.Popen([sys.executable, "-c", BARE_CLIENTS], env=jack.env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()
        return proc
    if setting in ("rtmidi", "segue"):
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "daemon", "serve", "--backend", "jack",
                                     *JACK_CLIENTS["own" if setting == "segue" else "rtmidi"]], cwd=REPO,
                                    env=jack.env, stdout=out, stderr=subprocess.STDOUT)
        listening_ports(jack, proc, log.read_text, "segue")
        return proc
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="counting window per setting and round")
    parser.add_argument("--hogs", type=int, default=1, help="CPU-bound processes running meanwhile (the load)")
    args = parser.parse_args(argv)

    jack = JackServer()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    rates: dict[str, list[float]] = {"none": [], "bare": [], "rtmidi": [], "segue": []}
    idle_cpu: dict[str, list[float]] = {"rtmidi": [], "segue": []}
    log = Path(jack.log_path).with_suffix(".segue.log")
    try:
        for _ in range(args.rounds):
            for setting, seen in rates.items():
                proc = start(setting, jack, log)
                time.sleep(SETTLE_S)
                window = XrunWindow(jack).start()
                measured = setting in idle_cpu
                cpu_before, t0 = cpu_seconds(proc.pid) if measured else 0.0, time.monotonic()
                time.sleep(args.seconds)
                seen.append(window.stop().per_minute())
                if measured:
                    idle_cpu[setting].append((cpu_seconds(proc.pid) - cpu_before) / (time.monotonic() - t0))
                if proc is not None:
                    proc.terminate()
                    proc.wait(15)
                time.sleep(1.0)          # the server removes the clients before the next setting's window
                print(f"{setting:6s} {seen[-1]:8.1f} xrun reports/min", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
        jack.stop()
    print(f"\njackd {jack.period_s * 1000:.2f} ms period, {args.hogs} CPU hog(s), {args.rounds} rounds of "
          f"{args.seconds:g} s per setting")
    for setting, seen in rates.items():
        print(f"  {setting:6s} mean {sum(seen) / len(seen):8.1f} per minute: {', '.join(f'{r:.0f}' for r in seen)}")
    for worse, better in (("bare", "none"), ("rtmidi", "none"), ("segue", "none"), ("segue", "rtmidi")):
        mean, low, high = mean_with_ci([a - b for a, b in zip(rates[worse], rates[better])])
        print(f"  {worse} - {better}: {mean:+.1f} [{low:+.1f}, {high:+.1f}] per minute (95% CI over rounds)")
    for setting, used in idle_cpu.items():
        print(f"  idle CPU, {setting}: {sum(used) / len(used) * 100:.2f} % of one core "
              f"({', '.join(f'{u * 100:.2f}' for u in used)})")
    ratio = sum(idle_cpu["segue"]) / sum(idle_cpu["rtmidi"])
    print(f"  idle CPU, segue / rtmidi: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
