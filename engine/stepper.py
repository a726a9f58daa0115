"""The one thing a backend must do: feed tokens through a KV-cached model and return logits.

The generation loop (``generate.py``) owns everything else: prefix reuse, sampling, stop
rules, streaming and cancellation. A backend (ONNX Runtime, plain torch, the tensor-parallel
group) only implements this small protocol, so all of them behave the same.

A backend that can also return the logits of several fed positions (:class:`DraftVerifier`)
gets speculative decoding: drafted tokens are fed with the sampled one and checked in the
same forward pass. The others decode one token per pass, with the same results.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class CausalStepper(Protocol):
    """A model plus the KV cache of one sequence (batch size 1)."""

    vocab_size: int
    max_positions: int  # the longest sequence (cached + new) the model accepts

    @property
    def cached_tokens(self) -> int:
        """How many tokens the KV cache holds right now."""
        ...

    def truncate(self, length: int) -> None:
        """Keep only the first ``length`` cached positions (0 clears the cache)."""
        ...

    def feed(self, token_ids: list[int]) -> np.ndarray:
        """Run ``token_ids`` after the cached ones; extend the cache with them.

        Returns the float32 logits of the last fed position, shape ``[vocab_size]``.
        """
        ...

    def snapshot(self) -> object | None:
        """A handle on the current KV cache that ``restore`` can bring back after later
        steps, or None when this stepper can keep only its one live cache."""
        ...

    def restore(self, snapshot: object) -> None:
        """Make a snapshot's KV cache the live one."""
        ...

    @property
    def failure(self) -> str | None:
        """Why the stepper cannot run right now (e.g. a tensor-parallel rank died); None
        while it is healthy. In-process steppers are always healthy."""
        ...

    def restart(self) -> None:
        """Bring a failed stepper back (fresh processes, empty cache)."""
        ...

    def close(self) -> None:
        """Release the model and its cache."""
        ...


class DraftVerifier(CausalStepper, Protocol):
    """A stepper that verifies drafts: several fed positions' logits from one pass."""

    @property
    def verifies_drafts(self) -> bool:
        """Whether feeding a draft costs about one step; False where it would leave a faster
        one-token path (a CUDA-graph decode step), so the loop decodes token by token."""
        ...

    def feed_tail(self, token_ids: list[int], tail: int) -> np.ndarray:
        """Like ``feed``, but the float32 logits of the last ``tail`` fed positions,
        shape ``[tail, vocab_size]``."""
        ...


def draft_verifier(stepper: CausalStepper) -> DraftVerifier | None:
    """``stepper`` when it can verify drafts right now, else None."""
    if getattr(stepper, "verifies_drafts", False) and hasattr(stepper, "feed_tail"):
        return stepper  # type: ignore[return-value]
    return None
