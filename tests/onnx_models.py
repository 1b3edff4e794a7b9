"""A tiny segue model written with onnx.helper, without torch: the engine's contract (inputs, state, metadata)
around a running sum, h_t = h_in + sum of embed[event] up to t, logits_t = tanh(h_t) @ out (+ controls_t @ steer).
Stepping it event by event and running a whole sequence at once must agree, as for an exported RNN."""
import json

import numpy as np
import pytest

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM
from segue.rhythm.pulse_controls import PULSE_DIM
from segue.inference.engine import (CONTROLS_INPUT, EVENTS_INPUT, FORMAT_VERSION, LOGITS_OUTPUT, META_BODY,
                                    META_FORMAT, state_input_name, state_output_name)

HIDDEN = 8


def running_sum_model(path, conditioned: bool = True, seed: int = 0, pulse: bool = False):
    """`pulse`: its controls are the 20 a caller gives and the PULSE_DIM the engine adds from the stream."""
    onnx = pytest.importorskip("onnx", reason="the torch-free test model is written with onnx.helper")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    control_dim = CONTROL_DIM + (PULSE_DIM if pulse else 0)
    weights = {"embed": rng.normal(0, 0.5, (codec.NUM_CLASSES, HIDDEN)),
               "out": rng.normal(0, 1.0, (HIDDEN, codec.NUM_CLASSES)),
               "steer": rng.normal(0, 1.0, (control_dim, codec.NUM_CLASSES)),
               "axis": np.array(1, np.int64), "axes": np.array([1], np.int64)}
    initializers = [numpy_helper.from_array(np.asarray(v, np.float32 if v.dtype == np.float64 else v.dtype), name)
                    for name, v in weights.items() if conditioned or name != "steer"]
    h_in, h_out = state_input_name("h"), state_output_name("h")
    nodes = [helper.make_node("Gather", ["embed", EVENTS_INPUT], ["embedded"]),                 # [B, T, H]
             helper.make_node("CumSum", ["embedded", "axis"], ["summed"]),
             helper.make_node("Unsqueeze", [h_in, "axes"], ["h0"]),                            # [B, 1, H]
             helper.make_node("Add", ["summed", "h0"], ["h_steps"]),
             helper.make_node("Tanh", ["h_steps"], ["hidden"]),
             helper.make_node("MatMul", ["hidden", "out"], ["plain" if conditioned else LOGITS_OUTPUT]),
             helper.make_node("ReduceSum", ["embedded", "axes"], ["total"], keepdims=0),
             helper.make_node("Add", [h_in, "total"], [h_out])]
    inputs = [helper.make_tensor_value_info(EVENTS_INPUT, TensorProto.INT64, ["batch", "time"])]
    if conditioned:
        nodes += [helper.make_node("MatMul", [CONTROLS_INPUT, "steer"], ["steered"]),
                  helper.make_node("Add", ["plain", "steered"], [LOGITS_OUTPUT])]
        inputs.append(helper.make_tensor_value_info(CONTROLS_INPUT, TensorProto.FLOAT, ["batch", "time", control_dim]))
    inputs.append(helper.make_tensor_value_info(h_in, TensorProto.FLOAT, ["batch", HIDDEN]))
    outputs = [helper.make_tensor_value_info(LOGITS_OUTPUT, TensorProto.FLOAT, ["batch", "time", codec.NUM_CLASSES]),
               helper.make_tensor_value_info(h_out, TensorProto.FLOAT, ["batch", HIDDEN])]
    graph = helper.make_graph(nodes, "running_sum", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"model_kind": "running_sum", "conditioned": conditioned, "control_dim": control_dim if conditioned else 0,
            "control_layout": {"pulse": {"offset": CONTROL_DIM, "size": PULSE_DIM}} if pulse else {},
            "codec": {**codec.codec_params()},
            "state": [{"name": "h", "shape": [1, HIDDEN], "batch_axis": 0, "dtype": "float32"}]}
    helper.set_model_props(model, {META_FORMAT: str(FORMAT_VERSION), META_BODY: json.dumps(meta)})
    onnx.save(model, str(path))
    return path
