"""Choosing the next token from logits: greedy, or temperature + nucleus (top-p) sampling."""

from __future__ import annotations

import numpy as np

from codegend.engine.types import SamplingParams


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - np.max(logits)
    return shifted - np.log(np.sum(np.exp(shifted)))


def nucleus_probabilities(logits: np.ndarray, temperature: float, top_p: float) -> np.ndarray:
    """Probabilities after temperature scaling, with everything outside the top-p mass zeroed."""
    probs = np.exp(log_softmax(logits.astype(np.float64) / temperature))
    if top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        # Keep the smallest set whose mass reaches top_p (always at least the top token).
        keep = int(np.searchsorted(cumulative, top_p)) + 1
        mask = np.zeros_like(probs, dtype=bool)
        mask[order[:keep]] = True
        probs = np.where(mask, probs, 0.0)
        probs /= probs.sum()
    return probs


class Sampler:
    """Picks tokens for one generation; the seed fixes the whole stream of choices."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self._rng = np.random.default_rng(params.seed)

    def choose(self, logits: np.ndarray) -> tuple[int, float]:
        """Returns (token id, its log-probability under the unscaled model)."""
        logprobs = log_softmax(logits)
        if self.params.greedy:
            token = int(np.argmax(logits))
        else:
            probs = nucleus_probabilities(logits, self.params.temperature, self.params.top_p)
            token = int(self._rng.choice(len(probs), p=probs))
        return token, float(logprobs[token])
