"""`segue export CHECKPOINT -o MODEL.onnx [--int8]`"""

from __future__ import annotations

import argparse
from pathlib import Path

from segue.cli.main import TRAIN_MARK, add_config_args, add_force_arg, config_from_args, refuse_to_overwrite

# The sections of config.yaml this room owns (segue/config.py sections(): loaded only when a config is read).
SETTINGS = {"export": "export.settings:ExportConfig"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help=f"export a trained checkpoint to ONNX for the engine (checks parity; optional int8) {TRAIN_MARK}",
        description="Export a checkpoint to an ONNX step graph with its state and metadata, verify torch/ONNX parity, "
                    "and optionally write an int8 model next to it (NAME.int8.onnx).")
    parser.add_argument("checkpoint", type=Path, help="best.pt / last.pt written by `segue train` (or its run folder)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write the fp32 model (.onnx)")
    parser.add_argument("--int8", action="store_true", help="also write NAME.int8.onnx (dynamic per-channel int8)")
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset folder from `segue data build`: judge parity and int8 on its eval split")
    add_force_arg(parser)
    add_config_args(parser)
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    import torch

    from export.pipeline import export_model, int8_path_for
    from training.checkpoint import load_model_from_checkpoint

    checkpoint = _checkpoint_file(args.checkpoint)
    refuse_to_overwrite([args.output] + ([int8_path_for(args.output)] if args.int8 else []), args.force)
    cfg = config_from_args(args).export
    torch.set_num_threads(1)
    model, ckpt = load_model_from_checkpoint(checkpoint)
    held_out = None
    if args.data is not None:
        from segue.evaluation.evaluate import held_out_events
        held_out = held_out_events(args.data, cfg.parity_steps)
    result = export_model(model, args.output, ckpt=ckpt, checkpoint_path=checkpoint,
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
    """The checkpoint named (or its run folder's best.pt, else last.pt), or a SegueError saying what export takes."""
    import zipfile

    from segue.errors import SegueError

    takes = "segue export takes a best.pt / last.pt written by `segue train`, or its run folder"
    if path.is_dir():
        found = [p for p in (path / "best.pt", path / "last.pt") if p.is_file()]
        if not found:
            raise SegueError(f"{path} holds no best.pt or last.pt; {takes}")
        return found[0]
    if not path.is_file():
        raise SegueError(f"{path} does not exist; {takes}")
    if not zipfile.is_zipfile(path):          # torch.save writes a zip archive; a MIDI or ONNX file is none
        raise SegueError(f"{path} is not a checkpoint; {takes}")
    return path


def _mib(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.2f} MiB"
