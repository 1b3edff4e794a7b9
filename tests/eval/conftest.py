import pytest


@pytest.fixture(scope="session")
def gru_model_path(tmp_path_factory):
    """A small untrained, unconditioned GRU + attention model exported to ONNX (needs torch: tests only)."""
    torch = pytest.importorskip("torch")
    from export.pipeline import export_model
    from training.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "gru.onnx"
    cfg = dict(kind="gru_attention", hidden_size=32, num_layers=1, embed_dim=16, attention_window=4, conditioned=False)
    export_model(build_model(cfg), path, parity_steps=5)
    return path
