"""A byte-level BPE tokenizer for source code, with whitespace runs as single tokens.

Indentation is most of the whitespace in Python, and a plain byte-level BPE spends many
tokens (and many merges) on it. Like CodeGen's tokenizer, runs of 2..N spaces and of 2..N
tabs are added tokens: the tokenizer matches them (longest first) before pre-tokenization,
so `        return` is one indentation token and `return`. The BPE is trained on the text
between those runs, exactly as it will be seen when encoding.

Special tokens follow the StarCoder convention, so the engine treats our models like every
StarCoder-family model: `<|endoftext|>` (id 0) between files and at the end of an infilled
middle, and the fill-in-the-middle markers `<fim_prefix>`, `<fim_middle>`, `<fim_suffix>`,
`<fim_pad>` (ids 1-4).

Byte-level BPE with no normalizer encodes any string and decodes back to it exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

END_OF_TEXT = "<|endoftext|>"
FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD = "<fim_prefix>", "<fim_middle>", "<fim_suffix>", \
    "<fim_pad>"
SPECIAL_TOKENS = (END_OF_TEXT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD)
MAX_SPACE_RUN = 32
MAX_TAB_RUN = 8
_WHITESPACE_RUN = re.compile(r"( {2,}|\t{2,})")


def whitespace_run_tokens() -> list[str]:
    """Runs of two or more spaces and tabs, longest first (as CodeGen lists them)."""
    spaces = [" " * n for n in range(MAX_SPACE_RUN, 1, -1)]
    tabs = ["\t" * n for n in range(MAX_TAB_RUN, 1, -1)]
    return spaces + tabs


def _pieces_between_runs(texts: Iterable[str]) -> Iterator[str]:
    """The text the BPE model will actually see: whitespace runs are taken out first."""
    for text in texts:
        for piece in _WHITESPACE_RUN.split(text):
            if piece and not _WHITESPACE_RUN.fullmatch(piece):
                yield piece


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Train the BPE so that, with the added tokens, the vocabulary has vocab_size entries."""
    runs = whitespace_run_tokens()
    bpe_vocab_size = vocab_size - len(runs)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=bpe_vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_pieces_between_runs(texts), trainer=trainer)
    # normalized=False: match the raw text; the runs are plain text, not special tokens,
    # so skip_special_tokens never drops indentation when decoding.
    tokenizer.add_tokens([AddedToken(run, normalized=False) for run in runs])
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, directory: Path, model_max_length: int) -> None:
    """Write tokenizer.json plus the config files AutoTokenizer needs."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=model_max_length,
        # Decoding must give back the source exactly; the clean-up would eat spaces
        # before punctuation.
        clean_up_tokenization_spaces=False,
        add_prefix_space=False,
    )
    fast.save_pretrained(str(directory))
