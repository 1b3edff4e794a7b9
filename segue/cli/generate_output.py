"""What `segue generate` writes: OUT/NAME.mid (primer + continuation), NAME.png (piano roll) and NAME.wav
(fluidsynth, when asked). Output of the front end, so inference never imports the piano roll or hunts for synths."""
from __future__ import annotations

from pathlib import Path

from segue.errors import SegueError

SOUNDFONT_PLACES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",         # Debian/Ubuntu fluid-soundfont-gm
    "/usr/share/sounds/sf2/default-GM.sf2",          # Debian's alternatives link to whichever GM font is installed
    "/usr/share/sounds/sf2/TimGM6mb.sf2",            # Debian/Ubuntu timgm6mb-soundfont (6 MB)
    "/usr/share/soundfonts/FluidR3_GM.sf2",         # Fedora / Arch
    "/usr/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",   # macOS Homebrew
    "/usr/local/share/soundfonts/default.sf2",
)
HOW_TO_GET_AUDIO = ("install fluidsynth and a General MIDI soundfont (Debian/Ubuntu: `sudo apt install fluidsynth "
                    "fluid-soundfont-gm`; macOS: `brew install fluid-synth` plus any GM .sf2 passed as --soundfont)")


def find_synth(soundfont: Path | None = None) -> tuple[str, Path]:
    """(fluidsynth executable, soundfont) or a SegueError saying how to get them; checked before generating."""
    import os
    import shutil

    binary = shutil.which("fluidsynth")
    if binary is None:
        raise SegueError(f"--wav needs fluidsynth, which is not on PATH: {HOW_TO_GET_AUDIO}")
    if soundfont is not None:
        if not Path(soundfont).is_file():
            raise SegueError(f"soundfont {soundfont} does not exist; {HOW_TO_GET_AUDIO}")
        return binary, Path(soundfont)
    candidates = [os.environ.get("SEGUE_SOUNDFONT", "")] + list(SOUNDFONT_PLACES)
    for place in candidates:
        if place and Path(place).is_file():
            return binary, Path(place)
    raise SegueError(f"--wav found fluidsynth but no General MIDI soundfont: {HOW_TO_GET_AUDIO}")


def render_wav(midi_path: Path, wav_path: Path, synth: tuple[str, Path], sample_rate: int = 44100) -> Path:
    import subprocess

    binary, soundfont = synth
    done = subprocess.run([binary, "-ni", "-q", "-F", str(wav_path), "-r", str(sample_rate), str(soundfont),
                           str(midi_path)], capture_output=True, text=True)
    if done.returncode != 0 or not wav_path.is_file():
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise SegueError(f"fluidsynth could not render {midi_path}: {reason[-1] if reason else done.returncode}")
    normalise_wav(wav_path)
    return wav_path


PEAK_DBFS = -1.0     # fluidsynth's default gain (0.2) leaves a piano part near -28 dBFS: too quiet to judge by ear


def normalise_wav(path: Path, peak_dbfs: float = PEAK_DBFS) -> None:
    """Scale a 16-bit PCM WAV (what fluidsynth -F writes) so its loudest sample peaks at `peak_dbfs`."""
    import wave

    import numpy as np

    with wave.open(str(path), "rb") as reader:
        params = reader.getparams()
        samples = np.frombuffer(reader.readframes(params.nframes), dtype="<i2").astype(np.float64)
    if params.sampwidth != 2:
        raise SegueError(f"{path}: expected 16-bit samples from fluidsynth, got {8 * params.sampwidth}-bit")
    peak = float(np.abs(samples).max(initial=0.0))
    if peak == 0.0:                   # silence stays silence
        return
    target = 32767 * 10 ** (peak_dbfs / 20)
    scaled = np.clip(np.round(samples * (target / peak)), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setparams(params)
        writer.writeframes(scaled.tobytes())


def can_draw_piano_rolls() -> bool:
    """Whether matplotlib is there (the [train] extra). Without it generate says so in one line and writes the
    MIDI (and the audio) all the same."""
    import sys

    from segue.cli.extras import install_line, missing_extra

    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError as e:
        missing = missing_extra(e)
        if missing is None:
            raise
        print(f"segue: {install_line('the piano-roll PNG', *missing)}; writing the MIDI without it", file=sys.stderr)
        return False
    return True


def planned_paths(out_dir: Path, name: str, png: bool, wav: bool) -> list[Path]:
    """The files write_result writes for `name`, to check before generating that none would be overwritten."""
    return [out_dir / f"{name}.{suffix}" for suffix, wanted in (("mid", True), ("png", png), ("wav", wav)) if wanted]


def write_result(result, out_dir: Path, png: bool = True, synth: tuple[str, Path] | None = None) -> list[Path]:
    """Write `result` (a segue.inference.generate.Generated) as out/NAME.mid, NAME.png and NAME.wav when asked."""
    from segue.codec.midi_io import write_midi
    from segue.evaluation.pianoroll import draw_piano_roll

    out_dir.mkdir(parents=True, exist_ok=True)
    primer_notes, continuation_notes = result.notes()
    midi, png_path, wav_path = planned_paths(out_dir, result.name, png=True, wav=True)
    write_midi(primer_notes + continuation_notes, midi)
    written = [midi]
    if png:
        title = (f"{result.name}: primer {result.primer_seconds:.1f} s, continuation "
                 f"{result.continuation_seconds:.1f} s ({len(result.continuation)} events), seed {result.seed}")
        written.append(draw_piano_roll(primer_notes, continuation_notes, png_path, title,
                                       boundary=result.primer_seconds if len(result.primer) else None))
    if synth is not None:
        written.append(render_wav(midi, wav_path, synth))
    return written
