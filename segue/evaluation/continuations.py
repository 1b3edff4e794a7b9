"""Continuation test: prime with the first K seconds of each eval piece, generate the next K, measure the music.

Three continuations of every primer are compared, each against the primer and the real continuation:
  real    the piece's own next K seconds (the reference: what a composer did)
  model   sampled from an ONNX model through segue.inference.engine.Engine and segue.inference.sampling.Sampler
  markov  sampled from the variable-order Markov baseline (segue.evaluation.baselines), with the same sampler settings
The measures are those of segue.evaluation.musical_metrics. A primer ends at the first event boundary at or after K seconds
(a TIME_SHIFT is never split, so a primer is never a non-canonical encoding); the continuation window is the K
seconds after that boundary. Notes of the window are those that start in it, clipped at its end; the primer's notes
are clipped at the boundary.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from segue.codec import codec
from segue.evaluation import musical_metrics as mm
from segue.evaluation import pulse_metrics
from segue.evaluation.baselines import ALL_KEYS, MarkovModel, MarkovSource
from segue.codec.codec import Note
from segue.codec.codec import shift_steps_of
from segue.errors import SegueError
from segue.inference.sampling import Sampler
from segue.inference.sampling_loop import Length

MIN_NOTES = 4  # a primer or real continuation with fewer notes has no key, no IOI histogram: skip the piece


@dataclass
class Passage:
    """One eval piece cut at the primer boundary."""

    name: str
    primer_events: np.ndarray
    primer_seconds: float  # where the primer ends (>= K)
    primer_notes: list[Note]
    real_notes: list[Note]  # notes starting in the real continuation window, times from 0, not clipped
    piece: str = ""        # the piece it was cut from (several primers of one piece: passages_of's `every`)


def _window(notes: Sequence[Note], start: float, end: float) -> list[Note]:
    """Notes starting in [start, end), shifted to start at 0, not clipped (note lengths are measured uncapped)."""
    return [Note(n.pitch, n.velocity, n.start - start, n.end - start) for n in notes if start <= n.start < end]


def _clipped(notes: Sequence[Note], end: float) -> list[Note]:
    return [Note(n.pitch, n.velocity, n.start, min(n.end, end)) for n in notes]


def _before(notes: Sequence[Note], boundary: float) -> list[Note]:
    return [Note(n.pitch, n.velocity, n.start, min(n.end, boundary)) for n in notes if n.start < boundary]


def excerpt(events: np.ndarray, start: float) -> np.ndarray:
    """The piece from `start` seconds on as a piece of its own: the notes struck from then on, times from 0,
    encoded afresh (so its first note carries its velocity; notes struck before `start` are left out)."""
    if start <= 0:
        return np.asarray(events, dtype=np.int64)
    notes = [Note(n.pitch, n.velocity, n.start - start, n.end - start) for n in codec.decode_events(events)
             if n.start >= start]
    return np.asarray(codec.encode_notes(notes), dtype=np.int64)


def split_piece(name: str, events: np.ndarray, seconds: float) -> Passage | None:
    """Cut a piece into primer + real continuation; None if it is shorter than 2K or too sparse to measure."""
    events = np.asarray(events, dtype=np.int64)
    time_after = np.cumsum(shift_steps_of(events))  # steps elapsed once event i has been consumed
    target = int(round(seconds * codec.STEPS_PER_SECOND))
    reached = np.flatnonzero(time_after >= target)
    if not len(reached) or time_after[-1] < time_after[reached[0]] + target:
        return None
    cut = int(reached[0]) + 1  # the primer ends with the event that reaches K seconds
    boundary = time_after[cut - 1] / codec.STEPS_PER_SECOND
    notes = codec.decode_events(events)
    primer_notes = _before(notes, boundary)
    real_notes = _window(notes, boundary, boundary + seconds)
    if len(primer_notes) < MIN_NOTES or len(real_notes) < MIN_NOTES:
        return None
    return Passage(name, events[:cut], boundary, primer_notes, real_notes)


# ---- next-event sources ----------------------------------------------------------------------------------------
class ModelSource:
    """Next-event logits from an ONNX model, primed exactly as `segue generate` primes it (segue.inference.generate.prime:
    a conditioned model gets the past-only controls a ControlFollower knows after each primer event, then holds what
    it heard at the end)."""

    def __init__(self, model_path: str | Path | None):
        from segue.inference.engine import Engine

        self.engine = Engine.load(model_path)

    def prime(self, primer: np.ndarray) -> np.ndarray:
        from segue.inference.generate import prime

        return prime(self.engine, primer)

    def step(self, event: int) -> np.ndarray:
        return self.engine.step(event)


def continue_primer(source, sampler: Sampler, primer: np.ndarray, seconds: float, grammar=None, memory=None,
                    memory_mode: str = "player") -> np.ndarray:
    """Sample events after the primer until they span `seconds`, through the one sampling loop as segue serve
    answers the primer (segue.inference.generate.answering_loop: the decoding `grammar`, the session `memory`)."""
    from segue.inference.generate import answering_loop

    logits = source.prime(primer)
    loop = answering_loop(sampler, primer, grammar, memory=memory, memory_mode=memory_mode)
    return loop.run(source.step, logits, Length(seconds=seconds))


def generated_window(passage: Passage, generated: np.ndarray, seconds: float) -> list[Note]:
    """Notes of the generated continuation, decoded together with the primer so held notes end correctly; no cap
    but the decoder's for a note never released (HANGING_NOTE_SECONDS)."""
    notes = codec.decode_events(np.concatenate([passage.primer_events, generated]))
    return _window(notes, passage.primer_seconds, passage.primer_seconds + seconds)


# ---- measuring -------------------------------------------------------------------------------------------------
@dataclass
class PieceMeasures:
    """Per-system measures of one passage."""

    name: str
    values: dict[str, dict[str, float]] = field(default_factory=dict)  # system -> measure -> value
    features: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # system -> feature -> vector
    piece: str = ""                                                     # the piece the passage was cut from


def per_piece(measured: list[PieceMeasures]) -> list[PieceMeasures]:
    """One PieceMeasures per piece: the measures and features of its passages (several primers, several seeds)
    averaged, so that intervals over pieces are over independent units (nan-aware: a measure a passage lacks)."""
    groups: dict[str, list[PieceMeasures]] = {}
    for passage in measured:
        groups.setdefault(passage.piece or passage.name, []).append(passage)
    out = []
    for piece, passages in groups.items():
        pooled = PieceMeasures(piece, piece=piece)
        for system in passages[0].values:
            keys = passages[0].values[system]
            columns = np.array([[p.values[system][key] for key in keys] for p in passages], dtype=np.float64)
            known = ~np.isnan(columns)
            means = np.where(known.any(axis=0), np.where(known, columns, 0).sum(axis=0) / np.maximum(
                known.sum(axis=0), 1), np.nan)
            pooled.values[system] = dict(zip(keys, means.tolist()))
            pooled.features[system] = {name: np.mean([p.features[system][name] for p in passages], axis=0)
                                       for name in passages[0].features.get(system, {})}
        out.append(pooled)
    return out


def measure_continuation(passage: Passage, notes: list[Note], seconds: float) -> tuple[dict, dict]:
    """Measures of one continuation (unclipped notes, times from the window start) against its primer and the real
    continuation."""
    clipped, real = _clipped(notes, seconds), _clipped(passage.real_notes, seconds)
    primer_pc = mm.pitch_class_histogram(passage.primer_notes)
    primer_ioi = mm.ioi_histogram(passage.primer_notes)
    real_pc = mm.pitch_class_histogram(real)
    real_ioi = mm.ioi_histogram(real)
    pc, ioi = mm.pitch_class_histogram(clipped), mm.ioi_histogram(clipped)
    key = mm.key_consistency(passage.primer_notes, clipped)
    primer_density = mm.note_density(passage.primer_notes, passage.primer_seconds)
    motifs = mm.motif_share(clipped, passage.primer_notes)
    values = {
        "key_corr": key["correlation"],
        "same_key": key["same_key"],
        "pc_oa_primer": mm.overlap_area(pc, primer_pc),
        "pc_oa_real": mm.overlap_area(pc, real_pc),
        "ioi_oa_primer": mm.overlap_area(ioi, primer_ioi),
        "ioi_oa_real": mm.overlap_area(ioi, real_ioi),
        "density_ratio": mm.note_density(clipped, seconds) / primer_density if primer_density > 0 else float("nan"),
        "polyphony": mm.polyphony(clipped),
        "max_polyphony": mm.max_polyphony(clipped),
        "long_2s": mm.long_note_share(notes, seconds, 2.0),
        "long_5s": mm.long_note_share(notes, seconds, 5.0),
        "velocity": mm.median_velocity(clipped),
        "velocity_shift": mm.median_velocity(clipped) - mm.median_velocity(passage.primer_notes),
        "velocity_off_primer": abs(mm.median_velocity(clipped) - mm.median_velocity(passage.primer_notes)),
        "velocity_sd": mm.velocity_spread(clipped),
        "melody_lead": mm.melody_lead(clipped),
        "lowest_voice": mm.lowest_voice(clipped),
        "motif_intervals": motifs["interval"],
        "motif_ioi": motifs["ioi_ratio"],
        "notes": float(len(notes)),
        **pulse_metrics.measures([n.start for n in passage.primer_notes], passage.primer_seconds,
                                 [n.start for n in clipped], seconds),
    }
    return values, {"pc": pc, "ioi": ioi}


# What the table shows, in order: (key, heading, how to aggregate over pieces).
COLUMNS = [
    ("key_corr", "key r", "mean"),
    ("same_key", "same key", "mean"),
    ("pc_oa_primer", "PC OA/primer", "mean"),
    ("pc_oa_real", "PC OA/real", "mean"),
    ("ioi_oa_primer", "IOI OA/primer", "mean"),
    ("ioi_oa_real", "IOI OA/real", "mean"),
    ("notes", "notes", "mean"),
    ("density_ratio", "density ratio", "median"),
    ("polyphony", "polyphony", "mean"),
    ("max_polyphony", "max poly", "mean"),
    ("long_2s", "notes>=2s", "mean"),
    ("long_5s", "notes>=5s", "mean"),
    ("velocity", "velocity median", "mean"),
    ("velocity_shift", "vel - primer", "mean"),
    ("velocity_off_primer", "|vel - primer|", "mean"),
    ("velocity_sd", "velocity SD", "mean"),
    ("melody_lead", "melody lead", "mean"),
    ("lowest_voice", "bass pitch", "mean"),
    ("motif_intervals", "motif int4", "mean"),
    ("motif_ioi", "motif IOI3", "mean"),
    ("pc_set_oa", "PC set OA", "set"),
    ("ioi_set_oa", "IOI set OA", "set"),
]
COLUMNS += pulse_metrics.COLUMNS                     # the pulse (issue 26)


def summarise(pieces: list[PieceMeasures], systems: Sequence[str]) -> dict[str, dict[str, float]]:
    """Aggregate per-piece measures into one row per system (nan-aware); set OAs compare with the real set."""
    summary: dict[str, dict[str, float]] = {}
    for system in systems:
        row: dict[str, float] = {"pieces": float(sum(system in p.values for p in pieces))}
        for key, _, how in COLUMNS:
            if how == "set":
                feature = key.split("_")[0]
                generated = [p.features[system][feature] for p in pieces if system in p.features
                             and p.features[system][feature].sum() > 0]
                reference = [p.features["real"][feature] for p in pieces if p.features["real"][feature].sum() > 0]
                row[key] = mm.set_overlap_area(np.array(generated), np.array(reference)) if generated else math.nan
                continue
            data = np.array([p.values[system][key] for p in pieces if system in p.values], dtype=np.float64)
            data = data[~np.isnan(data)]
            row[key] = float(np.median(data) if how == "median" else data.mean()) if data.size else math.nan
            if how == "mean" and data.size > 1:
                row[key + "_sem"] = float(data.std(ddof=1) / math.sqrt(data.size))
        if system != "real":
            for key in GAP_MEASURES:
                row.update(_gap_to_real(pieces, system, key))
        summary[system] = row
    return summary


# Measures whose distance to the real continuation is judged (issue 12: key r no more than 0.05 below the real
# continuation's; issue 24: velocity SD, notes per answer and polyphony within 20% of it, few notes >= 5 s, the
# melody voiced as the pianist voiced it), so each system's gap gets an interval: the standard errors of two means
# overstate it, as a hard primer is hard for both.
GAP_MEASURES = ("key_corr", "notes", "polyphony", "velocity_sd", "melody_lead", "long_5s")
GAP_MEASURES += pulse_metrics.GAP_MEASURES


def _gap_to_real(pieces: list[PieceMeasures], system: str, key: str) -> dict[str, float]:
    """{key_vs_real, _low, _high}: the mean over pieces of system minus real, with a 95% bootstrap interval over
    pieces (the pieces where both have a value); {key_vs_real_relative, _low, _high}: the system's mean over the
    real continuation's, minus 1, on the same resamples of the pieces."""
    from segue.evaluation.scoring import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED

    pairs = np.array([(p.values[system][key], p.values["real"][key]) for p in pieces if system in p.values],
                     dtype=np.float64).reshape(-1, 2)
    pairs = pairs[~np.isnan(pairs).any(axis=1)]
    name = f"{key}_vs_real"
    out = dict.fromkeys([name + suffix for suffix in ("", "_low", "_high", "_relative", "_relative_low",
                                                      "_relative_high")], math.nan)
    if len(pairs) < 2:
        return out
    picks = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(pairs), size=(BOOTSTRAP_RESAMPLES, len(pairs)))
    means = pairs[picks].mean(axis=1)                  # [resamples, (system, real)]
    out[name] = float(pairs[:, 0].mean() - pairs[:, 1].mean())
    out[name + "_low"], out[name + "_high"] = np.percentile(means[:, 0] - means[:, 1], [2.5, 97.5]).tolist()
    real_mean = pairs[:, 1].mean()
    if real_mean > 0 and (means[:, 1] > 0).all():
        out[name + "_relative"] = float(pairs[:, 0].mean() / real_mean - 1)
        out[name + "_relative_low"], out[name + "_relative_high"] = \
            np.percentile(means[:, 0] / means[:, 1] - 1, [2.5, 97.5]).tolist()
    return out


MEANINGS = {
    "key_corr": "Krumhansl-Schmuckler correlation of the continuation with the primer's key",
    "same_key": "share whose estimated key equals the primer's",
    "pc_oa_primer": "pitch-class histogram overlap (1 = identical) with the primer",
    "pc_oa_real": "... with the real continuation",
    "ioi_oa_primer": "inter-onset-interval histogram overlap with the primer",
    "ioi_oa_real": "... with the real continuation",
    "density_ratio": "continuation notes/s over primer notes/s (median over pieces)",
    "polyphony": "mean notes sounding while any sounds",
    "max_polyphony": "most notes sounding at once",
    "long_2s": "share of notes lasting >= 2 s (no cap; censored at the window end)",
    "long_5s": "share of notes lasting >= 5 s (a note never released counts)",
    "notes": "notes starting in the continuation window",
    "velocity": "median velocity",
    "velocity_shift": "median velocity minus the primer's median velocity",
    "velocity_off_primer": "... how far from it, either way",
    "velocity_sd": "standard deviation of the velocities (how much the dynamics breathe)",
    "melody_lead": "mean velocity of the skyline's notes minus the other notes' (the melody voiced above)",
    "lowest_voice": "median lowest sounding pitch at the onsets (MIDI number)",
    "motif_intervals": "share of the skyline's pitch-interval 4-grams that occur in the primer",
    "motif_ioi": "share of the skyline's IOI-ratio 3-grams (quarter-octave grid) that occur in the primer",
    "pc_set_oa": "Yang & Lerch set overlap of pitch-class histograms with the real set (real row: its ceiling)",
    "ioi_set_oa": "... of IOI histograms",
}
MEANINGS.update(pulse_metrics.MEANINGS)


def format_table(summary: dict[str, dict[str, float]], seconds: float, split: str = "eval",
                 every: float | None = None, primers: int | None = None) -> str:
    """A Markdown table, one row per measure and one column per system (readable as plain text too), under a line
    saying where the primers were cut (`every`, `primers`: as passages_of cut them)."""
    systems = list(summary)
    counts = ", ".join(f"{system}: {int(row['pieces'])}" for system, row in summary.items())
    if every:
        where = (f"Primers = {seconds:g} s from every {every:g} s of each {split} piece"
                 + (f" ({primers} primers, averaged per piece)" if primers else ""))
    else:
        where = f"Primer = the first {seconds:g} s of each {split} piece"
    lines = [f"{where}, continuation = the next {seconds:g} s ({counts} pieces); means over pieces "
             "(± standard error).", "",
             "| measure | " + " | ".join(systems) + " | what it is |", "|---|" + "---|" * (len(systems) + 1)]
    for key, heading, _ in COLUMNS:
        cells = []
        for system in systems:
            value, sem = summary[system][key], summary[system].get(key + "_sem")
            cells.append("-" if math.isnan(value) else f"{value:.3f}" + (f" ± {sem:.3f}" if sem else ""))
        lines.append(f"| {heading} | " + " | ".join(cells) + f" | {MEANINGS[key]} |")
        if key in GAP_MEASURES:
            gaps = [_gap_cell(summary[system], key) for system in systems]
            lines.append(f"| {heading} - real | " + " | ".join(gaps) + " | the same minus the real continuation's, "
                         "paired by piece (95% bootstrap CI over pieces; in % of the real mean) |")
    return "\n".join(lines)


def _gap_cell(row: dict[str, float], key: str) -> str:
    gap = row.get(f"{key}_vs_real", math.nan)
    if math.isnan(gap):
        return "-"
    cell = f"{gap:+.3f} [{row[f'{key}_vs_real_low']:+.3f}, {row[f'{key}_vs_real_high']:+.3f}]"
    relative = row[f"{key}_vs_real_relative"]
    if not math.isnan(relative):
        cell += (f" ({100 * relative:+.0f}% [{100 * row[f'{key}_vs_real_relative_low']:+.0f}, "
                 f"{100 * row[f'{key}_vs_real_relative_high']:+.0f}])")
    return cell


def serve_system(summary: dict[str, dict[str, float]]) -> str | None:
    """The system of a summary that plays as segue serve does: the grammar with the memory if there is one."""
    return next((name for name in ("model + grammar + memory", "model + grammar") if name in summary), None)


def headline(summary: dict[str, dict[str, float]], system: str) -> list[str]:
    """Three lines on what `system` plays against the real continuation: dynamics, texture and key, each measure
    with the real continuation's value and the paired difference's 95% interval over pieces (in % of the real
    value where a ratio means something)."""
    row, real = summary[system], summary["real"]

    def versus(key: str, digits: int = 1, percent: bool = False, relative: bool = True) -> str:
        scale, unit = (100, "%") if percent else (1, "")
        name = f"{key}_vs_real" + ("_relative" if relative else "")
        gap, low, high = (row.get(name + suffix, math.nan) for suffix in ("", "_low", "_high"))
        if math.isnan(gap):     # _gap_to_real pairs pieces: one piece (or none with this measure) gives no interval
            gap = "no interval: fewer than 2 pieces"
        elif relative:
            gap = f"{100 * gap:+.0f}% [{100 * low:+.0f}, {100 * high:+.0f}]"
        else:
            gap = f"{scale * gap:+.{digits}f}{unit} [{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"
        return f"{scale * row[key]:.{digits}f}{unit} vs real {scale * real[key]:.{digits}f}{unit} ({gap})"

    return [f"velocity: median {row['velocity_shift']:+.1f} from the primer's (either way "
            f"{row['velocity_off_primer']:.1f}; "
            f"real {real['velocity_shift']:+.1f}), SD {versus('velocity_sd')}, melody lead "
            f"{row['melody_lead']:+.1f} vs real {real['melody_lead']:+.1f}",
            f"notes per answer {versus('notes')}, polyphony {versus('polyphony', 2)}, notes >= 5 s "
            f"{versus('long_5s', 1, percent=True, relative=False)}",
            f"key r {versus('key_corr', 3, relative=False)}"]


def plot_summary(summary: dict[str, dict[str, float]], path: str | Path) -> Path:
    """Bar charts, one panel per measure, the systems side by side (standard error bars where there are any)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(summary)
    colours = {"real": "#4c72b0", "model": "#dd8452", "markov": "#55a868"}
    rows = math.ceil(len(COLUMNS) / 5)
    fig, axes = plt.subplots(rows, 5, figsize=(16, 3.2 * rows))
    for ax, (key, heading, _) in zip(axes.ravel(), COLUMNS):
        values = [summary[s][key] for s in systems]
        errors = [summary[s].get(key + "_sem", 0.0) for s in systems]
        ax.bar(systems, values, yerr=errors, capsize=3, color=[colours.get(s, "grey") for s in systems])
        ax.set_title(heading)
        ax.tick_params(axis="x", labelsize=8)
    for ax in axes.ravel()[len(COLUMNS):]:
        ax.axis("off")
    fig.suptitle("Continuations: real vs model vs Markov baseline")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def evaluate_passages(passages: list[Passage], generators: dict[str, Callable[[Passage], np.ndarray]],
                      seconds: float, progress: Callable[[str], None] | None = None) -> list[PieceMeasures]:
    """Measure the real continuation and each generator's continuation of every passage."""
    results = []
    for i, passage in enumerate(passages):
        piece = PieceMeasures(passage.name, piece=passage.piece)
        piece.values["real"], piece.features["real"] = measure_continuation(passage, passage.real_notes, seconds)
        for system, generate in generators.items():
            notes = generated_window(passage, generate(passage), seconds)
            piece.values[system], piece.features[system] = measure_continuation(passage, notes, seconds)
        results.append(piece)
        if progress:
            progress(f"{i + 1}/{len(passages)} {passage.name}")
    return results


def passages_of(pieces: list[tuple[str, np.ndarray]], seconds: float, max_pieces: int,
                every: float | None = None) -> list[Passage]:
    """The measurable passages of at most `max_pieces` pieces, evenly spaced, so a capped run still spans the whole
    split rather than its first composer: one primer from each piece's start, or with `every` (seconds) one from
    every multiple of it that leaves room for the continuation (excerpt; per_piece averages them back)."""
    by_piece = []
    for name, events in pieces:
        length = float(shift_steps_of(np.asarray(events)).sum()) / codec.STEPS_PER_SECOND
        starts = np.arange(0.0, max(length - 2 * seconds, 0.0) + 1e-9, every) if every else [0.0]
        cut = [split_piece(name if start == 0 else f"{name} from {start:g} s", excerpt(events, start), seconds)
               for start in starts]
        cut = [replace(passage, piece=name) for passage in cut if passage is not None]
        if cut:
            by_piece.append(cut)
    if not by_piece:
        raise SegueError(f"no piece is at least {2 * seconds:g} s long with notes in both halves; use a shorter "
                         "--prime-seconds")
    if len(by_piece) > max_pieces:
        by_piece = [by_piece[i] for i in np.linspace(0, len(by_piece) - 1, max_pieces).round().astype(int)]
    return [passage for passages in by_piece for passage in passages]


# Memory strengths tried for generation, and the measures on which the answers should come closest to the real
# continuations (relative distance, averaged): the motif shares, and the key and polyphony they must not cost.
MEMORY_STRENGTHS = (1.0, 2.0, 3.0, 5.0)
CLOSENESS_MEASURES = ("motif_intervals", "motif_ioi", "key_corr", "polyphony")


def fit_memory_strength(model_path: str | Path | None, datasets: Sequence[str | Path], candidates: dict[str, "object"],
                        seconds: float = 10.0, max_pieces: int = 40, seeds: Sequence[int] = (0, 1, 2),
                        progress: Callable[[str], None] | None = None, grammar=None, memory_mode: str = "player"):
    """The memory (among `candidates`, label -> MemorySettings fitted for scoring) and strength whose continuations
    of held-out *train* pieces of `datasets` (max_pieces shared between them: plain and rendered, say) come
    closest to their real continuations on CLOSENESS_MEASURES. Given `grammar` (GrammarSettings), the
    continuations go through it after the memory, as the daemon plays (the memory in `memory_mode`). Every
    passage is continued once per seed in `seeds` and the measures pooled: with one seed the distances of
    neighbouring strengths were not even in order (stage 5, coarse x1/x2/x3/x5: 0.330/0.072/0.129/0.202), so one
    draw chose the setting.

    Returns (settings with the chosen strength, {label x strength: distance})."""
    from segue.codec.dataset_reader import read_split
    from segue.evaluation.evaluate import tuning_split

    passages = []
    for k, data in enumerate(datasets):
        _, tune = tuning_split(read_split(data, "train"))
        share = max_pieces // len(datasets) + (k < max_pieces % len(datasets))
        passages += passages_of([(f"{data} tuning piece {i}", events) for i, events in enumerate(tune)], seconds,
                                share)
    source = ModelSource(model_path)
    options = {f"{label} x{strength:g}": replace(settings, strength=strength)
               for label, settings in candidates.items() for strength in MEMORY_STRENGTHS}
    pieces = []
    for seed in seeds:
        generators = {name: _sampling_generator(source, 1.0, 1.0, seed, seconds, grammar, settings, memory_mode)
                      for name, settings in options.items()}
        pieces += evaluate_passages(passages, generators, seconds, progress)
    summary = summarise(pieces, ["real", *options])
    real = summary["real"]
    distance = {name: float(np.nanmean([abs(summary[name][m] - real[m]) / max(abs(real[m]), 1e-6)
                                        for m in CLOSENESS_MEASURES])) for name in options}
    best = min(distance, key=distance.get)
    return options[best], distance


def run_continuations(model_path: str | Path | None, data_dir: str | Path, seconds: float = 10.0,
                      max_pieces: int = 40, max_order: int = 5, escape: str = "C",
                      transpose: Sequence[int] = ALL_KEYS, temperature: float = 1.0,
                      top_p: float = 1.0, seed: int = 0, png: str | Path | None = "continuations.png",
                      progress: Callable[[str], None] | None = None, memory=None,
                      train_data: str | Path | None = None, grammar=None, exclude=(),
                      memory_mode: str = "player", every: float | None = None, split: str = "eval",
                      draws: int = 1) -> dict:
    """The whole test on a dataset built by `segue data build`: returns {"summary", "table", "pieces", "png"}.
    The primers come from `split` (eval; train to choose a setting where the eval split plays no part, though the
    Markov baseline has then heard the pieces it continues).

    model_path None uses segue's shipped model; the Markov baseline (order max_order, PPM-`escape`) is trained on
    the dataset's train split transposed into every key, as in --baselines (order 5 was its best NLL on the Bach
    chorales). Both sample with the same settings and seed. Given `memory` (segue.inference.memory.MemorySettings,
    fitted as `segue evaluate --memory` fits them, or those saved beside the model), a "model + memory" system samples
    through the model mixed with a SessionMemory that has learned the primer (in `memory_mode` "session" its own
    answer too). Given `grammar` (segue.inference.grammar_settings.GrammarSettings, config.yaml `sampling:`),
    a "model + grammar" system samples through the decoding grammar; given both, "model + grammar + memory" is what
    the daemon plays (serve_system names it). The Markov model trains on the train split of `train_data` (default:
    `data_dir`). With `every`, a primer every that many seconds of each piece (passages_of), their measures
    averaged per piece. With `draws` > 1 every primer is continued that many times, with seeds seed, seed + 1, ...,
    and per_piece averages the draws too: one draw of a 10 s answer is a noisy sample of what the system plays (its
    dominant period jumps between metrical levels), and the real continuation has no second draw to pair it with.
    png None skips the plot. `exclude`: eval piece ids left out (segue.evaluation.evaluate.without_pieces)."""
    from segue.evaluation.baselines import augment_transpositions
    from segue.codec.dataset_reader import read_split

    from segue.evaluation.evaluate import without_pieces

    if draws < 1:
        raise SegueError(f"the continuation test needs at least one draw per primer, got {draws}")
    pieces = without_pieces(read_split(data_dir, split), exclude, f"the {split} split of {data_dir}",
                            progress or (lambda message: None))
    passages = passages_of(pieces, seconds, max_pieces, every)
    train = [events for _, events in read_split(train_data or data_dir, "train")]
    markov = MarkovModel(max_order, escape).fit(
        augment_transpositions(train, transpose))
    model = ModelSource(model_path)
    results = []
    for draw_seed in range(seed, seed + draws):
        def sampling(source, *shaping, **memory_options):
            return _sampling_generator(source, temperature, top_p, draw_seed, seconds, *shaping, **memory_options)

        generators = {"model": sampling(model), "markov": sampling(MarkovSource(markov))}
        if grammar is not None:
            generators["model + grammar"] = sampling(model, grammar)
        if memory is not None:
            generators["model + memory"] = sampling(model, memory=memory, memory_mode=memory_mode)
            if grammar is not None:            # what segue serve plays (daemon/generator.py)
                generators["model + grammar + memory"] = sampling(model, grammar, memory, memory_mode)
        label = f"draw {draw_seed - seed + 1}/{draws}: " if draws > 1 else ""
        results += evaluate_passages(passages, generators, seconds,
                                     progress and (lambda message, label=label: progress(label + message)))
    summary = summarise(per_piece(results), ["real", *generators])
    table = format_table(summary, seconds, split, every, len(passages))
    if draws > 1:
        table = (f"Every primer continued {draws} times (seeds {seed}..{seed + draws - 1}), averaged per piece.\n\n"
                 + table)
    out = {"summary": summary, "table": table, "pieces": results, "png": None}
    if png is not None:
        out["png"] = plot_summary(summary, png)
        out["table"] += f"\nplot: {out['png']}"
    return out


def _sampling_generator(source, temperature: float, top_p: float, seed: int, seconds: float, grammar=None,
                        memory=None, memory_mode: str = "player"):
    """A generator function that continues each passage with a sampler of its own, seeded by `seed` and the
    passage's name (the same for every system: a like-for-like draw), and fresh shapers: given GrammarSettings the
    decoding grammar's, given MemorySettings a SessionMemory that learns the primer (and its own answer too in the
    "session" mode); with both, the grammar yields to the memory, as in the daemon.

    A seed per passage, not one stream for the run: a setting that changes one answer leaves every other passage's
    draw as it was, so two runs (two models, two settings) compare passage by passage. With one stream, the
    passages a setting cannot touch (a pulse it never steers) scattered between runs as much as the effects
    measured (MODEL.md, the player's pulse, session 18)."""
    def generate(passage: Passage) -> np.ndarray:
        sampler = Sampler(temperature=temperature, top_p=top_p, seed=passage_seed(seed, passage.name))
        return continue_primer(source, sampler, passage.primer_events, seconds, grammar, memory, memory_mode)
    return generate


def passage_seed(seed: int, name: str) -> int:
    """The sampling seed of one passage in the draw `seed`: the same on every machine and in every run."""
    return seed * 2 ** 32 + zlib.crc32(name.encode())
