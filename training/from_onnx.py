"""Weights back out of an exported Performance RNN: an ONNX step graph -> a segue checkpoint to fine-tune from.

    python -m training.from_onnx segue/models/default.onnx -o runs/onnx-init.pt
    segue train --init-from runs/onnx-init.pt --data data/mine --out runs/ft

For a model whose source checkpoint is gone (segue/models/default.onnx shipped before its checkpoint was kept in
the repo). The graph holds every weight: ONNX LSTM W [1, 4H, in], R [1, 4H, H], B [1, 8H] per layer (gates i, o,
f, c; B = input biases then recurrent biases) and the head as MatMul [H, 388] + bias. torch's LSTM orders its
gates i, f, g(=c), o. Only performance_rnn (LSTM) graphs are read; the recovered model's logits are checked
against onnxruntime before the file is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from export.metadata import quantized
from segue.errors import SegueError
from training.checkpoint import make_checkpoint, save_checkpoint
from training.models import build_model

ONNX_TO_TORCH_GATES = [0, 2, 3, 1]       # torch (i, f, g, o) <- onnx blocks (i, o, f, c)
MAX_LOGIT_DIFF = 1e-4                    # fp32 torch vs onnxruntime on the same weights: ~7e-6 (default.onnx)


def _gates(weight: np.ndarray, hidden: int) -> np.ndarray:
    blocks = weight.reshape(4, hidden, *weight.shape[1:])
    return blocks[ONNX_TO_TORCH_GATES].reshape(weight.shape)


def model_from_onnx(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """(torch model with the graph's weights, the graph's segue metadata)."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    if "segue.meta" not in props:
        raise SegueError(f"{path}: not a segue ONNX model (no segue.meta)")
    meta = json.loads(props["segue.meta"])
    if meta.get("model_kind") != "performance_rnn":
        raise SegueError(f"{path}: only performance_rnn graphs can be read back, this is {meta.get('model_kind')}")
    if quantized(meta):
        raise SegueError(f"{path} is {meta['quantization']}: its weights are rounded and cannot be read back into a "
                         "checkpoint; start from the checkpoint it was exported from")
    model = build_model(meta["model_config"])
    weights = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    hidden = model.hidden_size
    state = {}
    lstm_nodes = [node for node in proto.graph.node if node.op_type == "LSTM"]
    if len(lstm_nodes) != model.num_layers:
        raise SegueError(f"{path}: {len(lstm_nodes)} LSTM nodes for a {model.num_layers}-layer model")
    for layer, node in enumerate(lstm_nodes):
        w, r, b = (weights[name][0] for name in node.input[1:4])
        state[f"lstm.weight_ih_l{layer}"] = _gates(w, hidden)
        state[f"lstm.weight_hh_l{layer}"] = _gates(r, hidden)
        state[f"lstm.bias_ih_l{layer}"] = _gates(b[:4 * hidden], hidden)
        state[f"lstm.bias_hh_l{layer}"] = _gates(b[4 * hidden:], hidden)
    head = [node for node in proto.graph.node if node.op_type == "MatMul"][-1]
    bias = next(node for node in proto.graph.node if node.op_type == "Add" and "logits" in node.output)
    state["head.weight"] = weights[head.input[1]].T
    state["head.bias"] = next(weights[name] for name in bias.input if name in weights)
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()})
    return model.eval(), meta


def check_against_onnx(model: torch.nn.Module, path: str | Path, steps: int = 64, seed: int = 0) -> float:
    """Largest |logit difference| between the recovered model and onnxruntime on random events."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    events = rng.integers(0, 388, size=(2, steps))
    controls = rng.random((2, steps, model.control_dim)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    zeros = np.zeros((model.num_layers, 2, model.hidden_size), dtype=np.float32)
    feeds = {"events": events.astype(np.int64), "h_in": zeros, "c_in": zeros}
    if model.control_dim:
        feeds["controls"] = controls
    names = {i.name for i in sess.get_inputs()}
    onnx_logits = sess.run(["logits"], {k: v for k, v in feeds.items() if k in names})[0]
    with torch.no_grad():
        ours, _ = model(torch.from_numpy(events), torch.from_numpy(controls) if model.control_dim else None)
    return float(np.abs(ours.numpy() - onnx_logits).max())


def recover_checkpoint(path: str | Path, out: str | Path) -> tuple[Path, dict, float]:
    """Write the graph's weights as a checkpoint file, refused unless the recovered model reproduces its logits:
    (the file, the graph's metadata, the largest |logit difference| to onnxruntime)."""
    model, meta = model_from_onnx(path)
    diff = check_against_onnx(model, path)
    if diff > MAX_LOGIT_DIFF:
        raise SegueError(f"{path}: recovered weights disagree with the graph (max |dlogit| {diff:.2e})")
    written = save_checkpoint(make_checkpoint(model, meta["model_config"], eval_metrics=meta.get("eval"),
                                              data_summary=meta.get("data_summary")), out)
    return written, meta, diff


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", help="an ONNX file written by `segue export` (performance_rnn)")
    parser.add_argument("-o", "--out", required=True, help="checkpoint file to write")
    args = parser.parse_args(argv)
    _, meta, diff = recover_checkpoint(args.onnx, args.out)
    print(f"{args.out}: {meta['model_config']['num_layers']}x{meta['model_config']['hidden_size']} "
          f"{meta['model_kind']} from {args.onnx} (max |dlogit| vs onnxruntime {diff:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
