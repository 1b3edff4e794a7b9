"""Realtime scheduling for the scheduler thread, never above the audio server.

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


def become_realtime(priority: int) -> bool:
    """SCHED_FIFO at `priority` for the calling thread; False where refused (no rtprio rights, other OS)."""
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError):
        return False
    return True


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
