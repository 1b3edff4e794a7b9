"""Messages that tell the truth: each names what the user gave and what to do, in one line (issue 23, item 5)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.core.midi_builder import note, write

ROOT = Path(__file__).resolve().parents[2]


def segue(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segue", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def fake_checkpoint(path: Path) -> Path:
    """What torch.save writes is a zip archive; the CLI tells it apart from ONNX without torch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"not read")
    return path


@pytest.mark.parametrize("verb", [["generate", "--seconds", "1"], ["serve"], ["evaluate", "--data", "."]])
def test_model_on_a_checkpoint_says_export_it(tmp_path, verb):
    checkpoint = fake_checkpoint(tmp_path / "runs" / "x" / "best.pt")
    line = one_line_error(segue(*verb, "--model", checkpoint, cwd=tmp_path))
    assert "training checkpoint, not an ONNX model" in line and f"segue export {checkpoint} -o" in line


def test_model_on_a_folder_says_what_it_is(tmp_path):
    fake_checkpoint(tmp_path / "run" / "last.pt")
    assert "export it first: segue export" in one_line_error(segue("generate", "--model", tmp_path / "run"))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.onnx").write_bytes(b"")
    line = one_line_error(segue("generate", "--model", tmp_path / "models"))
    assert "is a folder; name the ONNX model in it, e.g. --model" in line and "mine.onnx" in line


def test_export_of_a_midi_file_says_it_is_not_a_checkpoint(tmp_path):
    pytest.importorskip("torch", reason="segue export needs torch (without it, the [train] line: test_base_install)")
    phrase = write(tmp_path / "phrase.mid", note(0, 480, 60))
    line = one_line_error(segue("export", phrase, "-o", tmp_path / "x.onnx"))
    assert "phrase.mid is not a checkpoint" in line and "best.pt / last.pt" in line and "pickle" not in line


def test_info_on_a_single_bad_file_is_an_error_not_a_skip(tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"garbage")
    line = one_line_error(segue("info", tmp_path / "bad.mid"))
    assert "skipped" not in line and "not a MIDI file" in line
    good = write(tmp_path / "good.mid", note(0, 480, 60))
    done = segue("info", tmp_path / "bad.mid", good)
    assert done.returncode == 0 and "skipped 1 of 2 files" in done.stderr


def test_serve_help_speaks_of_the_installed_config_not_a_checkout():
    done = segue("serve", "--help")
    assert done.returncode == 0 and "checkout" not in done.stdout and "shipped with segue" in done.stdout


def test_a_german_key_name_hints_its_english_one(tmp_path):
    line = one_line_error(segue("generate", "--key", "H major", "--steps", "5", "-o", tmp_path))
    assert "H is German for B: 'B major'" in line
