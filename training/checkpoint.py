"""Checkpoint files: one dict saved with torch.save, written atomically, read with torch.load(weights_only=True).

    {"format": "segue-checkpoint", "version": 1,
     "model_config": {...},            # training.models.model_config_dict
     "codec": {...},                   # codec_params(): the event vocabulary the model was trained on
     "model": state_dict,
     "train_state": {...},             # optimizer, scheduler, stage, early stop, RNG, step, data position
     "eval": {"loss": ..., "accuracy": ...},
     "data_summary": {...}}

weights_only=True restricts unpickling to tensors and plain containers, so loading a file never executes code
from it; that is also why everything we store is plain (no numpy arrays, no custom classes).
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM
from segue.errors import SegueError
from training.models import build_model, model_config_dict

CHECKPOINT_FORMAT = "segue-checkpoint"
CHECKPOINT_VERSION = 1


def codec_params() -> dict:
    """The codec constants a model depends on; stored so a mismatch is caught at load time."""
    return {**codec.codec_params(), "control_dim": CONTROL_DIM}


def make_checkpoint(model: nn.Module, model_cfg, train_state: dict | None = None, eval_metrics: dict | None = None,
                    data_summary: dict | None = None) -> dict:
    """The checkpoint dict for `model` (unwrap DDP before calling)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": model_config_dict(model_cfg),
        "codec": codec_params(),
        "model": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "train_state": train_state or {},
        "eval": eval_metrics or {},
        "data_summary": data_summary or {},
    }


def save_checkpoint(ckpt: dict, path: str | Path) -> Path:
    """Write atomically: a crash mid-write leaves the previous file intact (temp file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(ckpt, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, validated; SegueError naming the file for anything that is not a segue checkpoint."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise SegueError(f"{path}: folder has no best.pt or last.pt; pass a checkpoint file")
    if not path.is_file():
        raise SegueError(f"{path}: checkpoint file not found")
    try:
        with warnings.catch_warnings():
            # torch warns about the pickle protocol of files it then refuses anyway; the refusal says it all
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, pickle refused by weights_only, truncated file, not torch at all ...
        raise SegueError(f"{path}: not a segue checkpoint ({_unreadable_reason(exc)}); "
                         "pass a best.pt/last.pt written by `segue train`") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise SegueError(f"{path}: not a segue checkpoint (no 'format: {CHECKPOINT_FORMAT}' field); "
                         "pass a best.pt/last.pt written by `segue train`")
    if int(ckpt.get("version", 0)) > CHECKPOINT_VERSION:
        raise SegueError(f"{path}: checkpoint version {ckpt.get('version')} is newer than this segue "
                         f"(reads up to {CHECKPOINT_VERSION}); upgrade segue")
    stored_codec = ckpt.get("codec", {})
    expected = codec_params()
    mismatched = sorted(k for k in ("num_classes", "steps_per_second", "num_velocity_bins")
                        if stored_codec.get(k) != expected[k])
    if mismatched:
        raise SegueError(f"{path}: trained with a different event codec ({', '.join(mismatched)} differ)")
    return ckpt


def _unreadable_reason(exc: Exception) -> str:
    """torch.load's refusal in a few words. Its own messages run to paragraphs with terminal colour codes, and for
    non-torch files they are cryptic (a text file gives "KeyError: 101"), so say what it means first."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if "Weights only load failed" in text:
        return "it holds pickled Python objects that weights-only loading refuses; segue never unpickles code from a file"
    first = re.split(r"(?<=\.)\s", text.splitlines()[0])[0] if text else ""
    if len(first) > 120:
        first = first[:120].rsplit(" ", 1)[0] + " ..."
    return f"torch cannot read it: {type(exc).__name__}{': ' + first if first else ''}"


def load_model_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """(model in eval mode on CPU, checkpoint dict)."""
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["model_config"])
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise SegueError(f"{path}: weights do not match the stored model config ({first})") from None
    return model.eval(), ckpt


def compact_checkpoint(source: str | Path, out: str | Path) -> Path:
    """A weights-only copy of a checkpoint (no optimizer, scheduler or RNG state: a third of the size), still a
    segue checkpoint: `segue train --init-from` fine-tunes from it and `segue export` exports it. It keeps the
    training config, step and time, eval and data summary, so the copy still says what it is."""
    ckpt = load_checkpoint(source)
    state = ckpt.get("train_state") or {}
    kept = {key: state[key] for key in ("step", "stage", "elapsed", "config", "ended") if key in state}
    return save_checkpoint({**ckpt, "train_state": kept}, out)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="python -m training.checkpoint SRC -o DST: weights-only copy")
    parser.add_argument("source")
    parser.add_argument("-o", "--out", required=True)
    args = parser.parse_args(argv)
    path = compact_checkpoint(args.source, args.out)
    print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB (from {Path(args.source).stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
