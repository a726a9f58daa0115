"""Training rows: files cut into chunks at line starts, half of them FIM-transformed, packed.

The model's context is short (512 tokens), so the fill-in-the-middle transformation works on
chunks of a file that fit in one row, not on whole files (a whole-file split would put the
prefix and the suffix rows apart). Chunk lengths vary (CHUNK_MIN_TOKENS up to the row) so
that first-fit packing fills rows almost completely.

A row is `[<|endoftext|>, example, <|endoftext|>, example, ...]` padded with
`<|endoftext|>`. Beside the tokens a mask says which positions are trained as targets: the
padding is not, FIM sentinels are not (the engine writes them, the model never has to), and
the separator after a chunk that does not end its file is not -- so the model learns to end
a file or an infilled middle, never to end text in the middle of a file.

Everything is a pure function of the seed, so the rows are rebuilt identically.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from .fim import FIM_RATE, fim_split, fim_token_ids
from .sources import SourceFile
from .tokenizer import END_OF_TEXT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX

CHUNK_MIN_TOKENS = 128
FIM_HEADROOM = 8  # sentinels, the end token, and tokens split where the text is cut
OPEN_ROWS = 64  # rows first-fit packing keeps open at once


@dataclass(frozen=True)
class Example:
    ids: list[int]
    ends_text: bool  # the separator after it is a real end (of a file or of a middle)
    fim: bool


def _line_start_tokens(offsets: np.ndarray, text: str) -> np.ndarray:
    """Indices of the tokens that begin a line."""
    starts = offsets[:, 0]
    previous = np.array([text[s - 1] if s > 0 else "\n" for s in starts])
    return np.nonzero(previous == "\n")[0]


def chunk_file(ids: list[int], offsets: np.ndarray, text: str, max_tokens: int,
               rng: random.Random) -> list[tuple[int, int]]:
    """Token ranges [start, end) covering the file, cut at line starts where possible."""
    line_starts = _line_start_tokens(offsets, text)
    ranges, start = [], 0
    while start < len(ids):
        target = start + rng.randint(min(CHUNK_MIN_TOKENS, max_tokens), max_tokens)
        if target >= len(ids):
            ranges.append((start, len(ids)))
            break
        candidates = line_starts[(line_starts > start) & (line_starts <= target)]
        end = int(candidates[-1]) if len(candidates) else target
        ranges.append((start, end))
        start = end
    return ranges


def make_examples(files: Sequence[SourceFile], tokenizer: Tokenizer, seq_len: int,
                  seed: int, fim_rate: float = FIM_RATE) -> list[Example]:
    """Every file as chunks, a `fim_rate` share of them FIM-transformed."""
    tokenizer.encode_special_tokens = True  # "<|endoftext|>" inside source is just text
    special = {name: tokenizer.token_to_id(name)
               for name in (END_OF_TEXT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX)}

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False).ids if text else []

    examples: list[Example] = []
    max_tokens = seq_len - FIM_HEADROOM
    for number, source in enumerate(files):
        rng = random.Random(f"{seed}/{number}/{source.origin}")
        encoding = tokenizer.encode(source.text, add_special_tokens=False)
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        ranges = chunk_file(encoding.ids, offsets, source.text, max_tokens, rng)
        for index, (start, end) in enumerate(ranges):
            last = index == len(ranges) - 1
            text_end = int(offsets[end, 0]) if end < len(offsets) else len(source.text)
            chunk_text = source.text[int(offsets[start, 0]) : text_end]
            if rng.random() < fim_rate:
                ids = fim_token_ids(fim_split(chunk_text, rng), encode, special[FIM_PREFIX],
                                    special[FIM_MIDDLE], special[FIM_SUFFIX],
                                    special[END_OF_TEXT])[:-1]  # the separator is added
                if len(ids) < seq_len:
                    examples.append(Example(ids, ends_text=True, fim=True))
                    continue
            examples.append(Example(encoding.ids[start:end], ends_text=last, fim=False))
    return examples


def pack_rows(examples: Sequence[Example], seq_len: int, seed: int, end_id: int,
              untrained_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """First-fit packing into rows of seq_len + 1 tokens; returns (tokens, target_mask)."""
    width = seq_len + 1
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    rows: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    open_rows: list[tuple[np.ndarray, np.ndarray, list[int]]] = []  # tokens, mask, [used]

    def new_row():
        tokens = np.full(width, end_id, dtype=np.uint16)
        mask = np.zeros(width, dtype=bool)
        return tokens, mask, [1]  # position 0 holds the opening <|endoftext|>

    def close(row) -> None:
        rows.append(row[0])
        masks.append(row[1])

    untrained = np.asarray(list(untrained_ids), dtype=np.int64)
    for number in order:
        example = examples[number]
        need = len(example.ids) + 1
        if need > width - 1:
            continue  # cannot happen for chunks made by make_examples; kept for safety
        target = next((row for row in open_rows if width - row[2][0] >= need), None)
        if target is None:
            target = new_row()
            open_rows.append(target)
        tokens, mask, used = target
        start = used[0]
        ids = np.asarray(example.ids, dtype=np.int64)
        tokens[start : start + len(ids)] = ids
        mask[start : start + len(ids)] = ~np.isin(ids, untrained)
        mask[start + len(ids)] = example.ends_text  # the separator (already end_id)
        used[0] = start + need
        if width - used[0] < CHUNK_MIN_TOKENS // 4 or len(open_rows) > OPEN_ROWS:
            full = target if width - used[0] < CHUNK_MIN_TOKENS // 4 else \
                max(open_rows, key=lambda row: row[2][0])
            open_rows[:] = [row for row in open_rows if row is not full]
            close(full)
    for row in open_rows:
        close(row)
    if not rows:
        raise SystemExit("no training rows: the corpus is empty")
    return np.stack(rows), np.stack(masks)
