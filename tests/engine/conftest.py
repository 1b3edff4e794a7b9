import sys

import pytest

from tests.tiny_models import export_tiny_model


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread where a test uses torch (the engine itself never does: these tests run without it)."""
    if sys.modules.get("torch") is not None:
        sys.modules["torch"].set_num_threads(1)
    yield


def _export(tmp_path_factory, name, cfg):
    return export_tiny_model(tmp_path_factory, name, cfg, parity_steps=20)


@pytest.fixture(scope="session")
def lstm_path(tmp_path_factory):
    """A small conditioned Performance RNN exported to ONNX."""
    return _export(tmp_path_factory, "lstm", dict(kind="performance_rnn", hidden_size=32, num_layers=2, conditioned=True))


@pytest.fixture(scope="session")
def gru_path(tmp_path_factory):
    """A small unconditioned GRU + attention model exported to ONNX."""
    return _export(tmp_path_factory, "gru", dict(kind="gru_attention", hidden_size=32, num_layers=1, embed_dim=16,
                                                 attention_window=4, conditioned=False))
