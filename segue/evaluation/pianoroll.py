"""Piano-roll PNG of a primer and its continuation in two colours, with a line where the model took over."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from segue.codec.codec import Note
from segue.codec.midi import pitch_name

PRIMER_COLOUR = "#1f77b4"        # blue: what the user gave
CONTINUATION_COLOUR = "#ff7f0e"  # orange: what the model played
WHITE_KEYS = (0, 2, 4, 5, 7, 9, 11)   # pitch classes of C D E F G A B
FEWEST_OCTAVE_TICKS = 4          # fewer Cs in view than this: label every white key instead


def draw_piano_roll(primer: Sequence[Note], continuation: Sequence[Note], path: str | Path, title: str = "",
                    boundary: float | None = None) -> Path:
    """Write the PNG; velocity sets each bar's opacity so accents show."""
    import matplotlib.pyplot as plt

    fig = piano_roll_figure(primer, continuation, title, boundary)
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def piano_roll_figure(primer: Sequence[Note], continuation: Sequence[Note], title: str = "",
                      boundary: float | None = None):
    """The matplotlib figure: the legend sits outside the notes, the pitch axis speaks note names (C4 = 60)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch, Rectangle

    notes = list(primer) + list(continuation)
    end = max((n.end for n in notes), default=1.0)
    low = min((n.pitch for n in notes), default=48) - 2
    high = max((n.pitch for n in notes), default=72) + 2
    fig, ax = plt.subplots(figsize=(max(8.0, min(40.0, end / 3)), 5), dpi=100, layout="constrained")
    for group, colour in ((primer, PRIMER_COLOUR), (continuation, CONTINUATION_COLOUR)):
        bars = [Rectangle((n.start, n.pitch - 0.4), n.end - n.start, 0.8) for n in group]
        faces = [to_rgba(colour, 0.35 + 0.65 * n.velocity / 127) for n in group]
        if bars:
            ax.add_collection(PatchCollection(bars, facecolors=faces, edgecolors="none"))
    if boundary is not None and primer:
        ax.axvline(boundary, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, end)
    ax.set_ylim(low, high)
    ticks = [p for p in range(low, high + 1) if p % 12 == 0]
    if len(ticks) < FEWEST_OCTAVE_TICKS:
        ticks = [p for p in range(low, high + 1) if p % 12 in WHITE_KEYS]
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
    ax.set_xlabel("seconds")
    ax.set_ylabel("pitch (C4 = middle C = MIDI 60)")
    ax.set_title(title)
    ax.legend(handles=[Patch(color=PRIMER_COLOUR, label=f"primer ({len(primer)} notes)"),
                       Patch(color=CONTINUATION_COLOUR, label=f"continuation ({len(continuation)} notes)")],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig
