"""The scheduler on a fake port: on time, in order, cancellable, and it never leaves notes sounding."""
import time

from daemon.scheduler import Scheduled, Scheduler
from tests.daemon.fakes import FakeOutput, wait_for


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


def test_cancel_drops_unsent_messages_and_reports_the_last_sent_index():
    out, sched = make()
    try:
        now = time.perf_counter()
        sched.push(Scheduled(now, (0x90, 60, 100), answer=7, index=0))
        sched.push(Scheduled(now + 10, (0x80, 60, 0), answer=7, index=3))
        assert wait_for(lambda: len(out.sent) == 1)
        assert sched.cancel(7, silence=True) == 0
        sent = out.messages()
        assert sent[1] == (0x80, 60, 0)               # the sounding note is released at once
        assert (0xB0, 64, 0) in sent and (0xB0, 123, 0) in sent
        assert sched.pending(7) == 0 and sched.sounding() == {}
    finally:
        sched.stop()


def test_cancelling_an_answer_that_never_sounded_sends_nothing():
    out, sched = make()
    try:
        sched.push(Scheduled(time.perf_counter() + 10, (0x90, 60, 100), answer=2, index=0))
        assert sched.cancel(2, silence=True) == -1
        time.sleep(0.02)
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
