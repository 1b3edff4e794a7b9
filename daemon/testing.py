"""A private JACK server, a tiny real ONNX model, `segue serve` as a subprocess, and a player/listener client.

The rig of the repository's end-to-end tests and of the JACK benches (bench/latency.py, flood.py, pulse_live.py ...),
so it lives here rather than in tests/: a bench must not import a test file. It needs a source checkout (it runs
`python -m daemon` from the repo, and torch in a subprocess for the tiny model); the daemon itself never imports it.
jackd missing is a failure, not a skip: these tests are the proof that the daemon works on a real MIDI system.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import rtmidi

from daemon.jack_semaphores import open_awake
from daemon.settings import DaemonConfig

REPO = Path(__file__).resolve().parents[1]
RATE, PERIOD = 48000, 128
POOL = 4                       # server names segue-test-0..3: at most this many test servers at once
SETUP_ATTEMPTS = 3             # tries for test-side JACK setup steps (new clients, connections)
PERIOD_S = PERIOD / RATE


class JackServer:
    """`jackd -n segue-test-N -d dummy -r 48000 -p 128` (N: the first free name of the pool), stopped by stop()."""

    def __init__(self, name: str | None = None, rate: int = RATE, period: int = PERIOD, realtime: bool | None = None,
                 priority: int | None = None):
        if shutil.which("jackd") is None:
            raise RuntimeError("jackd is not installed: apt-get install --no-install-recommends jackd2")
        self.period_s = period / rate
        # JACK keeps at most 8 servers in its shared registry and frees a dead server's slot only when a server of
        # the same name starts again. So names come from a small pool: a server killed mid-test leaks nothing.
        names = [name] if name else [f"segue-test-{k}" for k in range(POOL)]
        # realtime None: realtime threads if the system allows them, else without. A non-realtime server on a
        # loaded machine gets starved (its driver thread stalls for seconds); realtime is what musicians run.
        # priority None: jackd's own default (Debian's: FIFO 10, clients at 5), what a musician's `jackd -R` gets.
        self.priority = priority
        modes = [True, False] if realtime is None else [realtime]
        errors = []
        for mode in modes:
            for candidate in names:
                try:
                    self._start(candidate, rate, period, mode)
                    return
                except RuntimeError as exc:
                    errors.append(str(exc))
        raise RuntimeError("could not start jackd: " + " | ".join(errors[-2:]))

    def _start(self, name: str, rate: int, period: int, realtime: bool) -> None:
        self.name = name
        self.realtime = realtime
        self.env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
        # -t: how long (ms) jackd2 waits for a cycle some client has not finished before it moves on. While it
        # waits, no graph change happens, and a client that asks to join gives up after 5 s ("Driver is not
        # running"). A client killed mid-cycle never finishes until the server has removed it, so the harness's
        # former 10000 froze the server for tens of seconds after every SIGKILL or crash (measured: clients
        # failing to join, whole test files stalled); jackd's default of 500 ms recovers within a blink.
        cmd = ["jackd", "-n", name, "-t", "500"]
        if realtime:
            cmd += ["-R", *(["-P", str(self.priority)] if self.priority else [])]
        else:
            cmd += ["--no-realtime"]
        cmd += ["-d", "dummy", "-r", str(rate), "-p", str(period)]
        # jackd's messages go to a file: an unread pipe fills up and then blocks the server.
        # unique per try: a try that meets a running server of this name must not truncate (or unlink) its log
        self.log_path = Path(tempfile.gettempdir()) / f"{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:      # e.g. a live server already has this name: try the next one
                self._log.close()
                message = self.log_path.read_text(errors="replace").strip().splitlines()[:1]
                self.log_path.unlink(missing_ok=True)
                raise RuntimeError(f"jackd -n {name} exited: {message}")
            if subprocess.run(["jack_lsp"], env=self.env, capture_output=True).returncode == 0:
                time.sleep(0.3)                    # a name clash makes our jackd exit; that answer was another's
                if self.proc.poll() is None:
                    return
                continue
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"jackd -n {name} did not come up within 10 s")

    def ports(self) -> list[str]:
        out = subprocess.run(["jack_lsp"], env=self.env, capture_output=True, text=True).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def connect(self, source: str, destination: str) -> None:
        # A loaded server can refuse a request now and then; setting up the test rig is not what is under test.
        for attempt in range(SETUP_ATTEMPTS):
            done = subprocess.run(["jack_connect", source, destination], env=self.env, capture_output=True, text=True)
            if done.returncode == 0:
                return
            time.sleep(1.0)
        raise AssertionError(f"jack_connect {source} {destination} failed: {done.stderr.strip()[-300:]}")

    def disconnect(self, source: str, destination: str) -> None:
        subprocess.run(["jack_disconnect", source, destination], env=self.env, capture_output=True)

    def wait_port(self, pattern: str, timeout: float = 20.0) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for port in self.ports():
                if regex.fullmatch(port):
                    return port
            time.sleep(0.1)
        raise AssertionError(f"no JACK port matching {pattern!r} after {timeout} s; ports: {self.ports()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()            # the log stays in the temp dir: it is the first thing to read after a failure


def cpu_ticks() -> tuple[int, int] | None:
    """(ticks stolen by the hypervisor, all ticks) summed over the CPUs since boot, from /proc/stat; None elsewhere.

    On a virtual machine "steal" is time this machine's CPUs wanted to run and the host ran another guest: a JACK
    client due every 2.7 ms is then not woken in time, whatever its priority (measured here: jackd gave up cycles
    at the rate the steal rose, up to 77 ticks a second of 200)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    ticks = [int(f) for f in fields[:8]]           # user nice system idle iowait irq softirq steal
    return ticks[7], sum(ticks)


class XrunWindow:
    """Counts the xrun reports jackd logs between start() and stop(), those naming one of segue's clients, and the
    cycles the server gave up on ("Process error": the graph did not finish). MIDI events written in such a cycle
    can be lost inside JACK itself, whatever its clients do, so a transport test tells these losses apart. It also
    keeps the share of the CPUs' time the hypervisor took meanwhile (`stolen`, cpu_ticks), the usual cause; with
    `jack` None (a test that starts servers of its own), only that."""

    def __init__(self, jack: JackServer | None):
        self.jack = jack
        self.reports = self.segue_reports = self.failed_cycles = 0
        self.seconds = 0.0
        self._stolen = self._ticks = 0

    def _log(self) -> str:
        return self.jack.log_path.read_text(errors="replace") if self.jack else ""

    def start(self) -> "XrunWindow":
        self._offset, self._t0, self._cpu0 = len(self._log()), time.monotonic(), cpu_ticks()
        return self

    def stop(self) -> "XrunWindow":
        lines = self._log()[self._offset:].splitlines()
        xruns = [line for line in lines if "XRun" in line]
        self.reports += len(xruns)
        self.segue_reports += sum(1 for line in xruns if "client = segue" in line or "client segue" in line)
        self.failed_cycles += sum(1 for line in lines if "Process error" in line)
        self.seconds += time.monotonic() - self._t0
        now = cpu_ticks()
        if now and self._cpu0:
            self._stolen += now[0] - self._cpu0[0]
            self._ticks += now[1] - self._cpu0[1]
        return self

    @property
    def stolen(self) -> float:
        """The share of the CPUs' time stolen by the hypervisor over the window (0 where unknown)."""
        return self._stolen / self._ticks if self._ticks else 0.0

    def per_minute(self) -> float:
        return self.reports * 60 / max(self.seconds, 1e-9)


@contextlib.contextmanager
def serving_this_process():
    """A JackServer of its own that this process's JACK clients (and the programs it starts) use while it runs:
    JACK_DEFAULT_SERVER names it, JACK_NO_START_SERVER keeps libjack from starting a default one; both restored."""
    server = JackServer()
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=server.name, JACK_NO_START_SERVER="1")
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def interrupt_then_kill(proc: subprocess.Popen, grace: float) -> None:
    """Ctrl-C (how a user ends segue or a JACK tool), then SIGKILL if it has not ended within `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def quit_then_kill(proc: subprocess.Popen) -> None:
    """Ask one of the harness's helper scripts to quit (a line on its stdin), then SIGKILL if it does not."""
    if proc.poll() is None:
        try:
            proc.stdin.write("quit\n")
            proc.stdin.flush()
            proc.wait(5)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            proc.kill()
            proc.wait(5)


def looping_note(server: "JackServer", client: str) -> subprocess.Popen:
    """An independent player: jack_midiseq plays C4 for 0.1 s every 2 s (at 48 kHz), and segue answers each
    silence; its port is `client:...`."""
    return subprocess.Popen(["jack_midiseq", client, "96000", "0", "60", "4800"], env=server.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def restart_server(server: "JackServer", daemon: "Daemon", seq: subprocess.Popen,
                   listener: "Listener") -> "JackServer":
    """The other programs quit, the JACK server goes away (segue must say it waits) and one of its name starts
    again, empty: returned."""
    listener.close()
    seq.kill()
    seq.wait(5)
    server.stop()
    assert wait_until(lambda: "went away; segue waits" in daemon.output(), 5), daemon.output()
    return JackServer(name=server.name)


def realtime_prefix() -> list[str]:
    """`chrt -f 1` where allowed (root): a listener's threads then run before any ordinary process of a loaded machine,
    so none of them is preempted while it holds what JACK's thread of that listener waits for (the GIL, a ring)."""
    return ["chrt", "-f", "1"] if shutil.which("chrt") and os.geteuid() == 0 else []


def start_script(script: str, *args: str, env: dict | None = None, what: str,
                 realtime: bool = False) -> subprocess.Popen:
    """One of the harness's helper scripts in its own process, retried while it does not say "ready" (a loaded
    server may refuse a new client now and then)."""
    command = [*(realtime_prefix() if realtime else []), sys.executable, "-c", script, *args]
    for attempt in range(SETUP_ATTEMPTS):
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        if proc.stdout.readline().strip() == "ready":
            return proc
        proc.kill()
        error = proc.stderr.read()[-400:]
        proc.wait(5)
        time.sleep(1.0)
    raise RuntimeError(f"{what} did not start: {error}")


def make_tiny_model(path: Path) -> Path:
    """A small random Performance RNN exported to ONNX by export/ (torch is only needed here, not in the daemon)."""
    code = (
        "import torch; torch.set_num_threads(1); torch.manual_seed(0)\n"
        "from export.pipeline import export_model\n"
        "from training.models import build_model\n"
        f"export_model(build_model(dict(kind='performance_rnn', hidden_size=64, num_layers=2, conditioned=True)),"
        f" {str(path)!r}, parity_steps=20)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, timeout=300)
    return path


def bench_rig(model: str | None, workdir: str, server: str) -> tuple[Path, Path, "JackServer"]:
    """A live bench's setting: its work folder (made), the model it plays (`model`, else the shipped one, else a
    tiny one where none is installed) and a JACK server `server` of its own, which this process's clients use."""
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    if model:
        played = Path(model)
    else:
        from segue.inference.engine import default_model_path

        played = default_model_path() if default_model_path().is_file() else make_tiny_model(folder / "tiny.onnx")
    jack = JackServer(name=server)
    os.environ.update(JACK_DEFAULT_SERVER=jack.name, JACK_NO_START_SERVER="1")
    return folder, played, jack


def listening_ports(jack: JackServer, proc: subprocess.Popen, output, client: str) -> tuple[str, str]:
    """segue serve's (input, output) port names, looked up once `output()` (what it printed) says it is listening.

    Not before: at start segue may close its first clients and open new ones (the libjack race of
    daemon/jack_semaphores.py), and a connection made to a port it is closing is lost. Each look is also a jack_lsp,
    a client that joins and leaves, which is what that race feeds on."""
    wait_until(lambda: "listening on" in output() or proc.poll() is not None, 60, interval=0.1)
    return jack.wait_port(rf"{client}(-\d+)?:in"), jack.wait_port(rf"{client}(-\d+)?:out")


class Daemon:
    """`python -m daemon serve --backend jack ...` with its ports found by name."""

    def __init__(self, jack: JackServer, model: Path, workdir: Path, *args: str, client: str = "segue"):
        self.turn_log = workdir / f"turns-{uuid.uuid4().hex[:6]}.jsonl"
        self.log_path = workdir / f"serve-{uuid.uuid4().hex[:6]}.log"
        cmd = [sys.executable, "-X", "faulthandler", "-m", "daemon", "serve", "--backend", "jack", "--model", str(model),
               "--client-name", client, "--turn-log", str(self.turn_log), "--stats", *args]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=jack.env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.in_port, self.out_port = listening_ports(jack, self.proc, self.output, client)
        except AssertionError:
            said = self.output()
            self.stop()
            raise AssertionError(f"segue serve did not open its ports:\n{said}") from None

    def turns(self) -> list[dict]:
        if not self.turn_log.exists():
            return []
        text = self.turn_log.read_text()
        complete = text[:text.rfind("\n") + 1]   # a long line lands in chunks: one without its newline is unfinished
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def signal(self, signum=signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(15)

    def stop(self) -> int:
        interrupt_then_kill(self.proc, 15)
        self.log.close()
        return self.proc.returncode


LISTENER_SCRIPT = r"""
import collections, sys, threading, time, rtmidi
sys.setswitchinterval(0.0005)             # the callback below needs the GIL in JACK's thread: 5 ms is two periods
out, clock, heard = sys.stdout, time.perf_counter, collections.deque()
def on_message(event, data=None):         # JACK's process thread: stamp and queue; a pipe write could block it
    heard.append((clock(), event[0]))
def write():
    while True:
        while heard:
            stamp, message = heard.popleft()
            out.write(f"{stamp!r} {' '.join(map(str, message))}\n")
        out.flush()
        time.sleep(0.002)
threading.Thread(target=write, daemon=True).start()
rt = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=sys.argv[1])
rt.ignore_types(sysex=False, timing=False, active_sense=False)
rt.open_virtual_port("in")
rt.set_callback(on_message)
print("ready", flush=True)
sys.stdin.readline()                      # sleep (holding nothing) until told to quit
rt.cancel_callback(); rt.close_port(); rt.delete()
time.sleep(0.01)                          # the last stamps reach the pipe
"""


# The same on segue's own JACK client (daemon/jack_client.py), stamped with the frame each message sits at in its
# cycle: where a sender placed it, to the frame, not when the listener's cycle ran.
FRAME_LISTENER_SCRIPT = r"""
import os, sys, threading, time
from daemon.jack_client import JackMidiIn
threading.Thread(target=lambda: (sys.stdin.readline(), os._exit(0)), daemon=True).start()   # told to quit
port = JackMidiIn(sys.argv[1])
port.open_virtual_port("in")
print("ready", flush=True)
while True:
    got = port.get_message()
    if got is None:
        time.sleep(0.002)
        continue
    message, frame = got
    print(f"{port.seconds_at(frame)!r} {' '.join(map(str, message))}", flush=True)
"""


class Listener:
    """A JACK MIDI input that stamps every arrival with perf_counter (the same clock as the daemon's).

    It lives in its own process: python-rtmidi runs the callback in JACK's process thread and needs the GIL
    there, and a busy test process holding the GIL would stall the whole JACK graph (xruns, lost messages). For the
    same reason it runs at FIFO 1 where allowed (realtime_prefix). `to_the_frame`: on segue's own JACK client,
    stamped with where in its cycle each message sits (the bench)."""

    def __init__(self, client: str = "listener", jack: JackServer | None = None, to_the_frame: bool = False):
        self.client = client
        self.messages: list[tuple[float, list[int]]] = []
        self._lock = threading.Lock()
        # jack: a server other than the one this process's environment names
        self.proc = start_script(FRAME_LISTENER_SCRIPT if to_the_frame else LISTENER_SCRIPT, client,
                                 env=jack.env if jack else None, what=f"listener {client}",
                                 realtime=not to_the_frame)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            stamp, *data = line.split()
            with self._lock:
                self.messages.append((float(stamp), [int(x) for x in data]))

    def since(self, t: float = 0.0) -> list[tuple[float, list[int]]]:
        with self._lock:
            return [(s, m) for s, m in self.messages if s >= t]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def note_ons(self, t: float = 0.0):
        return [(s, m) for s, m in self.since(t) if m[0] & 0xF0 == 0x90 and m[2] > 0]

    def close(self):
        quit_then_kill(self.proc)
        self._reader.join(2)


class Player:
    """A JACK MIDI output the tests play from."""

    def __init__(self, client: str = "player"):
        def open_client():
            for attempt in range(SETUP_ATTEMPTS):     # a loaded server may refuse a new client now and then
                try:
                    rt = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client)
                    rt.open_virtual_port("out")
                    return rt
                except rtmidi.SystemError:
                    if attempt == SETUP_ATTEMPTS - 1:
                        raise
                    time.sleep(1.0)

        # the test process may hold other clients: the libjack race segue itself checks for at start
        self.rt = open_awake(open_client, lambda rt: (rt.close_port(), rt.delete()), settle_s=0.05)

    def send(self, *data) -> float:
        self.rt.send_message(list(data))
        return time.perf_counter()

    def phrase(self, pitches=(60, 64, 67), hold=0.04, gap=0.01) -> float:
        """Play pitches one after another; returns the time the last note-off was sent."""
        last = 0.0
        for pitch in pitches:
            self.send(0x90, pitch, 90)
            time.sleep(hold)
            last = self.send(0x80, pitch, 0)
            time.sleep(gap)
        return last

    def close(self):
        if not self.rt.is_deleted:
            self.rt.close_port()
            self.rt.delete()


# `segue serve` arguments for each JACK client segue can put its ports on: its own, or python-rtmidi's (the benches
# take them in turn)
JACK_CLIENTS = {"own": ("--set", "daemon.own_jack_client=true"), "rtmidi": ("--set", "daemon.own_jack_client=false")}
FLOOD_BURST = 10                 # messages the flood client sends back to back before it sleeps
FLOOD_SCRIPT = r"""
import random, sys, time, rtmidi
rate, seconds, client, burst = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client)
out.open_virtual_port("out")
print("ready", flush=True)
sys.stdin.readline()                      # the test connects the port, then says go
rng, held, sent = random.Random(0), [], 0
start = time.perf_counter()
while sent < rate * seconds:              # a count, not a duration: a loaded machine sends it late, not less of it
    for _ in range(burst):                # bursts: notes on and off, sustain pedal and mod wheel
        if held and (len(held) > 6 or rng.random() < 0.5):
            out.send_message([0x80, held.pop(rng.randrange(len(held))), 0])
        elif rng.random() < 0.1:
            out.send_message([0xB0, rng.choice((1, 64)), rng.randrange(128)])
        else:
            pitch = rng.randrange(36, 96)
            out.send_message([0x90, pitch, rng.randrange(1, 128)])
            held.append(pitch)
        sent += 1
    time.sleep(max(0.0, start + sent / rate - time.perf_counter()))
for pitch in held:
    out.send_message([0x80, pitch, 0])
    sent += 1
out.send_message([0xB0, 64, 0])
sent += 1
time.sleep(0.2)
print(sent, flush=True)
"""


def flood(jack: JackServer, destination: str, rate: float = 2000.0, seconds: float = 10.0,
          client: str = "flood") -> int:
    """Play `rate` x `seconds` messages into `destination` from a separate process, at `rate` a second at most;
    returns how many were sent (with the releases at the end).

    A separate process: python-rtmidi runs JACK input callbacks under the GIL inside JACK's process cycle, so a
    client that both floods and listens in one interpreter stalls its own graph."""
    proc = start_script(FLOOD_SCRIPT, str(rate), str(seconds), client, str(FLOOD_BURST), env=jack.env,
                        what=f"flood client {client}")
    try:
        jack.connect(f"{client}:out", destination)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        count = int(proc.stdout.readline())
        proc.wait(10)
        return count
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def flood_through(jack: JackServer, daemon: "Daemon", workdir: Path, rate: float = 2000.0, seconds: float = 5.0,
                  client: str = "counter") -> tuple[int, int, int, int]:
    """A flood played into a daemon that passes it thru, counted at jack_midi_dump: (sent, lost, cycles jackd gave up
    on meanwhile, jack_midi_dump's own ring overflows). A cycle jackd gives up on ("Process error") can drop what
    was written in it on either hop (flood -> segue, segue -> dump): at most one burst of the flood per hop."""
    dump = MidiDump(jack, workdir, client)
    try:
        jack.connect(daemon.out_port, dump.port)
        time.sleep(0.3)
        xruns = XrunWindow(jack).start()
        sent = flood(jack, daemon.in_port, rate=rate, seconds=seconds, client=f"{client}-flood")
        heard = lambda: [m for m in dump.messages() if m[0] < 0xF0]     # noqa: E731 (the thru'd channel messages)
        wait_until(lambda: len(heard()) >= sent, 5)
        xruns.stop()
        return sent, sent - len(heard()), xruns.failed_cycles, dump.overflows()
    finally:
        dump.close()


class MidiDump:
    """`jack_midi_dump` (JACK's own monitor, an independent C client) writing to a file; what it heard, parsed.

    Its ring holds about 127 messages between two runs of its printing thread; it says so on stderr when that
    overflows (`overflows()`), so a loss there is told apart from a loss in segue."""

    def __init__(self, jack: JackServer, workdir: Path, client: str = "dumper"):
        self.port = f"{client}:input"
        self.out_path = workdir / f"{client}-{uuid.uuid4().hex[:6]}.txt"
        self.err_path = self.out_path.with_suffix(".err")
        self._out, self._err = open(self.out_path, "w"), open(self.err_path, "w")
        # Realtime where allowed, so its printing thread keeps up with its 127-message ring on a loaded machine.
        self.proc = subprocess.Popen([*realtime_prefix(), "jack_midi_dump", client], env=jack.env, stdout=self._out,
                                     stderr=self._err)
        jack.wait_port(re.escape(self.port))

    def frames(self) -> list[int]:
        """Where in its JACK cycle each message heard so far was (the frame offset jack_midi_dump prints first)."""
        return [int(line.partition(":")[0]) for line in self.out_path.read_text(errors="replace").splitlines()
                if line.partition(":")[1] and line.partition(":")[0].strip().isdigit()]

    def messages(self) -> list[list[int]]:
        """Every message heard so far (jack_midi_dump flushes after each batch it prints)."""
        found = []
        for line in self.out_path.read_text(errors="replace").splitlines():
            head, sep, rest = line.partition(":")
            if not sep or not head.strip().lstrip("+-").isdigit():
                continue
            data = []
            for word in rest.split():
                if len(word) != 2:
                    break
                try:
                    data.append(int(word, 16))
                except ValueError:
                    break
            if data:
                found.append(data)
        return found

    def overflows(self) -> int:
        return self.err_path.read_text(errors="replace").count("ringbuffer was full")

    def close(self) -> None:
        interrupt_then_kill(self.proc, 5)
        self._out.close()
        self._err.close()


def left_sounding(listener: Listener, timeout: float = 5.0) -> set[int]:
    """Pitches still sounding at the listener once the releases in flight have had `timeout` to arrive (JACK
    delivers a message a period or more after it is sent, later on a loaded machine): set() when all ended."""
    wait_until(lambda: sounding_after(listener.since()) == set(), timeout)
    return sounding_after(listener.since())


def sounding_after(messages) -> set[int]:
    """Pitches left sounding at the end of a message stream, as a synth hears it: CC123 (all notes off) and CC120
    (all sound off) release every note of their channel."""
    on: set[tuple[int, int]] = set()
    for _, m in messages:
        kind, channel = m[0] & 0xF0, m[0] & 0x0F
        if kind == 0x90 and m[2] > 0:
            on.add((channel, m[1]))
        elif kind == 0x80 or (kind == 0x90 and m[2] == 0):
            on.discard((channel, m[1]))
        elif kind == 0xB0 and m[1] in (120, 123):
            on = {(ch, pitch) for ch, pitch in on if ch != channel}
    return {pitch for _, pitch in on}


RELAY_SCRIPT = r"""
import sys, threading, time, rtmidi
sys.setswitchinterval(0.0005)             # the callback below needs the GIL in JACK's thread: 5 ms is two periods
delay, client = float(sys.argv[1]), sys.argv[2]
out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client + "-out")
out.open_virtual_port("out")
pending, cond = [], threading.Condition()
def on_message(event, data=None):
    with cond:
        pending.append((time.perf_counter() + delay, event[0]))
        cond.notify()
def relay():
    while True:
        with cond:
            while not pending:
                cond.wait()
            due, message = pending[0]
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
            continue
        with cond:
            pending.pop(0)
        out.send_message(message)
threading.Thread(target=relay, daemon=True).start()
from daemon.jack_semaphores import open_awake
def open_in():
    rt = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=client + "-in")
    rt.ignore_types(sysex=False, timing=False, active_sense=False)
    rt.open_virtual_port("in")
    rt.set_callback(on_message)
    return rt
def close_in(rt):
    rt.cancel_callback(); rt.close_port(); rt.delete()
rt = open_awake(open_in, close_in, settle_s=0.05)   # two clients in one process: the race segue checks for too
print("ready", flush=True)
sys.stdin.readline()
"""


class Relay:
    """A synth's or DAW's MIDI thru in its own process: what comes in at `<client>-in:in` goes out of
    `<client>-out:out` `delay` seconds later."""

    def __init__(self, jack: JackServer, delay: float, client: str = "relay"):
        self.inlet, self.outlet = f"{client}-in:in", f"{client}-out:out"
        self.proc = start_script(RELAY_SCRIPT, str(delay), client, env=jack.env, what=f"relay {client}")

    def close(self) -> None:
        quit_then_kill(self.proc)


# A cycle jackd gives up on loses its MIDI inside JACK (see XrunWindow). When that is one of the player's note-offs,
# segue rightly holds the key down until daemon.stale_key_seconds pass without input, then answers: the recovery
# the live rig is built for, so an answer that takes that long still counts.
ANSWER_TIMEOUT_S = DaemonConfig().stale_key_seconds + 5.0


def answer_after(listener: Listener, t: float, timeout: float = ANSWER_TIMEOUT_S) -> float:
    """When the first note-on after `t` arrived (the answer); fails the test if none comes within `timeout`."""
    assert wait_until(lambda: listener.note_ons(t), timeout), "no answer arrived"
    return listener.note_ons(t)[0][0]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
