"""Latency of `segue serve` over a real JACK server, printed beside the JACK period.

    python bench/latency.py                    # 120 turns, period 128 @ 48 kHz, the shipped model if there is one
    python bench/latency.py --turns 200 --model models/x.onnx --period 256

It starts a private `jackd -d dummy`, runs the daemon as a subprocess, plays short phrases from one JACK client and
listens to segue's output with another, stamping arrivals with perf_counter (CLOCK_MONOTONIC, the clock the daemon
stamps with, so times compare across processes). Per turn the daemon's --turn-log gives the trigger time and, for
every message, its intended time and the moment the send call returned. Printed:

- trigger -> first note-on, as sent by the daemon and as heard by the listening client (goal: p99 <= period + 2 ms)
- timing error at the send call, sent - intended (goal: p99 <= 0.3 ms), and at the client, arrival - intended
- the player's view: last note-off sent -> first note-on heard, minus the silence threshold (adds input latency)
- CPU used by the idle daemon (goal: < 2 % of one core)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.daemon.jack_harness import Daemon, JackServer, Listener, Player, make_tiny_model, wait_until  # noqa: E402

SILENCE_MS = 100
ANSWER_S = 0.4


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")     # utime + stime


def pick_model(arg: str | None, workdir: Path) -> tuple[Path, str]:
    if arg:
        return Path(arg), arg
    from segue.engine import default_model_path

    shipped = default_model_path()
    if shipped.is_file():
        return shipped, f"shipped default ({shipped.name})"
    path = make_tiny_model(workdir / "tiny.onnx")
    return path, "tiny random 2x64 LSTM (no shipped model yet)"


def play_turns(daemon: Daemon, listener: Listener, player: Player, turns: int) -> tuple[dict[int, float], int]:
    """Play `turns` phrases, each after the previous answer ended. Returns {turn number: when its last note-off
    was sent} and how many phrases got no answer at the client within 3 s (counted, not hidden)."""
    released, lost = {}, 0
    for i in range(turns):
        before = len(daemon.turns())
        t = player.phrase((60 + i % 12, 67 + i % 5), hold=0.03, gap=0.005)
        if not wait_until(lambda: listener.note_ons(t), 3):
            lost += 1
        if wait_until(lambda: len(daemon.turns()) > before, ANSWER_S + 3):
            released[daemon.turns()[-1]["turn"]] = t
    return released, lost


def match_arrivals(turns: list[dict], heard: list[tuple[float, list[int]]]) -> list[tuple[float, float, float]]:
    """(intended, sent, arrived) per message: each logged message matched to the next equal arrival, in order."""
    matched, cursor = [], 0
    for turn in turns:
        for due, sent, data in turn["messages"]:
            for j in range(cursor, len(heard)):
                if heard[j][1] == data:
                    matched.append((due, sent, heard[j][0]))
                    cursor = j + 1
                    break
    return matched


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=120)
    parser.add_argument("--model", help="ONNX model (default: the shipped one, else a tiny random export)")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--period", type=int, default=128)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--phases", type=int, default=4, help="silence values swept across one JACK period")
    parser.add_argument("--no-realtime", action="store_true",
                        help="run jackd without realtime threads (default: realtime, falling back if refused)")
    parser.add_argument("--workdir", default="/tmp/segue-bench-latency")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model, model_name = pick_model(args.model, workdir)
    jack = JackServer(rate=args.rate, period=args.period, realtime=False if args.no_realtime else None)
    realtime = jack.realtime
    os.environ.update(JACK_DEFAULT_SERVER=jack.name, JACK_NO_START_SERVER="1")
    period_ms = args.period / args.rate * 1000
    # The daemon stamps input in JACK's process cycle, so a trigger (last release + silence) sits at a fixed phase
    # of the period for a given silence. Sweep the phase: each block of turns uses a silence a fraction of a
    # period longer, so the percentiles cover where in the cycle a trigger can fall.
    silences = [SILENCE_MS + k * period_ms / args.phases for k in range(args.phases)]
    per_block = -(-args.turns // args.phases)
    turns, released, silences_used, heard, idle_cpu, lost = [], [], [], [], 0.0, 0
    listener, player = Listener("bench-listener"), Player("bench-player")
    try:
        for block, silence in enumerate(silences):
            daemon = Daemon(jack, model, workdir, "--silence-ms", f"{silence:.3f}", "--length", str(ANSWER_S),
                            client=f"segue{block}")
            try:
                jack.connect(daemon.out_port, "bench-listener:in")
                jack.connect("bench-player:out", daemon.in_port)
                time.sleep(0.5)
                start = len(listener.since())
                block_released, block_lost = play_turns(daemon, listener, player, per_block)
                lost += block_lost
                time.sleep(ANSWER_S + 0.5)
                if block == len(silences) - 1:
                    # idle: nothing playing; what does the daemon cost just waiting for the player?
                    time.sleep(1.0)
                    before, t0 = cpu_seconds(daemon.proc.pid), time.monotonic()
                    time.sleep(args.idle_seconds)
                    idle_cpu = (cpu_seconds(daemon.proc.pid) - before) / (time.monotonic() - t0)
                block_turns = daemon.turns()
            finally:
                daemon.stop()
            for turn in block_turns:
                released.append(block_released.get(turn["turn"], None))
                silences_used.append(silence)
            turns += block_turns
            heard += listener.since()[start:]
    finally:
        listener.close()
        player.close()
        jack_log = jack.log_path.read_text(errors="replace")
        jack.stop()

    note_ons = [t for t, m in heard if m[0] & 0xF0 == 0x90 and m[2] > 0]
    first_heard = [next((t for t in note_ons if t >= turn["trigger"] - 0.05), None) for turn in turns]
    at_client = [h - t["trigger"] for h, t in zip(first_heard, turns) if h is not None]
    at_send = [t["first_note_at"] - t["trigger"] for t in turns if t["first_note_at"] is not None]
    player_view = [h - r - silence / 1000 for h, r, silence in zip(first_heard, released, silences_used)
                   if h is not None and r is not None]
    xruns = jack_log.count("XRun")
    matched = match_arrivals(turns, heard)
    send_error = [sent - due for due, sent, _ in matched] or [s - d for t in turns for d, s, _ in t["messages"]]
    client_error = [arrived - due for due, _, arrived in matched]

    ms = lambda xs, q: pct(xs, q) * 1000   # noqa: E731
    goal = lambda ok: "meets the goal" if ok else "MISSES the goal"   # noqa: E731
    print(f"segue serve over JACK (dummy driver, {'realtime' if realtime else 'no-realtime'}, {args.period} frames "
          f"@ {args.rate} Hz: period {period_ms:.3f} ms)")
    print(f"model: {model_name}; {len(turns)} turns answered; silence {SILENCE_MS}-{silences[-1]:.2f} ms in {args.phases} "
          f"phases of the period; answers {ANSWER_S} s; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"phrases without an answer heard at the client: {lost}; JACK xrun reports in jackd's log: {xruns}")
    print(f"trigger -> first note-on sent by the daemon:  p50 {ms(at_send, 50):6.2f} ms   p99 {ms(at_send, 99):6.2f} ms")
    p99 = ms(at_client, 99)
    print(f"trigger -> first note-on at the client:       p50 {ms(at_client, 50):6.2f} ms   p99 {p99:6.2f} ms   "
          f"(goal p99 <= period + 2 = {period_ms + 2:.2f} ms: {goal(p99 <= period_ms + 2)})")
    print(f"player's view (last note-off sent -> first note-on heard, minus the silence): "
          f"p50 {ms(player_view, 50):.2f} ms   p99 {ms(player_view, 99):.2f} ms")
    us = lambda xs, q: pct(xs, q) * 1e6   # noqa: E731
    send_p99 = us(send_error, 99)
    print(f"timing error at the send call (sent - intended), {len(send_error)} messages: "
          f"p50 {us(send_error, 50):.0f} us   p99 {send_p99:.0f} us   max {max(send_error) * 1e6:.0f} us   "
          f"(goal p99 <= 300 us: {goal(send_p99 <= 300)})")
    if client_error:
        print(f"timing error at the client (arrival - intended), {len(client_error)} messages: "
              f"p50 {ms(client_error, 50):.2f} ms   p99 {ms(client_error, 99):.2f} ms   (JACK delivers at the next period)")
    print(f"idle CPU: {idle_cpu * 100:.2f} % of one core over {args.idle_seconds:.0f} s "
          f"(goal < 2 %: {goal(idle_cpu < 0.02)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
