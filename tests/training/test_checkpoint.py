import pickle
import warnings

import pytest
import torch

from segue.errors import SegueError
from training.checkpoint import load_model_from_checkpoint, make_checkpoint, save_checkpoint
from training.models import build_model

CFG = dict(kind="performance_rnn", hidden_size=8, num_layers=1, dropout=0.0, conditioned=False)


def test_round_trip_restores_weights_and_config(tmp_path):
    model = build_model(CFG)
    path = save_checkpoint(make_checkpoint(model, CFG, eval_metrics={"loss": 1.5, "accuracy": 0.3}), tmp_path / "best.pt")
    loaded, ckpt = load_model_from_checkpoint(path)
    assert ckpt["eval"]["loss"] == 1.5 and ckpt["model_config"]["hidden_size"] == 8
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert not loaded.training
    assert not list(tmp_path.glob("*.tmp")), "atomic save leaves no temp file"


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_unrelated_or_corrupt_file_gives_clear_error(tmp_path, content):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(SegueError, match="x.pt"):
        load_model_from_checkpoint(path)


def test_torch_file_that_is_not_ours_gives_clear_error(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(SegueError, match="not a segue checkpoint"):
        load_model_from_checkpoint(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(SegueError, match="nope.pt"):
        load_model_from_checkpoint(tmp_path / "nope.pt")


class NotATensor:
    """A pickled class: exactly what weights_only loading refuses."""


@pytest.mark.parametrize("write", [
    lambda path: torch.save({"format": "segue-checkpoint", "extra": NotATensor()}, path),
    lambda path: path.write_bytes(pickle.dumps({"model": 1}, protocol=4)),   # torch warns about protocol 4
])
def test_refused_pickles_give_a_whole_sentence_and_no_torch_warning(tmp_path, write):
    path = tmp_path / "odd.pt"
    write(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SegueError) as error:
            load_model_from_checkpoint(path)
    message = str(error.value)
    assert "weights-only loading refuses" in message and "argumen)" not in message and "\x1b" not in message
    assert [w for w in caught if issubclass(w.category, UserWarning)] == []


def test_compact_copy_keeps_weights_and_what_the_model_is_but_not_the_optimizer(tmp_path):
    from training.checkpoint import compact_checkpoint, load_checkpoint

    cfg = {"kind": "performance_rnn", "hidden_size": 16, "num_layers": 1, "dropout": 0.0, "conditioned": True}
    model = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 3, 20))[0].sum().backward()
    optimizer.step()
    state = {"step": 7, "optimizer": optimizer.state_dict(), "config": {"data": {"controls": "past"}}}
    full = save_checkpoint(make_checkpoint(model, cfg, state, {"loss": 1.5}), tmp_path / "best.pt")
    small = compact_checkpoint(full, tmp_path / "small.pt")
    assert small.stat().st_size < full.stat().st_size
    ckpt = load_checkpoint(small)
    assert "optimizer" not in ckpt["train_state"] and ckpt["train_state"]["step"] == 7
    assert ckpt["train_state"]["config"]["data"]["controls"] == "past" and ckpt["eval"]["loss"] == 1.5
    again, _ = load_model_from_checkpoint(small)
    for name, tensor in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor)
