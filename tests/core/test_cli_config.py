"""Every verb that reads config.yaml takes --config and --set, and `segue config` gives an installed segue its
documented config.yaml (shipped as package data: one file, the one at the top of a checkout)."""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from segue.cli.main import build_parser
from segue.codec.codec import Note
from segue.config import DEFAULT_CONFIG_PATH, load_config
from segue.codec.midi_io import write_midi

ROOT = Path(__file__).resolve().parents[2]


def subcommand(parser, *names):
    for name in names:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("verb", [("encode",), ("info",), ("data", "build"), ("train",), ("export",),
                                  ("generate",), ("evaluate",), ("serve",)])
def test_every_verb_that_reads_config_takes_config_and_set(verb):
    options = {option for action in subcommand(build_parser(), *verb)._actions for option in action.option_strings}
    assert {"--config", "--set"} <= options


def test_set_reaches_generate(tmp_path):
    primer = tmp_path / "primer.mid"
    write_midi([Note(60, 80, 0.0, 0.5), Note(62, 80, 0.5, 1.0)], primer)
    result = subprocess.run([sys.executable, "-m", "segue", "generate", "--primer", str(primer), "--steps", "3",
                             "--no-png", "-o", str(tmp_path / "out"), "--set", "data.max_notes=1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "primer.mid: more than 1 notes, over the limit data.max_notes" in result.stderr


def test_segue_config_prints_the_documented_defaults_and_writes_a_copy(tmp_path):
    printed = subprocess.run([sys.executable, "-m", "segue", "config"], capture_output=True, text=True, check=True)
    assert printed.stdout == (ROOT / "config.yaml").read_text()
    copy = tmp_path / "mine.yaml"
    wrote = subprocess.run([sys.executable, "-m", "segue", "config", "-o", str(copy)], capture_output=True, text=True)
    assert wrote.returncode == 0 and load_config(copy) == load_config()
    again = subprocess.run([sys.executable, "-m", "segue", "config", "-o", str(copy)], capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr


def test_the_config_ships_inside_the_package_as_the_one_top_level_file():
    assert DEFAULT_CONFIG_PATH.parent == ROOT / "segue"
    assert DEFAULT_CONFIG_PATH.resolve() == (ROOT / "config.yaml").resolve()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "config.yaml" in package_data["segue"]
