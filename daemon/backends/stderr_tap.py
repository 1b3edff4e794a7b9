"""C stdio's stderr, read by segue: lines a C library prints there that segue says in its own words instead.

RtMidi (inside python-rtmidi) writes "MidiInJack: message queue limit reached!!" to std::cerr for every message its
full input queue refuses: tens of thousands of lines in a flood, from JACK's realtime thread, past every hook (its
error callback is not called for it, and a Python callback there would run Python on JACK's thread). So stdio's
stderr (what std::cerr writes through, and libjack's and alsa-lib's fprintf) is pointed at a pipe; a thread of segue's
counts and keeps out the lines that carry a marker, and passes every other line on to file descriptor 2, where
Python's own output still goes directly (a terminal stays a terminal for the status line). Where segue points fd 2 at
/dev/null for a while (a new client's complaints when there is no server), `discarding()` drops what came meanwhile.

The pipe's writing end never blocks: a writer on JACK's thread must not wait for segue. Were the pipe ever full
(1 MiB, some 20,000 such lines behind), the rest would be lost: the count then says "at least".

glibc only (Linux: ALSA, and JACK there), where `FILE` is a public structure whose descriptor field sits at a fixed
place; the tap checks it through `fileno()` before relying on it. Elsewhere nothing is tapped.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import struct
import threading
import time

log = logging.getLogger("segue.daemon")

FILENO_OFFSET = 112          # offsetof(struct _IO_FILE, _fileno) in glibc on 64-bit machines
DISCARD, KEEP = b"\x00segue: discard\n", b"\x00segue: keep\n"    # where a `discarding()` stretch begins and ends
KEEP_WAIT_S = 1.0
PIPE_BYTES = 1 << 20         # Linux's default most for an unprivileged pipe (/proc/sys/fs/pipe-max-size)
F_SETPIPE_SZ = 1031


class StderrTap:
    """While started: lines on stdio's stderr that contain `marker` are counted (`count`, `last_at`) and kept out;
    `said` is logged once, at the first. Started and stopped by its users in pairs (the last stop restores)."""

    def __init__(self, marker: bytes, said: str):
        self.marker, self.said = marker, said
        self.count = 0
        self.last_at: float | None = None          # perf_counter time the latest marked line was read
        self._users = 0
        self._discarding = 0                        # discarding() stretches open, as the pipe's reader has met them
        self._kept = threading.Event()              # the reader met the end of one
        self._lock = threading.Lock()
        self._libc = self._stderr = self._write_end = self._thread = None

    def start(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1 and not self._tap():
                self._users = 0

    def stop(self) -> None:
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users:
                return
            self._fileno(2)
            os.close(self._write_end)                # the thread reads what is left, then the end of the pipe
            self._write_end = None
        self._thread.join(timeout=1.0)

    @contextlib.contextmanager
    def discarding(self):
        """What C libraries print meanwhile is dropped, as a caller that points fd 2 at /dev/null means (marked lines
        still count). The pipe is read on another thread: marks written into it say where the stretch begins and
        ends, and the caller waits until the reader has met the end."""
        with self._lock:
            write_end = self._write_end
            try:
                if write_end is not None:
                    self._kept.clear()
                    os.write(write_end, DISCARD)
            except OSError:                          # its pipe is full: nothing to discard from
                write_end = None
        try:
            yield
        finally:
            if write_end is not None:
                with self._lock:
                    ended = self._write_end == write_end and _write(write_end, KEEP)
                if ended:
                    self._kept.wait(KEEP_WAIT_S)

    def lost_some(self) -> bool:
        """Whether a write to the pipe failed (it was full): the count is then a lower bound."""
        return self._libc is not None and bool(self._libc.ferror(self._stderr))

    def _tap(self) -> bool:
        if platform.libc_ver()[0] != "glibc" or struct.calcsize("P") != 8:
            return False
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ferror.argtypes = libc.fileno.argtypes = [ctypes.c_void_p]
        stderr = ctypes.c_void_p.in_dll(libc, "stderr").value
        if not stderr or libc.fileno(stderr) != 2 or ctypes.c_int.from_address(stderr + FILENO_OFFSET).value != 2:
            return False
        read_end, write_end = os.pipe()
        try:
            import fcntl
            fcntl.fcntl(write_end, F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass                                     # the default 64 KiB: fewer lines behind before any is lost
        os.set_blocking(write_end, False)
        self._libc, self._stderr, self._write_end = libc, stderr, write_end
        self._fileno(write_end)
        if libc.fileno(stderr) != write_end:         # not the field fileno() reads: put it back, tap nothing
            self._fileno(2)
            os.close(read_end)
            os.close(write_end)
            self._libc = None
            return False
        self._discarding = 0
        self._thread = threading.Thread(target=self._read, args=(read_end,), name="segue-stderr", daemon=True)
        self._thread.start()
        return True

    def _fileno(self, fd: int) -> None:
        ctypes.c_int.from_address(self._stderr + FILENO_OFFSET).value = fd

    def _read(self, read_end: int) -> None:
        pending = b""
        try:
            while chunk := os.read(read_end, PIPE_BYTES):
                *lines, pending = (pending + chunk).split(b"\n")
                self._pass([line + b"\n" for line in lines])
            if pending:
                self._pass([pending])
        finally:
            os.close(read_end)

    def _pass(self, lines: list[bytes]) -> None:
        kept, marked = [], 0
        for line in lines:
            if line == DISCARD:
                self._discarding += 1
            elif line == KEEP:
                self._discarding -= 1
                self._kept.set()
            elif self.marker in line:
                marked += 1
            elif line.strip() and not self._discarding:   # the blank lines around RtMidi's ("\nMidiInJack: ...!!\n\n")
                kept.append(line)
        if marked:
            self.count += marked
            self.last_at = time.perf_counter()
            if self.count == marked:
                log.warning(self.said)
        rest = b"".join(kept)
        try:
            while rest:
                rest = rest[os.write(2, rest):]
        except OSError:
            pass                                     # no stderr to pass it to (closed, or a reader gone): as before


def _write(fd: int, data: bytes) -> bool:
    """`data` (a mark, far shorter than the pipe's atomic PIPE_BUF) into the pipe, waiting a little while it is full."""
    deadline = time.monotonic() + KEEP_WAIT_S
    while True:
        try:
            return os.write(fd, data) == len(data)
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        except OSError:
            return False
