"""Seeded sampling of the next event from a distribution: temperature, top-k, top-p (nucleus), min-p."""

from __future__ import annotations

import numpy as np

from segue.errors import SegueError


def softmax(logits: np.ndarray) -> np.ndarray:
    """Logits -> a float64 distribution (temperature 1)."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


class Sampler:
    """Draws one class index per call. Filters apply in the order temperature -> top-k -> min-p -> top-p.

    temperature 0 means greedy (argmax); top_k 0, top_p 1 and min_p 0 switch their filter off.
    The same seed and the same distributions give the same draws. The sampling loop (segue.inference.sampling_loop) hands
    it a distribution already shaped by the decoding grammar; `sample(logits)` is the plain path."""

    def __init__(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0,
                 seed: int | None = None):
        if temperature < 0:
            raise SegueError(f"temperature must be >= 0, got {temperature}")
        if top_k < 0:
            raise SegueError(f"top-k must be >= 0 (0 = off), got {top_k}")
        if not 0.0 < top_p <= 1.0:
            raise SegueError(f"top-p must be in (0, 1], got {top_p}")
        if not 0.0 <= min_p < 1.0:
            raise SegueError(f"min-p must be in [0, 1), got {min_p}")
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.min_p = min_p
        self.rng = np.random.default_rng(seed)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """The distribution sample() draws from (float64, sums to 1)."""
        return self.truncate(softmax(logits))

    def truncate(self, probs: np.ndarray) -> np.ndarray:
        """A temperature-1 distribution -> the one to draw from: temperature, then top-k, min-p and top-p."""
        probs = np.asarray(probs, dtype=np.float64)
        if self.temperature == 0:
            greedy = np.zeros_like(probs)
            greedy[int(np.argmax(probs))] = 1.0
            return greedy
        if self.temperature != 1.0:
            with np.errstate(divide="ignore"):       # classes a shaper ruled out stay at probability 0
                scaled = np.log(probs) / self.temperature
            probs = np.exp(scaled - scaled.max())
        if 0 < self.top_k < probs.size:
            kth = np.partition(probs, -self.top_k)[-self.top_k]
            probs = np.where(probs >= kth, probs, 0.0)
        probs = probs / probs.sum()
        if self.min_p > 0:
            probs = np.where(probs >= self.min_p * probs.max(), probs, 0.0)
        if self.top_p < 1.0:
            order = np.argsort(-probs, kind="stable")
            cumulative = np.cumsum(probs[order]) / probs.sum()
            # keep the smallest prefix whose mass reaches top_p (always at least the most likely class)
            keep = order[: int(np.searchsorted(cumulative, self.top_p)) + 1]
            kept = np.zeros_like(probs)
            kept[keep] = probs[keep]
            probs = kept
        return probs / probs.sum()

    def draw(self, probs: np.ndarray) -> int:
        """One class from a distribution truncate() returned."""
        if self.temperature == 0:
            return int(np.argmax(probs))
        # inverse-CDF draw: one uniform per call keeps the stream reproducible across numpy versions
        index = int(np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum(), side="right"))
        return min(index, probs.size - 1)

    def sample(self, logits: np.ndarray) -> int:
        return self.draw(self.probabilities(logits))
