"""Training and eval batches: random windows with augmentation (train) and fixed windows (eval).

Augmentation, train split only (the split is made per piece at build time, before any of this):
  - time stretch: the piece's notes have their start/end times multiplied by the factor and are *re-encoded*, so
    shifts are re-quantized to the 10 ms grid (scaling TIME_SHIFT tokens would break the 1-second cap and the grid);
  - transposition: NOTE_ON/NOTE_OFF shifted by k semitones, only for shifts that keep the whole piece in 0..127.
    The pitch-class histogram control is rotated by k, which equals recomputing it on the transposed events.

Batches are a pure function of (seed, step, row): row r of the global batch at step s always draws from
numpy's Generator seeded with [seed, step, r]. That makes resume exact without saving any loader state, and lets
DDP rank k take rows k*B..(k+1)*B-1 of the same global batch a single process would see.

Controls: input at t is concat(controls[t+1], one_hot(event t)), label is event t+1 (Magenta's conditioning).
Controls are computed on the whole (stretched) piece, as at build time, and cached per (piece, stretch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segue import codec
from segue.controls import CONTROL_DIM, compute_controls
from training.dataset import EventDataset, array_to_notes

IGNORE_LABEL = -100            # torch cross_entropy's default ignore_index: padding positions carry no loss
DENSITY_CLASSES = 8            # controls[:, :8] is the note-density one-hot, controls[:, 8:20] the pitch histogram


@dataclass
class Batch:
    inputs: np.ndarray          # int64 [B, L] event t
    labels: np.ndarray          # int64 [B, L] event t+1, IGNORE_LABEL where padded
    controls: np.ndarray | None  # float32 [B, L, 20] controls at t+1, None for an unconditioned model


class _PieceVariants:
    """Lazily encoded (events, compact controls) per (piece, stretch); a pure function of the stored notes."""

    def __init__(self, dataset: EventDataset, conditioned: bool):
        self.dataset = dataset
        self.conditioned = conditioned
        self._cache: dict[tuple[int, float], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] = {}

    def get(self, piece: int, stretch: float):
        key = (piece, float(stretch))
        if key not in self._cache:
            if stretch == 1.0:
                events = self.dataset.events(piece).astype(np.int16)
            else:
                events = np.asarray(codec.encode_notes(array_to_notes(self.dataset.notes(piece), stretch)), np.int16)
            density = histogram = None
            if self.conditioned:
                controls = np.asarray(compute_controls(events), dtype=np.float32)
                # Compact: the density one-hot as its index (1 byte instead of 32) + the 12-value histogram.
                density = controls[:, :DENSITY_CLASSES].argmax(axis=1).astype(np.uint8)
                histogram = np.ascontiguousarray(controls[:, DENSITY_CLASSES:])
            self._cache[key] = (events, density, histogram)
        return self._cache[key]


def _controls_from_parts(density: np.ndarray, histogram: np.ndarray, shift: int) -> np.ndarray:
    one_hot = np.eye(DENSITY_CLASSES, dtype=np.float32)[density]
    # Transposing by k moves pitch class c to (c + k) mod 12: rolling the histogram is the exact recomputation.
    return np.concatenate([one_hot, np.roll(histogram, shift, axis=-1)], axis=-1)


def transpose_window(events: np.ndarray, shift: int) -> np.ndarray:
    """Shift NOTE_ON/NOTE_OFF pitches by `shift`; the caller guarantees every pitch stays in 0..127."""
    if shift == 0:
        return events
    out = events.astype(np.int64).copy()
    is_note = out < codec.TIME_SHIFT_OFFSET
    out[is_note] += shift
    return out


def _window(events, density, histogram, start: int, length: int, shift: int, conditioned: bool):
    """(inputs, labels, controls) for length positions from `start`, padded with IGNORE_LABEL labels."""
    chunk = transpose_window(events[start:start + length + 1], shift).astype(np.int64)
    inputs = np.full(length, codec.NO_EVENT, dtype=np.int64)
    labels = np.full(length, IGNORE_LABEL, dtype=np.int64)
    n = len(chunk) - 1
    inputs[:n] = chunk[:-1]
    labels[:n] = chunk[1:]
    controls = None
    if conditioned:
        controls = np.zeros((length, CONTROL_DIM), dtype=np.float32)
        # controls at t+1 go with input t
        controls[:n] = _controls_from_parts(density[start + 1:start + n + 1], histogram[start + 1:start + n + 1], shift)
    return inputs, labels, controls


class TrainBatches:
    """Random augmented windows from the train split."""

    def __init__(self, dataset: EventDataset, conditioned: bool, transpositions: list[int],
                 time_stretches: list[float], seed: int):
        self.pieces = dataset.split_indices("train")
        if not self.pieces:
            raise ValueError("dataset has no train pieces")
        self.variants = _PieceVariants(dataset, conditioned)
        self.conditioned = conditioned
        self.stretches = list(time_stretches) or [1.0]
        self.seed = int(seed)
        meta = [dataset.pieces[i] for i in self.pieces]
        lengths = np.array([m["length"] for m in meta], dtype=np.float64)
        # Sample pieces in proportion to their length, so every event is equally likely to start a window.
        self.cumulative = np.cumsum(lengths) / lengths.sum()
        self.shifts = [[k for k in (transpositions or [0]) if 0 <= m["min_pitch"] + k and m["max_pitch"] + k <= 127]
                       or [0] for m in meta]

    def batch(self, step: int, seq_len: int, rows: range) -> Batch:
        out = [self._row(step, row, seq_len) for row in rows]
        return Batch(np.stack([o[0] for o in out]), np.stack([o[1] for o in out]),
                     np.stack([o[2] for o in out]) if self.conditioned else None)

    def _row(self, step: int, row: int, seq_len: int):
        rng = np.random.default_rng([self.seed, step, row])
        k = min(int(np.searchsorted(self.cumulative, rng.random(), side="right")), len(self.pieces) - 1)
        stretch = self.stretches[rng.integers(len(self.stretches))]
        shift = self.shifts[k][rng.integers(len(self.shifts[k]))]
        events, density, histogram = self.variants.get(self.pieces[k], stretch)
        start = int(rng.integers(0, max(1, len(events) - seq_len)))
        return _window(events, density, histogram, start, seq_len, shift, self.conditioned)


def eval_batches(dataset: EventDataset, conditioned: bool, seq_len: int, batch_size: int,
                 max_windows: int) -> list[Batch]:
    """Fixed, unaugmented windows covering the eval split (stride seq_len), at most `max_windows` spread evenly."""
    pieces = dataset.split_indices("eval")
    variants = _PieceVariants(dataset, conditioned)
    windows = []
    for piece in pieces:
        n = dataset.pieces[piece]["length"]
        windows.extend((piece, start) for start in range(0, max(1, n - 1), seq_len))
    if max_windows and len(windows) > max_windows:
        keep = np.linspace(0, len(windows) - 1, max_windows).round().astype(int)
        windows = [windows[i] for i in keep]
    rows = []
    for piece, start in windows:
        events, density, histogram = variants.get(piece, 1.0)
        rows.append(_window(events, density, histogram, start, seq_len, 0, conditioned))
    batches = []
    for i in range(0, len(rows), batch_size):
        part = rows[i:i + batch_size]
        batches.append(Batch(np.stack([r[0] for r in part]), np.stack([r[1] for r in part]),
                             np.stack([r[2] for r in part]) if conditioned else None))
    return batches


def train_event_counts(dataset: EventDataset) -> np.ndarray:
    """Label counts over the (unaugmented) train split, for the unigram baseline."""
    counts = np.zeros(codec.NUM_CLASSES, dtype=np.int64)
    for piece in dataset.split_indices("train"):
        counts += np.bincount(dataset.events(piece)[1:], minlength=codec.NUM_CLASSES)
    return counts
