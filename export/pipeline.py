"""The whole export: checkpoint -> fp32 ONNX with metadata -> parity check -> optional int8 with agreement check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from export import graph, metadata, parity, quantize
from segue.errors import SegueError


@dataclass
class ExportResult:
    path: Path
    parity: parity.ParityReport
    int8_path: Path | None = None
    agreement: quantize.Agreement | None = None
    int8_nodes: int = 0


def int8_path_for(path: Path) -> Path:
    """models/classical.onnx -> models/classical.int8.onnx"""
    return path.with_name(path.stem + ".int8" + path.suffix)


def export_model(model: torch.nn.Module, out_path: str | Path, *, ckpt: dict | None = None,
                 checkpoint_path: str | Path | None = None, int8: bool = False, opset: int = graph.OPSET,
                 parity_steps: int = 500, held_out: np.ndarray | None = None, int8_max_kl: float = 0.01,
                 int8_min_agreement: float = 0.95, seed: int = 0) -> ExportResult:
    """Export `model`; raise SegueError (and leave no file) if parity or int8 agreement fail."""
    out_path = Path(out_path)
    if out_path.suffix != ".onnx":
        raise SegueError(f"output {out_path} should end in .onnx")
    model = model.eval()
    proto = graph.export_step_graph(model, opset=opset)
    meta = metadata.build_meta(model, graph.state_specs(model), ckpt, checkpoint_path, opset=opset)
    graph.save(metadata.attach(proto, meta), out_path)

    events = None if held_out is None else np.asarray(held_out[:parity_steps], dtype=np.int64)
    steps = parity_steps if events is None else len(events)
    report = parity.check_parity(model, out_path, steps=steps, events=events, seed=seed)
    if not report.ok:
        out_path.unlink()
        raise SegueError(f"{report.line()}; no model written — please report this with the checkpoint")
    result = ExportResult(path=out_path, parity=report)
    if int8:
        # judge int8 on held-out music when given, else on a stream the fp32 model samples itself
        if events is None:
            controls = parity.random_controls(steps, model.control_dim, seed + 1)
            events, _ = parity.torch_stream(model, steps, controls, seed=seed + 1)
        else:
            controls = parity.music_controls(events, model.control_dim)
        target = int8_path_for(out_path)
        result.int8_nodes = quantize.quantize(out_path, target)
        agreement = quantize.compare(out_path, target, events, controls)
        if agreement.mean_kl > int8_max_kl or agreement.confident_agreement < int8_min_agreement:
            target.unlink()
            raise SegueError(f"int8 model rejected: {agreement.line()} (limits: KL <= {int8_max_kl}, agreement >= "
                             f"{100 * int8_min_agreement:.0f}%, export.int8_* in config.yaml); fp32 model kept at {out_path}")
        result.int8_path, result.agreement = target, agreement
    return result
