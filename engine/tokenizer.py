"""The model's tokenizer, loaded from its directory and checked against the model."""

from __future__ import annotations

from pathlib import Path

from codegend.engine.errors import ModelSourceError


class Tokenizer:
    """Encode/decode without special tokens, the way completion prompts need it."""

    def __init__(self, hf_tokenizer) -> None:
        self._tok = hf_tokenizer
        self.eos_token_id: int | None = hf_tokenizer.eos_token_id
        bos = hf_tokenizer.bos_token_id
        self.bos_token_id: int = bos if bos is not None else (self.eos_token_id or 0)
        self.vocab_size = len(hf_tokenizer)

    def encode(self, text: str) -> list[int]:
        # verbose=False: prompts and held-out files may exceed model_max_length on purpose;
        # the generation loop keeps what fits.
        return self._tok.encode(text, add_special_tokens=False, verbose=False)

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )


def load_tokenizer(model_dir: Path, model_vocab_size: int) -> Tokenizer:
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    except Exception as err:  # transformers raises many types for a broken tokenizer
        raise ModelSourceError(
            f"{model_dir}: cannot load the tokenizer ({_first_line(err)})"
        ) from err
    tokenizer = Tokenizer(hf)
    if tokenizer.vocab_size > model_vocab_size:
        raise ModelSourceError(
            f"{model_dir}: the tokenizer has {tokenizer.vocab_size} tokens but the model's "
            f"vocabulary has only {model_vocab_size}: tokenizer and weights do not match"
        )
    return tokenizer


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
