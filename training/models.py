"""The two model kinds: Magenta's Performance RNN (LSTM) and seed 004's GRU + windowed attention.

Both share one interface, which export/ (ONNX) and the engine rely on:

    model = build_model(model_cfg)            # ModelConfig dataclass or the dict stored in a checkpoint
    model.kind                                # "performance_rnn" | "gru_attention"
    model.control_dim                         # 20 when conditioned on density + pitch-class histogram (26 with
                                              # the pulse), else 0
    logits, state = model(events, controls, state)
        events   LongTensor [B, T]            # event indices 0..387
        controls FloatTensor [B, T, C] | None # controls at t+1 for input event t (see segue/codec/controls.py)
        state    tuple of tensors | None      # None = zeros
        logits   [B, T, 388] for the event at t+1
    model.initial_state(B), model.state_names(), model.state_shapes(B)

Everything a one-event-at-a-time run needs is in the state, so running T steps one at a time equals one call
with T steps (tests/training/test_models.py proves it). forward has no data-dependent Python control flow so it
traces with torch.onnx.export(dynamo=False).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from segue.codec.codec import NUM_CLASSES
from segue.codec.controls import CONTROL_DIM
from segue.rhythm.pulse_controls import PULSE_DIM
from segue.errors import SegueError

MODEL_KINDS = ("performance_rnn", "gru_attention")

# Defaults used when a key is missing from an (older) stored config. Magenta's Performance RNN is 3x512.
MODEL_DEFAULTS = {
    "kind": "performance_rnn",
    "hidden_size": 512,
    "num_layers": 3,
    "dropout": 0.1,
    "conditioned": True,
    "pulse": False,
    "embed_dim": 256,
    "attention_window": 64,
}


def model_config_dict(model_cfg) -> dict:
    """A plain dict of the model settings (what checkpoints store), from a dataclass or a mapping."""
    if dataclasses.is_dataclass(model_cfg):
        given = dataclasses.asdict(model_cfg)
    elif isinstance(model_cfg, Mapping):
        given = dict(model_cfg)
    else:
        raise SegueError(f"model config must be a mapping or ModelConfig, got {type(model_cfg).__name__}")
    unknown = sorted(set(given) - set(MODEL_DEFAULTS))
    if unknown:
        raise SegueError(f"model config: unknown key(s) {unknown}; known: {sorted(MODEL_DEFAULTS)}")
    merged = {**MODEL_DEFAULTS, **given}
    if merged["kind"] not in MODEL_KINDS:
        raise SegueError(f"model.kind: {merged['kind']!r} is not one of {list(MODEL_KINDS)}")
    for key in ("hidden_size", "num_layers", "embed_dim", "attention_window"):
        if int(merged[key]) < 1:
            raise SegueError(f"model.{key} must be >= 1, got {merged[key]}")
    if not 0.0 <= float(merged["dropout"]) < 1.0:
        raise SegueError(f"model.dropout must be in [0, 1), got {merged['dropout']}")
    return merged


def build_model(model_cfg) -> nn.Module:
    """The model described by `model_cfg` (a ModelConfig or the dict a checkpoint stores), freshly initialised."""
    cfg = model_config_dict(model_cfg)
    control_dim = input_control_dim(cfg)
    if cfg["kind"] == "performance_rnn":
        return PerformanceRNN(cfg["hidden_size"], cfg["num_layers"], cfg["dropout"], control_dim)
    return GRUAttention(cfg["embed_dim"], cfg["hidden_size"], cfg["num_layers"], cfg["dropout"],
                        cfg["attention_window"], control_dim)


def input_control_dim(model_cfg) -> int:
    """How many control values the network reads beside each event: density + pitch classes (20), and the tracked
    pulse after them when `pulse` is on (widen.py adds its inputs to a model trained without)."""
    cfg = model_config_dict(model_cfg)
    if not cfg["conditioned"]:
        if cfg["pulse"]:
            raise SegueError("model.pulse needs model.conditioned: the pulse is a control")
        return 0
    return CONTROL_DIM + (PULSE_DIM if cfg["pulse"] else 0)


def _controls_or_empty(controls, events: torch.Tensor, control_dim: int, dtype) -> torch.Tensor:
    """The control input for concatenation; [B, T, 0] for unconditioned models."""
    if control_dim == 0:
        return events.new_zeros((*events.shape, 0), dtype=dtype)
    if controls is None:
        raise SegueError(f"this model is conditioned on {control_dim} control values: pass controls [B, T, {control_dim}]")
    return controls.to(dtype)


class PerformanceRNN(nn.Module):
    """Magenta's Performance RNN: one-hot(event) ++ controls -> stacked LSTM (dropout between layers) -> 388 logits.

    State = (h, c), each [layers, B, hidden].
    """

    kind = "performance_rnn"

    def __init__(self, hidden_size: int = 512, num_layers: int = 3, dropout: float = 0.2, control_dim: int = CONTROL_DIM):
        super().__init__()
        self.hidden_size, self.num_layers, self.control_dim = int(hidden_size), int(num_layers), int(control_dim)
        # nn.LSTM only applies dropout between layers; a 1-layer LSTM would warn about it.
        self.lstm = nn.LSTM(NUM_CLASSES + self.control_dim, self.hidden_size, self.num_layers,
                            batch_first=True, dropout=float(dropout) if self.num_layers > 1 else 0.0)
        self.output_dropout = nn.Dropout(float(dropout))
        self.head = nn.Linear(self.hidden_size, NUM_CLASSES)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        weight = self.head.weight
        shape = (self.num_layers, batch_size, self.hidden_size)
        return weight.new_zeros(shape), weight.new_zeros(shape)

    @staticmethod
    def state_names() -> list[str]:
        return ["h", "c"]

    def state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        shape = (self.num_layers, batch_size, self.hidden_size)
        return [shape, shape]

    def forward(self, events: torch.Tensor, controls: torch.Tensor | None = None,
                state: tuple[torch.Tensor, ...] | None = None):
        if state is None:
            state = self.initial_state(events.shape[0])
        one_hot = F.one_hot(events.long(), NUM_CLASSES).to(self.head.weight.dtype)
        inputs = torch.cat([one_hot, _controls_or_empty(controls, events, self.control_dim, one_hot.dtype)], dim=-1)
        outputs, (h, c) = self.lstm(inputs, (state[0], state[1]))
        return self.head(self.output_dropout(outputs)), (h, c)


class GRUAttention(nn.Module):
    """Seed 004's model: embedding (++ controls) -> stacked GRU -> dot-product attention over a bounded window of
    its own past GRU outputs -> tanh(W [o_t; context_t]) -> 388 logits.

    At step t the query is the GRU output o_t; the keys/values are o_t itself plus the previous `window` outputs
    (those still in the window). Including o_t means there is always one valid key, so the softmax is defined even
    at the very first event. State = (h [layers, B, hidden], window [B, W, hidden], window_valid [B, W]) where
    window holds the last W outputs (oldest first) and window_valid is 1.0 for filled slots, 0.0 for empty ones.
    """

    kind = "gru_attention"

    def __init__(self, embed_dim: int = 256, hidden_size: int = 512, num_layers: int = 2, dropout: float = 0.2,
                 attention_window: int = 64, control_dim: int = 0):
        super().__init__()
        self.embed_dim, self.hidden_size, self.num_layers = int(embed_dim), int(hidden_size), int(num_layers)
        self.window, self.control_dim = int(attention_window), int(control_dim)
        self.embedding = nn.Embedding(NUM_CLASSES, self.embed_dim)
        self.gru = nn.GRU(self.embed_dim + self.control_dim, self.hidden_size, self.num_layers,
                          batch_first=True, dropout=float(dropout) if self.num_layers > 1 else 0.0)
        self.combine = nn.Linear(2 * self.hidden_size, self.hidden_size)
        self.output_dropout = nn.Dropout(float(dropout))
        self.head = nn.Linear(self.hidden_size, NUM_CLASSES)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        weight = self.head.weight
        return (weight.new_zeros((self.num_layers, batch_size, self.hidden_size)),
                weight.new_zeros((batch_size, self.window, self.hidden_size)),
                weight.new_zeros((batch_size, self.window)))

    @staticmethod
    def state_names() -> list[str]:
        return ["h", "window", "window_valid"]

    def state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        return [(self.num_layers, batch_size, self.hidden_size), (batch_size, self.window, self.hidden_size),
                (batch_size, self.window)]

    def forward(self, events: torch.Tensor, controls: torch.Tensor | None = None,
                state: tuple[torch.Tensor, ...] | None = None):
        if state is None:
            state = self.initial_state(events.shape[0])
        h0, past, past_valid = state
        embedded = self.embedding(events.long())
        inputs = torch.cat([embedded, _controls_or_empty(controls, events, self.control_dim, embedded.dtype)], dim=-1)
        outputs, h = self.gru(inputs, h0)                                   # [B, T, H]

        keys = torch.cat([past, outputs], dim=1)                            # [B, W+T, H]
        key_valid = torch.cat([past_valid, torch.ones_like(outputs[:, :, 0])], dim=1)   # [B, W+T]
        # Positions from cumulative sums of ones, not Python ints, so T stays dynamic when traced for ONNX.
        query_pos = torch.ones_like(outputs[0, :, 0]).cumsum(0) - 1 + self.window       # [T]: W .. W+T-1
        key_pos = torch.ones_like(keys[0, :, 0]).cumsum(0) - 1                          # [W+T]
        offset = query_pos[:, None] - key_pos[None, :]                                  # [T, W+T]
        in_band = ((offset >= 0) & (offset <= self.window)).to(outputs.dtype)           # self + W previous
        allowed = in_band[None, :, :] * key_valid[:, None, :]                           # [B, T, W+T]

        scores = torch.bmm(outputs, keys.transpose(1, 2)) / (self.hidden_size ** 0.5)
        # Additive mask rather than masked_fill(-inf): the own-output key is always allowed, so no row is empty.
        scores = scores + (allowed - 1.0) * 1e9
        context = torch.bmm(torch.softmax(scores, dim=-1), keys)
        mixed = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))
        logits = self.head(self.output_dropout(mixed))

        # keys always hold >= W entries (the W-slot past plus T >= 1 new ones), so the last W are the new window.
        new_window = keys[:, -self.window:, :]
        new_valid = key_valid[:, -self.window:]
        return logits, (h, new_window, new_valid)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
