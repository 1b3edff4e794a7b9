"""The scheduler's realtime priority never goes above the JACK server's; input stamps rebuilt from spacings; a lost
JACK server told from a running and from a restarted one."""
import os
import socket
import threading
from pathlib import Path

import pytest

from daemon.jack_supervisor import JackServerWatch
from daemon.backends.rtmidi import ArrivalClock
from daemon.realtime import GENERATOR_NICE, lift_threads, scheduler_priority


def fake_tasks(tmp_path: Path, threads: list[tuple[int, int]]) -> Path:
    """/proc/self/task look-alike: one stat file per (policy, rt_priority) thread."""
    for tid, (policy, priority) in enumerate(threads, start=100):
        fields = ["S"] + ["0"] * 36 + [str(priority), str(policy)] + ["0"] * 13      # fields 3.. of proc(5)
        (tmp_path / str(tid)).mkdir()
        (tmp_path / str(tid) / "stat").write_text(f"{tid} (python) " + " ".join(fields))
    return tmp_path


def test_under_debians_default_jackd_the_scheduler_goes_below_its_client_threads(tmp_path):
    tasks = fake_tasks(tmp_path, [(0, 0), (1, 5), (0, 0)])         # libjack's process thread at FIFO 5
    assert scheduler_priority(60, "jack", tasks, settle_s=0) == 4


def test_with_a_high_priority_server_the_asked_priority_stands(tmp_path):
    tasks = fake_tasks(tmp_path, [(1, 65), (1, 65)])
    assert scheduler_priority(60, "jack", tasks, settle_s=0) == 60


def test_a_jack_server_without_realtime_keeps_the_scheduler_an_ordinary_thread(tmp_path):
    tasks = fake_tasks(tmp_path, [(0, 0), (0, 0)])
    assert scheduler_priority(60, "jack", tasks, settle_s=0) == 0


def test_one_below_fifo_1_is_no_realtime_at_all(tmp_path):
    assert scheduler_priority(60, "jack", fake_tasks(tmp_path, [(1, 1)]), settle_s=0) == 0


def test_other_backends_and_off_are_left_alone(tmp_path):
    assert scheduler_priority(60, "alsa", fake_tasks(tmp_path, [(1, 5)]), settle_s=0) == 60
    assert scheduler_priority(0, "jack", tmp_path, settle_s=0) == 0


def _scheduling(thread_id: int) -> tuple[int, int, int]:
    """(policy, realtime priority, nice) of a thread of this process, from /proc (proc(5) fields 41, 40, 19)."""
    fields = Path(f"/proc/self/task/{thread_id}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[38]), int(fields[37]), int(fields[16])


def test_light_threads_go_realtime_one_below_the_scheduler_and_the_generator_gets_a_higher_weight():
    if os.geteuid() != 0:
        pytest.skip("changing thread priorities needs root or rtprio/nice limits")
    done = threading.Event()
    light, heavy, untouched = threads = [threading.Thread(target=done.wait) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        assert lift_threads(0, light=[untouched.native_id], heavy=[untouched.native_id]).startswith("segue's other")
        assert _scheduling(untouched.native_id) == (0, 0, 0)     # scheduler not realtime: nothing lifted
        line = lift_threads(4, light=[light.native_id], heavy=[heavy.native_id])
        assert line == f"1 of 1 light threads at FIFO 3, 1 of 1 generator threads at nice {GENERATOR_NICE}"
        assert _scheduling(light.native_id)[:2] == (1, 3)        # SCHED_FIFO, below the scheduler's 4
        assert _scheduling(heavy.native_id) == (0, 0, GENERATOR_NICE)   # an ordinary thread, never realtime
    finally:
        done.set()
        for thread in threads:
            thread.join()


def test_arrival_stamps_keep_the_backends_spacing_and_take_the_tightest_poll_as_offset():
    clock = ArrivalClock()
    assert clock.stamp(0.0, polled_at=10.005) == 10.005            # first message: picked up 5 ms late at most
    assert abs(clock.stamp(0.100, polled_at=10.101) - 10.101) < 1e-9   # picked up at once: the offset tightens
    stamps = [clock.stamp(0.010, polled_at=10.2), clock.stamp(0.0, polled_at=10.2)]   # polled late, in one batch
    assert abs(stamps[0] - 10.111) < 1e-9 and stamps[1] == stamps[0]   # spacing kept, not the poll time


def test_arrival_stamps_never_run_backwards_or_into_the_future():
    clock = ArrivalClock()
    last = float("-inf")
    for delta, polled in [(0.0, 1.0), (0.5, 1.9), (0.1, 1.95), (0.0, 1.95), (0.3, 2.1)]:
        stamp = clock.stamp(delta, polled)
        assert last <= stamp <= polled
        last = stamp



def test_arrival_stamps_recover_from_a_spacing_lost_with_a_dropped_message():
    # a message every 10 ms, each picked up 0.2 ms after it arrived; message 100's spacing is lost (python-rtmidi's
    # full queue dropped the message before it, and its 0.5 s): every later sum of spacings is 0.5 s short
    clock, arrived = ArrivalClock(), 0.0
    errors = []
    for n in range(100 + 2 * ArrivalClock.WINDOW):
        spacing = 0.0 if n == 0 else 0.010
        arrived += spacing + (0.5 if n == 100 else 0.0)
        errors.append(clock.stamp(spacing, polled_at=arrived + 0.0002) - arrived)
    picked_up = [abs(error - 0.0002) < 1e-6 for error in errors]
    assert all(picked_up[:100]) and all(picked_up[100 + ArrivalClock.WINDOW:])    # early for a window, no longer

def listening(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    return server


def test_the_server_watch_tells_a_running_a_gone_and_a_restarted_jack_server_apart(tmp_path):
    path = tmp_path / "jack_default_0_0"
    first = listening(path)
    watch = JackServerWatch(str(path))
    assert watch.state() == "joined"
    first.close()                                      # killed: its socket file stays, nobody answers
    assert path.exists() and watch.state() == "gone"
    path.unlink()                                      # stopped: no file at all
    assert watch.state() == "gone"
    second = listening(path)                           # a new server of the same name: segue's clients are dead
    assert watch.state() == "new"
    watch.rejoined()
    assert watch.state() == "joined"
    second.close()


def test_without_jackd2s_socket_the_server_is_not_watched(tmp_path):
    watch = JackServerWatch(str(tmp_path / "absent"))
    assert not watch.checkable and watch.state() == "joined"
