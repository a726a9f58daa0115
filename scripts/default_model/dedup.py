"""Removing exact and near-duplicate files, so no code is trained on (or evaluated) twice.

Exact duplicates are found by a hash of the text with whitespace normalized. Near duplicates
(transformers' copied modeling files, CommonJS and ESM builds of one library, vendored
copies under other names) by MinHash over word 5-grams with locality-sensitive hashing
(datasketch), at Jaccard similarity 0.85 -- the setting used to deduplicate public code
corpora. Files are visited in a fixed order and the first of a group is kept, so a file of a
held-out package never survives beside its copy in a training package: the caller lists
held-out packages first and drops the training copies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH

from .sources import SourceFile

NEAR_DUPLICATE_JACCARD = 0.85
NUM_PERMUTATIONS = 128
SHINGLE_WORDS = 5
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[^\sA-Za-z0-9_]")


def _exact_key(text: str) -> bytes:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).digest()


def _minhash(text: str) -> MinHash | None:
    words = _WORD.findall(text)
    if len(words) < SHINGLE_WORDS:
        return None
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]).encode("utf-8")
                for i in range(len(words) - SHINGLE_WORDS + 1)}
    signature = MinHash(num_perm=NUM_PERMUTATIONS, seed=1)
    signature.update_batch(list(shingles))
    return signature


def deduplicate(files: Sequence[SourceFile]) -> tuple[list[SourceFile], dict[str, int]]:
    """The files to keep, in their order, and how many were dropped for each reason."""
    seen: set[bytes] = set()
    index = MinHashLSH(threshold=NEAR_DUPLICATE_JACCARD, num_perm=NUM_PERMUTATIONS)
    kept: list[SourceFile] = []
    dropped = {"exact duplicate": 0, "near duplicate": 0}
    for number, source in enumerate(files):
        key = _exact_key(source.text)
        if key in seen:
            dropped["exact duplicate"] += 1
            continue
        seen.add(key)
        signature = _minhash(source.text)
        if signature is not None:
            if index.query(signature):
                dropped["near duplicate"] += 1
                continue
            index.insert(str(number), signature)
        kept.append(source)
    return kept, dropped
