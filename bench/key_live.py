"""Does segue keep a chromatic player's chromatic notes? Over a real JACK server: an independent player plays a phrase
in C major, either diatonic or with a blue note or chromatic passing note in every fourth (Bb, D#, F#, F), then rests;
`segue serve` answers, a listener stamps what it plays.

    python bench/key_live.py [--turns 8] [--model M] [--seed 0]

Per player, with the key preference as shipped (`sampling.follow_key_chromatic` true: out-of-scale notes held to
the share the player plays them) and as before (false: all ruled out at 1 - follow_key_strength): the share of the
answers' note-ons outside C major's scale, beside the player's own share. Each condition gets a fresh daemon with a
fixed seed, so the two differ only in the preference. The session memory is on, as served: it replays the player's
own notes whatever the preference says, so even the old mask lets some through.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from daemon.testing import Daemon, JackServer, Listener, Player, bench_rig, wait_until  # noqa: E402
from segue.codec import keys  # noqa: E402
from segue.evaluation.scoring import mean_with_ci  # noqa: E402

BEAT_S = 0.3                 # eighth notes at 100 bpm
C_MAJOR = keys.scale(keys.parse_key("C major"))
PHRASES = {                  # two bars of eighths; "blues" has an out-of-scale note in every four
    "diatonic": (60, 64, 67, 69, 72, 67, 65, 64, 62, 65, 69, 67, 64, 62, 60, 55),
    "blues": (60, 64, 67, 70, 60, 63, 64, 67, 72, 67, 66, 65, 64, 63, 62, 60),
}
ANSWER_S = 6.0
SILENCE_MS = 500


def outside(pitches) -> float:
    return sum(not C_MAJOR[p % 12] for p in pitches) / len(pitches)


def play_phrase(player: Player, pitches, rng: random.Random) -> float:
    """The phrase in eighths (onset jitter SD 10 ms, velocities 64-90), a bass C under the first; returns when the
    last note was released."""
    t0 = time.perf_counter() + 0.2
    events = [(0.0, [0x90, 48, 70]), (len(pitches) * BEAT_S, [0x80, 48, 0])]
    for i, pitch in enumerate(pitches):
        onset = i * BEAT_S + rng.gauss(0.0, 0.01)
        events += [(onset, [0x90, pitch, rng.randint(64, 90)]), (onset + 0.8 * BEAT_S, [0x80, pitch, 0])]
    last = t0
    for offset, message in sorted(events, key=lambda e: e[0]):
        while time.perf_counter() < t0 + offset:
            time.sleep(0.001)
        last = player.send(*message)
    return last


def one_condition(jack: JackServer, model: Path, workdir: Path, phrase: str, chromatic: bool, turns: int,
                  seed: int) -> list[float]:
    """The out-of-scale share of each answer."""
    tag = f"{phrase}{int(chromatic)}"
    daemon = Daemon(jack, model, workdir, "--length", str(ANSWER_S), "--silence-ms", str(SILENCE_MS), "--seed",
                    str(seed), "--set", f"sampling.follow_key_chromatic={str(chromatic).lower()}",
                    client=f"key{tag}")
    listener, player = Listener(f"key-listener{tag}"), Player(f"key-player{tag}")
    rng = random.Random(seed)
    shares = []
    try:
        jack.connect(daemon.out_port, f"key-listener{tag}:in")
        jack.connect(f"key-player{tag}:out", daemon.in_port)
        time.sleep(0.5)
        for _ in range(turns):
            before = len(daemon.turns())
            released = play_phrase(player, PHRASES[phrase], rng)
            if not wait_until(lambda: len(daemon.turns()) > before and daemon.turns()[-1]["ended_by"] == "length",
                              ANSWER_S + 10):
                raise SystemExit(f"segue did not answer a {phrase} phrase:\n{daemon.output()[-2000:]}")
            pitches = [message[1] for _, message in listener.note_ons(released)]
            if pitches:
                shares.append(outside(pitches))
            listener.clear()
            time.sleep(0.3)
    finally:
        daemon.stop()
        listener.close()
        player.close()
    return shares


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="/tmp/segue-key-live")
    args = parser.parse_args(argv)

    workdir, model, jack = bench_rig(args.model, args.workdir, "h4-key-bench")
    print(f"model {model.name}, {args.turns} turns per condition, answers of {ANSWER_S:g} s, session memory on")
    try:
        for phrase, pitches in PHRASES.items():
            for chromatic in (True, False):
                shares = one_condition(jack, model, workdir, phrase, chromatic, args.turns, args.seed)
                share, low, high = mean_with_ci(shares)
                print(f"{phrase:8s} player ({outside(pitches):.0%} of its notes outside C major), "
                      f"follow_key_chromatic {str(chromatic).lower():5s}: the answers' note-ons outside C major "
                      f"{share:.1%} [{low:.1%}, {high:.1%}] over {len(shares)} answers", flush=True)
    finally:
        jack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
