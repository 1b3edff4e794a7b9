"""Keys: their names, their scales and their Krumhansl-Kessler profiles, in one place.

A key is an index 0..23: 0..11 major on C..B, 12..23 minor on C..B. The pinned key's control histogram
(segue.codec.controls.key_histogram), the decoding grammar's key masks (a pinned key and the key followed from the
player) and the key measures of the continuation test (segue.evaluation.musical_metrics) all read these, so a
pinned "D minor" and a followed D minor are the same scale.
"""
from __future__ import annotations

import re

import numpy as np

from segue.errors import SegueError

PITCH_CLASSES = 12
KEYS = 2 * PITCH_CLASSES
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
# Natural minor with the raised 7th as well (the leading tone of minor-key cadences: a minor-key piece plays both).
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first (C major / C minor).
KRUMHANSL_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KRUMHANSL_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

_TONICS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTALS = {"#": 1, "sharp": 1, "b": -1, "flat": -1}
_GERMAN_H = re.compile(r"^\s*[hH]\s*(major|minor|maj|min|m|dur|moll)?\s*$", re.IGNORECASE)
_KEY_PATTERN = re.compile(r"^\s*([a-gA-G])\s*(#|b|sharp|flat)?\s*(major|minor|maj|min|m)?\s*$")


def parse_key(key: str) -> int:
    """"D minor" -> 14 (the key index); a one-line SegueError for a name that is not a key."""
    match = _KEY_PATTERN.match(key.replace("-", " "))
    if not match:
        german = _GERMAN_H.match(key.replace("-", " "))   # German names: H is B (and B is Bb), Dur major, Moll minor
        mode = german and (german.group(1) or "").lower()
        mode = german and {"dur": "major", "moll": "minor"}.get(mode, mode)
        hint = f" (H is German for B: '{f'B {mode}'.strip()}')" if german else ""
        raise SegueError(f"key '{key}': expected a key like 'C major', 'D minor', 'F# minor' or 'Bb major'{hint}")
    letter, accidental, mode = match.groups()
    tonic = (_TONICS[letter.lower()] + _ACCIDENTALS.get(accidental or "", 0)) % PITCH_CLASSES
    minor = (mode or "major").lower() in ("minor", "min", "m")
    return tonic + PITCH_CLASSES * minor


def tonic(key: int) -> int:
    return key % PITCH_CLASSES


def scale(key: int) -> np.ndarray:
    """bool [12]: the pitch classes of the key's scale."""
    in_scale = np.zeros(PITCH_CLASSES, dtype=bool)
    degrees = MINOR_SCALE if key >= PITCH_CLASSES else MAJOR_SCALE
    in_scale[[(tonic(key) + degree) % PITCH_CLASSES for degree in degrees]] = True
    return in_scale


def key_profiles() -> np.ndarray:
    """[24, 12] profiles, one row per key index."""
    return np.stack([np.roll(KRUMHANSL_MAJOR, t) for t in range(PITCH_CLASSES)]
                    + [np.roll(KRUMHANSL_MINOR, t) for t in range(PITCH_CLASSES)])


def check_strength(strength: float) -> float:
    """A key mask's strength (the share of an out-of-scale note's probability it takes away): 0..1."""
    if not 0 <= strength <= 1:
        raise SegueError(f"key strength must be in 0..1, got {strength}")
    return strength
