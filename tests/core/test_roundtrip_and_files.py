"""events -> notes -> MIDI file -> events is the identity; bad files give one clear line."""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segue.codec.codec import Note, decode_events, encode_notes
from segue.errors import SegueError
from segue.codec.midi_io import encode_file, iter_music_files, read_notes, write_midi


@st.composite
def note_lists(draw):
    """Notes one MIDI channel can hold: a pitch never overlaps itself (it may be re-struck as it ends)."""
    notes = []
    free_from = {}                                         # pitch -> step where it is free again
    for _ in range(draw(st.integers(1, 40))):
        pitch = draw(st.sampled_from([21, 60, 61, 64, 67, 108]))
        start = free_from.get(pitch, 0) + draw(st.integers(0, 300))
        length = draw(st.integers(1, 900))                 # up to 9 s: pedal-long notes must survive too
        free_from[pitch] = start + length
        notes.append(Note(pitch, draw(st.integers(1, 127)), start / 100, (start + length) / 100))
    return notes


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes=note_lists())
def test_events_to_midi_to_events_is_the_identity(tmp_path, notes):
    events = encode_notes(notes)
    write_midi(decode_events(events), tmp_path / "r.mid")
    assert encode_file(tmp_path / "r.mid").tolist() == events.tolist()


def test_decoding_ignores_stray_note_offs_and_restrikes_end_the_sounding_note():
    events = [128 + 61, 375, 60, 256 + 9, 60, 256 + 9, 128 + 60]
    notes = decode_events(events)
    assert [(n.pitch, n.start, n.end) for n in notes] == [(60, 0.0, 0.1), (60, 0.1, 0.2)]


def test_hanging_notes_end_five_seconds_after_they_start():
    notes = decode_events([375, 60, 355, 355])
    assert notes[0].end == pytest.approx(5.0)
    assert decode_events([375, 60, 355, 355], max_note_seconds=1.5)[0].end == pytest.approx(1.5)


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (b"hello, I am text", "not a MIDI file"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x00\x10\x00\x90\x3c", "truncated"),
    (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\x90\x3c\xff", "data byte"),
    (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
     "time division is 0 ticks per beat"),
    (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\xe7\x28MTrk\x00\x00\x00\x04\x00\xff\x2f\x00", "SMPTE"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x7f\x00\x00\x00\x00\xff\x2f\x00",
     "track 0 claims 2130706432 bytes"),
])
def test_bad_midi_files_give_one_line_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(SegueError) as error:
        read_notes(path)
    assert str(path) in str(error.value) and reason in str(error.value)
    result = subprocess.run([sys.executable, "-m", "segue", "encode", str(path), "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr and str(path) in result.stderr


def test_a_file_named_mxl_that_is_not_a_zip_says_so(tmp_path):
    path = tmp_path / "fake.mxl"
    path.write_bytes(b"<score-partwise>not zipped</score-partwise>")
    with pytest.raises(SegueError, match=r"fake\.mxl: not a compressed MusicXML file \(an \.mxl is a zip archive"):
        read_notes(path)


def test_folder_walk_reports_what_it_skipped_and_goes_on(tmp_path):
    write_midi([Note(60, 80, 0.0, 0.5)], tmp_path / "good.mid")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.mid").write_bytes(b"MThd garbage")
    (tmp_path / "notes.txt").write_text("not music")
    result = subprocess.run([sys.executable, "-m", "segue", "info", str(tmp_path)], capture_output=True, text=True)
    assert "good.mid" in result.stdout and "notes      1" in result.stdout
    assert "broken.mid" in result.stderr and "skipped 1 of 2" in result.stderr
    assert sorted(p.name for p in iter_music_files([tmp_path])) == ["broken.mid", "good.mid"]


def test_musicxml_scores_are_read_through_music21(tmp_path):
    music21 = pytest.importorskip("music21")
    score = music21.stream.Stream([music21.note.Note("C4", quarterLength=1), music21.note.Note("E4", quarterLength=1)])
    path = tmp_path / "two.musicxml"
    score.write("musicxml", fp=str(path))
    notes = read_notes(path)
    assert [n.pitch for n in notes] == [60, 64]
    assert np.isclose(notes[1].start - notes[0].start, 0.5)       # a quarter at music21's default 120 bpm


def test_encode_json_prints_one_array(tmp_path):
    write_midi([Note(60, 80, 0.0, 0.5)], tmp_path / "one.mid")
    result = subprocess.run([sys.executable, "-m", "segue", "encode", str(tmp_path / "one.mid"), "--json"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[375, 60, 305, 188]"


def test_score_with_badly_formed_repeats_is_read_once_through(tmp_path):
    music21 = pytest.importorskip("music21")
    path = music21.corpus.getWork("bach/bwv277.krn")          # music21 cannot expand its repeat marks
    notes = read_notes(path)
    # Once through: every written note once (a tied note is one note), lasting as long as the score as written
    # (no tempo mark: music21's 120 bpm, 0.5 s a quarter). Played twice, or cut at the repeat, neither holds.
    score = music21.converter.parse(str(path))
    heads = [(pitch.midi, note.tie) for note in score.recurse().notes for pitch in note.pitches]
    once = sorted(midi for midi, tie in heads if tie is None or tie.type == "start")
    assert sorted(n.pitch for n in notes) == once
    assert max(n.end for n in notes) == pytest.approx(score.highestTime * 0.5)


def test_a_folder_a_glob_matches_is_walked_and_hidden_files_are_not_music(tmp_path):
    for name in ("top.mid", "album/one.mid", "album/deep/two.midi", "album/.trash/old.mid", "album/._one.mid"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write_midi([Note(60, 80, 0.0, 0.5)], tmp_path / name)
    (tmp_path / "README.txt").write_text("not music")
    assert [p.name for p in iter_music_files([tmp_path / "*"])] == ["two.midi", "one.mid", "top.mid"]
    assert [p.name for p in iter_music_files([tmp_path])] == ["two.midi", "one.mid", "top.mid"]
    assert [p.name for p in iter_music_files([tmp_path / "**"])] == ["two.midi", "one.mid", "top.mid"]  # each once
