"""The model's tokenizer, loaded from its directory and checked against the model.

Serving reads ``tokenizer.json`` with the ``tokenizers`` library directly: it is the same
Rust tokenizer transformers wraps, without importing transformers (seconds of start-up on a
path that needs none of it). Which tokens are eos and bos comes from the directory's
``tokenizer_config.json``, ``special_tokens_map.json`` or ``config.json``, the files
transformers reads them from. Only a directory without ``tokenizer.json`` (a slow
tokenizer's vocab and merges) falls back to transformers, which converts it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from codegend.engine.errors import ModelSourceError

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"


class Tokenizer:
    """Encode/decode without special tokens, the way completion prompts need it."""

    def __init__(self, core, eos_token_id: int | None, bos_token_id: int | None) -> None:
        self._tok = core  # a tokenizers.Tokenizer
        self.eos_token_id: int | None = eos_token_id
        self.bos_token_id: int = bos_token_id if bos_token_id is not None else (eos_token_id or 0)
        self.vocab_size: int = core.get_vocab_size(with_added_tokens=True)
        added = core.get_added_tokens_decoder()
        # Tokens outside the BPE merges: control tokens (eos, fill-in-the-middle markers)
        # and, in some vocabularies, runs of whitespace.
        self.added_tokens: dict[str, int] = {t.content: i for i, t in added.items()}
        # Control tokens only: never text a completion shows or token healing extends into.
        self.special_ids: frozenset[int] = frozenset(i for i, t in added.items() if t.special)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[int]]:
        """Token ids and, for each, the index in ``text`` of its first character."""
        encoding = self._tok.encode(text, add_special_tokens=False)
        return encoding.ids, [start for start, _ in encoding.offsets]

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    def added_token_id(self, content: str) -> int | None:
        """The id of the added token written ``content``; None if the tokenizer lacks it."""
        return self.added_tokens.get(content)


def load_tokenizer(model_dir: Path, model_vocab_size: int) -> Tokenizer:
    try:
        tokenizer = _load(model_dir)
    except ModelSourceError:
        raise
    except Exception as err:  # either library raises many types for a broken tokenizer
        raise ModelSourceError(
            f"{model_dir}: cannot load the tokenizer ({_first_line(err)})"
        ) from err
    if tokenizer.vocab_size > model_vocab_size:
        raise ModelSourceError(
            f"{model_dir}: the tokenizer has {tokenizer.vocab_size} tokens but the model's "
            f"vocabulary has only {model_vocab_size}: tokenizer and weights do not match"
        )
    return tokenizer


def _load(model_dir: Path) -> Tokenizer:
    path = model_dir / TOKENIZER_FILE
    if not path.is_file():
        return _load_with_transformers(model_dir)
    from tokenizers import Tokenizer as CoreTokenizer

    core = CoreTokenizer.from_file(str(path))
    core.no_padding()
    core.no_truncation()  # prompts may exceed model_max_length; the generation loop cuts
    config = _read_json(model_dir / "tokenizer_config.json")
    special_map = _read_json(model_dir / "special_tokens_map.json")
    model_config = _read_json(model_dir / "config.json")

    def token_id(role: str) -> int | None:
        for source in (config, special_map):
            content = _content(source.get(f"{role}_token"))
            if content is not None:
                found = core.token_to_id(content)
                if found is None:
                    raise ModelSourceError(
                        f"{model_dir}: the {role} token {content!r} is not in {TOKENIZER_FILE}")
                return found
        value = model_config.get(f"{role}_token_id")
        return value if isinstance(value, int) else None

    return Tokenizer(core, token_id("eos"), token_id("bos"))


def _load_with_transformers(model_dir: Path) -> Tokenizer:
    """A directory with only a slow tokenizer's files: transformers converts it."""
    log.info("%s: no %s, converting the tokenizer with transformers", model_dir, TOKENIZER_FILE)
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True, use_fast=True)
    core = getattr(hf, "backend_tokenizer", None)
    if core is None:
        raise ModelSourceError(f"{model_dir}: the tokenizer has no fast (Rust) version")
    return Tokenizer(core, hf.eos_token_id, hf.bos_token_id)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelSourceError(f"{path}: unreadable or corrupt JSON ({err})") from err
    return data if isinstance(data, dict) else {}


def _content(token: object) -> str | None:
    """A special token as tokenizer_config writes it: a string or {"content": ...}."""
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) and token else None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
