"""Worker processes for `segue data build`, one file each at a time, with a time limit per file.

multiprocessing.Pool cannot take back a task: a worker stuck on one pathological file (a score music21 takes an hour
over, a parser bug) holds the whole build, and killing the pool loses every result still in flight. Here each worker
has its own pipe, so the parent knows which file every worker is on and since when; a worker past the limit is
killed, its file reported as skipped, and a fresh worker takes its place. A worker that dies (out of memory, a
crash in C) costs only its own file. Results are handed back as they arrive, so the caller caches each at once.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait

# A fresh worker imports the encoder (music21, numpy: seconds on a loaded machine) before it can start a file; that
# time is not the file's. It says READY when it can, and gets this long to do so.
READY = "ready"
STARTUP_S = 120.0
PR_SET_PDEATHSIG = 1   # prctl(2): the signal a process gets when its parent dies

# What `work(path, settings)` returns: (path, notes, events, None) or (path, None, None, skip reason).
Result = tuple


def run(paths: list[str], work: Callable, settings, workers: int, timeout: float) -> Iterator[Result]:
    """Yield one result per path, in completion order; a file that takes longer than `timeout` s is skipped."""
    todo = list(reversed(paths))
    # spawn, not fork: music21 and torch keep threads and caches that do not survive a fork well.
    context = multiprocessing.get_context("spawn")
    slots = [_Worker(context, work, settings) for _ in range(max(1, min(workers, len(paths))))]
    try:
        for slot in slots:
            slot.give(todo)
        while any(slot.path for slot in slots):
            busy = {slot.conn: slot for slot in slots if slot.path}
            deadline = min(slot.deadline(timeout) for slot in busy.values())
            for conn in wait(list(busy), timeout=max(0.0, deadline - time.monotonic())):
                slot = busy[conn]
                try:
                    result = conn.recv()
                except (EOFError, OSError):
                    result = (slot.path, None, None, f"its encoding process died (exit code {slot.exit_code()})")
                    slot.restart()
                if result == READY:
                    slot.ready, slot.started = True, time.monotonic()
                    continue
                slot.path = None
                yield result
                slot.give(todo)
            for slot in busy.values():
                if slot.path and time.monotonic() > slot.deadline(timeout):
                    path = slot.path
                    slot.restart()
                    yield (path, None, None, f"still encoding after {timeout:g} s (data.file_timeout_seconds)")
                    slot.give(todo)
    finally:
        for slot in slots:
            slot.stop()


class _Worker:
    """One worker process (started when first given a file) and the file it is on (None when idle)."""

    def __init__(self, context, work: Callable, settings):
        self._context, self._work, self._settings = context, work, settings
        self.process = None
        self.path: str | None = None
        self.started = 0.0
        self.ready = False   # the worker has imported the encoder: from then on its file's clock runs

    def deadline(self, timeout: float) -> float:
        return self.started + (timeout if self.ready else max(timeout, STARTUP_S))

    def give(self, todo: list[str]) -> None:
        if not todo:
            return
        if self.process is None:
            self.conn, child = self._context.Pipe()
            self.process = self._context.Process(target=_serve, args=(child, self._work, self._settings), daemon=True)
            self.process.start()
            child.close()
            self.ready = False
        self.path, self.started = todo.pop(), time.monotonic()
        self.conn.send(self.path)

    def exit_code(self):
        self.process.join(1.0)
        return self.process.exitcode

    def restart(self) -> None:
        """Kill the process; the next give() starts a fresh one."""
        self.process.kill()
        self.process.join()
        self.conn.close()
        self.process, self.path = None, None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.path is None:
            try:
                self.conn.send(None)      # idle: let it finish cleanly
                self.process.join(2.0)
            except OSError:
                pass
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _serve(conn: Connection, work: Callable, settings) -> None:
    """The worker's loop: a path in, a result out, until the parent sends None or is gone."""
    # Ctrl-C reaches the whole process group; the parent alone handles it (and kills us), so no worker tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    try:
        conn.send(READY)
        while (path := conn.recv()) is not None:
            conn.send(work(path, settings))
    except (EOFError, OSError):   # the parent went without a word (killed): nobody is left to hear a traceback
        pass


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the build that started it dies. A `kill` of `segue data build` runs no
    cleanup, and its workers would otherwise go on encoding (music21 may take minutes over one score) for nobody."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):   # not Linux: the broken pipe ends the worker after its current file
        return
    # The build may have died while this worker was still starting (importing the encoder takes seconds), before
    # the request above: then this process already belongs to another parent.
    if os.getppid() != multiprocessing.parent_process().pid:
        os._exit(0)
