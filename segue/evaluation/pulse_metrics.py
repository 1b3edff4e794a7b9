"""Does a continuation keep the primer's pulse? Three measures on onset times, for the continuation test
(segue.evaluation.continuations adds them to its table, each paired with the real continuation's):

  pulse_autocorr  the continuation's onset-envelope autocorrelation at the primer's beat period: the primer's
                  period is the peak of its own envelope's autocorrelation between 0.25 and 1.2 s (issue 26: the
                  real continuation keeps it at a median 0.24, an unrelated passage 0.16)
  tempo_off       |log2(the continuation's own dominant period / the primer's)|: 0 the same tempo, 1 twice or
                  half as fast (a metrical-level change counts)
  phase_on_grid   the mean cosine of the continuation's onsets' phase on the primer's beat grid carried on
                  (the primer's beat phase at its period): 1 all on the primer's beats, -1 all half a beat off,
                  0 no relation

The onset envelope and its autocorrelation are segue.rhythm.onset_envelope's (the beat tracker reads the same).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from segue.rhythm.onset_envelope import FRAME_S, autocorrelation, envelope

PERIOD_RANGE_S = (0.25, 1.2)
MIN_ONSETS = 4

COLUMNS = [("pulse_autocorr", "pulse autocorr", "mean"), ("tempo_off", "|log2 tempo ratio|", "mean"),
           ("phase_on_grid", "phase on grid", "mean")]
GAP_MEASURES = ("pulse_autocorr", "tempo_off", "phase_on_grid")
MEANINGS = {
    "pulse_autocorr": "onset-envelope autocorrelation at the primer's beat period (its own peak in 0.25-1.2 s)",
    "tempo_off": "|log2| of the continuation's dominant period over the primer's (0: same tempo)",
    "phase_on_grid": "mean cosine of the onsets' phase on the primer's beat grid carried on (1: on its beats)",
}


def beat_period(onsets: Sequence[float], seconds: float) -> float | None:
    """The lag (s) of the highest envelope autocorrelation in PERIOD_RANGE_S (None: too few onsets)."""
    if len(onsets) < MIN_ONSETS:
        return None
    env = envelope(onsets, seconds)
    lags = np.arange(int(PERIOD_RANGE_S[0] / FRAME_S), int(PERIOD_RANGE_S[1] / FRAME_S) + 1)
    lags = lags[lags < len(env) // 2]
    if not len(lags):
        return None
    values = np.array([autocorrelation(env, int(lag)) for lag in lags])
    if not np.isfinite(values).any():
        return None
    return float(lags[int(np.nanargmax(values))] * FRAME_S)


def measures(primer_onsets: Sequence[float], primer_seconds: float, onsets: Sequence[float],
             seconds: float) -> dict[str, float]:
    """The three measures of a continuation's onsets (times from its window's start, which is where the primer
    ends: primer_seconds after the primer's own start)."""
    out = dict.fromkeys(GAP_MEASURES, math.nan)
    period = beat_period(primer_onsets, primer_seconds)
    if period is None or len(onsets) < MIN_ONSETS:
        return out
    out["pulse_autocorr"] = autocorrelation(envelope(onsets, seconds), int(round(period / FRAME_S)))
    own = beat_period(onsets, seconds)
    if own is not None:
        out["tempo_off"] = abs(math.log2(own / period))
    # The primer's beat phase at its period, carried into the continuation window (its times start at the boundary).
    phasor = np.exp(2j * np.pi * np.asarray(primer_onsets) / period).sum()
    beat_zero = float(np.angle(phasor)) / (2 * np.pi) * period - primer_seconds
    phases = 2 * np.pi * (np.asarray(onsets) - beat_zero) / period
    out["phase_on_grid"] = float(np.mean(np.cos(phases)))
    return out
