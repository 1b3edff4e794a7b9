"""Control signals: note density and pitch-class histogram (Magenta's multiconditioned_performance_with_dynamics).

Offline (training, primers) they are computed exactly as note-seq does, looking *forward* from each event: the
density of note-ons in the next 3 s, and how long each pitch class sounds in the next 5 s. Live, the future is
unknown, so ControlFollower looks *back* over the same windows at what the player just played.

The model input at position t is concat(controls[t+1], one_hot(event t)); its label is event t+1.
"""
from __future__ import annotations

import numpy as np

from segue.codec import keys
from segue.codec.codec import (NOTE_OFF_OFFSET, STEPS_PER_SECOND, TIME_SHIFT_OFFSET, EventCursor, shift_steps_of)

DENSITY_WINDOW_SECONDS = 3.0
DENSITY_BIN_EDGES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)     # notes per second; 8 classes
HISTOGRAM_WINDOW_SECONDS = 5.0
HISTOGRAM_PRIOR = 0.01            # added to every class so an empty window is uniform, not undefined
NUM_DENSITY_CLASSES = len(DENSITY_BIN_EDGES) + 1
PITCH_CLASSES = 12
CONTROL_DIM = NUM_DENSITY_CLASSES + PITCH_CLASSES               # 20
# The layout of a control vector, the one place it is spelled: density one-hot first, then the histogram.
DENSITY_SLICE = slice(0, NUM_DENSITY_CLASSES)
HISTOGRAM_SLICE = slice(NUM_DENSITY_CLASSES, CONTROL_DIM)

_DENSITY_WINDOW_STEPS = int(round(DENSITY_WINDOW_SECONDS * STEPS_PER_SECOND))
_HISTOGRAM_WINDOW_STEPS = int(round(HISTOGRAM_WINDOW_SECONDS * STEPS_PER_SECOND))


def density_class(density: float) -> int:
    """Index of the first bin edge that exceeds `density` (8 classes)."""
    for index, edge in enumerate(DENSITY_BIN_EDGES):
        if density < edge:
            return index
    return len(DENSITY_BIN_EDGES)


def density_one_hot(density: float) -> np.ndarray:
    out = np.zeros(NUM_DENSITY_CLASSES, dtype=np.float32)
    out[density_class(density)] = 1.0
    return out


def _prepare(events):
    """(events as int64, zeroed [T, 20] output, is-time-shift mask, steps each event moves time)."""
    events = np.asarray(events, dtype=np.int64)
    shift = shift_steps_of(events)
    return events, np.zeros((len(events), CONTROL_DIM), dtype=np.float32), shift > 0, shift  # a shift moves >= 1


def compute_controls(events) -> np.ndarray:
    """Control vectors at every event position, [T, 20] float32, as note-seq's extract() for both signals."""
    events, out, is_shift, shift = _prepare(events)
    n = len(events)
    if n == 0:
        return out
    cum_shift = np.concatenate([[0], np.cumsum(shift)])           # steps before position j
    cum_on = np.concatenate([[0], np.cumsum(events < NOTE_OFF_OFFSET)])

    # Values change only where the previous event moved time (and at 0); elsewhere they repeat.
    fresh = np.flatnonzero(np.concatenate([[True], is_shift[:-1]]))

    density = _forward_density(fresh, cum_shift, cum_on, n)
    histogram = _forward_histogram(events, shift, cum_shift, fresh, n)
    classes = np.searchsorted(np.array(DENSITY_BIN_EDGES), density, side="right")
    rows = np.zeros((len(fresh), CONTROL_DIM), dtype=np.float32)
    rows[np.arange(len(fresh)), classes] = 1.0
    rows[:, HISTOGRAM_SLICE] = histogram / histogram.sum(axis=1, keepdims=True)
    # Forward-fill each fresh row over the positions up to the next fresh one.
    owner = np.searchsorted(fresh, np.arange(n), side="right") - 1
    out[:] = rows[owner]
    return out


def _window_end(fresh, cum_shift, window_steps, n):
    """For each start i: index k of the TIME_SHIFT that brings the window to `window_steps` (n if none)."""
    return np.searchsorted(cum_shift[1:], cum_shift[fresh] + window_steps, side="left")


def _forward_density(fresh, cum_shift, cum_on, n):
    k = _window_end(fresh, cum_shift, _DENSITY_WINDOW_STEPS, n)
    stop = np.minimum(k + 1, n)                                   # note-ons counted in [i, k]
    count = cum_on[stop] - cum_on[fresh]
    span = np.minimum(cum_shift[stop] - cum_shift[fresh], _DENSITY_WINDOW_STEPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, count * STEPS_PER_SECOND / np.maximum(span, 1), 0.0)


def _forward_histogram(events, shift, cum_shift, fresh, n):
    """Seconds each pitch class sounds within the window; a pitch counts once per sounding key (note-seq's set)."""
    sounding_per_class = _sounding_classes_at_shifts(events, shift)
    weighted = sounding_per_class * (shift / STEPS_PER_SECOND)[:, None]
    cum = np.concatenate([np.zeros((1, PITCH_CLASSES)), np.cumsum(weighted, axis=0)])
    k = _window_end(fresh, cum_shift, _HISTOGRAM_WINDOW_STEPS, n)
    stop = np.minimum(k + 1, n)
    return HISTOGRAM_PRIOR + cum[stop] - cum[fresh]


def _sounding_classes_at_shifts(events, shift) -> np.ndarray:
    """[T, 12]: how many sounding pitches fall in each class at every TIME_SHIFT (zeros elsewhere)."""
    counts = np.zeros((len(events), PITCH_CLASSES), dtype=np.float64)
    sounding = np.zeros(128, dtype=bool)
    per_class = np.zeros(PITCH_CLASSES, dtype=np.float64)
    for j in np.flatnonzero((events < TIME_SHIFT_OFFSET) | (shift > 0)):
        event = events[j]
        if event < NOTE_OFF_OFFSET:
            if not sounding[event]:
                sounding[event] = True
                per_class[event % 12] += 1
        elif event < TIME_SHIFT_OFFSET:
            pitch = event - NOTE_OFF_OFFSET
            if sounding[pitch]:
                sounding[pitch] = False
                per_class[pitch % 12] -= 1
        else:
            counts[j] = per_class
    return counts


# --- past-only controls for a whole sequence: what the live follower reports at every position ------------------

def past_controls(events) -> np.ndarray:
    """[T, 20] float32: row t is what ControlFollower.current() reports after pushing events[0..t].

    This is what the daemon can know when it feeds event t, so a model trained (or scored) on these rows expects
    what it gets live. Density: note-ons in the last 3 s over min(elapsed, 3 s). Histogram: steps each pitch class
    sounded in the last 5 s (a pitch sounds from its first note-on to the next note-off, as the follower tracks it),
    0.01 prior, normalised. Rows agree with the follower to float32 rounding (the sums run in another order).
    """
    events, out, is_shift, shift = _prepare(events)
    n = len(events)
    if n == 0:
        return out
    step_before = np.concatenate([[0], np.cumsum(shift)])        # step_before[j]: clock when event j arrives
    now = step_before[1:]                                         # clock after pushing events[0..t]

    is_on = events < NOTE_OFF_OFFSET
    onset_steps = step_before[:-1][is_on]                         # nondecreasing
    ons_so_far = np.cumsum(is_on)
    forgotten = np.searchsorted(onset_steps, now - _DENSITY_WINDOW_STEPS, side="right")
    elapsed = np.minimum(now, _DENSITY_WINDOW_STEPS)
    density = np.where(elapsed > 0, (ons_so_far - forgotten) * STEPS_PER_SECOND / np.maximum(elapsed, 1), 0.0)
    out[np.arange(n), np.searchsorted(np.array(DENSITY_BIN_EDGES), density, side="right")] = 1.0

    sounded = _sounded_steps_per_class(events, step_before[:-1], int(now[-1]))   # [steps + 1, 12] cumulative
    window_start = np.maximum(now - _HISTOGRAM_WINDOW_STEPS, 0)
    weights = HISTOGRAM_PRIOR + (sounded[now] - sounded[window_start]) / STEPS_PER_SECOND
    out[:, HISTOGRAM_SLICE] = weights / weights.sum(axis=1, keepdims=True)
    return out


def _sounded_steps_per_class(events, step_of, last_step: int) -> np.ndarray:
    """[last_step + 1, 12]: row s = pitch-steps each class sounded before step s (the follower's note spans)."""
    note = np.flatnonzero(events < TIME_SHIFT_OFFSET)
    is_on = events[note] < NOTE_OFF_OFFSET
    pitch = np.where(is_on, events[note], events[note] - NOTE_OFF_OFFSET)
    order = np.lexsort((note, pitch))                             # per pitch, in event order
    pitch, is_on, when = pitch[order], is_on[order], step_of[note[order]]
    # A pitch sounds after a note-on and is silent after a note-off: an on starts a span only when the pitch was
    # silent (a re-strike keeps the first start), an off ends one only when it was sounding.
    was_sounding = np.concatenate([[False], (pitch[1:] == pitch[:-1]) & is_on[:-1]])
    starts = is_on & ~was_sounding
    ends = ~is_on & was_sounding
    cells = (last_step + 1) * PITCH_CLASSES
    delta = (np.bincount(when[starts] * PITCH_CLASSES + pitch[starts] % 12, minlength=cells)
             - np.bincount(when[ends] * PITCH_CLASSES + pitch[ends] % 12, minlength=cells))
    sounding = np.cumsum(delta[:cells].reshape(last_step + 1, PITCH_CLASSES), axis=0)   # during step s
    out = np.zeros((last_step + 1, PITCH_CLASSES), dtype=np.int64)
    np.cumsum(sounding[:-1], axis=0, out=out[1:])
    return out


# --- live: follow what the player just played ---------------------------------------------------------------------

class ControlFollower:
    """Backward-looking controls for the live daemon: density of the last 3 s, pitch classes of the last 5 s."""

    def __init__(self) -> None:
        self.cursor = EventCursor()                       # the step reached and the notes sounding
        self.onsets: list[int] = []                       # steps of recent note-ons
        self.spans: list[tuple[int, int, int]] = []       # (pitch class, start step, end step) of ended notes

    @property
    def step(self) -> int:
        return self.cursor.step

    def push(self, event: int) -> None:
        # A re-strike ends the sounding note and starts another at once: the pitch class sounds as long as if the
        # first start were kept (as past_controls counts it).
        event = int(event)
        step = self.cursor.step
        ended = self.cursor.push(event)
        if event < NOTE_OFF_OFFSET:
            self.onsets.append(step)
        if ended is not None:
            pitch, start, _ = ended
            self.spans.append((pitch % 12, start, step))
        if self.cursor.step != step:
            self._forget()

    def _forget(self) -> None:
        horizon = self.step - max(_DENSITY_WINDOW_STEPS, _HISTOGRAM_WINDOW_STEPS)
        self.onsets = [s for s in self.onsets if s > horizon]
        self.spans = [span for span in self.spans if span[2] > horizon]

    def density(self) -> float:
        window_start = self.step - _DENSITY_WINDOW_STEPS
        recent = sum(1 for s in self.onsets if s > window_start)
        elapsed = min(self.step, _DENSITY_WINDOW_STEPS)
        return recent * STEPS_PER_SECOND / elapsed if elapsed > 0 else 0.0

    def histogram(self) -> np.ndarray:
        window_start = self.step - _HISTOGRAM_WINDOW_STEPS
        weights = np.full(PITCH_CLASSES, HISTOGRAM_PRIOR)
        spans = self.spans + [(p % 12, s, self.step) for p, (s, _) in self.cursor.sounding.items()]
        for pitch_class, start, end in spans:
            seconds = (end - max(start, window_start)) / STEPS_PER_SECOND
            if seconds > 0:
                weights[pitch_class] += seconds
        return weights / weights.sum()

    def current(self) -> np.ndarray:
        return np.concatenate([density_one_hot(self.density()), self.histogram()]).astype(np.float32)


# --- pinned controls from words -----------------------------------------------------------------------------------

def key_histogram(key: str) -> np.ndarray:
    """"D minor" -> the key's scale (segue.codec.keys) as a pitch-class histogram (tonic weighted double),
    normalised to sum 1."""
    index = keys.parse_key(key)
    weights = keys.scale(index).astype(np.float32)
    weights[keys.tonic(index)] = 2.0
    return weights / weights.sum()
