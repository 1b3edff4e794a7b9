"""A flood into `segue serve` over a real JACK server, from an independent raw-bytes client
(tests/daemon/raw_sender.py), on segue's own JACK client and on python-rtmidi's, taken in turn:

    python bench/flood.py                              # 20,000 messages a second for 30 s, one CPU hog as load
    python bench/flood.py --rate 5000 --seconds 10 --hogs 2

Printed per run: the messages sent and the rate reached; segue's resident memory before, at its peak during the flood
and after; when segue's answer to a phrase played right after the flood arrived (seconds after the flood's last
message: the phrase and daemon.silence_ms are in it); what segue said about the flood (once); and, in a second run,
how segue ended on Ctrl-C in the middle of a flood (exit code, seconds, any abort). Goal (issue 22): memory growth
<= 100 MB, an answer within 2 s of the flood's end, handed over in time, a clean exit.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.latency import pick_model  # noqa: E402
from daemon.testing import JACK_CLIENTS, Daemon, JackServer, Listener, Player, wait_until  # noqa: E402
from tests.daemon.raw_sender import RawSender  # noqa: E402

SILENCE_MS = 150
ANSWER_WAIT_S = 60.0


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakMemory:
    """Samples a process's resident memory every 0.2 s on a thread of its own; `peak` so far."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(1)
        return self.peak


def said_about_the_flood(output: str) -> list[str]:
    """segue's lines about the flood (each once), how late the answer's messages were handed over (--stats), and how
    often python-rtmidi's own queue said it was full where segue did not keep that line out."""
    keys = ("flood", "dropped", "cannot keep up", "input buffer", "input queue")
    lines = [line for line in output.splitlines()
             if line.startswith("segue:") and any(key in line for key in keys)
             or line.startswith("hand-over after the due time")]
    rtmidi_full = output.count("MidiInJack: message queue limit reached")
    return lines + ([f"(python-rtmidi's own queue printed 'message queue limit reached' {rtmidi_full:,} times)"]
                    if rtmidi_full else [])


def flood_then_answer(jack: JackServer, model: Path, workdir: Path, setting: str, n: int, rate: float,
                      seconds: float) -> dict:
    daemon = Daemon(jack, model, workdir, "--silence-ms", str(SILENCE_MS), "--length", "0.5",
                    *JACK_CLIENTS[setting], client=f"{setting}{n}")
    # the listener's JACK cycle runs no Python (segue's own C client): a loaded machine cannot make it miss the answer
    listener, player, sender = Listener(f"heard{n}", jack=jack, to_the_frame=True), None, None
    try:
        jack.connect(daemon.out_port, f"heard{n}:in")
        player = Player(f"player{n}")
        jack.connect(f"player{n}:out", daemon.in_port)
        sender = RawSender(jack, f"flood{n}")
        jack.connect(sender.port, daemon.in_port)
        time.sleep(0.5)
        before = rss_mb(daemon.proc.pid)
        memory = PeakMemory(daemon.proc.pid)
        started = time.perf_counter()
        sent, ended = sender.ask(f"flood {rate} {seconds}", timeout=seconds + 120)
        ended = float(ended)
        released = player.phrase()
        answered = wait_until(lambda: listener.note_ons(released), ANSWER_WAIT_S)
        answer = listener.note_ons(released)[0][0] - ended if answered else float("nan")
        peak = memory.stop()
        after = rss_mb(daemon.proc.pid)
        alive = daemon.proc.poll() is None
        got = dict(sent=int(sent), rate=int(sent) / (ended - started), before=before, peak=peak, after=after,
                   answer=answer, alive=alive)
    finally:
        for thing in (sender, player, listener):
            if thing is not None:
                thing.close()
        daemon.stop()
        said = daemon.log_path.read_text()                 # stop() closed its log
    return {**got, "said": said_about_the_flood(said)}      # with the totals segue says as it ends


def ctrl_c_during_a_flood(jack: JackServer, model: Path, workdir: Path, setting: str, n: int, rate: float) -> dict:
    daemon = Daemon(jack, model, workdir, "--silence-ms", str(SILENCE_MS), "--length", "0.5",
                    *JACK_CLIENTS[setting], client=f"{setting}c{n}")
    sender = RawSender(jack, f"floodc{n}")
    try:
        jack.connect(sender.port, daemon.in_port)
        time.sleep(0.3)
        sender.proc.stdin.write(f"flood {rate} 10\n")
        sender.proc.stdin.flush()
        time.sleep(5.0)
        interrupted = time.monotonic()
        daemon.proc.send_signal(signal.SIGINT)
        try:
            code = daemon.proc.wait(60)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - interrupted
        output = daemon.output()
        aborted = "terminate called" in output or code == -signal.SIGABRT
        return dict(code=code, took=took, aborted=aborted)
    finally:
        sender.close()
        daemon.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20000.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hogs", type=int, default=1, help="CPU-bound processes running meanwhile (the load)")
    parser.add_argument("--clients", nargs="+", choices=list(JACK_CLIENTS), default=list(JACK_CLIENTS))
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="segue-flood-"))
    model, described = pick_model(args.model, workdir)
    jack = JackServer(name="segue-flood-bench")
    os.environ.update(JACK_DEFAULT_SERVER=jack.name, JACK_NO_START_SERVER="1")   # the player, in this process
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    print(f"{args.rate:g} messages a second for {args.seconds:g} s into segue serve; model {described}; "
          f"{args.hogs} CPU hog(s); jackd -d dummy -r 48000 -p 128", flush=True)
    try:
        for n, setting in enumerate(args.clients):
            got = flood_then_answer(jack, model, workdir, setting, n, args.rate, args.seconds)
            print(f"{setting:6s} sent {got['sent']:,} at {got['rate']:,.0f}/s; RSS {got['before']:.0f} MB before, "
                  f"peak {got['peak']:.0f} MB (+{got['peak'] - got['before']:.0f}), {got['after']:.0f} MB after; "
                  f"answer {got['answer']:.2f} s after the flood's end; alive {got['alive']}", flush=True)
            for line in got["said"]:
                print(f"         said: {line}", flush=True)
            stop = ctrl_c_during_a_flood(jack, model, workdir, setting, n, args.rate)
            print(f"{setting:6s} Ctrl-C 5 s into a flood: exit code {stop['code']} after {stop['took']:.2f} s; "
                  f"aborted: {stop['aborted']}", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
        jack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
