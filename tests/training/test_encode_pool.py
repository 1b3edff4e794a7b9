"""`segue data build` keeps and caches every good file whatever a bad one does: limits refuse the known bombs, the
worker pool kills a worker stuck on one file past data.file_timeout_seconds, and a dying worker costs one file."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from segue.codec.codec import Note
from segue.config import DataConfig
from segue.codec.midi_io import write_midi
from tests.core.test_file_limits import many_notes_midi, zip_bomb
from training import encode_pool
from training.dataset import build_dataset


def fake_work(path, settings):
    """Stands in for the encoder (module level, so spawned workers can import it)."""
    name = Path(path).name
    if name == "slow":
        time.sleep(600)
    if name == "crash":
        os._exit(3)
    return path, settings, None, None


def test_a_file_past_the_time_limit_is_skipped_and_the_others_are_done():
    started = time.monotonic()
    results = {r[0]: r for r in encode_pool.run(["a", "slow", "b", "c", "d"], fake_work, "s", 2, timeout=3.0)}
    assert time.monotonic() - started < 60
    assert sorted(results) == ["a", "b", "c", "d", "slow"]
    assert "data.file_timeout_seconds" in results["slow"][3]
    assert all(results[p][1:] == ("s", None, None) for p in "abcd")


def test_a_worker_that_dies_costs_only_its_own_file():
    results = {r[0]: r for r in encode_pool.run(["a", "crash", "b"], fake_work, "s", 1, timeout=60.0)}
    assert "died (exit code 3)" in results["crash"][3]
    assert results["a"][3] is None and results["b"][3] is None


KILLED_BUILD = """
import os, sys
from training import encode_pool
from tests.training.test_encode_pool import fake_work
for _ in encode_pool.run(["slow"], fake_work, "s", 1, timeout=600.0):
    pass
"""


def test_a_killed_build_takes_its_workers_with_it(tmp_path):
    """`kill -9` of segue data build runs no cleanup: its worker must not go on encoding for nobody."""
    build = subprocess.Popen([sys.executable, "-c", KILLED_BUILD], cwd=Path(__file__).resolve().parents[2],
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (workers := [pid for pid in _children(build.pid) if "spawn_main" in _command(pid)]) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers, "the build started no worker"
    time.sleep(1.0)    # the worker is past its start-up, asleep on its file
    build.kill()
    build.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers), "the worker outlived its build"


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()] \
        if tasks.exists() else []


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan killed in a container may wait a while for its reaper)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_build_over_good_and_bad_files_keeps_and_caches_every_good_one(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(10):
        write_midi([Note(60 + i, 80, 0.0, 0.5), Note(64, 80, 0.5, 1.0)], folder / f"good{i}.mid")
    zip_bomb(folder / "bomb.mxl", 100)
    many_notes_midi(folder / "million.mid", 10**6)
    with open(folder / "huge.mid", "wb") as handle:
        handle.truncate(200 * 2**20)
    (folder / "fake.mxl").write_bytes(b"not a zip")
    started = time.monotonic()
    summary = build_dataset([str(folder)], tmp_path / "ds", workers=2, progress=False, limits=DataConfig())
    assert time.monotonic() - started < 120
    assert summary["files_encoded"] == 10 and summary["files_skipped"] == 4
    index = json.loads((tmp_path / "ds" / "index.json").read_text())
    reasons = {Path(s["path"]).name: s["reason"] for s in index["skipped"]}
    assert "data.max_uncompressed_bytes" in reasons["bomb.mxl"]
    assert "data.max_notes" in reasons["million.mid"]
    assert "data.max_file_bytes" in reasons["huge.mid"]
    assert "zip archive" in reasons["fake.mxl"]
    assert len(list((tmp_path / "ds" / "cache").glob("*.npz"))) == 10


def test_a_skip_made_under_other_limits_is_not_reused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    many_notes_midi(folder / "some.mid", 2000)
    write_midi([Note(60, 80, 0.0, 0.5)], folder / "one.mid")
    first = build_dataset([str(folder)], tmp_path / "ds", workers=1, progress=False, limits=DataConfig(max_notes=1000))
    assert first["files_skipped"] == 1
    again = build_dataset([str(folder)], tmp_path / "ds", workers=1, progress=False, limits=DataConfig())
    assert again["files_skipped"] == 0 and again["files_encoded"] == 2 and again["files_reencoded"] == 1


def test_data_build_shows_progress_and_reads_set(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        write_midi([Note(60 + i, 80, 0.0, 0.5)], folder / f"good{i}.mid")
    many_notes_midi(folder / "many.mid", 50)
    result = subprocess.run([sys.executable, "-m", "segue", "data", "build", str(folder), "-o", str(tmp_path / "ds"),
                             "--set", "data.max_notes=10"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "encoding: 3/3 files, 1 skipped" in result.stderr
    assert "many.mid: more than 10 notes, over the limit data.max_notes = 10" in result.stdout
