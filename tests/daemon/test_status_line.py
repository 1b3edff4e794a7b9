"""The live status line (daemon/status_line.py): listening it says the tempo it hears and how sure it is; answering,
the tempo the answer keeps (the turn policy's `held_bpm`), not the confidence that decays through the silence."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from daemon.policy import TurnPolicy
from daemon.status_line import Status, status_of
from segue.inference.grammar_settings import GrammarSettings


def played(policy: TurnPolicy, onsets: list[float]) -> float:
    """The player's short notes at these times; returns the release of the last one."""
    for t in onsets:
        policy.note_on(t, 60, 80)
        policy.note_off(t + 0.1, 60)
    return onsets[-1] + 0.1


def status(policy: TurnPolicy, now: float, answering: bool) -> str:
    return Status(policy.mode, answering, policy.pulse.bpm, policy.pulse.confidence(now), policy.held_bpm, None,
                  None).text()


def test_an_answer_holding_the_players_tempo_says_so_through_the_players_rest():
    policy = TurnPolicy("call-response", 0.5, on_beat="auto")
    released = played(policy, [k * 0.5 for k in range(16)])              # 2 bars and more at 120 bpm
    policy.answer_pulse(released + 0.5)
    later = released + 6.0                                                # the player rests for 12 beats
    assert policy.pulse.confidence(later) == 0.0                          # the tracker no longer trusts it ...
    assert "holds 120 bpm" in status(policy, later, answering=True)       # ... the answer still keeps it
    assert "sure" not in status(policy, later, answering=True)
    assert "hears 120 bpm, sure 0.00" in status(policy, later, answering=False)


def test_an_answer_to_free_playing_says_it_plays_in_free_time():
    policy = TurnPolicy("call-response", 0.5, on_beat="auto")
    onsets = list(np.cumsum(np.random.default_rng(3).uniform(0.1, 0.9, 20)))
    released = played(policy, onsets)
    policy.answer_pulse(released + 0.5)
    assert policy.pulse.confidence(released + 0.5) < 0.3 and policy.held_bpm is None
    assert "free time" in status(policy, released + 0.6, answering=True)


def session_with(policy: TurnPolicy, pulse_strength: float) -> SimpleNamespace:
    """What status_of reads of a running session: an answer under way, nothing pinned, nothing heard yet."""
    return SimpleNamespace(policy=policy, cfg=SimpleNamespace(key=None, density=-1.0),
                           controls=SimpleNamespace(follower=None), turn=SimpleNamespace(started=True),
                           generator=SimpleNamespace(settings=SimpleNamespace(
                               grammar=GrammarSettings(pulse_strength=pulse_strength))))


def test_an_answer_holds_no_tempo_when_the_pulse_preference_is_off():
    policy = TurnPolicy("call-response", 0.5, on_beat="auto")
    released = played(policy, [k * 0.5 for k in range(16)])
    policy.answer_pulse(released + 0.5)
    assert "holds 120 bpm" in status_of(session_with(policy, 0.9), released + 1.0).text()
    assert "free time" in status_of(session_with(policy, 0.0), released + 1.0).text()
