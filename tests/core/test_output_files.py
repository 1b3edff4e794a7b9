"""What the verbs write: one overwrite rule (refuse, --force), audio at a listenable level, a readable piano roll,
and evaluate's summary first with nothing drawn into the current folder unasked (issue 23, item 7)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from segue.codec.codec import Note
from tests.core.midi_builder import note, write

ROOT = Path(__file__).resolve().parents[2]


def segue(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segue", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_config_and_generate_refuse_to_overwrite_unless_forced(tmp_path):
    copy = tmp_path / "my.yaml"
    copy.write_text("mine")
    refused = segue("config", "-o", copy)
    assert refused.returncode == 2 and "pass --force to overwrite" in refused.stderr and copy.read_text() == "mine"
    assert segue("config", "-o", copy, "--force").returncode == 0 and "model:" in copy.read_text()

    generate = ("generate", "--steps", "20", "--seed", "1", "--no-png", "-o", tmp_path / "out")
    assert segue(*generate).returncode == 0
    midi = tmp_path / "out" / "sample-1.mid"
    midi.write_bytes(b"mine")
    refused = segue(*generate)
    assert refused.returncode == 2 and "sample-1.mid exists; pass --force" in refused.stderr
    assert midi.read_bytes() == b"mine"
    assert segue(*generate, "--force").returncode == 0 and midi.read_bytes().startswith(b"MThd")


def test_export_refuses_to_overwrite_before_any_work(tmp_path):
    pytest.importorskip("torch", reason="segue export needs torch")
    import zipfile

    checkpoint = tmp_path / "best.pt"
    with zipfile.ZipFile(checkpoint, "w") as archive:
        archive.writestr("archive/data.pkl", b"never read: the overwrite check comes first")
    (tmp_path / "m.onnx").write_bytes(b"mine")
    refused = segue("export", checkpoint, "-o", tmp_path / "m.onnx")
    assert refused.returncode == 2 and "m.onnx exists; pass --force" in refused.stderr


def _peak_dbfs(path: Path) -> float:
    with wave.open(str(path), "rb") as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return 20 * np.log10(np.abs(samples.astype(float)).max() / 32767)


def test_wav_is_normalised_to_about_minus_one_dbfs(tmp_path):
    from segue.cli.generate_output import normalise_wav

    quiet = (1000 * np.sin(np.linspace(0, 200, 44100))).astype("<i2")       # -30 dBFS, fluidsynth's level
    path = tmp_path / "quiet.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1), writer.setsampwidth(2), writer.setframerate(44100)
        writer.writeframes(quiet.tobytes())
    normalise_wav(path)
    assert _peak_dbfs(path) == pytest.approx(-1.0, abs=0.05)


def test_generate_wav_renders_at_about_minus_one_dbfs(tmp_path):
    from segue.cli.generate_output import SOUNDFONT_PLACES

    if shutil.which("fluidsynth") is None or not any(Path(p).is_file() for p in SOUNDFONT_PLACES):
        pytest.skip("fluidsynth with a GM soundfont is not installed")
    done = segue("generate", "--steps", "300", "--seed", "3", "--no-png", "--wav", "-o", tmp_path)
    assert done.returncode == 0, done.stderr
    assert _peak_dbfs(tmp_path / "sample-1.wav") == pytest.approx(-1.0, abs=0.2)


def test_piano_roll_keeps_its_legend_off_the_notes_and_names_the_pitches():
    pytest.importorskip("matplotlib", reason="piano rolls need matplotlib (segue[train])")
    import matplotlib.pyplot as plt

    from segue.evaluation.pianoroll import piano_roll_figure

    primer = [Note(60 + k, 90, 0.25 * k, 0.25 * k + 0.2) for k in range(24)]
    answer = [Note(84 - k, 90, 6 + 0.25 * k, 6 + 0.25 * k + 0.2) for k in range(24)]
    fig = piano_roll_figure(primer, answer, "a title", boundary=6.0)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())               # nothing the notes use is covered
    labels = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert labels[60] == "C4" and labels[72] == "C5" and "C4" in ax.get_ylabel()
    plt.close(fig)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("music")
    for piece in range(12):
        write(folder / f"tune{piece}.mid", *[note(240 * k, 200, 55 + (piece * 7 + k * 3) % 24) for k in range(40)])
    out = folder.parent / "data"
    done = segue("data", "build", folder, "-o", out, cwd=folder.parent)
    assert done.returncode == 0, done.stderr
    return out


def test_evaluate_prints_a_summary_first_and_draws_nothing_unasked(tmp_path, dataset):
    done = segue("evaluate", "--data", dataset, "--continuations", "--pieces", "1", "--prime-seconds", "1",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []                            # no continuations.png in the current folder
    lines = done.stdout.strip().splitlines()
    assert "lower NLL is better" in lines[0] and "nats/event" in lines[1] and len(lines) < 12
    assert "Live protocol" not in done.stdout and "--detail" in done.stdout
    detail = segue("evaluate", "--data", dataset, "--detail", cwd=tmp_path)
    assert detail.stdout.startswith(lines[0]) and "Live protocol" in detail.stdout
