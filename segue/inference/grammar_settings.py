"""The decoding grammar's section of config.yaml, `sampling:` (segue/inference/grammar.py build_shapers). Registered
by segue/cli/generate_cli.py (SETTINGS)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from segue.codec.keys import check_strength
from segue.config import COUNT, FRACTION, Range
from segue.errors import SegueError
from segue.rhythm.rhythm_grid import MAX_SWAY_MS


@dataclass
class GrammarSettings:
    """config.yaml `sampling:`: the decoding grammar's shapers that segue/inference/grammar.py build_shapers turns on
    (also set by flags of `segue generate`)."""
    note_off_mask: bool = True
    no_restrike: bool = True
    release_start_seconds: float = 1.0    # the release hazard starts at this note age; negative = no hazard
    note_cap_seconds: float = 4.0         # ... and forces the release here
    release_follow_quantile: float = 0.5  # ... or earlier: this quantile of the recent note lengths; negative = fixed
    follow_dynamics: bool = True
    dynamics_notes: int = 64              # the recent level (and spread) of this many note-ons
    dynamics_follow_spread: bool = True   # ... the answer's velocity spread follows the recent spread too
    key_strength: float = 0.9             # of a pinned key's scale mask (the key itself: --key, daemon.key)
    follow_key_strength: float = 0.97     # unpinned: the same mask for the key of the recent notes; 0 = off
    follow_key_notes: int = 128           # ... estimated over this many recent notes
    follow_key_chromatic: bool = True     # ... out-of-scale notes held to the player's share of them, not ruled out
    pulse_strength: float = 0.9           # time shifts drawn toward the tracked pulse's grid when it is sure; 0 = off
    pulse_timing_temperature: float = 0.7  # ... and drawn this much cooler then (1 = as the model has them)
    pulse_sway_ms: float = 15.0           # ... its grid swaying as the player's beat bent, at most this; 0 = steady

    RANGES: ClassVar[dict[str, Range]] = {
        "release_start_seconds": Range(None, 60),    # negative = no release hazard
        "note_cap_seconds": Range(0, 60, low_open=True),
        "dynamics_notes": COUNT,
        "key_strength": FRACTION,
        "release_follow_quantile": Range(None, 1),   # negative = the hazard's start and cap are fixed
        "follow_key_strength": FRACTION,
        "follow_key_notes": COUNT,
        "pulse_strength": FRACTION,
        "pulse_timing_temperature": Range(0, 1, low_open=True),
        "pulse_sway_ms": Range(0, MAX_SWAY_MS),
    }

    def __post_init__(self):
        check_strength(self.key_strength)
        check_strength(self.follow_key_strength)
        if self.note_cap_seconds <= 0:
            raise SegueError(f"the note cap ({self.note_cap_seconds} s) must be > 0")

