"""`segue plot RUN`: train vs eval loss, accuracy and learning rate against step, with stage boundaries, as PNG."""

from __future__ import annotations

from pathlib import Path

from segue.errors import SegueError
from training.metrics import read_metrics


def plot_run(run: str | Path, out: str | Path | None = None) -> Path:
    run = Path(run)
    if not (run / "metrics.csv").is_file():
        raise SegueError(f"{run}: no metrics.csv; is this a run folder written by `segue train`?")
    rows = read_metrics(run)
    import matplotlib
    matplotlib.use("Agg")          # files only; never needs a display
    import matplotlib.pyplot as plt

    def series(kind, key):
        pts = [(int(r["step"]), float(r[key])) for r in rows if r["kind"] == kind and r.get(key) not in ("", None)]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    ax_loss.plot(*series("train", "ce"), label="train (cross-entropy)", alpha=0.6)
    ax_loss.plot(*series("eval", "loss"), "o-", label="eval", markersize=3)
    for name in ("plain", "rendered"):       # runs that render scores evaluate both; "eval" is their mean
        steps, values = series("eval", f"{name}_loss")
        if values:
            ax_loss.plot(steps, values, ".-", label=f"eval, {name} scores", markersize=2, alpha=0.7)
    unigram = series("eval", "unigram")[1]
    if unigram:
        ax_loss.axhline(unigram[-1], color="gray", linestyle=":", label=f"unigram baseline {unigram[-1]:.3f}")
    ax_loss.set_ylabel("loss (nats/event)")
    ax_acc.plot(*series("eval", "accuracy"), "o-", label="eval accuracy", markersize=3)
    ax_acc.plot(*series("eval", "event_accuracy"), "o-", label="eval event accuracy", markersize=3)
    ax_acc.set_ylabel("accuracy")
    ax_lr.plot(*series("train", "lr"), label="learning rate")
    ax_lr.set_ylabel("lr")
    ax_lr.set_xlabel("step")
    for row in rows:
        if row["kind"] == "stage":
            for ax in (ax_loss, ax_acc, ax_lr):
                ax.axvline(int(row["step"]), color="red", linestyle="--", alpha=0.5)
            ax_loss.text(int(row["step"]), ax_loss.get_ylim()[1], f" stage {int(row['stage']) + 1}", va="top",
                         color="red", fontsize=8)
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"segue run {run.name}")
    fig.tight_layout()
    out = Path(out) if out else run / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
