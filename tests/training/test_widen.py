import pytest
import torch

from segue.errors import SegueError
from training.checkpoint import load_model_from_checkpoint, make_checkpoint, save_checkpoint
from training.models import build_model
from segue.rhythm.pulse_controls import PULSE_DIM
from training.widen import widen_checkpoint

NARROW = dict(kind="performance_rnn", hidden_size=16, num_layers=2, dropout=0.0, conditioned=True)


@pytest.fixture
def narrow_checkpoint(tmp_path):
    torch.manual_seed(3)
    model = build_model(NARROW)
    for parameter in model.parameters():   # away from the default init, so a copied-wrong gate block shows
        parameter.data.normal_(0.0, 0.3)
    return model.eval(), save_checkpoint(make_checkpoint(model, NARROW), tmp_path / "narrow.pt")


def test_the_wide_model_computes_what_the_narrow_one_did(narrow_checkpoint, tmp_path):
    narrow, path = narrow_checkpoint
    widen_checkpoint(path, tmp_path / "wide.pt", 40)
    wide, checkpoint = load_model_from_checkpoint(tmp_path / "wide.pt")
    assert checkpoint["model_config"]["hidden_size"] == 40 and not checkpoint.get("train_state")
    events = torch.randint(0, 388, (3, 200), generator=torch.Generator().manual_seed(1))
    controls = torch.rand(3, 200, narrow.control_dim)
    with torch.no_grad():
        assert torch.allclose(narrow(events, controls)[0], wide(events, controls)[0], atol=1e-5)


def test_training_reaches_the_new_units(narrow_checkpoint, tmp_path):
    """The weights the new units feed start at zero; the gradient on them must not, or they would stay dead."""
    _, path = narrow_checkpoint
    widen_checkpoint(path, tmp_path / "wide.pt", 40)
    wide, _ = load_model_from_checkpoint(tmp_path / "wide.pt")
    wide.train()
    events = torch.randint(0, 388, (2, 50), generator=torch.Generator().manual_seed(2))
    logits, _ = wide(events[:, :-1], torch.rand(2, 49, wide.control_dim))
    torch.nn.functional.cross_entropy(logits.reshape(-1, 388), events[:, 1:].reshape(-1)).backward()
    assert wide.head.weight.grad[:, 16:].abs().sum() > 0


def test_a_narrower_target_is_refused_in_one_line(narrow_checkpoint, tmp_path):
    _, path = narrow_checkpoint
    with pytest.raises(SegueError, match="already has 16 units"):
        widen_checkpoint(path, tmp_path / "wide.pt", 16)


def test_a_model_given_the_pulse_inputs_computes_what_it_did_until_trained(narrow_checkpoint, tmp_path):
    narrow, path = narrow_checkpoint
    widen_checkpoint(path, tmp_path / "pulse.pt", None, pulse=True)
    heard, checkpoint = load_model_from_checkpoint(tmp_path / "pulse.pt")
    assert checkpoint["model_config"]["pulse"] and heard.control_dim == narrow.control_dim + PULSE_DIM
    events = torch.randint(0, 388, (3, 200), generator=torch.Generator().manual_seed(1))
    controls = torch.rand(3, 200, heard.control_dim)
    with torch.no_grad():
        assert torch.allclose(narrow(events, controls[..., :narrow.control_dim])[0], heard(events, controls)[0],
                              atol=1e-6)
    with pytest.raises(SegueError, match="does not hear the pulse yet"):
        widen_checkpoint(tmp_path / "pulse.pt", tmp_path / "twice.pt", None, pulse=True)
