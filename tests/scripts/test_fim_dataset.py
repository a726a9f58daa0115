"""The fill-in-the-middle transformation and the packed training rows."""

from __future__ import annotations

import random

import numpy as np
import pytest
from default_model.dataset import Example, make_examples, pack_rows
from default_model.fim import FimSplit, fim_split, fim_token_ids
from default_model.sources import SourceFile
from default_model.tokenizer import (
    END_OF_TEXT,
    FIM_MIDDLE,
    FIM_PAD,
    FIM_PREFIX,
    FIM_SUFFIX,
    train_tokenizer,
)

SOURCE = "".join(f"def f{n}(x):\n    return x + {n}  # añadir π\n\n" for n in range(80))


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer([SOURCE] * 20, vocab_size=400)


@pytest.mark.parametrize("text", ["", "a", "héllo wörld 🐍\nπ = 3\n", SOURCE[:300]])
def test_fim_split_covers_the_text_at_character_boundaries(text: str) -> None:
    rng = random.Random(7)
    for _ in range(50):
        split = fim_split(text, rng)
        assert split.prefix + split.middle + split.suffix == text


def test_empty_middle_and_both_orders() -> None:
    encode = {"": [], "ab": [10, 11], "cd": [12]}.__getitem__
    psm = fim_token_ids(FimSplit("ab", "", "cd", spm=False), encode, 1, 2, 3, 0)
    assert psm == [1, 10, 11, 3, 12, 2, 0]
    spm = fim_token_ids(FimSplit("ab", "", "cd", spm=True), encode, 1, 2, 3, 0)
    assert spm == [1, 3, 12, 2, 10, 11, 0]


def test_tokenizer_has_the_starcoder_special_tokens_and_round_trips(tokenizer) -> None:
    ids = [tokenizer.token_to_id(t) for t in (END_OF_TEXT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX,
                                              FIM_PAD)]
    assert ids == [0, 1, 2, 3, 4]
    assert tokenizer.get_vocab_size() == 400
    text = "<fim_prefix>def g():\n        return 'ü'\n"
    tokenizer.encode_special_tokens = True
    encoded = tokenizer.encode(text, add_special_tokens=False).ids
    assert 1 not in encoded  # sentinel text inside source stays text
    assert tokenizer.decode(encoded, skip_special_tokens=False) == text


def test_examples_cover_each_file_and_fim_examples_are_well_formed(tokenizer) -> None:
    files = [SourceFile("p", f"m{n}.py", SOURCE[n * 97 :]) for n in range(6)]
    examples = make_examples(files, tokenizer, seq_len=64, seed=3, fim_rate=0.5)
    assert all(len(e.ids) < 64 for e in examples)
    fim = [e for e in examples if e.fim]
    plain = [e for e in examples if not e.fim]
    assert fim and plain
    for example in fim:
        assert example.ids[0] == 1 and example.ids.count(2) == 1 and example.ids.count(3) == 1
        assert example.ends_text
    # Left-to-right chunks of one file decode back to it, in order, when FIM is off.
    whole = make_examples(files[:1], tokenizer, seq_len=64, seed=3, fim_rate=0.0)
    assert tokenizer.decode([i for e in whole for i in e.ids]) == files[0].text
    assert [e.ends_text for e in whole] == [False] * (len(whole) - 1) + [True]
    assert make_examples(files, tokenizer, 64, 3) == make_examples(files, tokenizer, 64, 3)


def test_rows_pack_examples_whole_and_mask_what_is_not_trained() -> None:
    examples = [Example([5] * 20, ends_text=True, fim=False),
                Example([1, 6, 3, 7, 2, 8], ends_text=True, fim=True),
                Example([9] * 30, ends_text=False, fim=False)]
    rows, masks = pack_rows(examples, seq_len=63, seed=0, end_id=0, untrained_ids=[1, 2, 3])
    assert rows.shape[1] == 64 and rows.shape == masks.shape
    flat = rows.ravel().tolist()
    assert flat.count(5) == 20 and flat.count(9) == 30 and flat.count(6) == 1
    trained = dict(zip(rows.ravel().tolist(), masks.ravel().tolist(), strict=False))
    assert trained[5] and trained[6] and not trained[1] and not trained[3]
    for row, mask in zip(rows, masks, strict=True):
        assert row[0] == 0 and not mask[0]
        for position in np.nonzero(row == 9)[0][-1:]:
            # The separator after a chunk that does not end its file is not a target.
            assert row[position + 1] == 0 and not mask[position + 1]
        for position in np.nonzero(row == 5)[0][-1:]:
            assert mask[position + 1]
