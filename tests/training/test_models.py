import pytest
import torch

from segue.codec.codec import NUM_CLASSES
from segue.errors import SegueError
from training.models import build_model

SMALL = {
    "performance_rnn": dict(kind="performance_rnn", hidden_size=16, num_layers=2, dropout=0.1, conditioned=True),
    "gru_attention": dict(kind="gru_attention", hidden_size=16, num_layers=2, dropout=0.1, conditioned=False,
                          embed_dim=8, attention_window=5),
}


def _inputs(model, batch, steps, seed=0):
    gen = torch.Generator().manual_seed(seed)
    events = torch.randint(0, NUM_CLASSES, (batch, steps), generator=gen)
    controls = torch.rand(batch, steps, model.control_dim, generator=gen) if model.control_dim else None
    return events, controls


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_stepwise_run_equals_one_call(kind):
    torch.manual_seed(0)
    model = build_model(SMALL[kind]).eval()
    events, controls = _inputs(model, batch=3, steps=12)
    with torch.no_grad():
        full_logits, full_state = model(events, controls, model.initial_state(3))
        state, step_logits = model.initial_state(3), []
        for t in range(events.shape[1]):
            logits, state = model(events[:, t:t + 1], None if controls is None else controls[:, t:t + 1], state)
            step_logits.append(logits)
    assert full_logits.shape == (3, 12, NUM_CLASSES)
    torch.testing.assert_close(torch.cat(step_logits, dim=1), full_logits, rtol=1e-4, atol=1e-5)
    for a, b in zip(state, full_state):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_chunked_run_equals_one_call_and_state_shapes_match(kind):
    model = build_model(SMALL[kind]).eval()
    events, controls = _inputs(model, batch=2, steps=9, seed=1)
    with torch.no_grad():
        full, _ = model(events, controls, None)
        first, state = model(events[:, :4], None if controls is None else controls[:, :4], None)
        second, state = model(events[:, 4:], None if controls is None else controls[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), full, rtol=1e-4, atol=1e-5)
    assert [tuple(s.shape) for s in state] == model.state_shapes(2)
    assert len(model.state_names()) == len(state)


def test_attention_window_forgets_outputs_older_than_the_window():
    # With a window of 5, the output at step t may depend on the first event only through the GRU state; swapping
    # the GRU for identity-like behaviour is hard, so check the mask instead: valid slots count up to W and stop.
    model = build_model(SMALL["gru_attention"]).eval()
    events, _ = _inputs(model, batch=1, steps=3)
    with torch.no_grad():
        _, (_, _, valid) = model(events, None, None)
        assert valid.sum().item() == 3
        _, (_, _, valid) = model(torch.cat([events] * 4, 1), None, None)
        assert valid.sum().item() == 5


def test_kind_and_control_dim_attributes():
    assert build_model(SMALL["performance_rnn"]).control_dim == 20
    assert build_model({**SMALL["performance_rnn"], "conditioned": False}).control_dim == 0
    assert build_model(SMALL["gru_attention"]).kind == "gru_attention"


def test_conditioned_model_without_controls_is_a_clear_error():
    model = build_model(SMALL["performance_rnn"])
    with pytest.raises(SegueError, match="controls"):
        model(torch.zeros(1, 2, dtype=torch.long), None, None)


def test_bad_model_config_names_the_key():
    with pytest.raises(SegueError, match="hiden_size"):
        build_model({"kind": "performance_rnn", "hiden_size": 3})
    with pytest.raises(SegueError, match="model.kind"):
        build_model({"kind": "transformer"})


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_model_traces_for_onnx_with_dynamic_time(kind, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = build_model(SMALL[kind]).eval()
    events, controls = _inputs(model, batch=2, steps=3)
    state = model.initial_state(2)
    names = model.state_names()
    inputs = (events, controls, state) if controls is not None else (events, None, state)

    class Flat(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ev, *rest):
            ctrl = rest[0] if inner_conditioned else None
            st = tuple(rest[1:] if inner_conditioned else rest)
            logits, new = self.inner(ev, ctrl, st)
            return (logits, *new)

    inner_conditioned = model.control_dim > 0
    flat_inputs = (events, *([controls] if inner_conditioned else []), *state)
    in_names = ["events", *(["controls"] if inner_conditioned else []), *names]
    path = tmp_path / "m.onnx"
    # eval() on the wrapper: export restores the wrapper's mode afterwards, recursively, children included.
    torch.onnx.export(Flat(model).eval(), flat_inputs, str(path), dynamo=False, input_names=in_names,
                      output_names=["logits", *[n + "_out" for n in names]],
                      dynamic_axes={n: {0: "B", 1: "T"} for n in ("events", "controls", "logits") if n in in_names + ["logits"]})
    sess = ort.InferenceSession(str(path))
    assert not model.training
    ev1, ctrl1 = _inputs(model, batch=2, steps=1, seed=5)
    feed = {"events": ev1.numpy()}
    if inner_conditioned:
        feed["controls"] = ctrl1.numpy()
    feed.update({n: s.numpy() for n, s in zip(names, state)})
    got = sess.run(None, feed)
    with torch.no_grad():
        want, _ = model(ev1, ctrl1 if inner_conditioned else None, state)
    torch.testing.assert_close(torch.from_numpy(got[0]), want, rtol=1e-4, atol=1e-4)
