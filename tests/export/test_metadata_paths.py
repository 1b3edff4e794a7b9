"""An exported model's metadata names its checkpoint and dataset relative to their run and dataset folders (plus
the checkpoint's sha256), never by an absolute path of the machine that exported it."""
import json

import onnx

from export import metadata
from export.pipeline import export_model


def all_strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)
    elif isinstance(value, str):
        yield value


def test_exported_metadata_holds_no_absolute_path(tmp_path, make_model, small_models):
    run = tmp_path / "runs" / "exp1"
    run.mkdir(parents=True)
    source = run / "best.pt"
    source.write_bytes(b"pretend checkpoint")
    ckpt = {"model_config": small_models["performance_rnn"],
            "data_summary": {"folder": str(tmp_path / "data" / "classical"), "files_encoded": 3}}
    export_model(make_model("performance_rnn"), tmp_path / "m.onnx", ckpt=ckpt, checkpoint_path=source,
                 parity_steps=5)
    meta = metadata.read(onnx.load(str(tmp_path / "m.onnx")))
    assert meta["source_checkpoint"] == "exp1/best.pt"
    assert meta["source_checkpoint_sha256"] == metadata.file_sha256(source)
    assert meta["data_summary"] == {"folder": "classical", "files_encoded": 3}
    assert str(tmp_path) not in json.dumps(meta)
    assert [s for s in all_strings(meta) if s.startswith("/")] == []


def test_the_shipped_model_holds_no_absolute_path():
    from segue.inference.engine import default_model_path

    meta = metadata.read(onnx.load(str(default_model_path())))
    assert [s for s in all_strings(meta) if s.startswith("/")] == []
