"""The live view: one line that says what segue hears, for a musician's glance on stage.

    call-response | listening | hears 118 bpm, sure 0.62 | key D minor | 3.4 notes/s
    call-response | answering | holds 118 bpm | key D minor | 3.4 notes/s

Listening, it says the tempo the tracker hears and how sure it is (0 once the player has rested for a few beats: a
new phrase may bring a new tempo). Answering, it says the tempo the answer keeps (its grid, the player's pulse as it
was when the answer opened, held however long the player rests), or "free time" when the tracker was not sure
enough to hold one (the answer keeps the model's own timing): the confidence, which decays through the player's
silence, would read as a beat lost while segue plays on it.

In a terminal it is one line rewritten in place (a few times a second, only when it changed); otherwise (a log
file, `-v`, a service) it goes to the log when what it says changes, at most every LOG_EVERY_S.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import numpy as np

from segue.codec import keys

log = logging.getLogger("segue.daemon")

REDRAW_S = 0.25              # a terminal line changes at most this often
LOG_EVERY_S = 2.0            # a logged one at most this often
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Status:
    mode: str
    answering: bool
    bpm: float | None            # the player's tracked tempo (None: no beat yet)
    confidence: float            # the tracker's, 0..1
    holding: float | None        # answering: the tempo the answer keeps (None: free time)
    key: str | None              # the key the answers follow (pinned or heard)
    density: float | None        # notes per second the answers follow

    def text(self) -> str:
        if self.answering:
            pulse = "free time" if self.holding is None else f"holds {self.holding:.0f} bpm"
        else:
            pulse = "no pulse yet" if self.bpm is None else f"hears {self.bpm:.0f} bpm, sure {self.confidence:.2f}"
        return " | ".join([self.mode, "answering" if self.answering else "listening", pulse,
                           f"key {self.key}" if self.key else "key -",
                           "- notes/s" if self.density is None else f"{self.density:.1f} notes/s"])


def key_name(histogram: np.ndarray) -> str:
    """The Krumhansl-Schmuckler key of a pitch-class histogram (segue.codec.keys' profiles), e.g. "D minor"."""
    profiles = keys.key_profiles()
    profiles = profiles - profiles.mean(axis=1, keepdims=True)
    key = int(np.argmax(profiles @ (histogram - histogram.mean())))
    return f"{NOTE_NAMES[keys.tonic(key)]} {'major' if key < keys.PITCH_CLASSES else 'minor'}"


class StatusLine:
    def __init__(self, terminal: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.shown, self.shown_at = "", -1e9

    def show(self, now: float, status: Status) -> None:
        text = status.text()
        if text == self.shown or now - self.shown_at < (REDRAW_S if self.terminal else LOG_EVERY_S):
            return
        self.shown, self.shown_at = text, now
        if self.terminal:
            self.stream.write("\r\033[K" + text)      # back to the line's start, clear it, write
            self.stream.flush()
        else:
            log.info("now: %s", text)

    def close(self) -> None:
        if self.terminal and self.shown:
            self.stream.write("\n")
            self.stream.flush()


def status_of(session, now: float) -> Status:
    """What a running daemon.session.Session hears at `now`: its turn, the player's pulse (and the one its answer
    keeps), the key and density its answers follow (pinned in the config, else heard from the player)."""
    pulse, cfg, follower = session.policy.pulse, session.cfg, session.controls.follower
    answering = session.turn is not None and session.turn.started
    heard = follower is not None and follower.step > 0
    key = cfg.key or (key_name(follower.histogram()) if heard else None)
    density = cfg.density if cfg.density >= 0 else (follower.density() if heard else None)
    # The answer keeps the tempo the policy handed it only where the pulse preference steers by it.
    steers = session.generator.settings.grammar.pulse_strength > 0
    holding = session.policy.held_bpm if steers else None
    return Status(session.policy.mode, answering, pulse.bpm, pulse.confidence(now), holding, key, density)
