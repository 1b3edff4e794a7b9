import json
import os

import numpy as np
import pytest

from segue.codec import codec
from segue.errors import SegueError
from segue.codec.midi_io import encode_file
from training.dataset import EventDataset, array_to_notes, build_dataset
from training.sources import split_for

from training_fixtures import write_corpus


def test_bad_folder_builds_with_a_skip_report(tmp_path):
    folder = write_corpus(tmp_path / "mixed", pieces=3)
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "readme.txt").write_text("not music")
    summary = build_dataset([str(folder)], tmp_path / "ds", workers=1, progress=False)
    assert summary["files_encoded"] == 3
    assert summary["files_skipped"] == 3
    index = json.loads((tmp_path / "ds" / "index.json").read_text())
    reasons = {os.path.basename(s["path"]): s["reason"] for s in index["skipped"]}
    assert set(reasons) == {"corrupt.mid", "empty.mid", "readme.txt"}
    assert "not a music file" in reasons["readme.txt"]


def test_nothing_readable_is_a_clear_error(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.mid").write_bytes(b"junk")
    with pytest.raises(SegueError, match="none of the 1 music files"):
        build_dataset([str(tmp_path / "in")], tmp_path / "ds", workers=1, progress=False)


def test_missing_source_is_named(tmp_path):
    with pytest.raises(SegueError, match="nowhere"):
        build_dataset([str(tmp_path / "nowhere")], tmp_path / "ds", workers=1, progress=False)


def test_shards_hold_the_file_encoding_and_notes(tmp_path):
    folder = write_corpus(tmp_path / "midi", pieces=4)
    build_dataset([str(folder)], tmp_path / "ds", workers=1, progress=False)
    data = EventDataset(tmp_path / "ds")
    for i, piece in enumerate(data.pieces):
        assert np.array_equal(data.events(i).astype(np.int64), encode_file(piece["path"]).astype(np.int64))
        assert data.notes(i).shape == (piece["note_count"], 4)
        # the stored notes re-encode to exactly the stored events (time stretch re-encodes from them)
        reencoded = codec.encode_notes(array_to_notes(data.notes(i)))
        assert np.array_equal(np.asarray(reencoded, np.int64), data.events(i).astype(np.int64))


def test_compressed_dataset_reads_back_identically(tmp_path):
    folder = write_corpus(tmp_path / "midi", pieces=4)
    build_dataset([str(folder)], tmp_path / "plain", workers=1, progress=False)
    build_dataset([str(folder)], tmp_path / "packed", compress=True, workers=1, progress=False)
    assert list((tmp_path / "packed").glob("shard-*.events.z"))
    plain, packed = EventDataset(tmp_path / "plain"), EventDataset(tmp_path / "packed")
    for i in range(len(plain.pieces)):
        assert np.array_equal(plain.events(i), packed.events(i))
        assert np.array_equal(plain.notes(i), packed.notes(i))


def test_rebuild_reencodes_only_changed_files(tmp_path):
    folder = write_corpus(tmp_path / "midi", pieces=5)
    first = build_dataset([str(folder)], tmp_path / "ds", workers=1, progress=False)
    assert first["files_reencoded"] == 5
    again = build_dataset([str(folder)], tmp_path / "ds", workers=1, progress=False)
    assert again["files_reencoded"] == 0 and again["events"] == first["events"]
    write_corpus(tmp_path / "other", pieces=1)
    os.replace(tmp_path / "other" / "piece00.mid", folder / "piece03.mid")   # new content, new mtime
    third = build_dataset([str(folder)], tmp_path / "ds", workers=1, progress=False)
    assert third["files_reencoded"] == 1


def test_split_is_by_piece_deterministic_and_near_the_fraction():
    ids = [f"piece-{i}" for i in range(4000)]
    splits = [split_for(i, 0.1) for i in ids]
    assert splits == [split_for(i, 0.1) for i in ids]
    assert 0.08 < splits.count("eval") / len(ids) < 0.12


def test_parallel_build_equals_serial_build(tmp_path):
    folder = write_corpus(tmp_path / "midi", pieces=4)
    build_dataset([str(folder)], tmp_path / "serial", workers=1, progress=False)
    build_dataset([str(folder)], tmp_path / "parallel", workers=2, progress=False)
    a, b = EventDataset(tmp_path / "serial"), EventDataset(tmp_path / "parallel")
    assert [p["id"] for p in a.pieces] == [p["id"] for p in b.pieces]
    assert all(np.array_equal(a.events(i), b.events(i)) for i in range(len(a.pieces)))


def test_unrelated_folder_is_not_a_dataset(tmp_path):
    with pytest.raises(SegueError, match="segue data build"):
        EventDataset(tmp_path)


def test_build_refuses_to_write_into_a_folder_that_is_not_a_dataset(tmp_path):
    folder = write_corpus(tmp_path / "midi", pieces=2)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("mine")
    with pytest.raises(SegueError, match="not a segue dataset folder"):
        build_dataset([str(folder)], tmp_path / "project", workers=1, progress=False)
    with pytest.raises(SegueError, match="empty"):
        build_dataset([str(folder)], "", workers=1, progress=False)
