"""Wrap a segue torch model as a step graph with flat, named state inputs and outputs, and export it.

The torch models take and return their recurrent state as a tuple; ONNX needs one named tensor per
state entry, so StepGraph unpacks the tuple. Export uses the TorchScript exporter (dynamo=False): in
torch 2.13 the dynamo exporter freezes batch/time from the example and rebuilds LSTM weights out of
Slice/Concat, which int8 quantization then skips (ARCHITECTURE.md, Export notes).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn

from segue.codec import codec
from segue.inference.engine import CONTROLS_INPUT, EVENTS_INPUT, LOGITS_OUTPUT, state_input_name, state_output_name

OPSET = 17  # the lowest opset the issue allows; LSTM/GRU export is stable there
# Batch >= 2 and time >= 2 in the example so no dimension can be specialised to 1 in the trace.
EXAMPLE_BATCH, EXAMPLE_TIME = 2, 3


@dataclass
class StateSpec:
    name: str
    shape: list[int]        # at batch 1
    batch_axis: int
    dtype: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": self.shape, "batch_axis": self.batch_axis, "dtype": self.dtype}


def state_specs(model: nn.Module) -> list[StateSpec]:
    """Name, shape and batch axis of each state tensor; the batch axis is the one that moves with batch."""
    names = list(model.state_names())
    one, two = model.state_shapes(1), model.state_shapes(2)
    zeros = model.initial_state(1)
    if not (len(names) == len(one) == len(two) == len(zeros)):
        raise ValueError(f"model state is inconsistent: names {names}, shapes {one}")
    specs = []
    for name, s1, s2, z in zip(names, one, two, zeros):
        moving = [axis for axis, (a, b) in enumerate(zip(s1, s2)) if a != b]
        if len(moving) != 1:
            raise ValueError(f"state {name!r}: cannot tell its batch axis from shapes {tuple(s1)} and {tuple(s2)}")
        specs.append(StateSpec(name, [int(d) for d in s1], moving[0], str(z.dtype).replace("torch.", "")))
    return specs


class StepGraph(nn.Module):
    """(events, [controls], *state) -> (logits, *new_state) with the state flattened."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.conditioned = model.control_dim > 0

    def forward(self, events, *rest):
        if self.conditioned:
            controls, state = rest[0], tuple(rest[1:])
        else:
            controls, state = None, tuple(rest)
        logits, new_state = self.model(events, controls, state)
        return (logits, *new_state)


def example_inputs(model: nn.Module, batch: int = EXAMPLE_BATCH, time: int = EXAMPLE_TIME, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    events = torch.randint(0, codec.NUM_CLASSES, (batch, time), generator=generator)
    inputs = [events]
    if model.control_dim > 0:
        inputs.append(torch.rand(batch, time, model.control_dim, generator=generator))
    inputs.extend(model.initial_state(batch))
    return tuple(inputs)


def io_names(model: nn.Module, specs: list[StateSpec]) -> tuple[list[str], list[str], dict]:
    inputs = [EVENTS_INPUT] + ([CONTROLS_INPUT] if model.control_dim > 0 else [])
    outputs = [LOGITS_OUTPUT]
    dynamic = {EVENTS_INPUT: {0: "batch", 1: "time"}, LOGITS_OUTPUT: {0: "batch", 1: "time"}}
    if model.control_dim > 0:
        dynamic[CONTROLS_INPUT] = {0: "batch", 1: "time"}
    for spec in specs:
        inputs.append(state_input_name(spec.name))
        outputs.append(state_output_name(spec.name))
        dynamic[state_input_name(spec.name)] = {spec.batch_axis: "batch"}
        dynamic[state_output_name(spec.name)] = {spec.batch_axis: "batch"}
    return inputs, outputs, dynamic


def export_step_graph(model: nn.Module, opset: int = OPSET) -> onnx.ModelProto:
    """Trace the model's step graph to an in-memory, checker-clean ONNX model (no metadata yet)."""
    model = model.eval()  # dropout off: the graph must be the inference function
    specs = state_specs(model)
    inputs, outputs, dynamic = io_names(model, specs)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the RNN-with-batch-first and "converting a tensor to a Python value" trace warnings are expected here
        warnings.simplefilter("ignore")
        torch.onnx.export(
            StepGraph(model), example_inputs(model), buffer, dynamo=False, opset_version=opset,
            input_names=inputs, output_names=outputs, dynamic_axes=dynamic, do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save(proto: onnx.ModelProto, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # write to a temp name then rename, so an interrupted export never leaves a truncated model behind
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(path)
