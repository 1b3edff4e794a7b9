"""On the base install (`pip install segue`: no torch, music21, matplotlib, tqdm or onnx) every verb works or says in
one line which extra to install, exit 2; `segue --help` marks the verbs that need [train] (issue 23, item 1).

The verbs run as subprocesses with the [train] extra's modules blocked by a sitecustomize, the way a base install
lacks them: importing one raises ModuleNotFoundError naming it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import requires
from pathlib import Path

import pytest

from tests.core.midi_builder import note, write

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TRAIN = "pip install 'segue[train]'"
TRAIN_VERBS = {"data", "train", "plot", "export"}       # the verbs --help marks: they need [train] (data build does)

# what the base install leaves out: the [train] extra's distributions, each imported under its own name
TRAIN_MODULES = sorted(re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower()
                       for r in requires("segue") or [] if re.search(r"extra\s*==\s*['\"]train['\"]", r))
BLOCKER = f"""
import sys
BLOCKED = {set(TRAIN_MODULES)!r}
class BaseInstall:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, BaseInstall())
"""


def run(*args, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segue", *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A working folder with inputs for every verb (made with the full install) and the base install's environment."""
    root = tmp_path_factory.mktemp("base")
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(BLOCKER)
    (root / "music").mkdir()
    for piece in range(12):
        write(root / "music" / f"tune{piece}.mid", *[note(240 * k, 200, 55 + (piece * 7 + k * 3) % 24)
                                                       for k in range(40)])
    write(root / "phrase.mid", *[note(240 * k, 200, 60 + k % 5) for k in range(8)])
    (root / "tune.abc").write_text("X:1\nT:t\nK:C\nCDEF|\n")
    full = dict(os.environ)
    assert run("data", "build", "music", "-o", "data", env=full, cwd=root).returncode == 0
    events = run("encode", "phrase.mid", "--json", env=full, cwd=root).stdout
    (root / "events.json").write_text(events)
    (root / "run").mkdir()
    (root / "run" / "metrics.csv").write_text("step,kind,ce,loss\n1,train,5.0,\n")
    with zipfile.ZipFile(root / "run" / "best.pt", "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    base = {**full, "PYTHONPATH": os.pathsep.join([str(root / "site"), full.get("PYTHONPATH", "")]),
            "JACK_DEFAULT_SERVER": "segue-base-install-none", "JACK_NO_START_SERVER": "1"}
    return root, base


def test_the_blocker_leaves_out_what_the_base_install_does(place):
    root, base = place
    assert {"torch", "music21", "matplotlib"} <= set(TRAIN_MODULES)
    done = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, env=base, cwd=root)
    assert done.returncode == 1 and "No module named 'torch'" in done.stderr


# (arguments, "works" | "extra"); "user" = a one-line error about the user's set-up (no MIDI system here), exit 2
VERBS = [
    (["--help"], "works"),
    (["encode", "phrase.mid", "--json"], "works"),
    (["encode", "tune.abc", "--json"], "extra"),
    (["decode", "events.json", "-o", "decoded.mid"], "works"),
    (["info", "phrase.mid"], "works"),
    (["config"], "works"),
    (["config", "-o", "copy.yaml"], "works"),
    (["generate", "--primer", "phrase.mid", "--seconds", "2", "--seed", "1", "-o", "generated"], "works"),
    (["evaluate", "--data", "data", "--max-pieces", "1"], "works"),
    (["evaluate", "--data", "data", "--continuations", "--pieces", "1", "--prime-seconds", "1"], "works"),
    (["data", "build", "music", "-o", "data2"], "works"),          # plain MIDI files need no music21
    (["data", "build", "music21:bach", "-o", "data3"], "extra"),
    (["data", "render", "data", "-o", "rendered"], "works"),
    (["train", "--data", "data", "--out", "runs/x"], "extra"),
    (["plot", "run"], "extra"),
    (["export", "run/best.pt", "-o", "model.onnx"], "extra"),
    (["ports"], "works"),
    (["serve", "--backend", "jack"], "user"),
    (["panic", "--backend", "jack"], "user"),
]


@pytest.mark.parametrize("args, outcome", VERBS, ids=[" ".join(args[:2]) for args, _ in VERBS])
def test_every_verb_works_or_names_the_extra_in_one_line(place, args, outcome):
    root, base = place
    done = run(*args, env=base, cwd=root)
    assert "Traceback" not in done.stderr, done.stderr
    if outcome == "works":
        assert done.returncode == 0, done.stderr
        return
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    if outcome == "extra":
        assert INSTALL_TRAIN in lines[0]


def test_generate_writes_the_midi_and_says_in_one_line_why_there_is_no_piano_roll(place):
    root, base = place
    done = run("generate", "--primer", "phrase.mid", "--seconds", "2", "--seed", "2", "-o", "rolls", env=base,
               cwd=root)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (root / "rolls").iterdir()] == ["phrase-1.mid"]
    line, = done.stderr.strip().splitlines()
    assert "piano-roll PNG needs matplotlib" in line and INSTALL_TRAIN in line


def test_help_marks_exactly_the_verbs_that_need_train(place):
    root, base = place
    listing = run("--help", env=base, cwd=root).stdout
    marked = set(re.findall(r"^\s{4}(\w+)\s[^\n]*(?:\n\s{14,}[^\n]*)*\[train\]", listing, flags=re.M))
    assert marked == TRAIN_VERBS
    assert INSTALL_TRAIN in " ".join(listing.split())
    for verb in TRAIN_VERBS:          # each marked verb does need the extra: a run of it names it
        assert any(args[0] == verb and outcome == "extra" for args, outcome in VERBS)
