"""Turn-taking decisions, with made-up timestamps (no threads, no ports)."""
import pytest

from daemon.policy import TurnPolicy


def test_call_response_answers_after_silence_once_keys_are_up():
    p = TurnPolicy("call-response", silence_s=0.4)
    p.note_on(1.0, 60)
    p.note_on(1.1, 64)
    p.note_off(1.2, 60)
    assert p.deadline() is None                     # a key is still down
    p.note_off(1.3, 64)
    assert p.deadline() == pytest.approx(1.7)
    assert p.tick(1.69) is None
    assert p.tick(1.701) == "answer"
    assert p.answering


def test_sustain_pedal_holds_the_turn():
    p = TurnPolicy("call-response", silence_s=0.4)
    p.control(0.9, 64, 127)
    p.note_on(1.0, 60)
    p.note_off(1.2, 60)
    assert p.deadline() is None
    p.control(2.0, 64, 0)
    assert p.deadline() == pytest.approx(2.4)


def test_segue_never_answers_its_own_silence():
    p = TurnPolicy("call-response", silence_s=0.4)
    assert p.deadline() is None and p.tick(100.0) is None
    p.note_on(1.0, 60)
    p.note_off(1.1, 60)
    assert p.tick(2.0) == "answer"
    p.answer_finished()
    assert p.deadline() is None and p.tick(10.0) is None


def test_player_note_barges_in():
    p = TurnPolicy("call-response", silence_s=0.4)
    p.note_on(1.0, 60)
    p.note_off(1.1, 60)
    p.tick(2.0)
    assert p.note_on(2.5, 62) is None
    assert not p.answering


def test_takeover_pedal_starts_and_stops():
    p = TurnPolicy("takeover", silence_s=0.4, takeover_cc=67)
    p.note_on(1.0, 60)
    p.note_off(1.1, 60)
    assert p.tick(5.0) is None                      # silence alone does nothing in takeover mode
    assert p.control(5.0, 67, 127) == "answer"
    assert p.control(5.1, 67, 127) is None          # no re-trigger while held
    assert p.control(6.0, 67, 0) == "stop"


def test_continuous_starts_with_first_note_and_never_barges_in():
    p = TurnPolicy("continuous", silence_s=0.4)
    assert p.note_on(1.0, 60) == "answer"
    assert p.note_on(1.5, 62) is None
    assert p.answering


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError):
        TurnPolicy("jam", 0.4)


def test_only_an_answer_that_plays_along_ends_by_the_policys_limits():
    p = TurnPolicy("continuous", silence_s=0.4)
    assert p.plays_along
    assert p.answer_limits(trigger=1.0, last_player=3.0, response_s=0.5, max_s=10.0) == [
        (3.5, "player stopped"), (11.0, "max_response_seconds")]
    for mode in ("call-response", "takeover"):
        p = p.switched(mode)
        assert not p.plays_along and p.answer_limits(1.0, 3.0, 0.5, 10.0) == []
