import argparse

import numpy as np
import pytest

from segue.codec import codec
from segue.inference import generate as gen
from segue.codec.codec import Note
from segue.inference.engine import Engine
from segue.errors import SegueError
from segue.cli.generate_cli import add_parser
from segue.cli.generate_output import find_synth
from segue.codec.midi_io import read_notes, write_midi

PHRASE = [Note(60 + 2 * (i % 5), 70 + i, 0.25 * i, 0.25 * i + 0.3) for i in range(16)]


@pytest.fixture
def primer_file(tmp_path):
    path = tmp_path / "phrase.mid"
    write_midi(PHRASE, path)
    return path


def cli(*argv):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_same_seed_same_continuation_other_seed_another(gru_path):
    engine = Engine.load(gru_path)
    primer = np.array(codec.encode_notes(PHRASE), dtype=np.int64)
    settings = dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    one = gen.generate(engine, primer, gen.Length(steps=200), settings, seed=5)
    again = gen.generate(engine, primer, gen.Length(steps=200), settings, seed=5)
    other = gen.generate(engine, primer, gen.Length(steps=200), settings, seed=6)
    np.testing.assert_array_equal(one, again)
    assert not np.array_equal(one, other)


def test_length_in_steps_is_exact_and_in_seconds_is_reached(gru_path):
    engine = Engine.load(gru_path)
    settings = dict(temperature=1.0)
    assert len(gen.generate(engine, np.zeros(0, np.int64), gen.Length(steps=123), settings, seed=1)) == 123
    events = gen.generate(engine, np.zeros(0, np.int64), gen.Length(seconds=5), settings, seed=1)
    seconds = sum(codec.shift_steps(int(e)) for e in events) / 100
    assert 5 <= seconds < 6  # stops at the first shift that reaches the length; one shift is at most 1 s


def test_length_needs_exactly_one_of_seconds_or_steps():
    with pytest.raises(SegueError, match="--seconds or --steps"):
        gen.Length()
    with pytest.raises(SegueError, match="--steps must be > 0"):
        gen.Length(steps=0)


def test_primer_controls_are_what_the_daemon_knows_after_each_event_then_the_held_ones():
    from segue.codec import controls

    primer = np.array(codec.encode_notes(PHRASE), dtype=np.int64)
    inputs = gen.primer_controls(primer, gen.held_controls(primer))
    np.testing.assert_allclose(inputs, controls.past_controls(primer))   # the live protocol: the past only
    held = gen.held_controls(primer, key="D minor", density=3.0)
    pinned = gen.primer_controls(primer, held, key="D minor", density=3.0)
    np.testing.assert_allclose(pinned[:, 8:], np.broadcast_to(controls.key_histogram("D minor"), (len(primer), 12)))
    np.testing.assert_array_equal(pinned[-1], held)


def test_key_and_density_replace_their_parts_of_the_controls():
    from segue.codec import controls

    primer = np.array(codec.encode_notes(PHRASE), dtype=np.int64)
    follower = controls.ControlFollower()
    for event in primer:
        follower.push(int(event))
    derived = gen.held_controls(primer)
    np.testing.assert_allclose(derived, follower.current())
    pinned = gen.held_controls(primer, key="D minor", density=20.0)
    np.testing.assert_allclose(pinned[8:], controls.key_histogram("D minor"))
    np.testing.assert_allclose(pinned[:8], controls.density_one_hot(20.0))
    assert not np.allclose(pinned, derived)


def test_conditioned_model_hears_the_pinned_key(lstm_path):
    engine = Engine.load(lstm_path)
    empty = np.zeros(0, np.int64)
    c_major = gen.prime(engine, empty, key="C major")
    f_sharp = gen.prime(engine, empty, key="F# major")
    assert np.abs(c_major - f_sharp).max() > 1e-4  # the controls reach the model
    np.testing.assert_array_equal(gen.prime(engine, empty, key="C major"), c_major)


def test_cli_writes_midi_and_png_reproducibly(gru_path, primer_file, tmp_path):
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    for out in (out_a, out_b):
        assert cli("generate", "--model", str(gru_path), "--primer", str(primer_file), "--seconds", "8", "-n", "2",
                   "--seed", "11", "-o", str(out)) == 0
    for name in ("phrase-1.mid", "phrase-2.mid", "phrase-1.png", "phrase-2.png"):
        assert (out_a / name).is_file()
    assert (out_a / "phrase-1.mid").read_bytes() == (out_b / "phrase-1.mid").read_bytes()
    assert (out_a / "phrase-1.mid").read_bytes() != (out_a / "phrase-2.mid").read_bytes()
    notes = read_notes(out_a / "phrase-1.mid")
    # the primer comes through unchanged at the start, and no note outlasts the 5 s cap
    primer_part = [n for n in notes if n.start < 4.0][: len(PHRASE)]
    assert [(n.pitch, round(n.start, 2)) for n in primer_part] == [(n.pitch, round(n.start, 2)) for n in PHRASE]
    assert max(n.end - n.start for n in notes) <= 5.0 + 1e-6


def test_cli_grammar_flags_reach_the_loop_and_bad_ones_are_refused(gru_path, primer_file, tmp_path):
    assert cli("generate", "--model", str(gru_path), "--primer", str(primer_file), "--seconds", "8", "--seed", "3",
               "--note-cap", "0.5", "--release-start", "0.2", "-o", str(tmp_path / "capped"), "--no-png") == 0
    assert max(n.end - n.start for n in read_notes(tmp_path / "capped" / "phrase-1.mid")
               if n.start >= 4.0) <= 0.5 + 1e-6
    with pytest.raises(SegueError, match="key strength"):
        cli("generate", "--model", str(gru_path), "--steps", "10", "--key-strength", "2", "-o", str(tmp_path))


def test_piano_roll_shows_primer_and_continuation_in_two_colours(tmp_path):
    import matplotlib.image

    from segue.evaluation.pianoroll import CONTINUATION_COLOUR, PRIMER_COLOUR, draw_piano_roll

    later = [Note(n.pitch + 5, 127, n.start + 4.0, n.end + 4.0) for n in PHRASE]
    path = draw_piano_roll(PHRASE, later, tmp_path / "roll.png", boundary=4.0)
    pixels = (matplotlib.image.imread(path)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    for colour in (PRIMER_COLOUR, CONTINUATION_COLOUR):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=1) <= 30).sum() > 50, colour


def test_wav_without_fluidsynth_says_how_to_get_it(monkeypatch, gru_path, tmp_path):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SegueError, match="fluidsynth.*apt install fluidsynth fluid-soundfont-gm"):
        cli("generate", "--model", str(gru_path), "--steps", "10", "--wav", "-o", str(tmp_path))
    assert not any(tmp_path.iterdir())  # checked before generating anything


def test_key_on_an_unconditioned_model_is_refused(gru_path, tmp_path):
    with pytest.raises(SegueError, match="not conditioned"):
        cli("generate", "--model", str(gru_path), "--steps", "10", "--key", "D minor", "-o", str(tmp_path))


def test_empty_primer_file_is_refused(tmp_path, gru_path):
    empty = tmp_path / "empty.mid"
    write_midi([], empty)
    with pytest.raises(SegueError, match="has no notes"):
        gen.load_primer(empty)


def _synth_or_none():
    try:
        return find_synth()
    except SegueError:
        return None


@pytest.mark.skipif(_synth_or_none() is None, reason="fluidsynth and a GM soundfont are not installed")
def test_wav_is_rendered_when_fluidsynth_is_there(gru_path, primer_file, tmp_path):
    import wave

    assert cli("generate", "--model", str(gru_path), "--primer", str(primer_file), "--steps", "50", "--seed", "1",
               "--wav", "-o", str(tmp_path)) == 0
    with wave.open(str(tmp_path / "phrase-1.wav")) as audio:
        frames = np.frombuffer(audio.readframes(audio.getnframes()), dtype=np.int16)
    assert len(frames) > 44100 and np.abs(frames).max() > 100  # at least the 4 s primer, and not silence
