"""Early stopping on *eval* loss (seed 001 watched the training minibatch and saved nothing).

Two criteria, either can end a stage:
  patience  `patience` evals in a row without beating the best by more than `min_delta`;
  GL_alpha  Prechelt's generalization loss GL = 100 * (eval / best - 1) above `gl_alpha` (0 = off).
The trainer saves best.pt whenever `update` reports an improvement, so the best weights always survive.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class EarlyStopping:
    patience: int
    min_delta: float = 0.0
    gl_alpha: float = 0.0
    best: float = math.inf
    best_step: int = -1
    bad_evals: int = 0

    def update(self, loss: float, step: int) -> bool:
        """Record an eval loss; True if it is a new best."""
        if loss < self.best - self.min_delta:
            self.best, self.best_step, self.bad_evals = loss, step, 0
            return True
        self.bad_evals += 1
        return False

    def generalization_loss(self, loss: float) -> float:
        return 100.0 * (loss / self.best - 1.0) if math.isfinite(self.best) and self.best > 0 else 0.0

    def should_stop(self, loss: float) -> str | None:
        """The reason to stop now, or None."""
        if self.patience and self.bad_evals >= self.patience:
            return f"no eval improvement in {self.bad_evals} evals"
        if self.gl_alpha and self.generalization_loss(loss) > self.gl_alpha:
            return f"GL {self.generalization_loss(loss):.1f} > alpha {self.gl_alpha}"
        return None

    def reset_patience(self) -> None:
        """A new stage gets a fresh patience count; the best loss (and best.pt) carry over."""
        self.bad_evals = 0

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
