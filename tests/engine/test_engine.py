import json

import numpy as np
import onnx
import pytest

from segue.inference import engine as engine_module
from segue.inference.engine import Engine, session_options
from segue.errors import SegueError

CONTROLS = np.r_[np.eye(8)[3], np.full(12, 1 / 12)].astype(np.float32)


def test_meta_describes_the_model(lstm_path, gru_path):
    lstm, gru = Engine.load(lstm_path), Engine.load(gru_path)
    assert lstm.meta["model_kind"] == "performance_rnn" and lstm.conditioned and lstm.control_dim == 20
    assert gru.meta["model_kind"] == "gru_attention" and not gru.conditioned and gru.control_dim == 0
    assert lstm.meta["kind"] == "performance_rnn" and gru.meta["kind"] == "gru_attention"
    assert gru.meta["state_names"] == ["h", "window", "window_valid"]
    assert [s.shape for s in gru.state] == [(1, 1, 32), (1, 4, 32), (1, 4)]


@pytest.mark.parametrize("which", ["lstm_path", "gru_path"])
def test_feed_equals_streamed_steps(which, request):
    engine = Engine.load(request.getfixturevalue(which))
    events = [356 + 20, 60, 280, 188, 64, 300, 192, 355, 355, 67]
    streamed = [engine.step(e, CONTROLS) for e in events]
    after_steps = engine.snapshot()
    engine.reset()
    fed = engine.feed(events, np.tile(CONTROLS, (len(events), 1)))
    np.testing.assert_allclose(fed, streamed[-1], atol=1e-5)
    for got, want in zip(engine.state, after_steps[0]):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_restore_rewinds_to_the_snapshot(gru_path):
    engine = Engine.load(gru_path)
    engine.feed([60, 270, 188])
    snap = engine.snapshot()
    first = engine.step(64)
    for event in [280, 192, 67, 300, 195]:
        engine.step(event)
    engine.restore(snap)
    np.testing.assert_array_equal(engine.step(64), first)


def test_reset_forgets_the_context(lstm_path):
    engine = Engine.load(lstm_path)
    fresh = engine.step(60, CONTROLS)
    engine.feed([62, 270, 190], np.tile(CONTROLS, (3, 1)))
    assert not np.allclose(engine.step(60, CONTROLS), fresh)
    engine.reset()
    np.testing.assert_array_equal(engine.step(60, CONTROLS), fresh)


def test_pinned_controls_are_used_when_none_are_given(lstm_path):
    engine = Engine.load(lstm_path)
    explicit = engine.step(60, CONTROLS)
    engine.reset()
    engine.set_controls(CONTROLS)
    np.testing.assert_array_equal(engine.step(60), explicit)
    events = [62, 270, 190]
    pinned = engine.feed(events)
    engine.reset()
    engine.step(60)
    np.testing.assert_allclose(engine.feed(events, np.tile(CONTROLS, (3, 1))), pinned, atol=1e-6)


def test_bad_events_and_controls_are_one_line_errors(lstm_path):
    engine = Engine.load(lstm_path)
    with pytest.raises(SegueError, match="0..387"):
        engine.step(388, CONTROLS)
    with pytest.raises(SegueError, match="20 values per event"):
        engine.step(60, np.zeros(12))
    with pytest.raises(SegueError, match="at least one event"):
        engine.feed([])


def test_missing_file_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(SegueError, match=r"nothing\.onnx does not exist.*segue export"):
        Engine.load(tmp_path / "nothing.onnx")


def test_truncated_file_is_reported_as_such(lstm_path, tmp_path):
    data = lstm_path.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SegueError, match=r"cut\.onnx is not a readable ONNX model \(truncated or corrupt\?\)") as err:
        Engine.load(cut)
    assert "\n" not in str(err.value)


def test_non_onnx_file_is_refused(tmp_path):
    fake = tmp_path / "song.onnx"
    fake.write_bytes(b"MThd\x00\x00\x00\x06" * 10)
    with pytest.raises(SegueError, match="not a readable ONNX model"):
        Engine.load(fake)


def test_onnx_without_segue_metadata_is_refused(lstm_path, tmp_path):
    proto = onnx.load(str(lstm_path))
    del proto.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    onnx.save(proto, str(plain))
    with pytest.raises(SegueError, match="not a segue model"):
        Engine.load(plain)


def test_newer_format_asks_for_an_upgrade(lstm_path, tmp_path):
    proto = onnx.load(str(lstm_path))
    for prop in proto.metadata_props:
        if prop.key == engine_module.META_FORMAT:
            prop.value = str(engine_module.FORMAT_VERSION + 1)
    newer = tmp_path / "newer.onnx"
    onnx.save(proto, str(newer))
    with pytest.raises(SegueError, match="newer.onnx uses model format 2 .* upgrade segue"):
        Engine.load(newer)


def test_metadata_that_contradicts_the_graph_is_refused(gru_path, tmp_path):
    proto = onnx.load(str(gru_path))
    for prop in proto.metadata_props:
        if prop.key == engine_module.META_BODY:
            meta = json.loads(prop.value)
            meta["state"] = meta["state"][:1]
            prop.value = json.dumps(meta)
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    with pytest.raises(SegueError, match="do not match its metadata"):
        Engine.load(bad)


def test_missing_default_model_says_to_pass_one(monkeypatch, tmp_path):
    monkeypatch.setattr(engine_module, "default_model_path", lambda: tmp_path / "default.onnx")
    with pytest.raises(SegueError, match="--model"):
        Engine.load()


def test_default_model_loads_when_shipped(monkeypatch, lstm_path):
    monkeypatch.setattr(engine_module, "default_model_path", lambda: lstm_path)
    assert Engine.load().meta["model_kind"] == "performance_rnn"


def test_session_runs_on_one_thread_without_spinning():
    opts = session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
