"""Issue 24: `segue evaluate --continuations` reports what `segue serve` plays by default (the grammar and the
memory saved beside the model, in config.yaml's daemon.memory mode), and its summary says so."""
import argparse
import json
import shutil

from eval_helpers import scale_piece, write_dataset

from segue.cli.evaluate_cli import add_parser
from segue.inference.memory import CELLS_PER_ORDER, MemorySettings, memory_settings_path


def evaluate(*argv) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args([str(a) for a in argv])
    assert args.func(args) == 0


def test_continuations_play_as_serve_with_the_saved_memory(tmp_path, gru_model_path, capsys):
    pieces = [(f"t{t}", "train", scale_piece(t, 30.0, chord_every=4)) for t in (60, 62)]
    pieces += [("e65", "eval", scale_piece(65, 8.0, chord_every=2))]
    data = write_dataset(tmp_path / "data", pieces)
    model = tmp_path / "m.onnx"
    shutil.copy(gru_model_path, model)
    memory_settings_path(model).write_text(MemorySettings(order=4, lambdas=[0.5] * (5 * CELLS_PER_ORDER)).to_json())
    common = ("evaluate", "--model", model, "--data", data, "--continuations", "--pieces", "1",
              "--prime-seconds", "3")

    evaluate(*common, "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["serve_system"] == "model + grammar + memory"
    assert report["settings"]["memory_mode"] == "player"
    assert {"model", "model + grammar", "model + memory", "model + grammar + memory"} <= set(report["continuations"])

    evaluate(*common)
    summary = capsys.readouterr().out
    assert "as segue serve plays (model + grammar + memory, session memory player" in summary
    assert "velocity: median" in summary and "notes per answer" in summary and "key r" in summary
    assert "by event type: note-on" in summary

    evaluate(*common, "--json", "--set", 'daemon.memory="off"')
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["serve_system"] == "model + grammar" and "model + memory" not in report["continuations"]


def test_continuations_sample_at_serves_temperature_and_top_p(tmp_path, gru_model_path, monkeypatch):
    from segue.evaluation import continuations

    asked = {}

    def run_continuations(*args, **kwargs):
        asked.update(kwargs)
        raise SystemExit(0)      # the sampling settings are all this test needs

    monkeypatch.setattr(continuations, "run_continuations", run_continuations)
    data = write_dataset(tmp_path / "data", [("e65", "eval", scale_piece(65, 8.0, chord_every=2))])
    try:
        evaluate("evaluate", "--model", gru_model_path, "--data", data, "--continuations", "--set",
                 "daemon.temperature=0.85", "--set", "daemon.top_p=0.9")
    except SystemExit:
        pass
    assert (asked["temperature"], asked["top_p"]) == (0.85, 0.9)


def test_continuations_take_their_primers_from_the_split_asked_for(tmp_path, gru_model_path, capsys):
    """`--split train` is where a decoding setting may be chosen: its primers must come from the train pieces."""
    pieces = [(f"t{t}", "train", scale_piece(t, 8.0, chord_every=2)) for t in (60, 62)]
    pieces += [("e65", "eval", scale_piece(65, 8.0, chord_every=2))]
    data = write_dataset(tmp_path / "data", pieces)
    common = ("evaluate", "--model", gru_model_path, "--data", data, "--continuations", "--prime-seconds", "3",
              "--json")
    evaluate(*common)
    assert json.loads(capsys.readouterr().out)["continuations"]["real"]["pieces"] == 1
    evaluate(*common, "--split", "train")
    assert json.loads(capsys.readouterr().out)["continuations"]["real"]["pieces"] == 2
