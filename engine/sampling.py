"""Choosing the next token from logits: greedy, or temperature + nucleus (top-p) sampling.

``verify`` is the same choice for a position where a draft token was fed (speculative
decoding): greedy takes the argmax, which accepts the draft exactly when plain decoding
would have chosen it; sampling uses the standard acceptance rule, so the tokens come from
the very distribution plain sampling draws from.
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
            token = int(self._rng.choice(len(probs), p=probs))
        return token, float(logprobs[token])

    def verify(self, logits: np.ndarray, draft: int) -> tuple[int, float]:
        """The token at a position whose drafted token is ``draft``: ``draft`` itself when
        accepted, else a replacement. Returns (token id, its unscaled log-probability).

        A prompt-lookup draft is deterministic (q = 1 on the drafted token), so the rule of
        Leviathan et al. and Chen et al. (2023) reads: accept with probability
        min(1, p(draft) / q(draft)) = p(draft), otherwise sample from the residual
        max(0, p - q), which is p without the draft, renormalised. Either way the token is
        distributed exactly as p.
        """
        if self.params.greedy:
            return self.choose(logits)
        logprobs = log_softmax(logits)
        probs = nucleus_probabilities(logits, self.params.temperature, self.params.top_p)
        if self._rng.random() < probs[draft]:
            return draft, float(logprobs[draft])
        residual = probs.copy()
        residual[draft] = 0.0
        total = residual.sum()
        if total <= 0.0:  # p was all on the draft (rounding): it is the only choice
            return draft, float(logprobs[draft])
        token = int(self._rng.choice(len(residual), p=residual / total))
        return token, float(logprobs[token])
