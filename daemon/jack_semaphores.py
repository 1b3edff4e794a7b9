"""A libjack race that freezes the whole JACK graph, seen from /proc.

libjack keeps one table of the server's client semaphores per process, indexed by the server's client number, and
fills it from notifications. In a process with two clients (segue's `in` and `out`), when the second opens while
a short-lived client that held the same number is leaving (jack_lsp, jack_connect, a patchbay's probe), the second
can keep the leaver's semaphore: its process thread then sleeps on a semaphore nobody signals, the server waits for
it every cycle, and every client after it in the graph stops (jackd 1.9.21 with python-rtmidi's libjack 1.9.22;
measured here with jack_lsp run 5 times a second on a loaded machine: 8 segue starts in 40 hit it, seen as
segue-01's JACK thread asleep on `jack_sem.<uid>_<server>_lsp (deleted)`). Closing every client of the process
empties the table; with the reopen, 0 of those 40 starts froze the graph.
"""
from __future__ import annotations

import time
from pathlib import Path

REOPEN_ATTEMPTS = 3
FUTEX_SYSCALL = "202"            # x86-64 futex(2): the first field of /proc/<pid>/task/<tid>/syscall when blocked in it


def departed_semaphore_waits(proc: Path = Path("/proc/self")) -> int:
    """How many threads of this process sleep on a JACK semaphore whose file is gone (0 where /proc does not tell,
    e.g. on other OSes or other architectures)."""
    try:
        maps = (proc / "maps").read_text()
        tasks = list((proc / "task").iterdir())
    except OSError:
        return 0
    gone = []
    for line in maps.splitlines():
        if "/jack_sem." in line and line.endswith("(deleted)"):
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            gone.append((low, high))
    if not gone:
        return 0
    stuck = 0
    for task in tasks:
        try:
            fields = (task / "syscall").read_text().split()
        except OSError:
            continue                 # a thread that ended while we looked
        if len(fields) > 1 and fields[0] == FUTEX_SYSCALL:
            address = int(fields[1], 16)
            stuck += any(low <= address < high for low, high in gone)
    return stuck


def open_awake(open_clients, close_clients, settle_s: float, attempts: int = REOPEN_ATTEMPTS):
    """`open_clients()`, then, once their process threads had `settle_s` to fall asleep on their semaphores, again
    (after `close_clients(opened)`) while one sleeps on a departed client's; the last try is kept whatever it met."""
    for attempt in range(attempts):
        opened = open_clients()
        time.sleep(settle_s)
        if not departed_semaphore_waits() or attempt == attempts - 1:
            return opened
        close_clients(opened)
