"""Fill-in-the-middle templates: one table, keyed by the special tokens a tokenizer has.

A model trained to fill in the middle sees the text before the cursor (prefix) and after it
(suffix) laid out around a few control tokens, and writes the middle after the last one,
ending it with a stop token. Each family's layout is written here once, as it was trained:

* StarCoder / SantaCoder (and our own default models, which use its tokens): PSM
  ``<fim_prefix>P<fim_suffix>S<fim_middle>`` and SPM in the StarCoder variant
  ``<fim_prefix><fim_suffix>S<fim_middle>P`` (both orders were trained, half of the FIM
  samples each). SPM comes first in the table: typing appends to the prefix, which is at the
  end, so the KV cache of everything before it stays reusable while the user types.
* CodeGen2 (its model card): ``P<mask_1>S<|endoftext|><sep><mask_1>``, the infill ending
  with ``<eom>``.
* Qwen2.5-Coder: ``<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>`` (PSM only).

Each part is tokenized on its own and the control tokens are inserted by id, so text in a
document that happens to spell a control token is never read as one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, get_args

PREFIX = "{prefix}"  # where a layout puts the text before the cursor
SUFFIX = "{suffix}"  # where it puts the text after the cursor

FimOrder = Literal["auto", "spm", "psm", "none"]
FIM_ORDERS: tuple[str, ...] = get_args(FimOrder)


@dataclass(frozen=True)
class FimTemplate:
    name: str  # reported in model_info, e.g. "starcoder-spm"
    order: Literal["psm", "spm"]  # which part comes first; SPM keeps prefix reuse alive
    layout: tuple[str, ...]  # control tokens and the PREFIX / SUFFIX slots, in prompt order
    stop_tokens: tuple[str, ...]  # generation ends at any of these (the ones the vocab has)

    @property
    def control_tokens(self) -> tuple[str, ...]:
        return tuple(part for part in self.layout if part not in (PREFIX, SUFFIX))

    @property
    def prefix_last(self) -> bool:
        """The prompt ends with the prefix: token healing can back up its last token, and
        typing only appends to the prompt."""
        return self.layout[-1] == PREFIX

    def render(self, prefix: str, suffix: str) -> str:
        """The layout as text (for reading and for tests; prompts are built from ids)."""
        slots = {PREFIX: prefix, SUFFIX: suffix}
        return "".join(slots.get(part, part) for part in self.layout)


_STARCODER_STOPS = ("<|endoftext|>", "<file_sep>", "<fim_prefix>", "<fim_suffix>",
                    "<fim_middle>", "<fim_pad>")
_QWEN_STOPS = ("<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
               "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|im_start|>", "<|im_end|>")

# First match wins; a family trained in both orders lists SPM first (see the docstring).
FIM_TEMPLATES: tuple[FimTemplate, ...] = (
    FimTemplate("qwen2.5-coder", "psm",
                ("<|fim_prefix|>", PREFIX, "<|fim_suffix|>", SUFFIX, "<|fim_middle|>"),
                _QWEN_STOPS),
    FimTemplate("starcoder-spm", "spm",
                ("<fim_prefix>", "<fim_suffix>", SUFFIX, "<fim_middle>", PREFIX),
                _STARCODER_STOPS),
    FimTemplate("starcoder-psm", "psm",
                ("<fim_prefix>", PREFIX, "<fim_suffix>", SUFFIX, "<fim_middle>"),
                _STARCODER_STOPS),
    FimTemplate("codegen2", "psm",
                (PREFIX, "<mask_1>", SUFFIX, "<|endoftext|>", "<sep>", "<mask_1>"),
                ("<eom>", "<|endoftext|>")),
)


def fim_template_for(tokens: Collection[str], order: FimOrder = "auto") -> FimTemplate | None:
    """The template of a tokenizer whose added tokens are ``tokens``; None when it has no
    complete set (the model then continues the prefix only) or ``order`` is "none".

    ``order`` "psm" or "spm" asks for that order where the family has it; a family trained
    in one order only keeps it.
    """
    if order == "none":
        return None
    matches = [t for t in FIM_TEMPLATES if all(c in tokens for c in t.control_tokens)
               and _required_stop(t) in tokens]
    if not matches:
        return None
    family = _family(matches[0])
    same_family = [t for t in matches if _family(t) == family]
    preferred = [t for t in same_family if order in ("auto", t.order)]
    return (preferred or same_family)[0]


def _family(template: FimTemplate) -> str:
    return template.name.rsplit("-", 1)[0] if template.name.endswith(("-psm", "-spm")) \
        else template.name


def _required_stop(template: FimTemplate) -> str:
    """The token a family's infill ends with: without it the model could not stop."""
    return template.stop_tokens[0]
