"""--record output and the live-control CC map / --learn."""
import mido
import pytest

from daemon.live_controls import CCMap, Learner, cc_value, learn
from daemon.recorder import Recorder
from segue.errors import SegueError


def test_recording_has_a_player_and_a_segue_track_at_the_right_times(tmp_path):
    rec = Recorder(tmp_path, origin=100.0)
    rec.player([0x90, 60, 100], 100.5)
    rec.player([0xF8], 100.6)                         # clock is not part of the take
    rec.player([0x80, 60, 0], 101.0)
    rec.segue([0x90, 67, 80], 101.5)
    path = rec.flush()
    rec.segue([0x80, 67, 0], 102.0)
    assert rec.flush() == path                        # one file per session, rewritten each turn
    midi = mido.MidiFile(path)
    names = [t[0].name for t in midi.tracks]
    assert names == ["player", "segue"]
    player = [m for m in midi.tracks[0] if not m.is_meta]
    assert [m.type for m in player] == ["note_on", "note_off"]
    seconds = mido.tick2second(sum(m.time for m in midi.tracks[1] if not m.is_meta), midi.ticks_per_beat, 500000)
    assert seconds == pytest.approx(2.0, abs=0.002)


def test_cc_values_map_onto_useful_ranges():
    assert cc_value("temperature", 0) == pytest.approx(0.1)
    assert cc_value("temperature", 127) == pytest.approx(2.0)
    assert cc_value("top_p", 127) == 1.0
    assert cc_value("density", 127) == 7 and cc_value("density", 0) == 0
    assert cc_value("mode", 0) == "call-response" and cc_value("mode", 127) == "continuous"


def test_cc_map_routes_bound_ccs_and_ignores_panic_release():
    m = CCMap({"temperature": 21, "panic": 25})
    assert m.change(21, 127).value == pytest.approx(2.0)
    assert m.change(25, 127).name == "panic"
    assert m.change(25, 0) is None
    assert m.change(22, 50) is None
    with pytest.raises(SegueError, match="temprature"):
        CCMap({"temprature": 21})


def test_learn_binds_the_knob_that_moves_and_skips_silence():
    script = iter([([0xB0, 30, 64], 0.0), ([0xB0, 30, 65], 0.1), ([0xB0, 30, 80], 0.2),   # wiggle CC30
                   ([0xB0, 30, 90], 0.3)])

    def messages(timeout):
        return next(script, None)

    said = []
    got = learn(messages, names=("temperature", "top_p"), seconds_each=0.05, say=said.append)
    assert got == {"temperature": 30}
    assert any("top_p" in line for line in said)


def test_learner_needs_real_travel():
    learner = Learner(min_travel=8)
    assert learner.feed(7, 100) is None
    assert learner.feed(7, 104) is None
    assert learner.feed(7, 110) == 7
