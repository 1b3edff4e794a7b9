"""`segue serve` over a real JACK server: answer latency, notes in the player's phrase, lost messages, xruns, CPU.

    python bench/latency.py                    # 120 turns, period 128 @ 48 kHz, the shipped model if there is one
    python bench/latency.py --turns 500 --model models/x.onnx --period 256 --jack-priority 70

It starts a private `jackd -R -d dummy` (at jackd's own default priority unless --jack-priority: Debian's is FIFO
10, what a musician's `jackd -R` gets), plays short phrases from one JACK client, listens to segue's output with
another (stamping arrivals with perf_counter, CLOCK_MONOTONIC: the clock the daemon stamps with) and counts it with
`jack_midi_dump`, an independent C client. Every other phrase barges in on the answer. The run is in blocks, each
a pair side by side in time: the block's phrases with no segue attached, each followed by a stand-in answer of the
same length from the player itself (to the same listener and jack_midi_dump, which have as much to do), then with
a fresh segue; each half ends idle. So jackd's xruns are compared with and without segue under the same machine
load, and the difference gets an interval over blocks (the load of a shared machine drifts: in one run that played
the baseline first and segue after, the baseline's rate was 8.6 and 47.2 per minute in two quiet runs). Per turn
the daemon's --turn-log gives the trigger, the end and every message it sent. Printed:

- xrun reports in jackd's log per minute, without and with segue attached, per block (playing and idle), and the
  mean difference with a 95% bootstrap interval over blocks (--rtmidi: segue on python-rtmidi's JACK clients, one
  per port and a sysex probe; --rtmidi --no-probe: without the probe)
- trigger -> first note-on, as sent by the daemon and as heard by the client (goal: p99 <= period + 2 ms)
- segue note-ons heard while the player plays: after a phrase's first note (plus two periods and 10 ms for what
  was already on its way) and before the next trigger (goal: 0)
- messages segue sent (its turn log) that jack_midi_dump never heard (goal: 0)
- timing error at the send call, sent - intended (goal: p99 <= 0.3 ms; segue's own JACK client is handed each
  message a moment early with its due time and places it itself: 0 unless the hand-over was late), and at the
  client, arrival - intended (stamped to the frame where segue's own client is built: one period is JACK's)
- CPU used by the idle daemon (goal: < 2 % of one core)
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from daemon import jack_client  # noqa: E402
from segue.evaluation.scoring import mean_with_ci  # noqa: E402
from daemon.testing import (JACK_CLIENTS, Daemon, JackServer, Listener, MidiDump, Player, XrunWindow,  # noqa: E402
                                       make_tiny_model, wait_until)

SILENCE_MS = 100
ANSWER_S = 0.4
BARGE_AFTER_S = (0.05, 0.25)       # a barging phrase starts this long after the answer's first note is heard
STRAY_ALLOWANCE_S = 0.010          # plus two periods: notes already sent when segue heard the player


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")     # utime + stime


def pick_model(arg: str | None, workdir: Path) -> tuple[Path, str]:
    if arg:
        return Path(arg), arg
    from segue.inference.engine import default_model_path

    shipped = default_model_path()
    if shipped.is_file():
        return shipped, f"shipped default ({shipped.name})"
    path = make_tiny_model(workdir / "tiny.onnx")
    return path, "tiny random 2x64 LSTM (no shipped model yet)"


def phrase(player: Player, i: int) -> tuple[float, float]:
    """One short phrase; returns (first note-on sent, last note-off sent)."""
    first = player.send(0x90, 60 + i % 12, 90)
    time.sleep(0.03)
    player.send(0x80, 60 + i % 12, 0)
    time.sleep(0.005)
    player.send(0x90, 67 + i % 5, 90)
    time.sleep(0.03)
    return first, player.send(0x80, 67 + i % 5, 0)


STAND_IN_NOTE_S = 0.08             # the baseline's stand-in answer: a note this often (segue's: ~10 messages a turn)


def stand_in_answer(player: Player, seconds: float, i: int) -> None:
    """What segue's answer puts through the graph, played by the player itself (baseline, no segue): notes at
    STAND_IN_NOTE_S for `seconds`, to the same listener and jack_midi_dump, so both runs carry like traffic."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        player.send(0x90, 72 + i % 7, 70)
        time.sleep(STAND_IN_NOTE_S / 2)
        player.send(0x80, 72 + i % 7, 0)
        time.sleep(STAND_IN_NOTE_S / 2)


def play_turns(daemon: Daemon | None, listener: Listener, player: Player, turns: int, rng: random.Random,
               offset: int = 0):
    """Play `turns` phrases; odd ones barge in on the answer. Without a daemon (the baseline) the same phrases are
    played at the same pace, each followed by a stand-in answer of the same length. Returns phrase starts,
    {turn number: last note-off}, phrases never answered."""
    starts, released, unanswered = [], {}, 0
    for i in range(offset, offset + turns):
        before = len(daemon.turns()) if daemon else 0
        start, t = phrase(player, i)
        starts.append(start)
        if daemon is None:
            time.sleep(SILENCE_MS / 1000)
            stand_in_answer(player, rng.uniform(*BARGE_AFTER_S) if i % 2 == 1 else ANSWER_S, i)
            continue
        heard = wait_until(lambda: listener.note_ons(t), 3)
        unanswered += not heard
        if heard and i % 2 == 1:
            time.sleep(rng.uniform(*BARGE_AFTER_S))       # the next phrase cuts this answer short
            continue
        # this phrase's answer has run its length (the log also holds the turn this phrase cut short)
        if wait_until(lambda: any(turn["trigger"] > t for turn in daemon.turns()[before:]), ANSWER_S + 3):
            released[daemon.turns()[-1]["turn"]] = t
    return starts, released, unanswered


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


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


def strays(starts: list[float], triggers: list[float], note_ons: list[float], allowance: float) -> int:
    """Note-ons heard after a phrase began (plus the allowance) and before the next trigger."""
    count = 0
    for start in starts:
        nxt = min((t for t in triggers if t > start), default=float("inf"))
        count += sum(1 for t in note_ons if start + allowance <= t < nxt)
    return count


def lost_messages(turns: list[dict], dumped: list[list[int]]) -> tuple[int, int]:
    """(messages in the turn logs that jack_midi_dump never heard, messages in the turn logs)."""
    sent = collections.Counter(tuple(data) for turn in turns for _, _, data in turn["messages"])
    heard = collections.Counter(tuple(data) for data in dumped)
    return sum((sent - heard).values()), sum(sent.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=120)
    parser.add_argument("--model", help="ONNX model (default: the shipped one, else a tiny random export)")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--period", type=int, default=128)
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="idle time per block, with and without")
    parser.add_argument("--phases", type=int, default=4, help="silence values swept across one JACK period")
    parser.add_argument("--rounds", type=int, default=2, help="sweeps of the phases: blocks = phases x rounds")
    parser.add_argument("--rtmidi", action="store_true", help="segue on python-rtmidi's JACK clients, one per port")
    parser.add_argument("--no-probe", action="store_true", help="with --rtmidi: without the sysex probe's client")
    parser.add_argument("--jack-priority", type=int, help="jackd -P (default: jackd's own, FIFO 10 on Debian)")
    parser.add_argument("--no-realtime", action="store_true",
                        help="run jackd without realtime threads (default: realtime, falling back if refused)")
    parser.add_argument("--workdir", default="/tmp/segue-bench-latency")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model, model_name = pick_model(args.model, workdir)
    # its own server name, apart from the tests' pool: a test run elsewhere on the machine never shares it
    jack = JackServer(name="segue-bench", rate=args.rate, period=args.period,
                      realtime=False if args.no_realtime else None, priority=args.jack_priority)
    os.environ.update(JACK_DEFAULT_SERVER=jack.name, JACK_NO_START_SERVER="1")
    period_s = args.period / args.rate
    # The daemon stamps input at JACK's process cycle, so a trigger (last release + silence) sits at a fixed phase
    # of the period for a given silence. Sweep the phase: each block of turns uses a silence a fraction of a
    # period longer, so the percentiles cover where in the cycle a trigger can fall.
    silences = [SILENCE_MS + k * period_s * 1000 / args.phases for k in range(args.phases)] * args.rounds
    per_block = -(-args.turns // len(silences))
    rng = random.Random(0)
    turns, released, silences_used, heard, starts, idle_cpu, unanswered = [], [], [], [], [], [], 0
    # Per block: (playing without, playing with, idle without, idle with) xrun windows, side by side in time.
    blocks = [[XrunWindow(jack) for _ in range(4)] for _ in silences]
    # stamped to the frame where segue's own JACK client is built here, so the client's timing error is where a
    # message sits in its cycle, not when the listener's cycle ran
    to_the_frame = jack_client.available()
    listener, player = Listener("bench-listener", to_the_frame=to_the_frame), Player("bench-player")
    dump = MidiDump(jack, workdir, "bench-dump")
    dumped = []                                        # what jack_midi_dump heard while segue played: its messages
    clients = list(JACK_CLIENTS["rtmidi" if args.rtmidi else "own"]) + (
        ["--set", "daemon.sysex_probe=false"] if args.no_probe else [])
    try:
        for block, silence in enumerate(silences):
            without, with_block, idle_without, idle_with = blocks[block]
            # Without segue: the same player, listener and jack_midi_dump, the same phrases and stand-in answers.
            jack.connect("bench-player:out", "bench-listener:in")
            jack.connect("bench-player:out", dump.port)
            time.sleep(0.5)
            without.start()
            play_turns(None, listener, player, per_block, rng, offset=block * per_block)
            without.stop()
            idle_without.start()
            time.sleep(args.idle_seconds)
            idle_without.stop()
            jack.disconnect("bench-player:out", "bench-listener:in")
            jack.disconnect("bench-player:out", dump.port)
            # the answer at once, as before segue followed the pulse: the path's latency, not a beat's wait
            daemon = Daemon(jack, model, workdir, "--silence-ms", f"{silence:.3f}", "--length", str(ANSWER_S),
                            "--on-beat", "off", *clients, client=f"segue{block}")
            try:
                jack.connect(daemon.out_port, "bench-listener:in")
                jack.connect(daemon.out_port, dump.port)
                jack.connect("bench-player:out", daemon.in_port)
                time.sleep(0.5)
                start, dump_start = len(listener.since()), len(dump.messages())
                with_block.start()
                block_starts, block_released, block_unanswered = play_turns(daemon, listener, player, per_block,
                                                                            rng, offset=block * per_block)
                with_block.stop()
                starts += block_starts
                unanswered += block_unanswered
                time.sleep(ANSWER_S + 0.5)
                # idle: nothing playing; what does the daemon cost just waiting for the player?
                time.sleep(1.0)
                idle_with.start()
                before, t0 = cpu_seconds(daemon.proc.pid), time.monotonic()
                time.sleep(args.idle_seconds)
                idle_cpu.append((cpu_seconds(daemon.proc.pid) - before) / (time.monotonic() - t0))
                idle_with.stop()
                block_turns = daemon.turns()
            finally:
                daemon.stop()
            time.sleep(0.5)
            dumped += dump.messages()[dump_start:]
            for turn in block_turns:
                released.append(block_released.get(turn["turn"], None))
                silences_used.append(silence)
            turns += block_turns
            heard += listener.since()[start:]
        dump_overflows = dump.overflows()
    finally:
        dump.close()
        listener.close()
        player.close()
        jack.stop()

    note_ons = [t for t, m in heard if m[0] & 0xF0 == 0x90 and m[2] > 0]
    first_heard = [next((t for t in note_ons if t >= turn["trigger"] - 0.05), None) for turn in turns]
    at_client = [h - t["trigger"] for h, t in zip(first_heard, turns) if h is not None]
    at_send = [t["first_note_at"] - t["trigger"] for t in turns if t["first_note_at"] is not None]
    player_view = [h - r - silence / 1000 for h, r, silence in zip(first_heard, released, silences_used)
                   if h is not None and r is not None]
    matched = match_arrivals(turns, heard)
    send_error = [sent - due for due, sent, _ in matched] or [s - d for t in turns for d, s, _ in t["messages"]]
    client_error = [arrived - due for due, _, arrived in matched]
    allowance = 2 * period_s + STRAY_ALLOWANCE_S
    stray = strays(starts, [t["trigger"] for t in turns], note_ons, allowance)
    barge_ins = sum(1 for t in turns if t["ended_by"] == "barge-in")
    lost, logged = lost_messages(turns, dumped)

    ms = lambda xs, q: pct(xs, q) * 1000   # noqa: E731
    us = lambda xs, q: pct(xs, q) * 1e6    # noqa: E731
    goal = lambda ok: "meets the goal" if ok else "MISSES the goal"   # noqa: E731
    priority = ("no-realtime" if not jack.realtime else
                f"realtime, jackd -P {jack.priority}" if jack.priority else "realtime at jackd's default priority")
    print(f"segue serve over JACK (dummy driver, {priority}, {args.period} frames @ {args.rate} Hz: "
          f"period {period_s * 1000:.3f} ms)")
    print(f"model: {model_name}; {len(turns)} turns, {barge_ins} ended by barge-in; silence {SILENCE_MS}-"
          f"{silences[-1]:.2f} ms in {args.phases} phases of the period; answers {ANSWER_S} s; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; the hypervisor stole "
          f"{mean([w.stolen for block in blocks for w in block]):.1%} of the CPUs' time (steal: what no priority "
          f"here can win back)")
    for label, playing in (("playing", True), ("idle", False)):
        pairs = [(b[0 if playing else 2].per_minute(), b[1 if playing else 3].per_minute()) for b in blocks]
        difference, low, high = mean_with_ci([w - wo for wo, w in pairs])     # blocks resampled
        print(f"xrun reports per minute in jackd's log, {label}, without / with segue, block by block: "
              + ", ".join(f"{wo:.1f}/{w:.1f}" for wo, w in pairs))
        print(f"    mean {mean([wo for wo, _ in pairs]):.1f} / {mean([w for _, w in pairs]):.1f}; with - without "
              f"{difference:+.1f} [{low:+.1f}, {high:+.1f}] (95% CI over {len(pairs)} blocks; "
              f"goal: no more with segue)")
    named, reports = sum(b[1].segue_reports for b in blocks), sum(b[1].reports for b in blocks)
    print(f"    {named} of {reports} reports while segue played name a segue client"
          + (" (segue on python-rtmidi's clients" + (", without its sysex probe)" if args.no_probe else ")")
             if args.rtmidi else " (segue's own client)"))
    print(f"phrases without an answer heard at the client: {unanswered} of {len(starts)}")
    print(f"segue note-ons heard while the player plays (from a phrase's first note + {allowance * 1000:.1f} ms to "
          f"the next trigger): {stray} over {len(starts)} phrases ({goal(stray == 0)})")
    print(f"messages segue sent that jack_midi_dump never heard: {lost} of {logged} ({goal(lost == 0)}; "
          f"jack_midi_dump's own ring overflowed {dump_overflows} times)")
    # segue's own JACK client is handed each message a moment early with its due time and places it there itself:
    # what the daemon logs as sent is then the due time, unless the hand-over came late
    timed = not args.rtmidi and jack_client.available()
    print(f"trigger -> first note-on sent by the daemon:  p50 {ms(at_send, 50):6.2f} ms   p99 {ms(at_send, 99):6.2f} ms"
          + ("   (placed by segue's own client: the due time unless handed over late)" if timed else ""))
    p99 = ms(at_client, 99)
    print(f"trigger -> first note-on at the client:       p50 {ms(at_client, 50):6.2f} ms   p99 {p99:6.2f} ms   "
          f"(goal p99 <= period + 2 = {period_s * 1000 + 2:.2f} ms: {goal(p99 <= period_s * 1000 + 2)})")
    print(f"player's view (last note-off sent -> first note-on heard, minus the silence): "
          f"p50 {ms(player_view, 50):.2f} ms   p99 {ms(player_view, 99):.2f} ms")
    send_p99 = us(send_error, 99)
    print(f"timing error at the send call (sent - intended{'; a hand-over after the due time' if timed else ''}), "
          f"{len(send_error)} messages: "
          f"p50 {us(send_error, 50):.0f} us   p99 {send_p99:.0f} us   max {max(send_error, default=0) * 1e6:.0f} us   "
          f"(goal p99 <= 300 us: {goal(send_p99 <= 300)})")
    if client_error:
        print(f"timing error at the client (arrival - intended), {len(client_error)} messages: "
              f"p50 {ms(client_error, 50):.2f} ms   p99 {ms(client_error, 99):.2f} ms   "
              f"spread p99 - p1 {ms(client_error, 99) - ms(client_error, 1):.2f} ms   ("
              + ("stamped to the frame" if to_the_frame else "stamped when the listener's JACK cycle ran")
              + ("; segue's own client places each message one period after it is due)" if timed else
                 "; python-rtmidi's client sends each at the start of the cycle after its send call)"))
    idle = mean(idle_cpu)
    print(f"idle CPU: {idle * 100:.2f} % of one core, {args.idle_seconds:.0f} s in each of {len(idle_cpu)} blocks "
          f"(goal < 2 %: {goal(idle < 0.02)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
