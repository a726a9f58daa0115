"""Token healing: a prompt that ends inside what is usually one token is backed up by that
token, and the first generated token is constrained to begin with its text.

BPE learns ``import`` + `` os``: a prompt ending in ``"import "`` ends with a lone space
token the model has rarely seen before a module name, and greedy decoding wanders off
("import able"). Healing removes the trailing space token from the prompt and lets the model
choose among the tokens that start with a space, so it writes `` os``. The same happens for a
half-typed identifier (``self.app`` → ``self.append(``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from codegend.engine.tokenizer import Tokenizer


@dataclass(frozen=True)
class Healing:
    prompt_ids: list[int]  # the prompt without its last token
    removed_text: str  # what that token said; generated text must start with it
    allowed_first: np.ndarray  # token ids whose text starts with ``removed_text``


class TokenHealer:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._sorted: list[tuple[str, int]] | None = None  # (token text, id), built lazily

    def _vocabulary(self) -> list[tuple[str, int]]:
        if self._sorted is None:
            special = self._tokenizer.special_ids  # control tokens are never document text
            texts = ((self._tokenizer.decode([i]), i) for i in range(self._tokenizer.vocab_size)
                     if i not in special)
            # Partial UTF-8 pieces decode to U+FFFD and can never be matched by text.
            self._sorted = sorted(t for t in texts if t[0] and "\ufffd" not in t[0])
        return self._sorted

    def heal(self, prompt_ids: list[int]) -> Healing | None:
        """The healing of this prompt, or None when its last token cannot be extended."""
        if len(prompt_ids) < 2:
            return None
        removed = self._tokenizer.decode(prompt_ids[-1:])
        if not removed or "\ufffd" in removed:
            return None
        vocabulary = self._vocabulary()
        start = bisect.bisect_left(vocabulary, (removed, -1))
        allowed = []
        for text, token_id in vocabulary[start:]:
            if not text.startswith(removed):
                break
            allowed.append(token_id)
        if len(allowed) < 2:  # only the token itself: nothing to heal
            return None
        return Healing(prompt_ids[:-1], removed, np.asarray(allowed, dtype=np.int64))
