"""KV caches of several sequences, so editors sharing one model keep their prefix reuse.

A stepper holds one live KV cache. When requests from different documents interleave (four
editors on one daemon), a single cache would be overwritten by every other document and each
request would re-run its whole prompt. Steppers that can hand out a snapshot of their cache
(the ONNX stepper: a reference to immutable tensors, or a compact copy of a cache it updates
in place) keep the most recently used few here, one per document key.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class SavedSequence:
    token_ids: tuple[int, ...]  # the tokens whose KV the snapshot holds
    snapshot: object  # the stepper's opaque handle on that KV


class KVSequences:
    """Least-recently-used snapshots of the sequences not currently live, by document key."""

    def __init__(self, capacity: int) -> None:
        assert capacity >= 0
        self.capacity = capacity  # sequences kept besides the live one
        self._saved: OrderedDict[str | None, SavedSequence] = OrderedDict()

    def __len__(self) -> int:
        return len(self._saved)

    def save(self, key: str | None, sequence: SavedSequence) -> None:
        if self.capacity == 0 or not sequence.token_ids:
            return
        self._saved[key] = sequence
        self._saved.move_to_end(key)
        while len(self._saved) > self.capacity:
            self._saved.popitem(last=False)

    def take(self, key: str | None) -> SavedSequence | None:
        """Remove and return the saved sequence of ``key`` (it is about to become live)."""
        return self._saved.pop(key, None)

    def clear(self) -> None:
        self._saved.clear()
