import argparse

import pytest

from export.cli import add_parser
from export.metadata import file_sha256
from segue.inference.engine import Engine
from segue.errors import SegueError
from training.checkpoint import make_checkpoint, save_checkpoint


def cli(*argv):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def checkpoint(tmp_path, make_trained_model, small_models):
    model = make_trained_model("performance_rnn")
    ckpt = make_checkpoint(model, small_models["performance_rnn"], eval_metrics={"loss": 1.25},
                           data_summary={"pieces": 7})
    return save_checkpoint(ckpt, tmp_path / "run" / "best.pt")


def test_export_cli_writes_fp32_and_int8_and_prints_the_checks(checkpoint, tmp_path, capsys):
    out = tmp_path / "models" / "classical.onnx"
    assert cli("export", str(checkpoint), "-o", str(out), "--int8", "--set", "export.parity_steps=500") == 0
    printed = capsys.readouterr().out
    assert "parity torch vs onnx: 500 streamed steps" in printed and ": ok" in printed
    assert "MiB" in printed and "top-1 agreement" in printed
    engine = Engine.load(out)
    assert engine.meta["eval"] == {"loss": 1.25} and engine.meta["data_summary"] == {"pieces": 7}
    assert engine.meta["source_checkpoint_sha256"] == file_sha256(checkpoint)
    assert Engine.load(tmp_path / "models" / "classical.int8.onnx").meta["quantization"].startswith("int8")


def test_export_cli_takes_a_run_folder(checkpoint, tmp_path):
    assert cli("export", str(checkpoint.parent), "-o", str(tmp_path / "m.onnx"), "--set", "export.parity_steps=20") == 0


def test_export_cli_rejects_a_file_that_is_not_a_checkpoint(tmp_path):
    bogus = tmp_path / "notes.pt"
    bogus.write_text("hello")
    with pytest.raises(SegueError, match="notes.pt"):
        cli("export", str(bogus), "-o", str(tmp_path / "m.onnx"))
