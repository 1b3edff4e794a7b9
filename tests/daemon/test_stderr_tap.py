"""What a C library prints to stdio's stderr: RtMidi's line for each message its full queue drops is counted and kept
out, said once in segue's words; every other line passes on, and Python's own output is untouched."""
import ctypes
import logging
import sys
import time

import pytest

from daemon.backends.stderr_tap import StderrTap

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's stdio")


def c_stderr(text: bytes) -> None:
    libc = ctypes.CDLL(None)
    libc.fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    libc.fputs(text, ctypes.c_void_p.in_dll(libc, "stderr"))


def test_marked_lines_are_counted_and_kept_out_and_the_rest_passes(capfd, caplog):
    tap = StderrTap(b"queue limit reached", "input: the queue is full. Said once; counted.")
    with caplog.at_level(logging.WARNING, logger="segue.daemon"):
        tap.start()
        try:
            # Python's line first: the tap's thread passes C lines on to fd 2 while Python writes there too, and a
            # line Python writes in two pieces (text, newline) can take another between them
            print("python's own line", file=sys.stderr, flush=True)
            for _ in range(5000):                  # RtMidi's own shape: a blank line either side
                c_stderr(b"\nMidiInJack: message queue limit reached!!\n\n")
            c_stderr(b"libjack: something else\n")
            time.sleep(0.2)
        finally:
            tap.stop()
    c_stderr(b"after the tap\n")
    said = capfd.readouterr().err
    assert tap.count == 5000 and not tap.lost_some()
    assert "queue limit" not in said
    assert "libjack: something else\n" in said and "python's own line\n" in said and "after the tap\n" in said
    assert [r.message for r in caplog.records] == ["input: the queue is full. Said once; counted."]


def test_what_is_printed_while_discarding_is_dropped_and_marked_lines_still_count(capfd):
    tap = StderrTap(b"queue limit reached", "said")
    tap.start()
    try:
        c_stderr(b"before\n")
        with tap.discarding():                      # what rtmidi.client() does around a new client (fd 2 -> null)
            c_stderr(b"Cannot connect to server socket\n")
            c_stderr(b"\nMidiInJack: message queue limit reached!!\n\n")
        c_stderr(b"after\n")
        time.sleep(0.2)
    finally:
        tap.stop()
    said = capfd.readouterr().err
    assert "before\n" in said and "after\n" in said and "Cannot connect" not in said and tap.count == 1
