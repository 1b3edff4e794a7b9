"""Realtime scheduling for the daemon's threads, where the OS allows it.

On a busy machine an ordinary thread woken to send a note can wait milliseconds for a core, and a thread preempted
while it holds the GIL stalls the others behind it. SCHED_FIFO (as JACK uses for its own threads) fixes both;
the priorities stay below JACK's default 70 so audio keeps precedence. Every thread here sleeps when it has no
work, and Linux's realtime throttling still leaves the rest of the system 5% of each second.
"""
from __future__ import annotations

import os


def become_realtime(priority: int) -> bool:
    """SCHED_FIFO at `priority` for the calling thread; False where refused (no rtprio rights, other OS)."""
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError):
        return False
    return True
