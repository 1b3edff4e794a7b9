"""Small untrained models exported to ONNX for tests of the torch-free side (torch is used by tests only)."""


def export_tiny_model(tmp_path_factory, name: str, cfg: dict, parity_steps: int = 20):
    import torch

    from export.pipeline import export_model
    from training.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / f"{name}.onnx"
    export_model(build_model(cfg), path, parity_steps=parity_steps)
    return path
