"""Zip bombs, huge files and files with absurd note counts are refused in about a second, in one line naming the file,
the limit and the config key that raises it (config.yaml's data.max_* keys)."""
import subprocess
import sys
import time
import zipfile

import pytest

from segue.config import DataConfig
from segue.errors import SegueError
from segue.codec.midi_io import read_notes
from tests.core.midi_builder import note, write


def zip_bomb(path, megabytes: int):
    """An .mxl whose one member is `megabytes` MB of zeros: ~1 KB per MB packed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("score.xml", "w") as member:
        block = b"\0" * (1 << 20)
        for _ in range(megabytes):
            member.write(block)
    return path


def many_notes_midi(path, count: int):
    """A format-0 MIDI of `count` one-tick notes, written directly (8 bytes a note)."""
    track = bytes([0, 0x90, 60, 64, 1, 0x80, 60, 0]) * count + bytes([0, 0xFF, 0x2F, 0])
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + (480).to_bytes(2, "big")
    path.write_bytes(header + b"MTrk" + len(track).to_bytes(4, "big") + track)
    return path


def segue(*args):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "segue", *map(str, args)], capture_output=True, text=True)
    return result, time.monotonic() - started


def test_zip_bomb_mxl_ends_in_seconds_with_one_line(tmp_path):
    bomb = zip_bomb(tmp_path / "bomb.mxl", 100)
    assert bomb.stat().st_size < 1_000_000
    result, seconds = segue("info", bomb)
    assert result.returncode == 2 and seconds < 30
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "bomb.mxl" in result.stderr and "data.max_uncompressed_bytes" in result.stderr


def test_200_mb_midi_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.mid"
    with open(huge, "wb") as handle:             # sparse: costs no disk and no time to make
        handle.truncate(200 * 2**20)
    with pytest.raises(SegueError, match=r"huge\.mid: 209,715,200 bytes, over the limit data\.max_file_bytes"):
        read_notes(huge)


def test_a_million_notes_stop_at_the_note_cap(tmp_path):
    million = many_notes_midi(tmp_path / "million.mid", 10**6)
    started = time.monotonic()
    with pytest.raises(SegueError, match=r"million\.mid: more than 300,000 notes, over the limit data\.max_notes"):
        read_notes(million)
    assert time.monotonic() - started < 20


def test_limits_come_from_the_config_and_set_raises_them(tmp_path):
    path = many_notes_midi(tmp_path / "some.mid", 2000)
    assert len(read_notes(path)) == 2000
    with pytest.raises(SegueError, match=r"--set data\.max_notes=\.\.\."):
        read_notes(path, DataConfig(max_notes=1000))
    result, _ = segue("info", path, "--set", "data.max_notes=1000")
    assert result.returncode == 2 and "data.max_notes = 1,000" in result.stderr
    result, _ = segue("encode", path, "--json", "--set", "data.max_notes=1000")
    assert result.returncode == 2 and "data.max_notes" in result.stderr


def test_a_file_longer_than_max_seconds_is_refused(tmp_path):
    path = write(tmp_path / "long.mid", note(0, 10, 60) + note(480 * 2 * 3600 * 5, 10, 62))   # 5 h at 120 bpm
    with pytest.raises(SegueError, match=r"long\.mid: 18,000 s long, over the limit data\.max_seconds = 14,400"):
        read_notes(path)


def test_a_plain_score_larger_than_the_unpacked_limit_is_refused(tmp_path):
    path = tmp_path / "big.musicxml"
    path.write_bytes(b" " * 2000)
    with pytest.raises(SegueError, match=r"big\.musicxml: 2,000 bytes, over the limit data\.max_uncompressed_bytes"):
        read_notes(path, DataConfig(max_uncompressed_bytes=1000))
