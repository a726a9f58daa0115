"""Prompt-lookup drafting: guess the next tokens by finding the last few tokens elsewhere.

Code repeats itself: a name typed a line ago, the rest of a line the user is retyping above
the suffix, a call pattern from another open file. When the last ``n`` tokens of the
sequence (prompt + generated so far) occur earlier in it, or in the document's suffix, or in
another open document's snippet, the tokens that followed that occurrence are a cheap guess
of what comes next. The generation loop feeds such a draft together with the token it
already has and verifies all of it in one forward pass (``generate.py``); a forward pass on a
CPU costs about the same for one token or nine because the weights are read once either way,
so every accepted draft token is close to free. This follows prompt lookup decoding
(Saxena, 2023) and the n-gram candidate generator of transformers' assisted generation.

Matching is vectorised with numpy over each haystack: a draft costs tens of microseconds
even for a thousand-token prompt, small next to one decode step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class LookupConfig:
    max_draft_tokens: int = 8  # the most tokens verified on top of the sampled one per pass
    # Drafts start this long; a draft accepted whole lengthens the next by two, a rejected
    # one shortens it by one (transformers' heuristic for assistant models): copying comes
    # in runs, and a pass is not free where the verify width shows (small models, CPUs
    # that run out of compute before memory bandwidth).
    initial_draft_tokens: int = 4
    max_ngram: int = 4  # the longest tail matched (longer matches win over shorter ones)
    min_ngram: int = 1  # below this many matching tokens, nothing is drafted
    # A match on a single token ("(", " ") is a weak guess: draft only this many after it,
    # so an unlikely draft costs little compute on a model where the verify width shows.
    short_match_draft_tokens: int = 3
    # Of each text besides the prompt, the characters nearest the cursor that are searched
    # (a long suffix costs tokenizing time, and its far end rarely helps).
    source_chars: int = 4096

    def __post_init__(self) -> None:
        if not 1 <= self.initial_draft_tokens <= self.max_draft_tokens or \
                not 1 <= self.min_ngram <= self.max_ngram:
            raise ValueError("prompt lookup needs 1 <= initial_draft_tokens <= "
                             "max_draft_tokens and 1 <= min_ngram <= max_ngram")


class Drafter(Protocol):
    """What the generation loop asks for a draft; tests substitute scripted drafters."""

    def extend(self, token_ids: Sequence[int]) -> None:
        """Append tokens the sequence now holds (the prompt first, then each chosen one)."""
        ...

    def draft(self, limit: int) -> list[int]:
        """Up to ``limit`` tokens guessed to follow the sequence; [] for no guess."""
        ...


class PromptLookup:
    """Drafts for one generation from its own sequence and a few other token sequences."""

    def __init__(
        self,
        config: LookupConfig,
        sources: Sequence[Sequence[int]] = (),
        ends: np.ndarray | None = None,
        lead: Sequence[int] = (),
    ) -> None:
        """``sources``: other token sequences to search (suffix, snippets). ``ends``: a flag
        per token id; a draft stops after a flagged token (a newline when the completion
        ends at the line's end: later tokens would be wasted). ``lead``: what followed this
        sequence's start the last time (the KV cache's previous prompt and generation for
        the document); searched first, it wins a tie, since after a typed or accepted
        suggestion the model usually writes again what it wrote before."""
        self.config = config
        # Each searched on its own: joining them would make matches across their seams.
        self._lead = np.asarray(lead, dtype=np.int64)
        self._sources = [np.asarray(s, dtype=np.int64) for s in sources if len(s) > 1]
        self._ends = ends
        self._sequence = np.zeros(256, dtype=np.int64)  # grows by doubling
        self._length = 0
        self._draft_length = config.initial_draft_tokens
        self._last_draft: list[int] = []  # to see how much of it the next extend accepted

    def extend(self, token_ids: Sequence[int]) -> None:
        if self._last_draft:
            drafted = len(self._last_draft)
            if list(token_ids[:drafted]) == self._last_draft:
                self._draft_length = min(self.config.max_draft_tokens, self._draft_length + 2)
            else:
                self._draft_length = max(1, self._draft_length - 1)
            self._last_draft = []
        end = self._length + len(token_ids)
        if end > len(self._sequence):
            grown = np.zeros(max(end, 2 * len(self._sequence)), dtype=np.int64)
            grown[: self._length] = self._sequence[: self._length]
            self._sequence = grown
        self._sequence[self._length : end] = token_ids
        self._length = end

    def draft(self, limit: int) -> list[int]:
        config = self.config
        limit = min(limit, self._draft_length)
        if limit <= 0 or self._length < 1:
            return []
        sequence = self._sequence[: self._length]
        tail = sequence[-config.max_ngram :]
        # The lead first, then the sequence itself: on equal match length the earlier wins.
        # The sequence's last position is the tail itself, so it may only match before it.
        best, best_source = _longest_match(self._lead, tail, stop=len(self._lead)), self._lead
        found = _longest_match(sequence, tail, stop=self._length - 1)
        if found[0] > best[0]:
            best, best_source = found, sequence
        for source in self._sources:
            found = _longest_match(source, tail, stop=len(source))
            if found[0] > best[0]:
                best, best_source = found, source
        matched, position = best
        if matched < config.min_ngram:
            return []
        if matched == 1:
            limit = min(limit, config.short_match_draft_tokens)
        start = position + 1
        draft = best_source[start : start + limit]
        if self._ends is not None:
            flagged = np.flatnonzero(self._ends[draft])
            if flagged.size:
                draft = draft[: flagged[0] + 1]
        self._last_draft = draft.tolist()
        return self._last_draft


def _longest_match(haystack: np.ndarray, tail: np.ndarray, stop: int) -> tuple[int, int]:
    """(length, position) of the longest suffix of ``tail`` ending at a position of
    ``haystack`` before ``stop`` that still has a token after it; the latest position wins a
    tie. (0, -1) when the last token of ``tail`` occurs nowhere."""
    stop = min(stop, len(haystack) - 1)  # a match needs at least one token after it
    if stop <= 0:
        return 0, -1
    candidates = np.flatnonzero(haystack[:stop] == tail[-1])
    if candidates.size == 0:
        return 0, -1
    lengths = np.ones(candidates.size, dtype=np.int64)
    alive = np.ones(candidates.size, dtype=bool)  # still matching going backwards
    for back in range(1, len(tail)):
        before = candidates - back
        alive &= before >= 0
        alive[alive] = haystack[before[alive]] == tail[-1 - back]
        if not alive.any():
            break
        lengths += alive
    best = int(lengths.max())
    # flatnonzero is ascending: the last candidate of the longest length is the latest.
    position = int(candidates[np.flatnonzero(lengths == best)[-1]])
    return best, position
