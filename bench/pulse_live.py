"""Answers on the player's beat, over a real JACK server: an independent player at a few tempi (2 bars of 4/4, onset
jitter SD 15 ms, then silence), `segue serve` answering, a listener stamping what it plays.

    python bench/pulse_live.py [--tempi 80 120 160] [--turns 10] [--model M] [--on-beat auto]

The player's grid (its intended beats, before jitter) is the truth. Per tempo and turn: the answer's first note-on
against the player's nearest beat (hit: within 30 ms of a beat), and the share of the answer's note-ons over its
first 2 bars within 40 ms of the player's grid of beats and half beats (chance: 4 x 40 ms / beat). Also the
answer's start at the listener against the due time segue logged (a JACK period is the floor). Each tempo gets a
fresh daemon (a fresh pulse). `--on-beat off` shows the answers segue gave before it followed the beat.

`--rhythm sixteenths` (every beat but the last in four) or `--rhythm swing` (every beat but the last as a long and
a short eighth, 2:1) plays another phrase; the grid the answer is held to is then the player's own points in the beat
(quarters; the beat and its swung eighth), and its chance is reported beside it.

Why onsets miss (miss_breakdown): each onset's error against the player's grid and against the grid the turn
policy's tracker heard in the phrase as it left the player; `--workdir` keeps every onset's errors (onsets-BPM.json).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from daemon.clock import MidiClock  # noqa: E402
from daemon.policy import TurnPolicy  # noqa: E402
from daemon.realtime import become_realtime  # noqa: E402
from segue.evaluation.scoring import mean_with_ci  # noqa: E402
from daemon.testing import (PERIOD_S, Daemon, Listener, Player, XrunWindow,  # noqa: E402
                            bench_rig, wait_until)

BARS, BEATS_PER_BAR = 2, 4
JITTER_S = 0.015
START_HIT_S = 0.030
GRID_HIT_S = 0.040
ON_TRACK_S = 0.012           # an onset this near the tracker's grid was put there (10 ms steps, a JACK period)
SILENCE_MS = 500             # the player's longest gap is 0.3 s plus jitter; a stalled bench thread must not look
                             # like the end of a phrase
EIGHTH_CHANCE = 0.3          # a beat the player splits into two eighths
RHYTHMS = {                  # where a split beat's notes fall: the player's grid in the beat the answer is held to
    "eighths": (0.0, 0.5),
    "sixteenths": (0.0, 0.25, 0.5, 0.75),
    "swing": (0.0, 2 / 3),
}
ARPEGGIO = (60, 64, 67, 72, 67, 64, 62, 65)
PLAYER_PRIORITY = 3          # the player thread's SCHED_FIFO priority while it plays, as segue's own input thread
                             # (below JACK's clients): an ordinary process on a loaded 2-core machine (a training
                             # run, other tests) left notes 100-170 ms late (p99), which no pianist does


def player_phrase(bpm: float, rng: random.Random, rhythm: str = "eighths") -> list[tuple[float, list[int]]]:
    """(offset from the first beat, message) of 2 bars: eighths: a note or two eighths per beat; sixteenths and swing:
    every beat but the last split (RHYTHMS); a bass note on each downbeat, every onset jittered (SD JITTER_S), notes
    held 60% of their span; sorted by time."""
    beat = 60.0 / bpm
    parts = RHYTHMS[rhythm]
    events = []
    for k in range(BARS * BEATS_PER_BAR):
        split = k < BARS * BEATS_PER_BAR - 1 and (rhythm != "eighths" or rng.random() < EIGHTH_CHANCE)
        for i, part in enumerate(parts if split else (0.0,)):
            onset = (k + part) * beat + rng.gauss(0.0, JITTER_S)
            span = ((parts + (1.0,))[i + 1] - part) if split else 1.0
            length = 0.6 * beat * span
            pitch = ARPEGGIO[(len(parts) * k + i) % len(ARPEGGIO)]
            events += [(onset, [0x90, pitch, 80]), (onset + length, [0x80, pitch, 0])]
            if part == 0.0 and k % BEATS_PER_BAR == 0:
                events += [(onset + 0.005, [0x90, 48, 70]), (onset + beat * 0.9, [0x80, 48, 0])]
    return sorted(events, key=lambda e: e[0])


def play(player: Player, events, t0: float, late: list, sent: list | None = None) -> float:
    """Send each message at t0 + its offset (sleep, then a short spin); returns the last send time. How late each
    note-on left goes into `late` (a loaded machine makes the player sloppier than its jitter), each (send time,
    message) into `sent`. The phrase is played at SCHED_FIFO PLAYER_PRIORITY where the system allows it."""
    realtime = become_realtime(PLAYER_PRIORITY)
    try:
        return _play(player, events, t0, late, sent)
    finally:
        if realtime:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def _play(player: Player, events, t0: float, late: list, sent: list | None) -> float:
    last = t0
    for offset, message in events:
        due = t0 + offset
        while (left := due - time.perf_counter()) > 0.002:
            time.sleep(left - 0.0015)
        while time.perf_counter() < due:
            pass
        last = player.send(*message)
        if sent is not None:
            sent.append((last, message))
        if message[0] == 0x90:
            late.append(last - due)
    return last


def replayed(sent: list, silence_s: float) -> tuple[float | None, TurnPolicy]:
    """Where segue's turn policy puts the answer's start given the phrase as it left the player (None: not on a
    beat), and the policy: what the tracker alone makes of it, apart from the way to segue and back."""
    policy = TurnPolicy("call-response", silence_s, on_beat="auto")
    released = sent[-1][0]
    for t, (status, pitch, velocity) in sent:
        if status == 0x90:
            policy.note_on(t, pitch, velocity)
        else:
            policy.note_off(t, pitch)
    start, waits_for = policy.answer_start(released + silence_s, released + 0.06, MidiClock())
    return (start if waits_for == "pulse" else None), policy


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def nearest(t: float, t0: float, step: float) -> float:
    return t - (t0 + round((t - t0) / step) * step)


def off_grid(t: float, t0: float, beat: float, points: tuple[float, ...]) -> float:
    """t's signed distance (s) to the nearest point of the grid t0 + (n + point) * beat."""
    return min((nearest(t, t0 + point * beat, beat) for point in points), key=abs)


def miss_breakdown(onsets: list, beat: float) -> str:
    """Why onsets miss the player's grid: each onset's error against the player's points (beats and halves, or
    --rhythm's) and against the grid the turn policy's tracker heard in the phrase as it left the player (the grid
    segue steers by, but for the way to segue). A miss on the tracker's grid is the tracker's (its phase, its tempo
    drifting over the answer), one off it is the decoding's (a note the preference let through) or the way out."""
    if not onsets:
        return "no onsets"
    late = [o for o in onsets if o[0] >= BEATS_PER_BAR * beat]
    miss = [o for o in onsets if abs(o[1]) > GRID_HIT_S]
    on_track = [o for o in miss if abs(o[2]) <= ON_TRACK_S]
    return (f"misses {len(miss)} of {len(onsets)} onsets: {len(on_track)} on the tracker's grid (within "
            f"{ON_TRACK_S * 1000:.0f} ms: the tracker's error), {len(miss) - len(on_track)} off it; onsets off the "
            f"tracker's grid {sum(abs(o[2]) > ON_TRACK_S for o in onsets)}; misses in the first bar "
            f"{len(miss) - sum(abs(o[1]) > GRID_HIT_S for o in late)} of {len(onsets) - len(late)}, in the second "
            f"{sum(abs(o[1]) > GRID_HIT_S for o in late)} of {len(late)}")


def one_tempo(jack, model: Path, workdir: Path, bpm: float, turns: int, on_beat: str, rng: random.Random,
              rhythm: str = "eighths") -> dict:
    beat = 60.0 / bpm
    points = RHYTHMS[rhythm]
    answer_s = BARS * BEATS_PER_BAR * beat + 0.5
    daemon = Daemon(jack, model, workdir, "--length", f"{answer_s:.3f}", "--on-beat", on_beat,
                    "--silence-ms", str(SILENCE_MS), client=f"pulse{int(bpm)}")
    listener, player = Listener(f"pulse-listener{int(bpm)}"), Player(f"pulse-player{int(bpm)}")
    starts, shares, late, sloppy, replayed_starts, notes, misses = [], [], [], [], [], [], []
    try:
        jack.connect(daemon.out_port, f"pulse-listener{int(bpm)}:in")
        jack.connect(f"pulse-player{int(bpm)}:out", daemon.in_port)
        time.sleep(0.5)
        for _ in range(turns):
            before = len(daemon.turns())
            t0 = time.perf_counter() + 0.3
            sent: list = []
            released = play(player, player_phrase(bpm, rng, rhythm), t0, sloppy, sent)
            start, policy = replayed(sent, SILENCE_MS / 1000)
            replayed_starts.append(float("inf") if start is None else nearest(start, t0, beat))
            if not wait_until(lambda: listener.note_ons(released), 10):
                starts.append(float("inf"))
                continue
            assert wait_until(lambda: len(daemon.turns()) > before and daemon.turns()[-1]["ended_by"] == "length",
                              answer_s + 10), daemon.output()[-2000:]
            ons = [t for t, _ in listener.note_ons(released)]
            starts.append(nearest(ons[0], t0, beat))
            window = [t for t in ons if t < ons[0] + BARS * BEATS_PER_BAR * beat]
            notes.append(len(window))
            shares.append(sum(abs(off_grid(t, t0, beat, points)) <= GRID_HIT_S for t in window) / len(window))
            pulse = policy.pulse
            if pulse.period is not None:
                for t in window:
                    misses.append((t - ons[0], off_grid(t, t0, beat, points),
                                   off_grid(t, pulse.anchor, pulse.period, points), pulse.period / beat - 1,
                                   pulse.confidence(released + 0.06)))
            entry = daemon.turns()[-1]
            late.append(ons[0] - entry["trigger"])
            time.sleep(0.3)
    finally:
        daemon.stop()
        listener.close()
        player.close()
    return {"starts": starts, "shares": shares, "late": late, "sloppy": sloppy, "replayed": replayed_starts, "notes": notes,
            "onsets": misses}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tempi", type=float, nargs="+", default=[80.0, 120.0, 160.0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    parser.add_argument("--on-beat", default="auto", choices=["auto", "clock", "off"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rhythm", default="eighths", choices=sorted(RHYTHMS),
                        help="the player's phrase: eighths (the issue's test), sixteenths or swing")
    parser.add_argument("--workdir", default="/tmp/segue-pulse-live")
    args = parser.parse_args(argv)

    workdir, model, jack = bench_rig(args.model, args.workdir, "h4-pulse-bench")
    rng = random.Random(args.seed)
    print(f"model {model.name}, --on-beat {args.on_beat}, {args.rhythm}, {args.turns} turns per tempo, player "
          f"jitter SD {JITTER_S * 1000:.0f} ms, JACK period {PERIOD_S * 1000:.2f} ms")
    try:
        for bpm in args.tempi:
            machine = XrunWindow(None).start()          # the hypervisor's steal over this tempo's turns
            got = one_tempo(jack, model, workdir, bpm, args.turns, args.on_beat, rng, args.rhythm)
            stolen = machine.stop().stolen
            hits = sum(abs(s) <= START_HIT_S for s in got["starts"])
            share, low, high = mean_with_ci(got["shares"])
            chance = min(1.0, 2 * GRID_HIT_S * len(RHYTHMS[args.rhythm]) / (60.0 / bpm))
            late = sorted(x * 1000 for x in got["late"])
            print(f"{bpm:5.0f} bpm: first note within {START_HIT_S * 1000:.0f} ms of the player's beat in {hits} of "
                  f"{len(got['starts'])} turns (errors ms: {', '.join(f'{s * 1000:+.0f}' for s in got['starts'])}); "
                  f"answer onsets on the player's grid ({args.rhythm}, +-{GRID_HIT_S * 1000:.0f} ms) over 2 bars: "
                  f"{share:.0%} [{low:.0%}, {high:.0%}] (chance {chance:.0%}); first note at the listener after its "
                  f"due time: median {late[len(late) // 2]:.1f} ms; the player's notes left late by p50/p99 "
                  f"{pct(got['sloppy'], 50):.1f}/{pct(got['sloppy'], 99):.1f} ms; the start the turn policy gives "
                  f"the phrase as it left the player: within {START_HIT_S * 1000:.0f} ms in "
                  f"{sum(abs(s) <= START_HIT_S for s in got['replayed'])} of {len(got['replayed'])} (errors ms: "
                  f"{', '.join(f'{s * 1000:+.0f}' for s in got['replayed'])}); notes per answer over 2 bars: "
                  f"{', '.join(str(n) for n in got['notes'])}; the hypervisor stole {stolen:.1%} of the CPUs' time"
                  if late else "")
            print("      " + miss_breakdown(got["onsets"], 60.0 / bpm))
            (workdir / f"onsets-{bpm:.0f}.json").write_text(json.dumps(got["onsets"]))
    finally:
        jack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
