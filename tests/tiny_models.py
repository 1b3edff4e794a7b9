"""Small untrained models exported to ONNX for tests of the torch-free side (torch is used by tests only)."""
import pytest


def export_tiny_model(tmp_path_factory, name: str, cfg: dict, parity_steps: int = 20):
    """The model exported to ONNX; without torch (it builds and exports them) the test asking for it skips."""
    torch = pytest.importorskip("torch", reason="the tiny test models are built and exported with torch")

    from export.pipeline import export_model
    from training.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / f"{name}.onnx"
    export_model(build_model(cfg), path, parity_steps=parity_steps)
    return path
