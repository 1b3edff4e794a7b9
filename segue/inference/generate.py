"""Offline generation: prime the engine with a phrase (or nothing) and sample a continuation.

What `segue generate` writes of it (MIDI, piano roll, WAV) is segue/cli/generate_output.py.

Controls (conditioned models only), as the daemon has them (the live protocol the model is trained and scored on):
  - over the primer, input t carries what a ControlFollower knows after primer event t (past_controls), with a
    pinned `key` / `density` replacing their parts, as the daemon pins them over the player's events too;
  - from the last primer event on, the controls are held: what the follower hears at the end of the primer, with
    `key` replacing the pitch-class histogram by the key's scale and `density` replacing the note-density one-hot.
Without a primer the model starts from one NO_EVENT (a second of silence), which is not written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segue.codec import codec
from segue.inference.engine import Engine
from segue.errors import SegueError
from segue.inference.grammar_settings import GrammarSettings
from segue.inference.grammar import build_shapers
from segue.inference.sampling import Sampler
from segue.codec.controls import DENSITY_SLICE, HISTOGRAM_SLICE
from segue.inference.sampling_loop import Length, SamplingLoop

# Without a primer or a pinned density, generate at a moderate piano density (notes per second; bin 8-16).
DEFAULT_DENSITY = 10.0


def held_controls(primer: np.ndarray, key: str | None = None, density: float | None = None) -> np.ndarray:
    """The control vector generation runs under: follower-derived from the primer, then pinned parts replaced."""
    from segue.codec import controls

    if len(primer):
        follower = controls.ControlFollower()
        for event in primer:
            follower.push(int(event))
        held = np.asarray(follower.current(), dtype=np.float32).copy()
    else:
        held = np.zeros(controls.CONTROL_DIM, dtype=np.float32)
        held[DENSITY_SLICE] = controls.density_one_hot(DEFAULT_DENSITY)
        held[HISTOGRAM_SLICE] = 1.0 / 12  # no primer, no key: every pitch class alike
    return _pin(held, key, density)


def _pin(rows: np.ndarray, key: str | None, density: float | None) -> np.ndarray:
    """Replace the density and/or pitch-class parts of control rows ([20] or [T, 20]) by pinned values."""
    from segue.codec import controls

    if density is not None:
        if density < 0:
            raise SegueError(f"--density must be >= 0 notes per second, got {density}")
        rows[..., DENSITY_SLICE] = controls.density_one_hot(density)
    if key is not None:
        rows[..., HISTOGRAM_SLICE] = controls.key_histogram(key)
    return rows


def primer_controls(primer: np.ndarray, held: np.ndarray, key: str | None = None,
                    density: float | None = None) -> np.ndarray:
    """Input controls for each primer event: what the follower knows after it (pinned parts replaced), and the
    held ones for the last."""
    from segue.codec.controls import past_controls

    rows = _pin(np.array(past_controls(primer), dtype=np.float32), key, density)
    rows[-1] = held
    return rows


def prime(engine: Engine, primer: np.ndarray, key: str | None = None, density: float | None = None) -> np.ndarray:
    """Reset the engine, feed the primer (or one NO_EVENT) and pin the held controls; return the next logits."""
    engine.reset()
    if not engine.conditioned:
        return engine.feed(primer if len(primer) else [codec.NO_EVENT])
    held = held_controls(primer, key, density)
    engine.set_controls(held)
    if not len(primer):
        return engine.feed([codec.NO_EVENT], held[None])
    return engine.feed(primer, primer_controls(primer, held, key, density))


def load_primer(path: Path | None, limits=None) -> np.ndarray:
    """The primer's events (none for None); `limits` are config.yaml's per-file data limits (None = defaults)."""
    if path is None:
        return np.zeros(0, dtype=np.int64)
    from segue.codec.midi_io import encode_file

    events = np.asarray(encode_file(path, limits), dtype=np.int64)
    if not len(events):
        raise SegueError(f"primer {path} has no notes; pass a file with notes, or no --primer")
    return events


@dataclass
class Generated:
    name: str
    primer: np.ndarray
    continuation: np.ndarray
    seed: int

    @property
    def primer_seconds(self) -> float:
        return int(codec.shift_steps_of(self.primer).sum()) / codec.STEPS_PER_SECOND

    @property
    def continuation_seconds(self) -> float:
        return int(codec.shift_steps_of(self.continuation).sum()) / codec.STEPS_PER_SECOND

    def notes(self):
        """Primer and continuation notes; every note capped at 5 s, and those still sounding when the continuation
        ends closed there (as the encoder closes held notes at the last event), so nothing is left hanging."""
        everything = codec.decode_events(np.concatenate([self.primer, self.continuation]),
                                         max_note_seconds=codec.HANGING_NOTE_SECONDS)
        boundary = self.primer_seconds
        end = boundary + self.continuation_seconds
        tick = 1.0 / codec.STEPS_PER_SECOND
        everything = [n if n.end <= end else codec.Note(n.pitch, n.velocity, n.start, max(end, n.start + tick))
                      for n in everything]
        primer = [n for n in everything if n.start < boundary]
        return primer, [n for n in everything if n.start >= boundary]


def answering_loop(sampler: Sampler, context: np.ndarray, grammar: GrammarSettings | None = None,
                   key: str | None = None, memory=None, memory_mode: str = "player") -> SamplingLoop:
    """The sampling loop that answers `context` (the player's primer) as segue serve answers: the decoding
    `grammar`'s shapers (None: the model as it is), and with `memory` (MemorySettings) a SessionMemory first, the
    grammar yielding to it (build_shapers). The memory learns the context as the player's material; what the loop
    draws next it learns too only in the "session" mode, as the daemon does (daemon/generator.py)."""
    from segue.inference.memory import SessionMemory

    remembering = SessionMemory(memory) if memory is not None else None
    if grammar is not None:
        shapers = build_shapers(grammar, key, remembering)
    else:
        shapers = [remembering] if remembering is not None else []
    loop = SamplingLoop(sampler, shapers)
    loop.start(context)
    if remembering is not None:
        remembering.learning = memory_mode == "session"
    return loop


def generate(engine: Engine, primer: np.ndarray, length: Length, sampler_settings: dict, seed: int,
             key: str | None = None, density: float | None = None, beam: dict | None = None,
             grammar: GrammarSettings | None = None, memory=None, memory_mode: str = "player") -> np.ndarray:
    """One continuation of `primer`; the same arguments give the same events. `key` pins the controls and, with a
    `grammar`, the scale mask; `grammar` None samples the model as it is (no shapers); `memory` (MemorySettings,
    segue.inference.memory.player_memory) mixes in the session memory as segue serve does (answering_loop)."""
    logits = prime(engine, primer, key, density)
    loop = answering_loop(Sampler(seed=seed, **sampler_settings),
                          primer if len(primer) else np.array([codec.NO_EVENT]),    # what prime() fed the model
                          grammar, key, memory, memory_mode)
    if beam and (beam.get("beam_size", 1) > 1 or beam.get("branch_factor", 1) > 1):
        from segue.inference.beam import beam_search

        return beam_search(engine, loop, logits, length, **beam)
    return loop.run(engine.step, logits, length)


# --- writing the results -------------------------------------------------------------------------------------------
