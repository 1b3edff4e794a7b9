"""Every numeric config key has a range checked at load: a bad value is one line naming the key, the value and the
allowed range, never a traceback twenty minutes into a run."""
import dataclasses
import subprocess
import sys
import typing

import pytest

from segue.config import load_config, range_key, ranges, sections
from segue.errors import SegueError


def numeric_key_paths(cls, prefix=""):
    """Every key path load_config range-checks, in ranges()' notation, from the dataclasses' type hints."""
    for field in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[field.name]
        yield from _paths(hint, f"{prefix}{field.name}")


def _paths(hint, path):
    if dataclasses.is_dataclass(hint):
        yield from numeric_key_paths(hint, path + ".")
        return
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is list:
        yield from _paths(args[0], path + "[]")
    elif origin is dict:
        yield from _paths(args[1], path + ".*")
    elif args and origin is not None:            # X | None
        yield from _paths(args[0], path)
    elif hint in (int, float):
        yield path


def test_every_numeric_key_has_a_range_and_the_defaults_are_inside():
    paths = {path for name, cls in sections().items() for path in numeric_key_paths(cls, f"{name}.")}
    assert {"data", "model", "train", "export", "sampling", "daemon"} <= set(sections())   # each room registered its own
    assert paths - set(ranges()) == set()
    assert set(ranges()) - paths == set()         # no stale entries either
    load_config()                                  # the shipped config.yaml passes its own ranges


@pytest.mark.parametrize("yaml_text, overrides, message", [
    ("", ["train.lr=-1"], r"'train\.lr' is -1\.0, allowed: 0 < x <= 10"),
    ("train:\n  eval_every: 0\n", [], r"'train\.eval_every' is 0, allowed: >= 1"),
    ("train:\n  stages:\n    - {seq_len: 0, batch_size: 8}\n", [], r"'train\.stages\[0\]\.seq_len' is 0, allowed: >= 1"),
    ("", ["train.stages=[{seq_len: 64, batch_size: -1}]"], r"'train\.stages\[0\]\.batch_size' is -1"),
    ("daemon:\n  temperature: .nan\n", [], r"'daemon\.temperature' is nan, allowed: 0 <= x <= 100"),
    ("", ["daemon.top_p=5"], r"'daemon\.top_p' is 5\.0, allowed: 0 < x <= 1"),
    ("daemon:\n  cc_map: {temperature: 300}\n", [], r"'daemon\.cc_map\.temperature' is 300, allowed: -1 <= x <= 127"),
    ("data:\n  max_notes: 0\n", [], r"'data\.max_notes' is 0"),
    ("- train\n- lr\n", ["train.lr=1"], r"must be a mapping of sections .* got a YAML list"),
])
def test_out_of_range_values_are_one_line_errors(tmp_path, yaml_text, overrides, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SegueError, match=message) as error:
        load_config(path, overrides)
    assert "\n" not in str(error.value)


def test_range_keys_fold_list_indices():
    assert range_key("train.stages[12].seq_len") == "train.stages[].seq_len"


@pytest.mark.parametrize("verb", [["train", "--data", "nowhere", "--out", "run"], ["serve"]])
def test_the_cli_prints_the_range_error_without_a_traceback(tmp_path, monkeypatch, verb):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  eval_every: 0\ndaemon:\n  top_p: 5\n")
    result = subprocess.run([sys.executable, "-m", "segue", *verb, "--config", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "allowed" in result.stderr
