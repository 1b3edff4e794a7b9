"""metrics.csv (one row per train log / eval / stage change) and TensorBoard event files when tensorboard is there."""

from __future__ import annotations

import csv
from pathlib import Path

FIELDS = ["kind", "step", "stage", "seq_len", "lr", "loss", "ce", "l1", "rhythm", "harmony", "accuracy",
          "event_accuracy", "perplexity", "loss_per_10ms", "plain_loss", "rendered_loss", "unigram", "grad_norm",
          "tokens_per_s", "elapsed_s"]


class MetricsLog:
    def __init__(self, run: Path, resume_step: int | None = None):
        self.path = Path(run) / "metrics.csv"
        if resume_step is not None and self.path.is_file():
            self._truncate_after(resume_step)
        new = not self.path.is_file()
        self._file = open(self.path, "a", newline="")
        self._writer = csv.DictWriter(self._file, FIELDS, extrasaction="ignore")
        if new:
            self._writer.writeheader()
        self._tb = _tensorboard_writer(run)

    def _truncate_after(self, step: int) -> None:
        """A resumed run repeats the steps after its checkpoint; drop their old rows so curves have no duplicates."""
        with open(self.path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= step]
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, kind: str, step: int, **values) -> None:
        row = {"kind": kind, "step": step}
        row.update({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in values.items()})
        self._writer.writerow(row)
        self._file.flush()
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and key not in ("step",):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run: Path) -> list[dict]:
    with open(Path(run) / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _tensorboard_writer(run: Path):
    try:
        import tensorboard  # noqa: F401  (torch's SummaryWriter needs the package itself)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(Path(run) / "tensorboard"))
