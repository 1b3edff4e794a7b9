"""How well segue's causal beat tracker (segue/rhythm/beat_tracker.py) hears the beat, per dataset, with a 95% CI
over pieces:

    python bench/beat_tracker.py DATASET [--hannds data/hannds [--answers N]] [--pieces N] [--skip 5]

DATASET is a built score dataset (e.g. `segue data build ".../music21/corpus/bach/bwv1*.mxl" -o /tmp/beatdata`).
Its pieces are played twice: plain (the score's own timing) and rendered as a performance (training/rendering.py,
the fixed eval rendition of each piece); in both the beats are known (the tactus the rendering infers, through the
rendition's tempo map). Reported, from `--skip` seconds on (a causal tracker needs a few beats to hear one):

- beat F-measure (+-70 ms, each true beat matched once) of the beats the tracker announces as they come, each from
  the onsets before it only; "any level": the best F against the true beats, twice as fast, or half as fast on
  either phase (the tactus is ambiguous between metrical levels, the rendering's choice is one of them);
- tempo: at each true beat, the tracker's period against the true local beat length: share within 8% (acc1),
  the same allowing a metrical-level error of x2, x1/2, x3, x1/3 (acc2), median |error| in %;
- confidence: its median over the onsets, for metrical playing and for free playing of the same pieces: random
  onsets at the piece's own rate (no pulse at all), and the plain piece with every beat stretched by a random
  factor (log-normal, SD 35%: a pulse no listener would tap to).
With --hannds (recorded performances, no ground truth): the median confidence, the share of onsets heard with
confidence >= 0.3, and tempo stability: the median |change| of the tracked tempo from one onset to the next, in %.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOLERANCE_S = 0.07
TEMPO_TOLERANCE = 0.08
CONFIDENT = 0.3
RUBATO_SD = 0.35


def track(onsets: np.ndarray, velocities: np.ndarray):
    """Run the tracker over onsets in time order. Returns (announced beats, per onset group: its time, the period
    and the confidence after it). A beat is announced when its time comes, from the onsets before it only."""
    from segue.rhythm.beat_tracker import BeatTracker

    tracker = BeatTracker()
    announced, times, periods, confidences = [], [], [], []
    last = -np.inf
    for t, velocity in zip(onsets, velocities):
        tracker.flush(t)
        previous = times[-1] if times else t
        beat = tracker.next_beat(max(last + 0.5 * (tracker.period or 0.0), previous))
        while beat is not None and beat < t:
            if beat > last:
                announced.append(beat)
                last = beat
            beat = tracker.next_beat(last + 0.5 * tracker.period)
        tracker.note_on(float(t), int(velocity))
        times.append(t)
        periods.append(tracker.period if tracker.period is not None else np.nan)
        confidences.append(tracker.confidence())
    return np.array(announced), np.array(times), np.array(periods), np.array(confidences)


def f_measure(announced: np.ndarray, truth: np.ndarray) -> float:
    if len(truth) == 0 or len(announced) == 0:
        return 0.0
    used = np.zeros(len(announced), dtype=bool)
    hits = 0
    for beat in truth:
        i = int(np.searchsorted(announced, beat))
        for j in (i - 1, i):
            if 0 <= j < len(announced) and not used[j] and abs(announced[j] - beat) <= TOLERANCE_S:
                used[j] = True
                hits += 1
                break
    precision, recall = hits / len(announced), hits / len(truth)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def metrical_levels(truth: np.ndarray) -> list[np.ndarray]:
    """The true beats at the annotated level, twice as fast, and half as fast on either phase."""
    doubled = np.sort(np.concatenate([truth, (truth[1:] + truth[:-1]) / 2]))
    return [truth, doubled, truth[0::2], truth[1::2]]


def tempo_errors(truth: np.ndarray, times: np.ndarray, periods: np.ndarray) -> tuple[float, float, float]:
    """(acc1, acc2, median |error| %) of the tracked period at each true beat against the true beat length."""
    if len(truth) < 3:
        return np.nan, np.nan, np.nan
    lengths = np.diff(truth)
    at = np.searchsorted(times, truth[:-1], side="right") - 1     # the state before each beat
    ok = (at >= 0)
    tracked = periods[np.clip(at, 0, None)][ok]
    ratio = tracked / lengths[ok]
    good = np.isfinite(ratio)
    if not good.any():
        return 0.0, 0.0, np.nan
    ratio = np.where(good, ratio, 1e9)
    acc1 = float(np.mean(np.abs(ratio - 1) <= TEMPO_TOLERANCE))
    acc2 = float(np.mean(np.any([np.abs(ratio * k - 1) <= TEMPO_TOLERANCE for k in (1, 2, 0.5, 3, 1 / 3)], axis=0)))
    return acc1, acc2, float(np.median(np.abs(ratio[good] - 1)) * 100)


def onset_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(rows[:, 2], kind="stable")
    return rows[order, 2], rows[order, 1]


def warped(rows: np.ndarray, beat: float, rng) -> np.ndarray:
    """The piece with every score beat lasting beat * a log-normal factor (SD RUBATO_SD): no steady pulse."""
    n = int(rows[:, 3].max() / beat) + 2
    lengths = beat * np.exp(rng.normal(0.0, RUBATO_SD, n))
    elapsed = np.concatenate([[0.0], np.cumsum(lengths)])

    def warp(t):
        position = t / beat
        whole = np.minimum(position.astype(np.int64), n - 1)
        return elapsed[whole] + (position - whole) * lengths[whole]

    out = rows.copy()
    out[:, 2], out[:, 3] = warp(rows[:, 2]), warp(rows[:, 3])
    return out


def random_onsets(onsets: np.ndarray, velocities: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """As many onset groups as the piece has, at random times over its length (a Poisson process)."""
    groups = np.unique(np.round(onsets, 2))
    times = np.sort(rng.uniform(onsets.min(), onsets.max(), len(groups)))
    return times, rng.choice(velocities, len(times))


def measure(onsets, velocities, truth, skip: float) -> dict:
    announced, times, periods, confidences = track(onsets, velocities)
    start = onsets.min() + skip
    truth = truth[truth >= start]
    announced = announced[announced >= start - TOLERANCE_S]
    acc1, acc2, error = tempo_errors(truth, times, periods)
    later = times >= start
    return {"f": f_measure(announced, truth),
            "f_any": max(f_measure(announced, level) for level in metrical_levels(truth)), "acc1": acc1, "acc2": acc2, "tempo_error": error,
            "confidence": float(np.median(confidences[later])) if later.any() else np.nan}


def free_confidence(onsets, velocities, skip: float) -> float:
    _, times, _, confidences = track(onsets, velocities)
    later = times >= onsets.min() + skip
    return float(np.median(confidences[later])) if later.any() else np.nan


def free_answers(recorded, pieces: list[int], rng, seconds: float = 10.0) -> tuple[float, float, float]:
    """Free playing answered by the shipped model with the shipped grammar and memory, pulse preference on and off
    (the same seed): (share of answers identical event for event, median tracker confidence at the primer's end,
    primers). Each primer is a recorded piece's first `seconds` with every onset
    group's gap stretched by a random log-normal factor (SD RUBATO_SD): its notes and chords, no pulse."""
    from segue.codec import codec
    from segue.inference.grammar_settings import GrammarSettings
    from segue.evaluation.continuations import ModelSource, continue_primer
    from segue.inference.memory import MemorySettings
    from segue.inference.sampling import Sampler

    source = ModelSource(None)
    memory = MemorySettings.for_model(source.engine.path)
    same, confidences = [], []
    for i in pieces:
        notes = recorded.notes(i)
        notes = notes[notes[:, 2] < seconds]
        starts = np.unique(np.round(notes[:, 2], 2))
        stretched = np.concatenate([[0.0], np.cumsum(np.diff(starts) * np.exp(rng.normal(0, RUBATO_SD, len(starts) - 1)))])
        moved = np.interp(notes[:, 2], starts, stretched)
        primer = codec.encode_arrays(notes[:, 0].astype(np.int64), notes[:, 1].astype(np.int64), moved,
                                     moved + (notes[:, 3] - notes[:, 2]))
        _, times, _, conf = track(*onset_rows(np.stack([notes[:, 0], notes[:, 1], moved, moved], axis=1)))
        confidences.append(float(conf[-1]))
        answers = [continue_primer(source, Sampler(seed=i), primer, seconds, GrammarSettings(pulse_strength=p),
                                   memory) for p in (0.9, 0.0)]
        same.append(float(np.array_equal(*answers)))
    return float(np.mean(same)), float(np.median(confidences)), len(same)


def ci(values) -> str:
    from segue.evaluation.scoring import mean_with_ci

    values = np.asarray([v for v in values if np.isfinite(v)])
    mean, low, high = mean_with_ci(values)
    return f"{mean:6.3f} [{low:6.3f}, {high:6.3f}]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--hannds", help="a built dataset of recorded performances (no ground truth)")
    parser.add_argument("--pieces", type=int, default=0, help="at most this many pieces (0: all)")
    parser.add_argument("--skip", type=float, default=5.0, help="seconds of warm-up not scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--answers", type=int, default=0, metavar="N",
                        help="with --hannds: also answer N free-played primers with the pulse preference on and off")
    args = parser.parse_args(argv)

    from training.dataset import EventDataset
    from training.rendering import (RenderParams, infer_beat, perform_with_beats, rendition_rng, score_beats)

    data = EventDataset(args.dataset)
    pieces = [i for i in range(len(data.pieces)) if data.notes(i)[:, 3].max() >= args.skip + 10]
    if args.pieces:
        pieces = pieces[:args.pieces]
    rng = np.random.default_rng(args.seed)
    rows = {"plain": [], "rendered": []}
    free = {"random onsets": [], f"rubato SD {RUBATO_SD:.0%}": []}
    for i in pieces:
        notes = data.notes(i)
        beat = infer_beat(notes[:, 2])
        rows["plain"].append(measure(*onset_rows(notes), score_beats(notes[:, 2], beat), args.skip))
        played, _, _, beats = perform_with_beats(notes, rendition_rng(args.seed, i, -1), RenderParams())
        rows["rendered"].append(measure(*onset_rows(played), beats, args.skip))
        free["random onsets"].append(free_confidence(*random_onsets(*onset_rows(notes), rng), args.skip))
        free[f"rubato SD {RUBATO_SD:.0%}"].append(free_confidence(*onset_rows(warped(notes, beat, rng)), args.skip))

    print(f"{len(pieces)} pieces of {args.dataset}, scored from {args.skip:g} s on; mean [95% CI over pieces]")
    print(f"{'':10} {'F (+-70 ms)':>24} {'F any level':>24} {'tempo acc1 (8%)':>24} {'tempo acc2 (x2,x3)':>24} "
          f"{'tempo |err| %':>24} {'confidence':>24}")
    for name, measured in rows.items():
        print(f"{name:10} " + " ".join(f"{ci([m[k] for m in measured]):>24}"
                                       for k in ("f", "f_any", "acc1", "acc2", "tempo_error", "confidence")))
    for name, values in free.items():
        print(f"free playing, {name}: confidence {ci(values)}")

    if args.hannds:
        recorded = EventDataset(args.hannds)
        medians, confident, stability = [], [], []
        for i in range(len(recorded.pieces)):
            onsets, velocities = onset_rows(recorded.notes(i))
            _, times, periods, confidences = track(onsets, velocities)
            later = times >= onsets.min() + args.skip
            if later.sum() < 10:
                continue
            medians.append(float(np.median(confidences[later])))
            confident.append(float(np.mean(confidences[later] >= CONFIDENT)))
            change = np.abs(np.diff(np.log(periods[later])))
            stability.append(float(np.median(change[np.isfinite(change)]) * 100))
        print(f"recorded ({args.hannds}, {len(medians)} pieces): confidence {ci(medians)}, share of onsets with "
              f"confidence >= {CONFIDENT}: {ci(confident)}, tempo change per onset % (median): {ci(stability)}")
        if args.answers:
            same, confidence, count = free_answers(recorded, list(range(min(args.answers, len(recorded.pieces)))),
                                                   rng)
            print(f"free playing answered ({count} primers of {args.hannds}, gaps stretched by SD {RUBATO_SD:.0%}): "
                  f"answers identical with the pulse preference on and off {same:.0%}; tracker confidence at the "
                  f"primer's end, median {confidence:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
