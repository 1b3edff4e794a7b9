"""The /proc reading that spots libjack's departed-semaphore race (daemon/jack_semaphores.py)."""
from __future__ import annotations

from daemon.jack_semaphores import departed_semaphore_waits

LIVE = "7f0e8704f000-7f0e87050000 rw-s 00000000 00:1b 10521   /dev/shm/jack_sem.0_st33_orphan"
GONE = "7f0e87052000-7f0e87053000 rw-s 00000000 00:1b 10518   /dev/shm/jack_sem.0_st33_lsp (deleted)"


def fake_proc(tmp_path, maps, syscalls):
    (tmp_path / "maps").write_text("\n".join(maps) + "\n")
    for tid, line in syscalls.items():
        (tmp_path / "task" / str(tid)).mkdir(parents=True)
        (tmp_path / "task" / str(tid) / "syscall").write_text(line + "\n")
    return tmp_path


def test_a_thread_asleep_on_a_departed_clients_semaphore_is_found(tmp_path):
    proc = fake_proc(tmp_path, [LIVE, GONE], {1: "202 0x7f0e8704f000 0x0 0x0", 2: "202 0x7f0e87052000 0x0 0x0",
                                             3: "running"})
    assert departed_semaphore_waits(proc) == 1


def test_threads_on_live_semaphores_or_other_futexes_are_not(tmp_path):
    proc = fake_proc(tmp_path, [LIVE, GONE], {1: "202 0x7f0e8704f000 0x0 0x0", 2: "202 0x7f0e64000ba0 0x189 0x0",
                                             3: "230 0x0 0x0 0x0"})
    assert departed_semaphore_waits(proc) == 0


def test_no_proc_says_nothing(tmp_path):
    assert departed_semaphore_waits(tmp_path / "absent") == 0


def test_clients_that_met_the_race_are_reopened_and_the_last_try_is_kept(monkeypatch):
    import daemon.jack_semaphores as js

    stuck = iter([2, 1, 1])                                   # stuck after the 1st, 2nd and 3rd opening
    monkeypatch.setattr(js, "departed_semaphore_waits", lambda: next(stuck))
    opened, closed = [], []
    got = js.open_awake(lambda: opened.append(len(opened)) or opened[-1], closed.append, settle_s=0)
    assert (got, opened, closed) == (2, [0, 1, 2], [0, 1])


def test_clients_clear_of_the_race_are_kept_at_once(monkeypatch):
    import daemon.jack_semaphores as js

    monkeypatch.setattr(js, "departed_semaphore_waits", lambda: 0)
    closed = []
    assert js.open_awake(lambda: "ports", closed.append, settle_s=0) == "ports" and closed == []
