"""The onset envelope and its autocorrelation: how strongly a stretch of onsets repeats at a given period.

Every note-on is a unit impulse at 10 ms resolution, smoothed by a Gaussian of ENVELOPE_SD_S (the timing spread of
played chords), mean removed; its autocorrelation at a lag is normalised by lag 0. The peak of that autocorrelation
over the beat range is the "pulse clarity" of music-information retrieval (Lartillot, Eerola, Toiviainen & Fornari
2008: the height of the onset curve's autocorrelation peak is their best single predictor of how clearly listeners
hear a pulse). The beat tracker reads it at its own period (BeatTracker.clarity); the continuation test measures
answers with it (segue.evaluation.pulse_metrics).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

FRAME_S = 0.01
ENVELOPE_SD_S = 0.02


def envelope(onsets: Sequence[float], seconds: float) -> np.ndarray:
    """The mean-removed onset envelope of `onsets` (seconds from 0) over [0, seconds)."""
    frames = max(int(math.ceil(seconds / FRAME_S)), 1)
    counts = np.bincount(np.clip((np.asarray(onsets) / FRAME_S).astype(np.int64), 0, frames - 1), minlength=frames)
    radius = int(4 * ENVELOPE_SD_S / FRAME_S)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) * FRAME_S / ENVELOPE_SD_S) ** 2)
    smooth = np.convolve(counts.astype(np.float64), kernel, mode="same")
    return smooth - smooth.mean()


def autocorrelation(env: np.ndarray, lag: int) -> float:
    """The envelope's autocorrelation at `lag` frames, over lag 0 (nan for a flat envelope or a lag past its end)."""
    energy = float(env @ env)
    if energy <= 0 or lag >= len(env):
        return math.nan
    return float(env[:-lag] @ env[lag:] / energy) if lag > 0 else 1.0
