"""Picture of one passage as a score and as a rendering: two piano rolls, velocity as colour, pedal shaded.

    python -m training.rendering_figure music21:bach/bwv66.6 -o segue/models/rendering.png [--seconds 12 --seed 0]

The source is a music21 corpus work (`music21:<work>`) or a MIDI/score file. The rendering's note ends already
include the pedal (the codec's rule); the pedal-down spans of the rendition are drawn as grey bands under it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from segue.codec.midi import PEDAL_DOWN
from training.dataset import notes_to_array
from training.rendering import RenderParams, infer_structure, perform


def _read(source: str) -> np.ndarray:
    from segue.codec.midi_io import read_notes

    if source.startswith("music21:"):
        import music21

        source = str(music21.corpus.getWork(source.split(":", 1)[1]))
    return notes_to_array(read_notes(source))


def draw(notes: np.ndarray, seed: int, seconds: float, out: str | Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    rendered, pedal_times, pedal_values = perform(notes, np.random.default_rng(seed), RenderParams())
    structure = infer_structure(notes)
    norm = colors.Normalize(20, 110)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, sharey=True)
    for ax, rows, label in ((axes[0], notes, "score as rendered by music21 (one tempo, one velocity, no pedal)"),
                            (axes[1], rendered, f"a performance rendering (training/rendering.py, seed {seed}); grey: sustain pedal down")):
        shown = rows[rows[:, 2] < seconds]
        for pitch, velocity, start, end in shown:
            ax.add_patch(plt.Rectangle((start, pitch - 0.4), min(end, seconds) - start, 0.8,
                                       color=cm.viridis(norm(velocity)), linewidth=0))
        ax.set_title(label, fontsize=9, loc="left")
        if rows is rendered:
            downs = pedal_times[pedal_values >= PEDAL_DOWN]
            for down in downs:
                up = pedal_times[(pedal_times > down) & (pedal_values < 64)]
                ax.axvspan(down, up[0] if len(up) else seconds, color="0.85", zorder=0, linewidth=0)
        ax.set_ylabel("pitch")
        ax.grid(alpha=0.2)
    for k in range(int(seconds / (structure.beat * structure.bar_beats)) + 1):
        axes[0].axvline(structure.downbeat + k * structure.beat * structure.bar_beats, color="grey", lw=0.5)
    low, high = notes[:, 0].min() - 2, notes[:, 0].max() + 2
    axes[1].set_ylim(low, high)
    axes[1].set_xlim(0, seconds)
    axes[1].set_xlabel("seconds")
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap="viridis"), ax=axes, label="velocity", shrink=0.8)
    fig.suptitle(title, fontsize=10)
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="music21:<work> or a MIDI / score file")
    parser.add_argument("-o", "--out", required=True)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = draw(_read(args.source), args.seed, args.seconds, args.out, f"{args.source}: score vs performance rendering")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
