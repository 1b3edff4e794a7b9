import pytest


def _export(tmp_path_factory, name, cfg):
    """A small untrained model exported to ONNX (torch is used by the tests only, never by segue/)."""
    torch = pytest.importorskip("torch")
    from export.pipeline import export_model
    from training.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / f"{name}.onnx"
    export_model(build_model(cfg), path, parity_steps=5)
    return path


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
