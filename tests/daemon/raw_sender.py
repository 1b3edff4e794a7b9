"""An independent JACK client that sends raw bytes, in its own process: each line on its stdin is one JACK MIDI event
("90 3C F8": any bytes, malformed or not, exactly as given), or `flood RATE SECONDS` (notes on and off, a pedal
and the mod wheel at RATE messages a second), or `burst COUNT` (COUNT note messages as fast as JACK takes them).
It answers each line with what it did; it runs at a JACK client's realtime priority where allowed, so that a busy
segue cannot slow the attack down. Built on segue's own JACK client code (daemon/jack_client.py), which writes
an event's bytes verbatim, as a C client against libjack would; used by the hostile-stage tests and bench/flood.py.
"""
from __future__ import annotations

import time

from daemon.testing import JackServer, start_script

SCRIPT = r"""
import os, random, sys, time
from daemon.jack_client import JackMidiOut
try:          # a sender at a JACK client's priority: segue's busy threads (realtime, below JACK's) cannot slow it
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))
except (OSError, AttributeError):
    pass
out = JackMidiOut(sys.argv[1])
out.open_virtual_port("out")
print("ready", flush=True)

def send(data):
    while not out._client.write(bytes(data), 0):     # the ring to the cycle is full: wait a cycle
        time.sleep(0.0005)

for line in sys.stdin:
    words = line.split()
    if not words or words[0] == "quit":
        break
    if words[0] == "flood":
        rate, seconds = float(words[1]), float(words[2])
        rng, held, sent, start = random.Random(0), [], 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(10):
                if held and (len(held) > 6 or rng.random() < 0.5):
                    send([0x80, held.pop(rng.randrange(len(held))), 0])
                elif rng.random() < 0.1:
                    send([0xB0, rng.choice((1, 64)), rng.randrange(128)])
                else:
                    pitch = rng.randrange(36, 96)
                    send([0x90, pitch, rng.randrange(1, 128)])
                    held.append(pitch)
                sent += 1
            time.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        for pitch in held:
            send([0x80, pitch, 0])
        send([0xB0, 64, 0])
        print(sent + len(held) + 1, time.perf_counter(), flush=True)
    elif words[0] == "burst":
        count, start = int(words[1]), time.perf_counter()
        for i in range(count):
            send([0x90 if i % 2 == 0 else 0x80, 60, 64 if i % 2 == 0 else 0])
        print(count, time.perf_counter() - start, flush=True)
    else:
        send([int(word, 16) for word in words])
        print("sent", time.perf_counter(), flush=True)
"""


class RawSender:
    """The sender above as `<client>:out`."""

    def __init__(self, jack: JackServer, client: str = "raw"):
        self.port = f"{client}:out"
        self.proc = start_script(SCRIPT, client, env=jack.env, what=f"raw sender {client}")
        jack.wait_port(self.port.replace("-", r"\-"))

    def ask(self, line: str, timeout: float = 120.0) -> list[str]:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        answer = self.proc.stdout.readline()
        if not answer and time.monotonic() > deadline:
            raise AssertionError(f"the raw sender did not answer {line!r}")
        return answer.split()

    def send(self, *data: int) -> float:
        """One event of exactly these bytes; returns when it was handed to JACK (perf_counter)."""
        return float(self.ask(" ".join(f"{byte:02X}" for byte in data))[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except Exception:     # noqa: BLE001 - a sender that will not quit is killed
                self.proc.kill()
                self.proc.wait(5)
