"""`segue data build` says what happened: what was read and what came from the cache, and, with no eval pieces,
the advice that fits the sources (a session to record only when the sources are sessions)."""
from __future__ import annotations

from training.dataset import build_dataset, format_summary
from tests.core.midi_builder import note, write


def test_a_small_build_of_plain_files_is_not_told_to_record_a_session_and_the_cache_line_is_true(tmp_path,
                                                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)           # piece ids (music/tune0 ...), and so the split by their hash, stay put
    (tmp_path / "music").mkdir()
    for i in range(4):
        write(tmp_path / "music" / f"tune{i}.mid", note(0, 480, 60 + i), note(480, 480, 64 + i))
    first = format_summary(build_dataset([str(tmp_path / "music")], tmp_path / "data", workers=1, progress=False),
                           [], tmp_path / "data")
    assert "(all read this time)" in first and "the rest from cache" not in first
    assert "no eval pieces" in first and "record another session" not in first
    assert "the split by piece put none of these 4 pieces in eval" in first
    again = format_summary(build_dataset([str(tmp_path / "music")], tmp_path / "data", workers=1, progress=False),
                           [], tmp_path / "data")
    assert "(all from cache)" in again
    write(tmp_path / "music" / "tune9.mid", note(0, 480, 70))
    third = format_summary(build_dataset([str(tmp_path / "music")], tmp_path / "data", workers=1, progress=False),
                           [], tmp_path / "data")
    assert "(1 read this time, the rest from cache)" in third
