import json

import numpy as np
import onnx
import pytest
import torch

from export import graph, metadata, parity
from export.pipeline import export_model
from segue.inference.engine import Engine


@pytest.mark.parametrize("name", ["performance_rnn", "gru_attention", "gru_attention_conditioned",
                                  "performance_rnn_pulse"])
def test_streamed_and_full_logits_match_torch_within_1e4(name, tmp_path, make_model):
    model = make_model(name)
    result = export_model(model, tmp_path / f"{name}.onnx", parity_steps=500)
    report = result.parity
    assert report.stream_steps >= 500 and report.full_steps >= 500
    assert report.stream_max_abs <= 1e-4 and report.full_max_abs <= 1e-4, report.line()
    # the logits are not trivially small, so the tolerance means something
    logits = parity.torch_full(model, np.arange(0, 388, 7), parity.random_controls(56, model.control_dim, 0))
    assert np.abs(logits).max() > 1.0


def test_parity_check_notices_a_model_that_differs(tmp_path, make_model):
    model = make_model("performance_rnn")
    export_model(model, tmp_path / "m.onnx", parity_steps=50)
    with torch.no_grad():
        model.head.bias[5] += 1e-3
    report = parity.check_parity(model, tmp_path / "m.onnx", steps=50)
    assert not report.ok
    assert report.stream_max_abs == pytest.approx(1e-3, rel=0.01)


@pytest.mark.parametrize("name", ["performance_rnn", "gru_attention"])
def test_graph_has_dynamic_batch_and_time(name, tmp_path, make_model):
    model = make_model(name)
    export_model(model, tmp_path / "m.onnx", parity_steps=10)
    engine = Engine.load(tmp_path / "m.onnx")
    batch, time = 3, 7
    inputs = graph.example_inputs(model, batch=batch, time=time, seed=3)
    feeds = dict(zip([i.name for i in engine.session.get_inputs()], [t.numpy() for t in inputs]))
    onnx_logits, *onnx_state = engine.session.run(None, feeds)
    with torch.no_grad():
        controls = inputs[1] if model.control_dim else None
        state = inputs[2:] if model.control_dim else inputs[1:]
        torch_logits, torch_state = model(inputs[0], controls, tuple(state))
    assert onnx_logits.shape == (batch, time, 388)
    np.testing.assert_allclose(onnx_logits, torch_logits.numpy(), atol=1e-4)
    for got, want in zip(onnx_state, torch_state):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4)


def test_model_is_checker_clean_and_carries_metadata(tmp_path, make_model, small_models):
    model = make_model("gru_attention")
    ckpt = {"model_config": small_models["gru_attention"], "eval": {"loss": 2.5}, "data_summary": {"pieces": 3}}
    source = tmp_path / "best.pt"
    source.write_bytes(b"pretend checkpoint")
    export_model(model, tmp_path / "m.onnx", ckpt=ckpt, checkpoint_path=source, parity_steps=10)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) >= 17
    meta = metadata.read(proto)
    assert meta["model_kind"] == "gru_attention" and meta["conditioned"] is False
    assert [s["name"] for s in meta["state"]] == ["h", "window", "window_valid"]
    assert [s["batch_axis"] for s in meta["state"]] == [1, 0, 0]
    assert meta["codec"]["num_classes"] == 388 and meta["codec"]["steps_per_second"] == 100
    assert meta["eval"] == {"loss": 2.5} and meta["data_summary"] == {"pieces": 3}
    assert meta["source_checkpoint_sha256"] == metadata.file_sha256(source)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["segue.meta"]) == meta and props["segue.format_version"] == "1"


def test_export_refuses_a_non_onnx_output_name(tmp_path, make_model):
    from segue.errors import SegueError

    with pytest.raises(SegueError, match="should end in .onnx"):
        export_model(make_model("performance_rnn"), tmp_path / "m.pt", parity_steps=10)


def test_held_out_music_is_checked_with_its_own_controls(tmp_path, make_model):
    from segue.codec import codec
    from segue.codec.codec import Note

    notes = [Note(60 + (i * 7) % 24, 40 + i % 80, 0.2 * i, 0.2 * i + 0.5) for i in range(150)]
    music = np.asarray(codec.encode_notes(notes), dtype=np.int64)
    assert len(music) >= 500
    result = export_model(make_model("performance_rnn"), tmp_path / "m.onnx", int8=True, parity_steps=500,
                          held_out=music, int8_min_agreement=0.0, int8_max_kl=1.0)
    assert result.parity.ok and result.parity.stream_steps == 500
    assert result.agreement.events == 500
    controls = parity.music_controls(music[:500], 20)
    assert controls.shape == (500, 20) and np.allclose(controls.sum(axis=1), 2.0, atol=1e-4)  # one-hot + histogram
