"""The metadata embedded in every exported model: all the engine needs to run it and check it fits.

Stored with onnx.helper.set_model_props as two string properties (segue.inference.engine.META_FORMAT and META_BODY, the
latter JSON). Properties survive onnxruntime's quantize_dynamic, so the int8 model carries the same metadata.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
import torch

from export.graph import OPSET, StateSpec
from segue.codec import codec
from segue.codec.controls import CONTROL_DIM
from segue.rhythm.pulse_controls import PULSE_DIM, hears_pulse
from segue.inference.engine import (CONTROLS_INPUT, EVENTS_INPUT, FORMAT_VERSION, LOGITS_OUTPUT, META_BODY, META_FORMAT,
                                    state_input_name, state_output_name)

# How the 20 control values are laid out (Magenta's multiconditioned_performance_with_dynamics).
CONTROL_LAYOUT = {
    "note_density": {"offset": 0, "size": 8, "bin_edges": [1, 2, 4, 8, 16, 32, 64], "window_seconds": 3},
    "pitch_class_histogram": {"offset": 8, "size": 12, "window_seconds": 5},
}
# What the trainer fed with input t (data.controls); checkpoints from before that key were trained on "future".
CONTROL_ALIGNMENT = {
    "past": "input at t = controls a ControlFollower reports after events 0..t ++ event t (what the daemon has)",
    "future": "input at t = forward-looking controls at t+1 ++ event t (Magenta's)",
    "mix": "trained on both: past-follower controls and forward-looking controls at t+1, per window",
}


# After them, for a model that hears the tracked pulse (segue/rhythm/pulse_controls.py says the values).
PULSE_LAYOUT = {"offset": CONTROL_DIM, "size": PULSE_DIM,
                "values": "c, c sin 2pi phi, c cos 2pi phi, c sin 4pi phi, c cos 4pi phi, c log2(period / 0.55 s)",
                "alignment": "input at t = the beat tracker's reading after events 0..t (the whole stream)"}


def control_layout(ckpt: dict, control_dim: int = CONTROL_DIM) -> dict:
    data = ((ckpt.get("train_state") or {}).get("config") or {}).get("data") or {}
    mode = data.get("controls", "future")
    layout = {**CONTROL_LAYOUT, "trained_with": mode, "alignment": CONTROL_ALIGNMENT.get(mode, mode)}
    if hears_pulse(control_dim):
        layout["pulse"] = PULSE_LAYOUT
    return layout


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def exported_from(meta: dict, checkpoint: str | Path) -> bool:
    """Whether the model whose segue metadata is `meta` was exported from `checkpoint`: by the sha256 it records,
    never by a path on the machine that exported it."""
    recorded = meta.get("source_checkpoint_sha256")
    return bool(recorded) and file_sha256(checkpoint) == recorded


def quantized(meta: dict) -> bool:
    """Whether the model's weights were rounded (export.quantize): its logits are then not its checkpoint's."""
    return meta.get("quantization", "fp32") != "fp32"


def codec_meta() -> dict:
    return {
        **codec.codec_params(),
        "offsets": {"note_on": codec.NOTE_ON_OFFSET, "note_off": codec.NOTE_OFF_OFFSET,
                    "time_shift": codec.TIME_SHIFT_OFFSET, "velocity": codec.VELOCITY_OFFSET},
        "no_event": codec.NO_EVENT,
    }


def eval_protocol(ckpt: dict) -> dict | None:
    """How the trainer windowed its eval set, so `segue evaluate` can score the same windows.

    Looks where the trainer may keep it: the eval record itself, or the training config in the train state."""
    evaluated = ckpt.get("eval") or {}
    if "seq_len" in evaluated:
        return {"seq_len": int(evaluated["seq_len"]), "max_windows": int(evaluated.get("max_windows", 0))}
    train = ((ckpt.get("train_state") or {}).get("config") or {}).get("train") or {}
    if "eval_seq_len" in train:
        return {"seq_len": int(train["eval_seq_len"]), "max_windows": int(train.get("eval_max_windows", 0))}
    return None


def build_meta(model: torch.nn.Module, specs: list[StateSpec], ckpt: dict | None = None,
               checkpoint_path: str | Path | None = None, opset: int = OPSET) -> dict:
    ckpt = ckpt or {}
    conditioned = model.control_dim > 0
    return without_machine_paths({
        "model_kind": model.kind,
        "conditioned": conditioned,
        "control_dim": int(model.control_dim),
        "control_layout": control_layout(ckpt, int(model.control_dim)) if conditioned else None,
        "codec": codec_meta(),
        "inputs": [EVENTS_INPUT] + ([CONTROLS_INPUT] if conditioned else []) + [state_input_name(s.name) for s in specs],
        "outputs": [LOGITS_OUTPUT] + [state_output_name(s.name) for s in specs],
        "state": [s.to_dict() for s in specs],
        "model_config": ckpt.get("model_config", {}),
        "data_summary": ckpt.get("data_summary", {}),
        "eval": ckpt.get("eval", {}),
        "eval_protocol": eval_protocol(ckpt),
        "source_checkpoint": run_relative_name(checkpoint_path) if checkpoint_path else None,
        "source_checkpoint_sha256": file_sha256(checkpoint_path) if checkpoint_path else None,
        "opset": opset,
        "torch_version": torch.__version__,
        "quantization": "fp32",
    })


def run_relative_name(checkpoint_path: str | Path) -> str:
    """`/tmp/runs/exp1/best.pt` -> `exp1/best.pt`: the run folder and file, which identify the checkpoint on any
    machine (with its sha256), unlike the folder it happened to sit in."""
    path = Path(checkpoint_path).resolve()
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def without_machine_paths(value):
    """Every absolute path in `value` (nested dicts and lists) replaced by its last component.

    Shipped models are copied to other machines: an absolute path says nothing there and leaks the build machine's
    folders (a dataset's `folder` from the trainer, a temporary directory). The dataset's name is what identifies it."""
    if isinstance(value, dict):
        return {key: without_machine_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_machine_paths(item) for item in value]
    if isinstance(value, str) and _is_absolute_path(value):
        return PureWindowsPath(value).name if _WINDOWS_ABSOLUTE.match(value) else PurePosixPath(value).name
    return value


_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]|^\\\\")


def _is_absolute_path(text: str) -> bool:
    return (text.startswith("/") and len(text) > 1) or text.startswith("~/") or bool(_WINDOWS_ABSOLUTE.match(text))


def attach(proto: onnx.ModelProto, meta: dict) -> onnx.ModelProto:
    """Write `meta` into the model's properties (replacing earlier segue properties)."""
    kept = {p.key: p.value for p in proto.metadata_props if p.key not in (META_FORMAT, META_BODY)}
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {**kept, META_FORMAT: str(FORMAT_VERSION),
                                        META_BODY: json.dumps(meta, sort_keys=True, default=str)})
    proto.producer_name = "segue"
    return proto


def read(proto: onnx.ModelProto) -> dict:
    props = {p.key: p.value for p in proto.metadata_props}
    return json.loads(props[META_BODY])
