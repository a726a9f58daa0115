"""The prompt budget cut, made once, with the model's own tokenizer.

A completion request carries the text before the cursor, the text after it and a few pieces
of other context (snippets of other open documents); this module decides how much of each
the model sees within ``budget`` tokens and lays them out as token ids:

* the suffix (only for a model with a fill-in-the-middle template, and only when there is
  one) gets up to ``SUFFIX_SHARE`` of the budget: the whole lines nearest the cursor;
* the prefix gets the rest: the whole lines nearest the cursor (one line longer than the
  budget is cut at a token boundary instead);
* when the whole prefix fits and at least ``MIN_CONTEXT_TOKENS`` remain, context pieces go
  before it, the first piece (the most important) nearest the prefix, as many as fit;
* a prefix-only prompt holding a whole prefix that begins its document (and nothing before
  it) starts with the document separator (the tokenizer's bos, ``<|endoftext|>`` for
  CodeGen), as files were packed in training: without it a model sees a short file as the
  middle of something and degenerates (tiny-py completes ``import`` with ``import`` again).

Everything is a pure function of the request's text, so the same document state always gives
the same prompt, whatever was asked before. Cuts fall on line boundaries found through the
tokenizer's character offsets, then the kept text is re-encoded so the ids are exactly the
tokenization of what is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegend.engine.fim import PREFIX, SUFFIX, FimTemplate
from codegend.engine.tokenizer import Tokenizer
from codegend.engine.types import PromptParts

SUFFIX_SHARE = 0.25  # of the budget, for the text after the cursor
# A prefix longer than its budget starts at a paragraph (a line after a blank line) when one
# lies within this share of the budget after the first line that fits (see _tail_lines).
ANCHOR_SLACK = 0.125
MIN_CONTEXT_TOKENS = 24  # below this much spare budget, context pieces are not worth it


@dataclass(frozen=True)
class FittedPrompt:
    ids: list[int]  # the prompt's token ids, at most the budget
    template: FimTemplate | None  # the layout used; None: the prefix alone
    prefix_chars: int  # characters of the prefix kept (from its end)
    suffix_chars: int  # characters of the suffix kept (from its start)
    context_pieces: int  # context pieces put before the prefix

    @property
    def prefix_last(self) -> bool:
        """The ids end with the prefix's tokens (token healing may back up the last)."""
        return self.template is None or self.template.prefix_last


def fit_prompt(
    parts: PromptParts, tokenizer: Tokenizer, budget: int, template: FimTemplate | None
) -> FittedPrompt:
    """The prompt for ``parts`` within ``budget`` tokens, laid out in ``template`` when the
    request has a suffix to fill in front of."""
    use_fim = template is not None and parts.suffix != ""
    markers = len(template.control_tokens) if use_fim else 0
    available = max(0, budget - markers)
    suffix, suffix_ids = "", []
    if use_fim:
        suffix, suffix_ids = _head_lines(parts.suffix, tokenizer, int(available * SUFFIX_SHARE))
    prefix_budget = available - len(suffix_ids)
    prefix, prefix_ids, whole = _tail_lines(parts.prefix, tokenizer, prefix_budget)
    pieces = 0
    if whole and parts.context and prefix_budget - len(prefix_ids) >= MIN_CONTEXT_TOKENS:
        prefix, prefix_ids, pieces = _with_context(parts.context, prefix, prefix_ids,
                                                   tokenizer, prefix_budget)
    if not use_fim:
        if whole and parts.document_start and not pieces and len(prefix_ids) < prefix_budget:
            prefix_ids = [tokenizer.bos_token_id, *prefix_ids]
        return FittedPrompt(prefix_ids, None, len(parts.prefix) if whole else len(prefix), 0,
                            pieces)
    assert template is not None
    slots = {PREFIX: prefix_ids, SUFFIX: suffix_ids}
    ids: list[int] = []
    for part in template.layout:
        ids.extend(slots[part] if part in slots else [_control_id(tokenizer, part)])
    kept_prefix = len(parts.prefix) if whole else len(prefix)
    return FittedPrompt(ids, template, kept_prefix, len(suffix), pieces)


def _control_id(tokenizer: Tokenizer, token: str) -> int:
    token_id = tokenizer.added_token_id(token)
    assert token_id is not None, f"the template's {token!r} was checked when the model loaded"
    return token_id


def _tail_lines(text: str, tokenizer: Tokenizer, budget: int) -> tuple[str, list[int], bool]:
    """The whole lines at the end of ``text`` within ``budget`` tokens: (text kept, its ids,
    whether that is all of ``text``). A last line longer than the budget is cut at a token."""
    ids, starts = tokenizer.encode_with_offsets(text)
    if len(ids) <= budget:
        return text, ids, True
    if budget <= 0:
        return "", [], False
    first = len(ids) - budget  # the first token the budget can still hold
    cut = starts[first]
    # Typing appends to the prefix, so its start moves a line at a time, and each move
    # changes every token after it (the KV cache of the whole prefix is lost). Starting at
    # a paragraph a little further on keeps the start where it is while several lines are
    # typed. A pure function of the text: the same document state, the same prompt.
    slack_end = starts[min(len(ids) - 1, first + int(budget * ANCHOR_SLACK))]
    while True:
        line_start = cut if cut == 0 or text[cut - 1] == "\n" else text.find("\n", cut) + 1
        if line_start in (0, len(text)):  # no whole line fits: cut the last one at a token
            tail = ids[-budget:]
            return tokenizer.decode(tail), tail, False
        line_start = _paragraph_start(text, line_start, slack_end) or line_start
        kept = text[line_start:]
        kept_ids = tokenizer.encode(kept)
        if len(kept_ids) <= budget:  # re-encoded, a cut can merge differently: check
            return kept, kept_ids, False
        cut = line_start + 1


def _paragraph_start(text: str, start: int, limit: int) -> int | None:
    """The first line start in ``[start, limit]`` that follows a blank line."""
    line = start
    while line <= limit and line < len(text):
        previous = text.rfind("\n", 0, line - 1) + 1
        if not text[previous:line - 1].strip():
            return line
        end = text.find("\n", line)
        if end < 0:
            return None
        line = end + 1
    return None


def _head_lines(text: str, tokenizer: Tokenizer, budget: int) -> tuple[str, list[int]]:
    """The whole lines at the start of ``text`` within ``budget`` tokens (the newline that
    ends the last one left out). A first line longer than the budget is cut at a token."""
    ids, starts = tokenizer.encode_with_offsets(text)
    if len(ids) <= budget:
        return text, ids
    if budget <= 0:
        return "", []
    end = starts[budget]  # the first character that does not fit
    while True:
        newline = text.rfind("\n", 0, end)
        if newline < 0:  # the first line alone is too long
            head = ids[:budget]
            return tokenizer.decode(head), head
        kept = text[:newline]
        kept_ids = tokenizer.encode(kept)
        if len(kept_ids) <= budget:
            return kept, kept_ids
        end = newline


def _with_context(
    context: tuple[str, ...], prefix: str, prefix_ids: list[int], tokenizer: Tokenizer,
    budget: int,
) -> tuple[str, list[int], int]:
    """``prefix`` with as many context pieces before it as fit, the first piece nearest it.
    Joined text can tokenize a little differently from its pieces, so the joined prompt is
    counted again and pieces dropped until it fits."""
    spare = budget - len(prefix_ids)
    chosen: list[str] = []
    for piece in context:
        cost = len(tokenizer.encode(piece))
        if cost > spare:
            break
        chosen.append(piece)
        spare -= cost
    while chosen:
        joined = "".join(reversed(chosen)) + prefix
        joined_ids = tokenizer.encode(joined)
        if len(joined_ids) <= budget:
            return joined, joined_ids, len(chosen)
        chosen.pop()
    return prefix, prefix_ids, 0
