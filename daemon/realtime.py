"""Realtime scheduling for the daemon's threads, where the OS allows it.

Only the scheduler thread asks for it: on a busy machine an ordinary thread woken to send a note can wait
milliseconds for a core. It sleeps until ~1 ms before each message, so it takes little. Its priority stays below
JACK's (70 by default) so audio keeps precedence; with a JACK server that runs *without* realtime threads, set
daemon.realtime_priority to 0, or the spinning scheduler can delay the server itself.
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
