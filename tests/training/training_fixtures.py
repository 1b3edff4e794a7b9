"""Small synthetic music for training tests: scales and arpeggios in several keys, written as MIDI files."""

from __future__ import annotations

from pathlib import Path

from segue.codec.codec import Note
from segue.codec.midi_io import write_midi

TINY_MODEL = dict(kind="performance_rnn", hidden_size=16, num_layers=1, dropout=0.0, conditioned=True)


def piece_notes(index: int) -> list[Note]:
    root = 48 + (index * 5) % 24
    pattern = [0, 4, 7, 12, 7, 4] if index % 2 else [0, 2, 4, 5, 7, 9, 11, 12]
    notes, t = [], 0.0
    for repeat in range(6):
        for step, interval in enumerate(pattern):
            length = 0.12 + 0.04 * ((step + index) % 3)
            notes.append(Note(root + interval, 60 + 8 * ((step + repeat) % 4), t, t + length))
            if step % 4 == 0:
                notes.append(Note(root - 12, 50, t, t + 0.4))
            t += length
    return notes


def write_corpus(folder: Path, pieces: int = 24) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(pieces):
        write_midi(piece_notes(i), folder / f"piece{i:02d}.mid")
    return folder


def build_tiny_dataset(tmp: Path, pieces: int = 24, eval_fraction: float = 0.25) -> Path:
    from training.dataset import build_dataset

    out = tmp / "dataset"
    build_dataset([str(write_corpus(tmp / "midi", pieces))], out, eval_fraction=eval_fraction, workers=1,
                  progress=False)
    return out


def tiny_config(**train_overrides):
    from segue.config import load_config

    overrides = [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    overrides += ["train.threads=1", "train.max_steps=12", "train.eval_every=4", "train.log_every=2",
                  "train.eval_max_windows=8", "train.eval_seq_len=32", "train.clr_step_size=3",
                  "train.checkpoint_minutes=1000", "train.stages=[{seq_len: 16, batch_size: 4}]"]
    overrides += [f"train.{k}={v}" for k, v in train_overrides.items()]
    return load_config(None, overrides)
