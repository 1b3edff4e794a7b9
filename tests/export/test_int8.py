import onnx
import pytest

from export import metadata
from export.pipeline import export_model, int8_path_for
from segue.engine import Engine
from segue.errors import SegueError


def test_int8_lstm_is_quantized_and_agrees_with_fp32(tmp_path, make_trained_model):
    result = export_model(make_trained_model("performance_rnn"), tmp_path / "m.onnx", int8=True, parity_steps=300)
    assert result.int8_path == tmp_path / "m.int8.onnx"
    proto = onnx.load(str(result.int8_path))
    ops = {node.op_type for node in proto.graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    assert metadata.read(proto)["quantization"].startswith("int8")
    assert result.agreement.events == 300
    assert result.agreement.mean_kl < 0.01 and result.agreement.top1_agreement > 0.95
    # the int8 model is a valid segue model for the engine
    engine = Engine.load(result.int8_path)
    assert engine.step(60, [0.0] * 20).shape == (388,)


def test_int8_model_that_disagrees_is_refused_with_its_figures(tmp_path, make_model):
    with pytest.raises(SegueError, match=r"int8 model rejected: .*mean KL .*top-1 agreement"):
        export_model(make_model("gru_attention"), tmp_path / "m.onnx", int8=True, parity_steps=50,
                     int8_max_kl=-1.0)
    assert not int8_path_for(tmp_path / "m.onnx").exists()
    assert (tmp_path / "m.onnx").exists()  # the fp32 model stays
