"""A model whose graph disagrees with its metadata is refused at load, in one line naming the file and what differs,
for every verb that loads one (serve, generate, evaluate all go through Engine.load)."""
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from segue.inference import engine as engine_module
from segue.inference.engine import Engine
from segue.errors import SegueError


def rewrite_meta(source, target, change):
    """Copy an exported model with its segue metadata passed through `change(meta)`."""
    proto = onnx.load(str(source))
    for prop in proto.metadata_props:
        if prop.key == engine_module.META_BODY:
            meta = json.loads(prop.value)
            change(meta)
            prop.value = json.dumps(meta)
    onnx.save(proto, str(target))
    return target


def hundred_class_model(lstm_path, target, declared_classes):
    """A graph whose logits have 100 classes (an embedding lookup), with the metadata of a real 388-class model.
    `declared_classes` is what the graph's output type says: 100, or a symbolic name that hides it."""
    meta_props = {p.key: p.value for p in onnx.load(str(lstm_path)).metadata_props}
    meta = json.loads(meta_props[engine_module.META_BODY])
    meta["state"] = [{"name": "h", "shape": [1, 1, 8], "batch_axis": 1, "dtype": "float32"}]
    table = numpy_helper.from_array(np.zeros((388, 100), np.float32), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "events"], ["logits"]), helper.make_node("Identity", ["h_in"], ["h_out"])],
        "fake",
        [helper.make_tensor_value_info("events", TensorProto.INT64, ["B", "T"]),
         helper.make_tensor_value_info("controls", TensorProto.FLOAT, ["B", "T", 20]),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, "B", 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "T", declared_classes]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, "B", 8])],
        [table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {engine_module.META_FORMAT: "1", engine_module.META_BODY: json.dumps(meta)})
    onnx.save(model, str(target))
    return target


@pytest.mark.parametrize("declared", [100, "classes"])
def test_a_graph_with_100_logits_under_388_class_metadata_is_refused(lstm_path, tmp_path, declared):
    bad = hundred_class_model(lstm_path, tmp_path / "hundred.onnx", declared)
    with pytest.raises(SegueError, match=r"hundred\.onnx: graph and metadata disagree: .*100.*388") as error:
        Engine.load(bad)
    assert "\n" not in str(error.value)


def test_state_shapes_that_differ_from_the_graph_are_named(lstm_path, tmp_path):
    def wider_state(meta):
        meta["state"][0]["shape"][-1] *= 2
    bad = rewrite_meta(lstm_path, tmp_path / "state.onnx", wider_state)
    with pytest.raises(SegueError, match=r"state\.onnx: graph and metadata disagree: h_in is \[2, \*, 32\] in the "
                                         r"graph, \[2, \*, 64\] by its metadata"):
        Engine.load(bad)


def test_a_control_width_that_differs_is_named(lstm_path, tmp_path):
    def narrow(meta):
        meta["control_dim"] = 12
    bad = rewrite_meta(lstm_path, tmp_path / "controls.onnx", narrow)
    with pytest.raises(SegueError, match=r"controls\.onnx: graph and metadata disagree: metadata control_dim is 12, "
                                         r"segue computes 20 controls; controls is \[\*, \*, 20\] in the graph"):
        Engine.load(bad)


def test_generate_refuses_it_in_one_line_and_writes_nothing(lstm_path, tmp_path):
    bad = hundred_class_model(lstm_path, tmp_path / "hundred.onnx", "classes")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "segue", "generate", "--model", str(bad), "--steps", "5",
                             "--no-png", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "hundred.onnx" in result.stderr and "388" in result.stderr
    assert not out.exists() or not any(out.iterdir())
