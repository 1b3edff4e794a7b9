"""`segue export CHECKPOINT -o MODEL.onnx [--int8]`"""

from __future__ import annotations

import argparse
from pathlib import Path

from segue.cli.main import add_config_args, config_from_args


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a trained checkpoint to ONNX for the engine (checks parity; optional int8)",
        description="Export a checkpoint to an ONNX step graph with its state and metadata, verify torch/ONNX parity, "
                    "and optionally write an int8 model next to it (NAME.int8.onnx).")
    parser.add_argument("checkpoint", type=Path, help="best.pt / last.pt written by `segue train` (or its run folder)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write the fp32 model (.onnx)")
    parser.add_argument("--int8", action="store_true", help="also write NAME.int8.onnx (dynamic per-channel int8)")
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset folder from `segue data build`: judge parity and int8 on its eval split")
    add_config_args(parser)
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    import torch

    from export.pipeline import export_model
    from training.checkpoint import load_model_from_checkpoint

    cfg = config_from_args(args).export
    torch.set_num_threads(1)
    model, ckpt = load_model_from_checkpoint(args.checkpoint)
    held_out = None
    if args.data is not None:
        from segue.evaluation.evaluate import held_out_events
        held_out = held_out_events(args.data, cfg.parity_steps)
    result = export_model(model, args.output, ckpt=ckpt, checkpoint_path=_checkpoint_file(args.checkpoint),
                          int8=args.int8, opset=cfg.opset, parity_steps=cfg.parity_steps, held_out=held_out,
                          int8_max_kl=cfg.int8_max_kl, int8_min_agreement=cfg.int8_min_agreement)
    print(f"wrote {result.path} ({_mib(result.path)}, {model.kind}, "
          f"{'conditioned' if model.control_dim else 'unconditioned'})")
    print(result.parity.line())
    if result.int8_path is not None:
        print(f"wrote {result.int8_path} ({_mib(result.int8_path)}, {result.int8_nodes} nodes quantized)")
        print(result.agreement.line())
        if model.kind == "gru_attention":
            print("note: onnxruntime has no int8 GRU cell, so only the projection layers are int8; expect a small "
                  "speed-up at most (bench/step.py measures it)")
    return 0


def _checkpoint_file(path: Path) -> Path:
    if path.is_dir():
        return next(p for p in (path / "best.pt", path / "last.pt") if p.is_file())
    return path


def _mib(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.2f} MiB"
