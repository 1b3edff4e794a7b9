"""Files that never end, a tempo of 0 and damaged session-memory settings: one line naming the file (and the key),
never a hang, a traceback or gigabytes read (issue 22, items 6-8)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest

from segue.codec.midi_io import encode_file, is_session_file, read_notes
from segue.errors import SegueError
from segue.inference.memory import CELLS_PER_ORDER, MemorySettings, SessionMemory, memory_settings_path
from tests.core.midi_builder import note, tempo, write

NEVER_ENDING = ["/dev/urandom", "/dev/zero"]


def segue(*args, timeout: float = 60):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "segue", *map(str, args)], capture_output=True, text=True,
                            timeout=timeout)
    return result, time.monotonic() - started


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-800:]
    return lines[0]


@pytest.mark.parametrize("device", NEVER_ENDING)
def test_a_midi_file_linked_to_a_device_is_refused_at_once(tmp_path, device):
    link = tmp_path / "x.mid"
    link.symlink_to(device)
    with pytest.raises(SegueError, match="not a regular file"):
        read_notes(link)
    with pytest.raises(SegueError, match="not a regular file"):
        encode_file(link)                           # what `segue generate --primer` reads through
    assert not is_session_file(link)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "f.mid"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(SegueError, match="not a regular file"):
        read_notes(fifo)
    assert not is_session_file(fifo)                # opening it would wait for a writer for ever
    assert time.monotonic() - started < 5


def test_segue_info_and_generate_say_one_line_for_a_device_and_a_fifo(tmp_path):
    link = tmp_path / "x.mid"
    link.symlink_to("/dev/zero")
    fifo = tmp_path / "f.mid"
    os.mkfifo(fifo)
    for path in (link, fifo):
        result, seconds = segue("info", path)
        assert "not a regular file" in one_error_line(result)
        assert seconds < 30
    result, _ = segue("generate", "--primer", link, "-o", tmp_path / "out", "--seconds", "1")
    assert "not a regular file" in one_error_line(result)


def test_a_tempo_of_zero_is_one_line_not_a_division_by_zero(tmp_path):
    path = write(tmp_path / "zero.mid", tempo(0, 500_000) + tempo(480, 0) + note(0, 960, 60))
    with pytest.raises(SegueError, match="tempo of 0"):
        read_notes(path)
    result, _ = segue("info", path)
    assert "tempo of 0" in one_error_line(result) and "zero.mid" in result.stderr


def write_settings(model_dir, text: str):
    model = model_dir / "m.onnx"
    memory_settings_path(model).write_text(text)
    return model


@pytest.mark.parametrize("text, says", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"order": 4, "color": "red"}', "unknown key 'color'"),
    ('{"order": "4"}', "'order' must be a whole number"),
    ('{"order": 1000000000000}', "'order' is 1000000000000"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"strength": NaN}', "'strength' is nan"),
    ('{"strength": 1e400}', "'strength' is inf"),
    ('{"strength": -1}', "'strength' is -1"),
    ('{"transpose": "yes"}', "'transpose' must be true or false"),
    ('{"order": 1, "lambdas": [0.5]}', "'lambdas' holds 1 mixing weights"),
    (json.dumps({"order": 1, "lambdas": [0.5] * (2 * CELLS_PER_ORDER - 1) + [math.nan]}), "'lambdas[15]' is NaN"),
    (json.dumps({"order": 1, "lambdas": [0.5] * (2 * CELLS_PER_ORDER - 1) + ["x"]}), "'lambdas[15]'"),
])
def test_damaged_memory_settings_are_one_line_naming_the_file_and_the_key(tmp_path, text, says):
    model = write_settings(tmp_path, text)
    with pytest.raises(SegueError) as caught:
        MemorySettings.for_model(model)
    message = str(caught.value)
    assert says in message and "m.memory.json" in message and "\n" not in message


def test_memory_settings_that_are_a_device_are_refused(tmp_path):
    model = tmp_path / "m.onnx"
    memory_settings_path(model).symlink_to("/dev/zero")
    with pytest.raises(SegueError, match="not a regular file"):
        MemorySettings.for_model(model)


def test_good_memory_settings_still_load_and_mix(tmp_path):
    cells = 3 * CELLS_PER_ORDER
    model = write_settings(tmp_path, MemorySettings(order=2, lambdas=[0.25] * cells, strength=2.0).to_json())
    settings = MemorySettings.for_model(model)
    assert settings.order == 2 and settings.strength == 2.0
    assert SessionMemory(settings).lambdas.max() == pytest.approx(0.5)
