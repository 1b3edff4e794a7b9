"""Teach it your playing, end to end as the README tells a user: `segue serve --record` over a real JACK server
for two sessions, `segue data build` on the recordings, `segue train --init-from default` a few steps,
`segue export`, and `segue serve --model` the result answering a phrase heard by jack_midi_dump.

Every segue command runs as its own process with the arguments a user types; the pianist is an independent JACK
client. Sizes are tiny (a few steps of windows of 16 events): this proves the path, not the model.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest

from segue.inference.engine import default_model_path
from daemon.testing import JackServer, MidiDump, Player, interrupt_then_kill, listening_ports, wait_until

SEGUE = [sys.executable, "-m", "segue"]          # the `segue` console script
STEP_TIMEOUT_S = 180                             # a hung command fails the test instead of hanging the suite
# Two phrases per session, each note with its own velocity and length, as a pianist's would have.
PHRASES = [[(60, 70, 0.12), (64, 82, 0.08), (67, 95, 0.16), (72, 60, 0.1), (71, 88, 0.2), (67, 76, 0.12)],
           [(62, 66, 0.1), (65, 90, 0.14), (69, 74, 0.08), (74, 100, 0.18), (72, 58, 0.1), (69, 84, 0.24)]]


def segue(*args: str, cwd: Path) -> str:
    done = subprocess.run([*SEGUE, *args], cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    assert done.returncode == 0, f"segue {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout + done.stderr


class Serve:
    """`segue serve --backend jack ...` as a user starts it, with its ports found on the JACK server."""

    def __init__(self, jack: JackServer, cwd: Path, client: str, *args: str):
        self.log_path = cwd / f"{client}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([*SEGUE, "serve", "--backend", "jack", "--client-name", client,
                                      "--silence-ms", "200", "--length", "1", *args],
                                     cwd=cwd, env=jack.env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.in_port, self.out_port = listening_ports(jack, self.proc, self.log_path.read_text, client)
        except AssertionError:
            self.stop()
            raise AssertionError(f"segue serve did not open its ports:\n{self.log_path.read_text()}") from None

    def stop(self) -> int:
        interrupt_then_kill(self.proc, 30)                 # Ctrl-C: how a player ends a session
        self.log.close()
        return self.proc.returncode


def play(player: Player, phrase) -> None:
    for pitch, velocity, hold in phrase:
        player.send(0x90, pitch, velocity)
        time.sleep(hold)
        player.send(0x80, pitch, 0)
        time.sleep(0.02)


def answered(dump: MidiDump, after: int) -> bool:
    return any(m[0] & 0xF0 == 0x90 and m[2] > 0 for m in dump.messages()[after:])


def record_session(jack: JackServer, cwd: Path, n: int, sessions: Path) -> None:
    serve = Serve(jack, cwd, f"rec{n}", "--record", str(sessions))
    player, dump = None, None
    try:
        player, dump = Player(f"pianist{n}"), MidiDump(jack, cwd, f"ears{n}")
        jack.connect(f"pianist{n}:out", serve.in_port)
        jack.connect(serve.out_port, dump.port)
        time.sleep(0.2)                                 # connections settle before the first note
        for phrase in PHRASES:
            heard = len(dump.messages())
            play(player, phrase)
            # segue answers each phrase; the answer is recorded on its own track, which training must leave out
            assert wait_until(lambda: answered(dump, heard), 20), f"no answer:\n{serve.log_path.read_text()}"
            time.sleep(1.5)                             # the 1 s answer plays out
    finally:
        for client in (player, dump):
            if client is not None:
                client.close()
        assert serve.stop() == 0, serve.log_path.read_text()


def model_config(graph: Path) -> dict:
    import onnxruntime as ort

    meta = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).get_modelmeta()
    return json.loads(meta.custom_metadata_map["segue.meta"])["model_config"]


def note_ons(path: Path, track: str) -> int:
    midi = mido.MidiFile(path)
    named = next(t for t in midi.tracks if t.name == track)
    return sum(1 for m in named if m.type == "note_on" and m.velocity > 0)


@pytest.fixture
def jack(monkeypatch):
    server = JackServer()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)     # the pianist client lives in this process
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    yield server
    server.stop()


def test_record_two_sessions_build_fine_tune_export_and_serve_the_result(jack, tmp_path):
    started = time.monotonic()
    sessions = tmp_path / "sessions"
    for n in range(2):
        record_session(jack, tmp_path, n, sessions)
        time.sleep(1.0)                                 # the recorder names its files by the second
    takes = sorted(sessions.glob("segue-*.mid"))
    assert len(takes) == 2
    played = sum(len(phrase) for phrase in PHRASES)
    assert [note_ons(p, "player") for p in takes] == [played, played] and all(note_ons(p, "segue") for p in takes)
    assert "recorded by `segue serve --record`" in segue("info", str(takes[0]), cwd=tmp_path)

    built = segue("data", "build", str(sessions), "-o", "data", "--workers", "1", cwd=tmp_path)
    assert "2 files encoded" in built and "eval 1 pieces" in built and "train 1 pieces" in built, built
    pieces = json.loads((tmp_path / "data" / "index.json").read_text())["pieces"]
    assert {p["id"]: p["split"] for p in pieces} == {f"session:{takes[0].stem}": "train",
                                                     f"session:{takes[1].stem}": "eval"}
    assert [p["note_count"] for p in pieces] == [played, played]      # the player's notes, none of segue's

    trained = segue("train", "--init-from", "default", "--data", "data", "--out", "run", "--no-progress",
                    "--set", "train.threads=1", "--set", "train.max_steps=3", "--set", "train.eval_every=3",
                    "--set", "train.eval_seq_len=32", "--set", "train.eval_max_windows=4",
                    "--set", "train.stages=[{seq_len: 16, batch_size: 2}]", cwd=tmp_path)
    assert "init from the shipped model" in trained and "train 1 pieces, eval 1 pieces" in trained, trained
    assert "run ended at step 3" in trained, trained

    exported = segue("export", "run/best.pt", "-o", "mine.onnx", "--set", "export.parity_steps=50", cwd=tmp_path)
    assert "parity" in exported and (tmp_path / "mine.onnx").is_file(), exported
    # the shipped model's shape, not config.yaml's model section: the weights started from the shipped model
    assert model_config(tmp_path / "mine.onnx") == model_config(default_model_path())

    serve = Serve(jack, tmp_path, "mine", "--model", "mine.onnx")
    player, dump = None, None
    try:
        player, dump = Player("pianist"), MidiDump(jack, tmp_path, "ears")
        jack.connect("pianist:out", serve.in_port)
        jack.connect(serve.out_port, dump.port)
        time.sleep(0.2)
        play(player, PHRASES[0])
        assert wait_until(lambda: answered(dump, 0), 20), f"no answer:\n{serve.log_path.read_text()}"
    finally:
        for client in (player, dump):
            if client is not None:
                client.close()
        serve.stop()
    assert "model mine.onnx" in serve.log_path.read_text()
    print(f"session learning end to end: {time.monotonic() - started:.0f} s")
