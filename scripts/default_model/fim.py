"""The fill-in-the-middle transformation of training text (Bavarian et al. 2022).

A text is cut at two character positions drawn uniformly into prefix, middle and suffix, and
rearranged so that a left-to-right model learns to write the middle after seeing both sides:

    PSM: <fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle <|endoftext|>
    SPM: <fim_prefix> <fim_suffix> suffix <fim_middle> prefix middle <|endoftext|>

SPM is the StarCoder variant (both sentinels first): the prefix sits right before the middle,
so while a user types -- the prefix grows, the suffix stays -- the engine keeps reusing the
cached suffix and only appends. Each part is tokenized on its own, as at inference time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIM_RATE = 0.5  # share of examples transformed
SPM_RATE = 0.5  # of those, the share in SPM order


@dataclass(frozen=True)
class FimSplit:
    prefix: str
    middle: str
    suffix: str
    spm: bool


def fim_split(text: str, rng: random.Random) -> FimSplit:
    """Cut at two uniform character positions (possibly equal: an empty middle)."""
    first, second = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
    return FimSplit(text[:first], text[first:second], text[second:], rng.random() < SPM_RATE)


def fim_token_ids(split: FimSplit, encode, prefix_id: int, middle_id: int, suffix_id: int,
                  end_id: int) -> list[int]:
    """The token ids of one FIM example, each part encoded on its own by `encode`."""
    prefix, middle, suffix = encode(split.prefix), encode(split.middle), encode(split.suffix)
    if split.spm:
        return [prefix_id, suffix_id, *suffix, middle_id, *prefix, *middle, end_id]
    return [prefix_id, *prefix, suffix_id, *suffix, middle_id, *middle, end_id]
