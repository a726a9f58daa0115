"""Choosing the next token from logits: greedy, or temperature + nucleus (top-p) sampling.

``verify`` is the choice for a position where a draft token was fed (speculative decoding).
A prompt-lookup draft is deterministic (q = 1 on the drafted token), so the standard
acceptance rule (Leviathan et al.; Chen et al., 2023) reads: accept with probability
min(1, p(draft) / q(draft)) = p(draft), otherwise draw from the residual max(0, p - q),
which is p without the draft, renormalised. Drawing the position's token from p exactly as
plain decoding would, and accepting the draft when they agree, is that rule: it accepts with
probability p(draft), and a disagreeing token is distributed as the residual. Doing it so,
with one uniform per generated token in order, makes a seeded speculative stream the very
stream of plain decoding, whatever was drafted (greedy: the argmax either way).
"""

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


def top_logprobs(logits: np.ndarray, n: int) -> list[tuple[int, float]]:
    """The ``n`` likeliest token ids and their log-probabilities under the unscaled model,
    best first."""
    if n <= 0:
        return []
    logprobs = log_softmax(logits)
    best = np.argpartition(-logprobs, min(n, len(logprobs)) - 1)[:n]
    best = best[np.argsort(-logprobs[best], kind="stable")]
    return [(int(token), float(logprobs[token])) for token in best]


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
            # Inverse CDF of one uniform per token, so verify() consumes the same stream.
            cumulative = np.cumsum(probs)
            token = int(np.searchsorted(cumulative, self._rng.random() * cumulative[-1],
                                        side="right"))
            token = min(token, int(np.flatnonzero(probs)[-1]))  # rounding at the top end
        return token, float(logprobs[token])

    def verify(self, logits: np.ndarray, draft: int) -> tuple[int, float]:
        """The token at a position whose drafted token is ``draft``: ``draft`` itself when
        accepted, else its replacement; (token id, its unscaled log-probability). See the
        module docstring for why this is the standard acceptance rule."""
        del draft  # the choice does not look at it: that is what makes it exact
        return self.choose(logits)
