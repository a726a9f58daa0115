"""Stage 3: the text a completion request carries, bounded by characters.

The token budget is not cut here: the daemon cuts the prompt to the model's budget with the
model's own tokenizer (whole lines nearest the cursor) and applies its fill-in-the-middle
template, so one request carries everything and the cut is made once. This stage only keeps
the request small: the lines nearest the cursor up to a character window that always holds
more than the budget can (``MAX_CHARS_PER_TOKEN`` characters per budget token), the text
after the cursor (the window for a model that fills in the middle; for the others a short
piece, which only prompt lookup reads: the daemon drafts tokens from it), and, when the
document's whole prefix is sent, short snippets of other open documents of the same
language, each labelled with its path as a comment (the daemon puts them first when room
remains).

Which model answers, and so the window and whether it fills in the middle, comes from
``ModelFacts``: what the daemon said with its previous answers. Before the first answer the
defaults send a generous window and the suffix.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codegend.daemon.client_api import ModelInfo
from codegend.lsp.pipeline.cursor import CursorContext, strip_line_ending
from codegend.lsp.pipeline.indentation import is_blank
from codegend.lsp.pipeline.languages import line_comment

# Generous: byte-level BPE averages 3-4 characters of code per token, long whitespace
# tokens a few more; the daemon drops what exceeds the token budget.
MAX_CHARS_PER_TOKEN = 8
DEFAULT_PROMPT_TOKENS = 2048  # the window before the daemon has said which model answers
DRAFT_SUFFIX_CHARS = 2048  # the suffix a model without FIM gets, for drafting only
SNIPPET_LINES = 20
MAX_SNIPPETS = 3


@dataclass(frozen=True)
class Snippet:
    path: str  # shown in the label, relative to the workspace where possible
    text: str  # a few lines of that document


@dataclass(frozen=True)
class Prompt:
    prefix: str
    suffix: str  # empty unless the model may fill in the middle
    context: tuple[str, ...]  # labelled snippets, most recently edited first
    whole_prefix: bool  # the prefix reaches the start of the document
    snippet_paths: tuple[str, ...] = ()


def window_chars(model: ModelInfo | None) -> int:
    """How many characters of prefix (and of suffix) a request carries."""
    tokens = model.prompt_tokens if model is not None else DEFAULT_PROMPT_TOKENS
    return max(1, tokens) * MAX_CHARS_PER_TOKEN


def take_nearest(pieces: Iterable[str], limit: int) -> tuple[list[str], bool]:
    """Pieces in order (nearest the cursor first) while their characters fit in ``limit``.
    Returns the pieces taken and whether every piece was taken."""
    taken: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > limit:
            return taken, False
        taken.append(piece)
        used += len(piece)
    return taken, True


def snippet_from_lines(lines: Sequence[str], around_line: int) -> str:
    """A few lines of an open document around where it was last edited."""
    start = max(0, min(around_line, len(lines)) - SNIPPET_LINES // 2)
    chosen = [strip_line_ending(line) for line in lines[start : start + SNIPPET_LINES]]
    while chosen and is_blank(chosen[-1]):
        chosen.pop()
    return "\n".join(chosen)


def _labelled(snippet: Snippet, comment: str) -> str:
    return f"{comment} {snippet.path}\n{snippet.text}\n\n"


def build_prompt(
    cursor: CursorContext, model: ModelInfo | None, snippets: Sequence[Snippet] = ()
) -> Prompt:
    """The request's text for ``cursor``; ``model``: the facts of the model expected to
    answer (None: not known yet)."""
    limit = window_chars(model)
    fills_middle = model is None or model.fill_in_the_middle
    # Lazily: only the lines that fit are ever joined, however long the document.
    below = ("\n" + line for line in cursor.lines_after())
    after, _ = take_nearest(itertools.chain([cursor.line_suffix], below),
                            limit if fills_middle else min(limit, DRAFT_SUFFIX_CHARS))
    suffix = "".join(after)

    line_prefix = cursor.line_prefix
    if len(line_prefix) >= limit:  # minified code: the end of the line is all that fits
        return Prompt(line_prefix[-limit:], suffix, (), False)
    above = (line + "\n" for line in cursor.lines_before())
    taken, whole = take_nearest(above, limit - len(line_prefix))
    prefix = "".join(reversed(taken)) + line_prefix

    comment = line_comment(cursor.language)
    if not whole or comment is None or not snippets:
        return Prompt(prefix, suffix, (), whole)
    chosen = snippets[:MAX_SNIPPETS]
    return Prompt(prefix, suffix, tuple(_labelled(s, comment) for s in chosen), whole,
                  tuple(s.path for s in chosen))
