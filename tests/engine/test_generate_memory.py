"""Issue 24: `segue generate` plays what `segue serve` plays: the same grammar and the same session memory (the
settings fitted for the model, in the daemon.memory mode) by default; `--memory off` to compare."""
import argparse
import shutil

import numpy as np

from segue.codec import codec
from segue.cli.generate_cli import add_parser
from segue.codec.codec import Note
from segue.codec.midi_io import write_midi
from segue.inference.generate import answering_loop
from segue.inference.memory import CELLS_PER_ORDER, MemorySettings, SessionMemory, memory_settings_path
from segue.inference.sampling import Sampler
from segue.inference.sampling_loop import Length

PHRASE = [Note(60 + (0, 4, 7, 4)[i % 4], 80, 0.25 * i, 0.25 * i + 0.2) for i in range(24)]
# a memory that trusts itself: the answer replays the phrase wherever it matches
TRUSTING = MemorySettings(order=4, lambdas=[0.9] * (5 * CELLS_PER_ORDER), strength=1.0)


def cli(*argv):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def flat_logits(event: int | None = None) -> np.ndarray:
    return np.zeros(codec.NUM_CLASSES)


def test_the_memory_learns_the_player_and_its_own_answer_only_in_session_mode():
    primer = np.array(codec.encode_notes(PHRASE), dtype=np.int64)
    sizes = {}
    for mode in ("player", "session"):
        loop = answering_loop(Sampler(seed=1), primer, memory=TRUSTING, memory_mode=mode)
        memory = next(shaper for shaper in loop.shapers if isinstance(shaper, SessionMemory))
        learned = memory.size()
        assert learned > 0                                     # the primer is the player's material
        loop.run(flat_logits, flat_logits(), Length(steps=200))
        sizes[mode] = memory.size() - learned
    assert sizes["player"] == 0 and sizes["session"] > 0


def test_generate_plays_with_the_models_memory_by_default(gru_path, tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copy(gru_path, model)
    memory_settings_path(model).write_text(TRUSTING.to_json())
    primer = tmp_path / "phrase.mid"
    write_midi(PHRASE, primer)

    def played(*flags) -> bytes:
        out = tmp_path / "-".join(["out", *flags]).replace("=", "-")
        assert cli("generate", "--model", model, "--primer", primer, "--seconds", "6", "--seed", "4", "--no-png",
                   "-o", out, *flags) == 0
        return (out / "phrase-1.mid").read_bytes()

    default = played()
    assert default == played("--memory", "player")            # config.yaml's daemon.memory, as serve
    off = played("--memory", "off")
    assert default != off
    assert off == played("--set", 'daemon.memory="off"')
