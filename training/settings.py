"""The training room's sections of config.yaml: `model:` (the network's kind and sizes) and `train:` (the trainer,
its stages). Registered by training/cli.py (SETTINGS); segue/config.py loads them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from segue.config import COUNT, NON_NEGATIVE, POSITIVE, Range, SEED


@dataclass
class ModelConfig:
    """Model kind and sizes (training/models.py)."""
    kind: str = "performance_rnn"
    hidden_size: int = 512
    num_layers: int = 3
    dropout: float = 0.1
    conditioned: bool = True
    pulse: bool = False             # conditioned also on the tracked pulse (segue/rhythm/pulse_controls.py)
    embed_dim: int = 256            # gru_attention: event embedding size
    attention_window: int = 64      # gru_attention: how many past outputs the attention sees

    RANGES: ClassVar[dict[str, Range]] = {
        "hidden_size": COUNT,
        "num_layers": COUNT,
        "dropout": Range(0, 1, high_open=True),
        "embed_dim": COUNT,
        "attention_window": COUNT,
    }


@dataclass
class StageConfig:
    """One training stage (seed 004's staging): moving on keeps weights, optimizer and schedule."""
    seq_len: int = 128
    batch_size: int = 64
    advance_below: float | None = None   # move to the next stage once eval loss is below this
    max_steps: int | None = None         # ... or after this many steps in the stage (last stage: end of run)


@dataclass
class TrainConfig:
    """The trainer (training/trainer.py)."""
    lr: float = 0.001
    seed: int = 0
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    max_steps: int = 20000
    weight_decay: float = 0.0
    grad_clip: float = 3.0
    schedule: str = "cyclical"
    min_lr: float = 0.0001
    clr_mode: str = "triangular2"
    clr_step_size: int = 500
    clr_gamma: float = 0.9995
    l1: float = 0.0
    rhythm_weight: float = 0.0
    harmony_weight: float = 0.0
    eval_every: int = 200
    eval_seq_len: int = 256
    eval_batch_size: int = 32
    eval_max_windows: int = 256
    patience: int = 8
    min_delta: float = 0.001
    gl_alpha: float = 0.0
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    threads: int = 0

    RANGES: ClassVar[dict[str, Range]] = {
        "lr": Range(0, 10, low_open=True),
        "seed": SEED,
        "stages[].seq_len": COUNT,
        "stages[].batch_size": COUNT,
        "stages[].advance_below": POSITIVE,
        "stages[].max_steps": COUNT,
        "max_steps": COUNT,
        "weight_decay": NON_NEGATIVE,
        "grad_clip": NON_NEGATIVE,
        "min_lr": Range(0, 10),
        "clr_step_size": COUNT,
        "clr_gamma": Range(0, 1, low_open=True),
        "l1": NON_NEGATIVE,
        "rhythm_weight": NON_NEGATIVE,
        "harmony_weight": NON_NEGATIVE,
        "eval_every": COUNT,
        "eval_seq_len": COUNT,
        "eval_batch_size": COUNT,
        "eval_max_windows": NON_NEGATIVE,
        "patience": NON_NEGATIVE,                 # 0 = no patience-based stopping (EarlyStopping)
        "min_delta": NON_NEGATIVE,
        "gl_alpha": NON_NEGATIVE,
        "checkpoint_minutes": POSITIVE,
        "log_every": COUNT,
        "threads": NON_NEGATIVE,
    }

