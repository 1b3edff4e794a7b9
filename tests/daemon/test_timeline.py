"""The merged model context: time shifts always sum to wall-clock steps, whoever played."""
from segue.codec import codec

from daemon.timeline import Context, PlayerClock, PlayerEvent, shifts_for


def test_gaps_become_full_seconds_then_the_remainder():
    assert shifts_for(0) == []
    assert shifts_for(-3) == []
    assert shifts_for(250) == [codec.time_shift(100), codec.time_shift(100), codec.time_shift(50)]
    assert shifts_for(100) == [codec.time_shift(100)]


def test_player_clock_reads_the_encoders_shifts_and_velocity():
    clock = PlayerClock()
    items = clock.absolute([codec.time_shift(30), codec.velocity_event(20), codec.note_on(60),
                            codec.time_shift(10), codec.note_off(60)])
    assert [(i.step, i.event, i.velocity_bin) for i in items] == [(30, codec.note_on(60), 20),
                                                                   (40, codec.note_off(60), 0)]


def test_context_merges_player_notes_after_segues_events():
    ctx = Context()
    for event in [codec.time_shift(50), codec.velocity_event(10), codec.note_on(64)]:   # segue played at step 50
        ctx.observe(event)
    events = ctx.player_events([PlayerEvent(80, codec.note_on(60), 20), PlayerEvent(80, codec.note_off(64))])
    # 30 more steps, the player's velocity differs from segue's current bin, so a VELOCITY event goes first
    assert events == [codec.time_shift(30), codec.velocity_event(20), codec.note_on(60), codec.note_off(64)]
    assert ctx.step == 80


def test_late_player_event_never_runs_the_context_backwards():
    ctx = Context(step=120, velocity_bin=5)
    assert ctx.player_events([PlayerEvent(110, codec.note_on(60), 5)]) == [codec.note_on(60)]
    assert ctx.step == 120
