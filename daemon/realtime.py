"""Realtime scheduling for segue's threads, never above the audio server.

On a busy machine an ordinary thread woken to send a note can wait milliseconds for a core, so the scheduler asks
for SCHED_FIFO. But a thread above the audio server's own threads starves the server (xruns, late or lost
messages for every client), and servers differ: Debian's `jackd -R` runs at FIFO 10 unless given -P, its clients
at 5. So under JACK the ceiling is read from the server itself: libjack gives each client's process thread in our
process the server's client priority; the scheduler goes one below it, and stays an ordinary thread when that
thread is not realtime (a server run with --no-realtime). Other backends have no server thread to outrank.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

POLICY_FIFO_RR = {1, 2}          # SCHED_FIFO, SCHED_RR in /proc/<pid>/task/<tid>/stat's policy field
SETTLE_S = 0.5                   # libjack's process thread raises its own priority just after it starts


# The generator (model steps, Python sampling) must not be realtime: it runs for milliseconds at a time, and a
# realtime thread that busy starves the server (measured: the generator at FIFO 1 doubled the cycles jackd gave up
# on). But it holds the GIL that the realtime scheduler needs for each send, and an ordinary thread preempted by
# another process while it holds the GIL stalls the scheduler until the OS runs it again (priority inversion
# through the GIL; send-call p99 4.1 ms, max 9.7 ms under two CPU hogs). A higher CFS weight keeps ordinary
# processes from preempting it for long, and a niced thread still never runs before a realtime one.
GENERATOR_NICE = -10


def become_realtime(priority: int, thread_id: int = 0) -> bool:
    """SCHED_FIFO at `priority` for a thread (0: the calling one; else a native thread id of this process); False
    where refused (no rtprio rights, other OS)."""
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(thread_id, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError):
        return False
    return True


def lift_threads(scheduler_priority: int, light: list[int], heavy: list[int]) -> str:
    """With the scheduler realtime at `scheduler_priority`: segue's short, bounded threads (`light`, native ids: the
    session loop and the input poll, which hold the GIL only briefly) go realtime one below it, so no ordinary
    process preempts them while they hold it; the CPU-heavy ones (`heavy`: the generator) get GENERATOR_NICE.
    Nothing changes when the scheduler is not realtime (the server's threads are not, or realtime is off).
    Returns a line for the log."""
    if scheduler_priority <= 0:
        return "segue's other threads stay ordinary (the scheduler is not realtime)"
    below = max(1, scheduler_priority - 1)
    lifted = sum(become_realtime(below, thread_id) for thread_id in light)
    niced = 0
    for thread_id in heavy:
        try:
            os.setpriority(os.PRIO_PROCESS, thread_id, GENERATOR_NICE)
            niced += 1
        except (PermissionError, OSError):
            pass                    # no CAP_SYS_NICE / RLIMIT_NICE: timing may suffer on a busy machine
    return (f"{lifted} of {len(light)} light threads at FIFO {below}, {niced} of {len(heavy)} generator threads at "
            f"nice {GENERATOR_NICE}")


def scheduler_priority(asked: int, backend: str, task_dir: Path = Path("/proc/self/task"),
                       settle_s: float = SETTLE_S) -> int:
    """The priority the scheduler thread may take: `asked` (0 = off), under JACK capped one below the server's
    client threads in this process (call it after the ports are open), and 0 when they are not realtime."""
    if asked <= 0 or backend != "jack":
        return max(asked, 0)
    deadline = time.monotonic() + settle_s
    server = realtime_threads_priority(task_dir)
    while server is None and time.monotonic() < deadline:
        time.sleep(0.05)
        server = realtime_threads_priority(task_dir)
    return 0 if server is None else max(0, min(asked, server - 1))


def realtime_threads_priority(task_dir: Path = Path("/proc/self/task")) -> int | None:
    """Highest SCHED_FIFO/RR priority among this process's threads (libjack's, since segue's own are not realtime
    yet when this is asked), None if none is realtime or the OS does not tell."""
    best = None
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue                  # a thread that ended while we looked
        # proc(5): field 40 rt_priority, field 41 policy; fields[0] is field 3
        priority, policy = int(fields[37]), int(fields[38])
        if policy in POLICY_FIFO_RR and (best is None or priority > best):
            best = priority
    return best
