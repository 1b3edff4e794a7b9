"""What `segue train --init-from` starts from: a checkpoint file, a run folder, or `default`, the shipped model.

`default` is the checkpoint segue/models/default.onnx was exported from, segue/models/default.pt (weights only).
An install without it still has the ONNX graph, which holds every weight: they are recovered from it
(training/from_onnx.py, checked against onnxruntime) into a temporary checkpoint for the length of the run.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import tempfile
from pathlib import Path
from typing import Iterator

from segue.inference.engine import default_model_path
from segue.errors import SegueError

DEFAULT = "default"


def default_checkpoint_path() -> Path:
    return Path(str(importlib.resources.files("segue") / "models" / "default.pt"))


@contextlib.contextmanager
def init_checkpoint(spec: str | None) -> Iterator[str | None]:
    """The checkpoint path to start from while the block runs (None: no --init-from)."""
    if spec != DEFAULT:
        yield spec
        return
    checkpoint, graph = default_checkpoint_path(), default_model_path()
    if checkpoint.is_file():
        print(f"init from the shipped model's checkpoint {checkpoint}", flush=True)
        if graph.is_file():
            _warn_unless_exported_from(checkpoint, graph)
        yield str(checkpoint)
        return
    if not graph.is_file():
        raise SegueError(f"--init-from default: no {checkpoint} and no {graph} to recover it from; "
                         "pass a checkpoint file instead (a best.pt of `segue train`)")
    from training.from_onnx import recover_checkpoint

    with tempfile.TemporaryDirectory(prefix="segue-init-") as folder:
        path, _, _ = recover_checkpoint(graph, Path(folder) / "default.pt")
        print(f"init from the shipped model: weights recovered from {graph} ({checkpoint} is not there)", flush=True)
        yield str(path)


def _warn_unless_exported_from(checkpoint: Path, graph: Path) -> None:
    """default.pt and default.onnx are shipped side by side; one updated without the other would fine-tune a model
    other than the one `segue serve` plays, so say so (a warning: the checkpoint is still a fine start). The graph
    records the sha256 of the checkpoint it was exported from; without that, an fp32 graph's logits are compared
    (an int8 graph's differ from its own checkpoint's by ~1, as much as another checkpoint's may)."""
    import sys

    from export.metadata import exported_from, quantized
    from segue.inference.engine import Engine

    meta = Engine.load(graph).meta
    if exported_from(meta, checkpoint):
        return
    if quantized(meta):
        print(f"warning: {checkpoint} is not the checkpoint {graph} was exported from (its sha256 is not the one "
              f"the graph records); fine-tuning starts from {checkpoint}", file=sys.stderr, flush=True)
        return
    from training.checkpoint import load_model_from_checkpoint
    from training.from_onnx import MAX_LOGIT_DIFF, check_against_onnx

    model, _ = load_model_from_checkpoint(checkpoint)
    diff = check_against_onnx(model, graph)
    if diff > MAX_LOGIT_DIFF:
        print(f"warning: {checkpoint} is not the checkpoint {graph} was exported from "
              f"(max |dlogit| {diff:.2g}); fine-tuning starts from {checkpoint}", file=sys.stderr, flush=True)
