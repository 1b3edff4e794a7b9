"""Dynamic int8 quantization (per-channel 7-bit weights) and how far the int8 model strays from fp32.

Only weight-bearing ops are quantized: LSTM cells and MatMuls whose second input is a stored weight. The GRU
model's attention MatMuls multiply two activations; quantizing those buys little and costs accuracy, and ORT has
no int8 GRU cell, so for that kind only the projection layers change (ARCHITECTURE.md, Export notes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from segue.inference.engine import Engine


# Top-1 agreement is judged only where fp32 is confident: where its best class has less than this probability the
# argmax is close to a tie, and a flat (barely trained) model's agreement there measures ties, not quantization.
CONFIDENT_PROBABILITY = 0.5


@dataclass
class Agreement:
    events: int
    mean_kl: float              # KL(fp32 || int8) per event, nats
    top1_agreement: float       # share of all events where both pick the same most likely class
    confident_events: int       # events where fp32's most likely class has p >= CONFIDENT_PROBABILITY
    confident_agreement: float  # top-1 agreement on those (1.0 when there are none: KL alone judges then)

    def line(self) -> str:
        return (f"int8 vs fp32 on {self.events} held-out events: mean KL {self.mean_kl:.2e} nats, "
                f"top-1 agreement {100 * self.confident_agreement:.2f}% where fp32 is confident "
                f"({self.confident_events} events), {100 * self.top1_agreement:.2f}% on all")


@contextlib.contextmanager
def _quiet_root_logger():
    """quantize_dynamic logs a 'consider pre-processing' warning on the root logger for every model; it does not apply
    to RNN step graphs (shape inference adds nothing here), so keep it off the user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def weight_nodes(proto: onnx.ModelProto) -> list[str]:
    """Names of the nodes worth quantizing: LSTMs and MatMuls against a stored weight matrix."""
    weights = {init.name for init in proto.graph.initializer}
    chosen = []
    for node in proto.graph.node:
        if node.op_type == "LSTM" or (node.op_type == "MatMul" and node.input[1] in weights):
            chosen.append(node.name)
    return chosen


def quantize(fp32_path: Path, int8_path: Path) -> int:
    """Write the int8 model; returns how many nodes were quantized."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load(str(fp32_path))
    nodes = weight_nodes(proto)
    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        staged = Path(tmp) / int8_path.name
        # reduce_range: 7-bit weights. ORT multiplies uint8 activations by int8 weights; on x86 CPUs with AVX2 but
        # no VNNI (AMD EPYC here, Haswell..Skylake) that kernel (vpmaddubsw) adds pairs of products into int16 and
        # saturates: 2 * 255 * 127 > 32767. Measured on an emulated Haswell (qemu-x86_64 -cpu Haswell), full-range
        # weights gave top-1 agreement 0.33% and KL 4e-2; 7-bit weights 100% and KL 5e-5, the same as on a VNNI CPU.
        # The file is made on one machine and run on another, so it must be safe on every CPU.
        quantize_dynamic(fp32_path, staged, per_channel=True, reduce_range=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["LSTM", "MatMul"], nodes_to_quantize=nodes)
        quantized = onnx.load(str(staged))
    for prop in quantized.metadata_props:  # mark the metadata so users can tell the files apart
        if prop.key == "segue.meta":
            meta = json.loads(prop.value)
            meta["quantization"] = "int8-dynamic-per-channel"
            prop.value = json.dumps(meta, sort_keys=True)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(quantized, str(int8_path))
    return len(nodes)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def compare(fp32_path: Path, int8_path: Path, events: np.ndarray, controls: np.ndarray | None) -> Agreement:
    reference = Engine.load(fp32_path).run(events, controls)
    candidate = Engine.load(int8_path).run(events, controls)
    log_p, log_q = log_softmax(reference), log_softmax(candidate)
    kl = np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)
    agree = np.argmax(reference, axis=-1) == np.argmax(candidate, axis=-1)
    confident = log_p.max(axis=-1) >= np.log(CONFIDENT_PROBABILITY)
    return Agreement(events=int(events.size), mean_kl=float(kl.mean()), top1_agreement=float(agree.mean()),
                     confident_events=int(confident.sum()),
                     confident_agreement=float(agree[confident].mean()) if confident.any() else 1.0)
