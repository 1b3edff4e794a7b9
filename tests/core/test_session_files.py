"""Session files of `segue serve --record` are read as the player's track alone, recognised by the track names."""
from __future__ import annotations

import mido

from daemon.recorder import Recorder
from segue.cli.main import main
from segue.codec.midi_io import is_session_file, read_notes
from tests.core.midi_builder import note, pedal, write


def record_session(folder, player, answers, name="segue-20260101-120000.mid"):
    """A file as `segue serve --record` writes it: (pitch, velocity, start s, end s) for the player and for segue."""
    recorder = Recorder(folder, origin=100.0)
    for who, notes in ((recorder.player, player), (recorder.segue, answers)):
        for pitch, velocity, start, end in notes:
            who([0x90, pitch, velocity], 100.0 + start)
            who([0x80, pitch, 0], 100.0 + end)
    path = recorder.flush()
    return path.rename(path.with_name(name))     # the recorder names files by the second they start in


def test_a_recorded_session_reads_as_the_player_track_only(tmp_path):
    player = [(60, 70, 0.5, 0.9), (64, 90, 1.0, 1.4)]
    path = record_session(tmp_path, player, answers=[(48, 100, 1.6, 3.0), (55, 100, 1.7, 3.0)])
    assert is_session_file(path)
    notes = read_notes(path)
    assert [(n.pitch, n.velocity) for n in notes] == [(60, 70), (64, 90)]
    assert abs(notes[0].start - 0.5) < 0.002 and abs(notes[-1].end - 1.4) < 0.002


def test_the_players_pedal_still_sustains_in_a_session(tmp_path):
    recorder = Recorder(tmp_path, origin=0.0)
    recorder.player([0xB0, 64, 127], 0.1)
    recorder.player([0x90, 60, 80], 0.2)
    recorder.player([0x80, 60, 0], 0.3)
    recorder.player([0xB0, 64, 0], 1.2)
    recorder.segue([0x90, 72, 80], 1.5)
    recorder.segue([0x80, 72, 0], 2.5)
    notes = read_notes(recorder.flush())
    assert len(notes) == 1 and abs(notes[0].end - 1.2) < 0.002


def test_silences_in_a_session_are_cut_to_two_seconds_the_one_before_the_first_note_too(tmp_path):
    # the player starts 5 s in, holds the pedal over a rest, then waits 10 s while segue answers
    recorder = Recorder(tmp_path, origin=0.0)
    for kind, data, t in [("player", [0x90, 60, 80], 5.0), ("player", [0xB0, 64, 127], 5.1),
                          ("player", [0x80, 60, 0], 5.5), ("player", [0xB0, 64, 0], 8.0),
                          ("segue", [0x90, 72, 80], 8.5), ("segue", [0x80, 72, 0], 16.0),
                          ("player", [0x90, 62, 70], 18.0), ("player", [0x80, 62, 0], 18.5),
                          ("player", [0x90, 64, 70], 19.0), ("player", [0x80, 64, 0], 19.5)]:
        getattr(recorder, kind)(data, t)
    notes = read_notes(recorder.flush())
    starts = [round(n.start, 3) for n in notes]
    ends = [round(n.end, 3) for n in notes]
    assert starts == [2.0, 7.0, 8.0] and ends == [5.0, 7.5, 8.5]    # pedalled to 5 s, the 10 s wait cut to 2 s


def test_other_multi_track_files_are_not_sessions_and_keep_every_track(tmp_path):
    named = lambda name, events: [(0, mido.MetaMessage("track_name", name=name))] + events  # noqa: E731
    two = write(tmp_path / "two.mid", named("player", note(0, 96, 60)), named("piano", note(0, 96, 64)))
    three = write(tmp_path / "three.mid", named("player", note(0, 96, 60)), named("segue", note(0, 96, 64)),
                  named("bass", note(0, 96, 40)))
    unnamed = write(tmp_path / "plain.mid", note(0, 96, 60) + pedal(0, 0), note(0, 96, 64))
    for path, pitches in ((two, [60, 64]), (three, [60, 64, 40]), (unnamed, [60, 64])):
        assert not is_session_file(path)
        assert sorted(n.pitch for n in read_notes(path)) == sorted(pitches)
    assert not is_session_file(tmp_path / "missing.mid")


def test_segue_info_says_a_session_is_one_and_counts_the_players_notes(tmp_path, capsys):
    path = record_session(tmp_path, [(60, 70, 0.5, 0.9)], answers=[(48, 100, 1.6, 3.0)])
    plain = write(tmp_path / "plain.mid", note(0, 96, 60))
    assert main(["info", str(path), plain]) == 0
    session_lines, plain_lines = capsys.readouterr().out.split(plain)
    assert "recorded by `segue serve --record`" in session_lines and "notes      1\n" in session_lines
    assert "duration   0.90 s" in session_lines        # the player's note ends at 0.9 s, segue's answer at 3 s
    assert "session" not in plain_lines
