"""Training and eval batches: random windows with augmentation (train) and fixed windows (eval).

Augmentation, train split only (the split is made per piece at build time, before any of this):
  - performance rendering (training/rendering.py): a share (`data.rendered_share`) of the windows drawn from score
    pieces come from a random performance of the piece (rubato, dynamics, asynchrony, articulation, pedal), a fresh
    rendition every epoch; real performances are never rendered. Rendering sets its own tempo, so a rendered piece
    is not time-stretched as well;
  - time stretch: the piece's notes have their start/end times multiplied by the factor and are *re-encoded*, so
    shifts are re-quantized to the 10 ms grid (scaling TIME_SHIFT tokens would break the 1-second cap and the grid);
  - transposition: NOTE_ON/NOTE_OFF shifted by k semitones, only for shifts that keep the whole piece in 0..127.
    The pitch-class histogram control is rotated by k, which equals recomputing it on the transposed events.
Real performances are drawn `data.performance_weight` times as often as their length alone would make them.

Batches are a pure function of (seed, step, row): row r of the global batch at step s always draws from
numpy's Generator seeded with [seed, step, r], and a rendition from [seed, piece, epoch]. That makes resume exact
without saving any loader state, and lets DDP rank k take rows k*B..(k+1)*B-1 of the same global batch.

Controls (`data.controls`): input t goes with the controls of
  - past:   what segue.codec.controls.ControlFollower reports after events[0..t] (all the daemon can know live);
  - future: Magenta's forward-looking controls at t+1 (note-seq's training data);
  - mix:    either, chosen per window.
Eval windows always use past controls: the live protocol. Controls are computed on the whole (stretched or
rendered) piece and cached with its events. A model that hears the pulse (`model.pulse`) gets the tracker's reading
of the piece after them (segue/rhythm/pulse_controls.py), always past-only (there is no forward-looking pulse), and
unchanged by transposition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segue.codec import codec
from segue.codec.controls import (CONTROL_DIM, DENSITY_SLICE, HISTOGRAM_SLICE, NUM_DENSITY_CLASSES, compute_controls,
                                  past_controls)
from segue.rhythm.pulse_controls import PULSE_DIM, past_pulse
from training.dataset import EventDataset, array_to_notes
from training.rendering import RenderParams, is_performance, render_events, rendition_rng

IGNORE_LABEL = -100            # torch cross_entropy's default ignore_index: padding positions carry no loss
CONTROL_MODES = ("past", "future", "mix")
EVAL_RENDITION = -1            # the one fixed rendition of each eval piece (train epochs count from 0)


@dataclass
class Batch:
    inputs: np.ndarray          # int64 [B, L] event t
    labels: np.ndarray          # int64 [B, L] event t+1, IGNORE_LABEL where padded
    controls: np.ndarray | None  # float32 [B, L, 20 or 26] controls that go with input t, None if unconditioned


def input_controls(events: np.ndarray, mode: str) -> np.ndarray:
    """[T, 20]: the control vector fed with input event t, for controls mode past or future."""
    if mode == "past":
        return past_controls(events)
    forward = compute_controls(events)
    return np.concatenate([forward[1:], forward[-1:]]) if len(forward) else forward


def _compact(controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # The density one-hot as its index (1 byte instead of 32) + the 12-value histogram.
    return (controls[:, DENSITY_SLICE].argmax(axis=1).astype(np.uint8),
            np.ascontiguousarray(controls[:, HISTOGRAM_SLICE], dtype=np.float32))


class _PieceVariants:
    """Lazily encoded events + compact controls (and the pulse rows, for a model that hears them) per (piece,
    stretch) or per (piece, rendition).

    A pure function of the stored notes. Plain variants are kept; of the rendered ones only each piece's latest
    rendition is (a new epoch replaces it), so memory stays at one performance per piece."""

    def __init__(self, dataset: EventDataset, modes: tuple[str, ...], render_params: RenderParams | None,
                 seed: int, pulse: bool = False):
        self.dataset = dataset
        self.modes = modes
        self.pulse = pulse
        self.render_params = render_params
        self.seed = int(seed)
        self._plain: dict[tuple[int, float], tuple] = {}
        self._rendered: dict[int, tuple[int, tuple]] = {}

    def get(self, piece: int, stretch: float = 1.0, rendition: int | None = None):
        """(events int16, {mode: (density, histogram, pulse rows or None)})."""
        if rendition is None:
            key = (piece, float(stretch))
            if key not in self._plain:
                if stretch == 1.0:
                    events = self.dataset.events(piece).astype(np.int16)
                else:
                    events = codec.encode_notes(array_to_notes(self.dataset.notes(piece), stretch)).astype(np.int16)
                self._plain[key] = self._with_controls(events)
            return self._plain[key]
        cached = self._rendered.get(piece)
        if cached is None or cached[0] != rendition:
            _, events = render_events(self.dataset.notes(piece), rendition_rng(self.seed, piece, rendition),
                                      self.render_params)
            cached = (rendition, self._with_controls(events))
            self._rendered[piece] = cached
        return cached[1]

    def _with_controls(self, events: np.ndarray):
        pulse = past_pulse(events) if self.pulse else None
        return events, {mode: (*_compact(input_controls(events.astype(np.int64), mode)), pulse) for mode in self.modes}


def _controls_from_parts(density: np.ndarray, histogram: np.ndarray, shift: int) -> np.ndarray:
    one_hot = np.eye(NUM_DENSITY_CLASSES, dtype=np.float32)[density]
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


def _window(events, parts, start: int, length: int, shift: int):
    """(inputs, labels, controls) for length positions from `start`, padded with IGNORE_LABEL labels.

    `parts` is the (density, histogram, pulse or None) triple aligned with the inputs, or None for an
    unconditioned model."""
    chunk = transpose_window(events[start:start + length + 1], shift).astype(np.int64)
    inputs = np.full(length, codec.NO_EVENT, dtype=np.int64)
    labels = np.full(length, IGNORE_LABEL, dtype=np.int64)
    n = len(chunk) - 1
    inputs[:n] = chunk[:-1]
    labels[:n] = chunk[1:]
    controls = None
    if parts is not None:
        density, histogram, pulse = parts
        controls = np.zeros((length, CONTROL_DIM + (0 if pulse is None else PULSE_DIM)), dtype=np.float32)
        controls[:n, :CONTROL_DIM] = _controls_from_parts(density[start:start + n], histogram[start:start + n], shift)
        if pulse is not None:
            controls[:n, CONTROL_DIM:] = pulse[start:start + n]
    return inputs, labels, controls


def _stack(rows) -> Batch:
    return Batch(np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]),
                 None if rows[0][2] is None else np.stack([r[2] for r in rows]))


class TrainBatches:
    """Random augmented windows from the train split."""

    def __init__(self, dataset: EventDataset, conditioned: bool, transpositions: list[int],
                 time_stretches: list[float], seed: int, controls: str = "past",
                 render_params: RenderParams | None = None, rendered_share: float = 0.0,
                 performance_weight: float = 1.0, pulse: bool = False):
        if controls not in CONTROL_MODES:
            raise ValueError(f"controls mode {controls!r}: use one of {', '.join(CONTROL_MODES)}")
        self.pieces = dataset.split_indices("train")
        if not self.pieces:
            raise ValueError("dataset has no train pieces")
        self.conditioned = conditioned
        self.controls = controls
        modes = () if not conditioned else (("past", "future") if controls == "mix" else (controls,))
        self.variants = _PieceVariants(dataset, modes, render_params, seed, pulse)
        self.stretches = list(time_stretches) or [1.0]
        self.seed = int(seed)
        meta = [dataset.pieces[i] for i in self.pieces]
        self.performance = np.array([is_performance(m, dataset.notes(i)) for m, i in zip(meta, self.pieces)])
        self.rendered_share = rendered_share if render_params is not None else 0.0
        lengths = np.array([m["length"] for m in meta], dtype=np.float64)
        self.train_events = float(lengths.sum())
        # Sample pieces in proportion to their length, so every event is equally likely to start a window
        # (real performances scaled by performance_weight).
        weights = lengths * np.where(self.performance, performance_weight, 1.0)
        self.cumulative = np.cumsum(weights) / weights.sum()
        self.shifts = [[k for k in (transpositions or [0]) if 0 <= m["min_pitch"] + k and m["max_pitch"] + k <= 127]
                       or [0] for m in meta]

    def epoch(self, step: int, seq_len: int, global_batch: int) -> int:
        """How many times the train split's worth of events has been drawn before this step (renditions change)."""
        return int(step * seq_len * global_batch // self.train_events)

    def batch(self, step: int, seq_len: int, rows: range, global_batch: int | None = None) -> Batch:
        epoch = self.epoch(step, seq_len, global_batch or len(rows))
        return _stack([self._row(step, row, seq_len, epoch) for row in rows])

    def _row(self, step: int, row: int, seq_len: int, epoch: int):
        rng = np.random.default_rng([self.seed, step, row])
        k = min(int(np.searchsorted(self.cumulative, rng.random(), side="right")), len(self.pieces) - 1)
        stretch = self.stretches[rng.integers(len(self.stretches))]
        shift = self.shifts[k][rng.integers(len(self.shifts[k]))]
        mode = self.controls if self.controls != "mix" else ("past", "future")[rng.integers(2)]
        rendered = rng.random() < self.rendered_share and not self.performance[k]   # one draw either way
        if rendered:
            events, parts = self.variants.get(self.pieces[k], rendition=epoch)
        else:
            events, parts = self.variants.get(self.pieces[k], stretch)
        start = int(rng.integers(0, max(1, len(events) - seq_len)))
        return _window(events, parts[mode] if self.conditioned else None, start, seq_len, shift)


def eval_batches(dataset: EventDataset, conditioned: bool, seq_len: int, batch_size: int,
                 max_windows: int, render_params: RenderParams | None = None, seed: int = 0,
                 pulse: bool = False) -> list[Batch]:
    """Fixed, unaugmented windows covering the eval split (stride seq_len), at most `max_windows` spread evenly,
    with past-only controls (the live protocol). With `render_params`, the score pieces are replaced by one fixed
    rendition each (seeded by `seed`); real performances stay as they are."""
    pieces = dataset.split_indices("eval")
    variants = _PieceVariants(dataset, ("past",) if conditioned else (), render_params, seed, pulse)

    def source(piece):
        if render_params is not None and not is_performance(dataset.pieces[piece], dataset.notes(piece)):
            return variants.get(piece, rendition=EVAL_RENDITION)
        return variants.get(piece)

    windows = []
    for piece in pieces:
        n = len(source(piece)[0])
        windows.extend((piece, start) for start in range(0, max(1, n - 1), seq_len))
    if max_windows and len(windows) > max_windows:
        keep = np.linspace(0, len(windows) - 1, max_windows).round().astype(int)
        windows = [windows[i] for i in keep]
    rows = []
    for piece, start in windows:
        events, parts = source(piece)
        rows.append(_window(events, parts["past"] if conditioned else None, start, seq_len, 0))
    return [_stack(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]


def train_event_counts(dataset: EventDataset) -> np.ndarray:
    """Label counts over the (unaugmented) train split, for the unigram baseline."""
    counts = np.zeros(codec.NUM_CLASSES, dtype=np.int64)
    for piece in dataset.split_indices("train"):
        counts += np.bincount(dataset.events(piece)[1:], minlength=codec.NUM_CLASSES)
    return counts
