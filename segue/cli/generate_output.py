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
    return wav_path


def write_result(result, out_dir: Path, png: bool = True, synth: tuple[str, Path] | None = None) -> list[Path]:
    """Write `result` (a segue.inference.generate.Generated) as out/NAME.mid, NAME.png and NAME.wav when asked."""
    from segue.codec.midi_io import write_midi
    from segue.evaluation.pianoroll import draw_piano_roll

    out_dir.mkdir(parents=True, exist_ok=True)
    primer_notes, continuation_notes = result.notes()
    midi = out_dir / f"{result.name}.mid"
    write_midi(primer_notes + continuation_notes, midi)
    written = [midi]
    if png:
        title = (f"{result.name}: primer {result.primer_seconds:.1f} s, continuation "
                 f"{result.continuation_seconds:.1f} s ({len(result.continuation)} events), seed {result.seed}")
        written.append(draw_piano_roll(primer_notes, continuation_notes, out_dir / f"{result.name}.png", title,
                                       boundary=result.primer_seconds if len(result.primer) else None))
    if synth is not None:
        written.append(render_wav(midi, out_dir / f"{result.name}.wav", synth))
    return written
