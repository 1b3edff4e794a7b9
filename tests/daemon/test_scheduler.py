"""The scheduler on a fake port: on time, in order, cancellable, and it never leaves notes sounding."""
import time

from daemon.scheduler import Scheduled, Scheduler
from tests.daemon.fakes import FakeOutput, FakeTimedOutput, wait_for


def make():
    out = FakeOutput()
    sched = Scheduler(out)
    sched.start()
    return out, sched


def test_messages_go_out_in_order_near_their_due_time():
    out, sched = make()
    try:
        t0 = time.perf_counter() + 0.05
        for i in range(10):
            sched.push(Scheduled(t0 + i * 0.01, (0x90, 60 + i, 100), answer=1, index=i))
        assert wait_for(lambda: len(out.sent) == 10)
        assert [d[1] for _, d in out.sent] == list(range(60, 70))
        for i, (at, _) in enumerate(out.sent):
            assert at >= t0 + i * 0.01                # never early
            assert at - (t0 + i * 0.01) < 0.05        # loose: the machine is shared
        assert len(sched.send_errors) == 10
    finally:
        sched.stop()


def test_an_output_that_places_messages_in_time_gets_them_early_with_their_due_time_and_no_spin():
    out = FakeTimedOutput()
    sched = Scheduler(out, spin_s=0.02)        # a long lead, so "early" is far from the machine's wake-up noise
    sched.start()
    try:
        t0 = time.perf_counter() + 0.05
        dues = [t0 + i * 0.05 for i in range(5)]
        for i, due in enumerate(dues):
            sched.push(Scheduled(due, (0x90, 60 + i, 100), answer=1, index=i))
        assert wait_for(lambda: len(out.timed) == 5)
        assert [due for _, due, _ in out.timed] == dues and out.sent == []
        # handed over about spin_s ahead (a spinning scheduler would hand over at or after the due time)
        assert sum(handed < due for handed, due, _ in out.timed) >= 4, out.timed
        # what was handed over early leaves exactly on time
        assert sorted(sched.send_errors)[:4] == [0.0] * 4
    finally:
        sched.stop()


def test_cancel_drops_unsent_messages_and_reports_the_last_sent_index():
    out, sched = make()
    try:
        now = time.perf_counter()
        sched.push(Scheduled(now, (0x90, 60, 100), answer=7, index=0))
        sched.push(Scheduled(now + 10, (0x80, 60, 0), answer=7, index=3))
        assert wait_for(lambda: len(out.sent) == 1)
        assert sched.cancel(7, silence=True) == 0
        sent = out.messages()
        assert sent[1:] == [(0x80, 60, 0)]            # the sounding note is released at once, and nothing else
        assert sched.pending(7) == 0 and sched.sounding() == {}
    finally:
        sched.stop()


def test_cancelling_an_answer_that_never_sounded_sends_nothing():
    out, sched = make()
    try:
        due = time.perf_counter() + 0.2
        sched.push(Scheduled(due, (0x90, 60, 100), answer=2, index=0))
        assert sched.cancel(2, silence=True) == -1
        time.sleep(max(due - time.perf_counter(), 0) + 0.3)     # past its due time: uncancelled, it would be out
        assert out.sent == []
    finally:
        sched.stop()


def test_panic_leaves_nothing_sounding():
    out, sched = make()
    try:
        now = time.perf_counter()
        for i, pitch in enumerate((60, 64, 67)):
            sched.push(Scheduled(now, (0x90, pitch, 90), answer=1, index=i))
        assert wait_for(lambda: len(out.sent) == 3)
        sched.panic()
        offs = {d[1] for d in out.messages() if d[0] == 0x80}
        assert offs == {60, 64, 67}
    finally:
        sched.stop()


def test_a_message_generated_before_the_generator_heard_of_a_cancel_is_dropped():
    out, sched = make()
    try:
        now = time.perf_counter()
        stale_epoch = sched.epoch
        sched.cancel(3, silence=True)                 # the barge-in; the generator is still mid-step
        sched.push(Scheduled(now, (0x90, 61, 100), answer=3, index=4, epoch=stale_epoch))
        sched.push(Scheduled(now, (0x90, 62, 100), answer=4, index=0, epoch=sched.epoch))
        assert wait_for(lambda: (0x90, 62, 100) in out.messages())
        assert (0x90, 61, 100) not in out.messages()
    finally:
        sched.stop()


def test_a_player_note_after_an_answer_opened_stops_its_notes_before_the_session_cancels():
    out, sched = make()
    try:
        opened = time.perf_counter()
        sched.player_note(opened + 0.001)             # stamped by the input thread; the session's loop is busy
        sched.push(Scheduled(opened + 0.02, (0x90, 60, 100), answer=1, index=0, opened=opened))
        time.sleep(0.1)
        assert out.messages() == []
        sched.push(Scheduled(time.perf_counter(), (0x90, 64, 100), answer=2, index=0, opened=time.perf_counter()))
        assert wait_for(lambda: out.messages() == [(0x90, 64, 100)])   # an answer opened after it plays
    finally:
        sched.stop()


def test_in_continuous_mode_player_notes_do_not_stop_segue():
    out, sched = make()
    try:
        sched.yield_to_player = False
        opened = time.perf_counter()
        sched.player_note(opened + 0.001)
        sched.push(Scheduled(opened + 0.01, (0x90, 60, 100), answer=1, index=0, opened=opened))
        assert wait_for(lambda: out.messages() == [(0x90, 60, 100)])
    finally:
        sched.stop()


def test_a_player_note_stops_an_answers_notes_but_never_the_release_of_one_that_sounds():
    """The player's note-on reaches the scheduler before the session hears it; if the answer ended meanwhile (its
    length: nothing left pending, once the scheduler had skipped the rest), no cancel comes to release its notes, so
    skipping a note-off left the note sounding for good (seen at an independent listener: two notes of an answer
    left sounding when the player's next phrase came right at its end)."""
    out, sched = make()
    try:
        opened = time.perf_counter()
        sched.push(Scheduled(opened, (0x90, 65, 100), answer=1, index=0, opened=opened))
        assert wait_for(lambda: out.messages() == [(0x90, 65, 100)])
        sched.player_note(time.perf_counter())
        later = time.perf_counter() + 0.02
        sched.push(Scheduled(later, (0x90, 70, 100), answer=1, index=1, opened=opened))
        sched.push(Scheduled(later, (0x80, 65, 0), answer=1, index=2, opened=opened))
        sched.push(Scheduled(later, (0x80, 70, 0), answer=1, index=3, opened=opened))
        assert wait_for(lambda: sched.pending(1) == 0)
        time.sleep(0.05)
        assert out.messages() == [(0x90, 65, 100), (0x80, 65, 0)]   # no new note; the sounding one released
        assert sched.sounding() == {}
    finally:
        sched.stop()
