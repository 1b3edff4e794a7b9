"""The live timeline's one owner: written through the sampling loop, copied whole for a rollback point."""
from segue.codec import codec
from segue.codec.codec import NoteEdge
from segue.inference.grammar_settings import GrammarSettings
from segue.inference.grammar import build_shapers
from segue.inference.live_context import PLAYER, SEGUE
from segue.inference.sampling import Sampler
from segue.inference.sampling_loop import SamplingLoop


class Learner:
    """A shaper that learns: it hears every event the model is fed."""

    def __init__(self):
        self.heard = []

    def reset(self):
        self.heard = []

    def observe(self, event):
        self.heard.append(event)

    def shape(self, probs, ctx):
        return probs


def test_the_players_edges_go_in_at_their_steps_and_segues_own_notes_are_its_own():
    learner = Learner()
    loop = SamplingLoop(Sampler(seed=0), [learner])
    events = loop.hear([NoteEdge(10, False, 60, 80), NoteEdge(30, True, 60, 0), NoteEdge(30, False, 62, 80)])
    assert events == [codec.time_shift(10), codec.velocity_event(codec.velocity_to_bin(80)), codec.note_on(60),
                      codec.time_shift(20), codec.note_off(60), codec.note_on(62)]
    assert learner.heard == events and loop.ctx.by == PLAYER
    assert loop.ctx.player == {62: 30} and loop.ctx.own.sounding == {}
    assert loop.play(codec.note_on(64)) is None
    assert loop.ctx.by == SEGUE and set(loop.ctx.own.sounding) == {64}
    assert loop.play(codec.note_on(64))[0] == 64              # a re-strike ends segue's note (the decoder's rule)
    assert loop.release_own(35) == [codec.time_shift(5), codec.note_off(64)]
    assert loop.ctx.own.sounding == {} and set(loop.ctx.sounding) == {62}
    assert loop.shift_to(35) == [] and loop.shift_to(40) == [codec.time_shift(5)]


def test_the_prelude_is_heard_by_the_learners_and_moves_no_timeline():
    learner = Learner()
    loop = SamplingLoop(Sampler(seed=0), [learner])
    loop.prelude(codec.NO_EVENT)
    assert learner.heard == [codec.NO_EVENT] and loop.ctx.step == 0


def test_a_rollback_point_holds_a_copy_of_the_whole_context():
    loop = SamplingLoop(Sampler(seed=0), build_shapers(GrammarSettings()))
    scale = [e for p in (60, 62, 64, 65, 67, 69, 71, 72, 60)
             for e in (codec.note_on(p), codec.time_shift(30), codec.note_off(p))]
    loop.observe_all(scale)
    snap = loop.snapshot()
    before = (loop.ctx.step, dict(loop.ctx.sounding), list(loop.ctx.lengths.ranked), loop.ctx.key.key,
              list(loop.ctx.dynamics.recent), loop.ctx.open.sounding.copy())
    loop.play(codec.velocity_event(30))
    loop.observe_all([e for _ in range(20) for e in (codec.note_on(61), codec.time_shift(90), codec.note_off(61))])
    assert loop.ctx.key.key != before[3]
    for _ in range(2):                                          # restoring twice: the point itself is never written
        loop.restore(snap)
        after = (loop.ctx.step, dict(loop.ctx.sounding), list(loop.ctx.lengths.ranked), loop.ctx.key.key,
                 list(loop.ctx.dynamics.recent), loop.ctx.open.sounding.copy())
        assert after[:5] == before[:5] and (after[5] == before[5]).all()
        loop.observe_all([codec.note_on(61), codec.time_shift(90)])
