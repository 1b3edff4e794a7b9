import pytest

from tests.tiny_models import export_tiny_model


def _export(tmp_path_factory, name, cfg):
    pytest.importorskip("torch")
    return export_tiny_model(tmp_path_factory, name, cfg, parity_steps=5)


@pytest.fixture(scope="session")
def gru_model_path(tmp_path_factory):
    """Unconditioned GRU + attention."""
    return _export(tmp_path_factory, "gru", dict(kind="gru_attention", hidden_size=32, num_layers=1, embed_dim=16,
                                                 attention_window=4, conditioned=False))


@pytest.fixture(scope="session")
def lstm_model_path(tmp_path_factory):
    """Conditioned Performance RNN (takes density + pitch-class controls)."""
    return _export(tmp_path_factory, "lstm", dict(kind="performance_rnn", hidden_size=32, num_layers=2,
                                                  conditioned=True))
