"""Musical measures of a passage of notes, for comparing a generated continuation with the real one.

- Key: Krumhansl–Schmuckler — correlate the duration-weighted pitch-class histogram with the Krumhansl–Kessler
  major and minor profiles rotated to all 12 tonics; the best of the 24 is the key. *Key consistency* of a
  continuation is the correlation of its histogram with the profile of the key estimated from the primer.
- Histograms: pitch-class (note counts) and inter-onset intervals (log-spaced bins), compared by their
  overlapping area OA = sum_i min(p_i, q_i) — 1 for identical histograms, 0 for disjoint ones.
- Set level (Yang & Lerch 2018, "On the evaluation of generative models in music"): for a per-passage feature,
  the overlapping area of two kernel density estimates: distances between reference passages (intra-set) and
  distances from each generated passage to each reference one (inter-set). 1 = the generated set is as close to
  the reference set as the reference set is to itself.
- Note density (note onsets per second over a window) and polyphony (mean number of sounding notes while any
  note sounds).
- Dynamics: the median and the spread (SD) of the velocities, and the melody's lead over the accompaniment.

Notes are segue.codec.codec.Note (pitch, velocity, start, end in seconds).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from segue.codec.codec import Note
from segue.codec.keys import key_profiles   # the Krumhansl-Kessler profiles, shared with the grammar's key
from segue.codec.midi import PITCH_CLASS_NAMES

# Inter-onset intervals: bins are log-spaced from 10 ms to 4 s (a 32nd note at a fast tempo up to a long rest), the
# last bin catching everything longer. Onsets closer than CHORD_TOLERANCE are one chord: pianists spread a chord over
# tens of milliseconds (melody lead ~30 ms, Goebl 2001; rolled chords more), while the fastest written figures
# (32nds at 120 bpm) are ~60 ms apart, so 40 ms joins a played chord without merging a run.
IOI_EDGES = np.concatenate([np.geomspace(0.01, 4.0, 16), [np.inf]])
CHORD_TOLERANCE = 0.04  # seconds

KDE_GRID_POINTS = 512  # integration grid for the set-level overlap


# ---- key -------------------------------------------------------------------------------------------------------
def pitch_class_histogram(notes: Sequence[Note], weight: str = "count") -> np.ndarray:
    """[12] histogram of pitch classes, normalised to sum 1 (all zeros when there are no notes).

    weight="count" counts notes (Yang & Lerch); weight="duration" sums their lengths (Krumhansl–Schmuckler)."""
    hist = np.zeros(12)
    for note in notes:
        hist[note.pitch % 12] += (note.end - note.start) if weight == "duration" else 1.0
    total = hist.sum()
    return hist / total if total > 0 else hist


def key_correlations(histogram: np.ndarray) -> np.ndarray:
    """[24] Pearson correlations of a pitch-class histogram with every key profile (nan for a flat histogram)."""
    h = np.asarray(histogram, dtype=np.float64)
    profiles = key_profiles()
    hc = h - h.mean()
    pc = profiles - profiles.mean(axis=1, keepdims=True)
    denominator = np.sqrt((hc ** 2).sum()) * np.sqrt((pc ** 2).sum(axis=1))
    if not np.all(denominator > 0):
        return np.full(24, np.nan)
    return pc @ hc / denominator


def key_name(key: int) -> str:
    return f"{PITCH_CLASS_NAMES[key % 12]} {'major' if key < 12 else 'minor'}"


def estimate_key(notes: Sequence[Note]) -> tuple[int, float]:
    """(key index 0..23, correlation) by Krumhansl–Schmuckler; (-1, nan) when the notes give no key."""
    correlations = key_correlations(pitch_class_histogram(notes, weight="duration"))
    if np.isnan(correlations).any():
        return -1, float("nan")
    key = int(np.argmax(correlations))
    return key, float(correlations[key])


def key_consistency(primer: Sequence[Note], continuation: Sequence[Note]) -> dict:
    """How well the continuation stays in the primer's key.

    correlation: the continuation's histogram against the primer key's profile (-1..1, nan without notes);
    same_key: whether Krumhansl–Schmuckler finds the same key in both."""
    primer_key, _ = estimate_key(primer)
    continuation_key, _ = estimate_key(continuation)
    if primer_key < 0 or continuation_key < 0:
        return {"primer_key": primer_key, "continuation_key": continuation_key,
                "correlation": float("nan"), "same_key": float("nan")}
    correlation = key_correlations(pitch_class_histogram(continuation, weight="duration"))[primer_key]
    return {"primer_key": primer_key, "continuation_key": continuation_key,
            "correlation": float(correlation), "same_key": float(primer_key == continuation_key)}


# ---- histograms ------------------------------------------------------------------------------------------------
def onset_times(notes: Sequence[Note]) -> np.ndarray:
    """Sorted distinct onsets; notes starting within CHORD_TOLERANCE of the previous onset join its chord."""
    starts = np.sort(np.array([n.start for n in notes], dtype=np.float64))
    if starts.size == 0:
        return starts
    keep = np.concatenate([[True], np.diff(starts) >= CHORD_TOLERANCE - 1e-9])
    return starts[keep]


def ioi_histogram(notes: Sequence[Note]) -> np.ndarray:
    """Histogram of inter-onset intervals over IOI_EDGES, normalised (zeros when fewer than two onsets)."""
    intervals = np.diff(onset_times(notes))
    hist, _ = np.histogram(intervals, bins=IOI_EDGES)
    total = hist.sum()
    return hist / total if total > 0 else hist.astype(np.float64)


def overlap_area(p: np.ndarray, q: np.ndarray) -> float:
    """sum_i min(p_i, q_i) of two normalised histograms; nan if either is empty (nothing to compare)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


# ---- density and polyphony -------------------------------------------------------------------------------------
def note_density(notes: Sequence[Note], seconds: float) -> float:
    """Note onsets per second over a window of the given length."""
    return len(notes) / seconds if seconds > 0 else float("nan")


def _sounding_sweep(notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
    """(times, sounding): every note start and end in time order, and how many notes sound just after each.

    At equal times ends come before starts, so a note ending where another starts (a repeated note) is not two."""
    times = np.array([n.start for n in notes] + [n.end for n in notes])
    changes = np.array([1] * len(notes) + [-1] * len(notes))
    order = np.lexsort((changes, times))
    return times[order], np.cumsum(changes[order])


def polyphony(notes: Sequence[Note]) -> float:
    """Time-weighted mean number of sounding notes over the time when at least one sounds (nan if none)."""
    if not notes:
        return float("nan")
    times, sounding = _sounding_sweep(notes)
    sounding = sounding[:-1]  # the count over each interval between consecutive times
    durations = np.diff(times)
    busy = sounding > 0
    busy_time = durations[busy].sum()
    return float((sounding[busy] * durations[busy]).sum() / busy_time) if busy_time > 0 else float("nan")


# ---- set level (Yang & Lerch) -----------------------------------------------------------------------------------
def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))


def _gaussian_kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Density on a grid with Scott's bandwidth (what scipy.stats.gaussian_kde uses by default)."""
    std = samples.std(ddof=1) if samples.size > 1 else 0.0
    bandwidth = max(std * samples.size ** (-1 / 5), 1e-3)
    z = (grid[:, None] - samples[None, :]) / bandwidth
    return np.exp(-0.5 * z ** 2).sum(axis=1) / (samples.size * bandwidth * np.sqrt(2 * np.pi))


def set_overlap_area(generated: np.ndarray, reference: np.ndarray) -> float:
    """Yang & Lerch overlap of the intra-reference and generated-to-reference distance distributions.

    generated [G, D] and reference [R, D] are per-passage feature vectors (e.g. pitch-class histograms); needs at
    least two reference passages. 1 = indistinguishable sets."""
    generated, reference = np.asarray(generated, np.float64), np.asarray(reference, np.float64)
    if len(reference) < 2 or len(generated) < 1:
        return float("nan")
    intra = _pairwise_distances(reference, reference)[np.triu_indices(len(reference), k=1)]
    inter = _pairwise_distances(generated, reference).ravel()
    low = min(intra.min(), inter.min())
    high = max(intra.max(), inter.max())
    span = max(high - low, 1e-6)
    grid = np.linspace(low - 0.5 * span, high + 0.5 * span, KDE_GRID_POINTS)
    overlap = np.minimum(_gaussian_kde(intra, grid), _gaussian_kde(inter, grid))
    return float(np.clip(np.trapezoid(overlap, grid), 0.0, 1.0))


def max_polyphony(notes: Sequence[Note]) -> float:
    """Most notes sounding at once (nan if none); a note ending where another starts is not counted twice."""
    if not notes:
        return float("nan")
    return float(_sounding_sweep(notes)[1].max())


# ---- note lengths, dynamics, register ----------------------------------------------------------------------------
def long_note_share(notes: Sequence[Note], window_end: float, seconds: float) -> float:
    """Share of notes lasting >= `seconds`, among the notes whose length the window tells: those released in it,
    and those still sounding at its end that have already lasted `seconds` (the others are censored). `notes`
    are unclipped; a note never released gets the decoder's HANGING_NOTE_SECONDS (5 s), so it counts as >= 5 s."""
    long = known = 0
    for note in notes:
        elapsed = min(note.end, window_end) - note.start
        if elapsed >= seconds - 1e-9:
            long += 1
            known += 1
        elif note.end <= window_end + 1e-9:
            known += 1
    return long / known if known else float("nan")


def median_velocity(notes: Sequence[Note]) -> float:
    return float(np.median([n.velocity for n in notes])) if notes else float("nan")


def velocity_spread(notes: Sequence[Note]) -> float:
    """Standard deviation of the notes' velocities: how much the playing breathes (nan for fewer than two)."""
    return float(np.std([n.velocity for n in notes])) if len(notes) > 1 else float("nan")


def melody_lead(notes: Sequence[Note]) -> float:
    """Mean velocity of the skyline's notes (the highest at each onset) minus that of the others: a pianist voices
    the melody above its accompaniment (Palmer; Goebl). nan when every note, or none, is on the skyline."""
    onsets, top = skyline(notes)
    if not onsets.size:
        return float("nan")
    starts = np.array([n.start for n in notes])
    pitches = np.array([n.pitch for n in notes])
    velocities = np.array([n.velocity for n in notes], dtype=np.float64)
    on_top = pitches == top[np.searchsorted(onsets, starts + 1e-9, side="right") - 1]
    if on_top.all() or not on_top.any():
        return float("nan")
    return float(velocities[on_top].mean() - velocities[~on_top].mean())


def lowest_voice(notes: Sequence[Note]) -> float:
    """Register of the bass: the median over onsets of the lowest pitch sounding just after each onset."""
    if not notes:
        return float("nan")
    starts = np.array([n.start for n in notes])
    ends = np.array([n.end for n in notes])
    pitches = np.array([n.pitch for n in notes])
    lows = [pitches[(starts <= t + 1e-9) & (ends > t + 1e-9)].min() for t in onset_times(notes)
            if ((starts <= t + 1e-9) & (ends > t + 1e-9)).any()]
    return float(np.median(lows)) if lows else float("nan")


# ---- motifs (issue 11: is the answer built from the primer's material?) ------------------------------------------
IOI_RATIO_STEPS = 4          # IOI ratios are compared on a log2 grid of quarter-octave steps (2**0.25 = 1.19)


def skyline(notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
    """(onset times, highest pitch at each onset): the melody line as a listener follows it."""
    onsets = onset_times(notes)
    if not onsets.size:
        return onsets, np.zeros(0, np.int64)
    starts = np.array([n.start for n in notes])
    pitches = np.array([n.pitch for n in notes])
    chord = np.searchsorted(onsets, starts + 1e-9, side="right") - 1   # the onset each note joins
    top = np.full(len(onsets), -1)
    np.maximum.at(top, chord, pitches)
    return onsets, top


def motif_ngrams(notes: Sequence[Note]) -> dict[str, list[tuple]]:
    """Pitch-interval 4-grams and IOI-ratio 3-grams of the skyline (transposition- and tempo-invariant)."""
    onsets, top = skyline(notes)
    intervals = np.diff(top).tolist()
    iois = np.diff(onsets)
    ratios = np.round(np.log2(iois[1:] / iois[:-1]) * IOI_RATIO_STEPS).astype(int).tolist() if len(iois) > 1 else []
    return {"interval": [tuple(intervals[i:i + 4]) for i in range(len(intervals) - 3)],
            "ioi_ratio": [tuple(ratios[i:i + 3]) for i in range(len(ratios) - 2)]}


def motif_share(answer: Sequence[Note], primer: Sequence[Note]) -> dict[str, float]:
    """Share of the answer's n-grams (each occurrence) that occur anywhere in the primer; nan without n-grams."""
    theirs, ours = motif_ngrams(primer), motif_ngrams(answer)
    out = {}
    for kind, grams in ours.items():
        known = set(theirs[kind])
        out[kind] = sum(g in known for g in grams) / len(grams) if grams else float("nan")
    return out
