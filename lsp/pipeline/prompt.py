"""Stage 3: the prompt, within the model's token budget.

The budget is the daemon's (``ModelInfo.prompt_tokens``: the model's context minus the
tokens it may generate, what the engine would keep), less a small margin. The prefix is cut at
line boundaries keeping the lines nearest the cursor; a model with a fill-in-the-middle
template also gets the nearest lines after the cursor (the daemon applies the template).
When the whole prefix fits and budget remains, short snippets of other open documents of the
same language go first, most recently edited nearest the document, each labelled with its
path as a comment.

Token counts come from the model's own tokenizer through the daemon client, one call per
prompt for the lines not counted before: typing changes one line at a time.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from codegend.daemon.client_api import CompletionClient, ModelInfo
from codegend.lsp.pipeline.cursor import CursorContext, strip_line_ending
from codegend.lsp.pipeline.indentation import is_blank
from codegend.lsp.pipeline.languages import line_comment

CountTokens = Callable[[list[str]], Awaitable[list[int]]]

MAX_BYTES_PER_TOKEN = 8  # generous: lines are gathered in batches up to budget * this
SUFFIX_SHARE = 0.25  # of the budget, for the text after the cursor (fill-in-the-middle)
MIN_SNIPPET_TOKENS = 24  # below this much spare budget, snippets are not worth a label
SNIPPET_LINES = 20
MAX_SNIPPETS = 3


@dataclass(frozen=True)
class Snippet:
    path: str  # shown in the label, relative to the workspace where possible
    text: str  # a few lines of that document


@dataclass(frozen=True)
class Prompt:
    prefix: str
    suffix: str  # empty unless the model fills in the middle
    tokens: int  # the prompt's size by the per-line counts (an upper bound, in practice)
    whole_prefix: bool  # the prefix reaches the start of the document
    snippet_paths: tuple[str, ...] = ()


class TokenCountCache:
    """Token counts by (model, text), least recently used dropped first."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._counts: OrderedDict[tuple[str, str], int] = OrderedDict()

    def counter(self, client: CompletionClient, model: str) -> CountTokens:
        async def count(texts: list[str]) -> list[int]:
            missing = list(dict.fromkeys(t for t in texts if (model, t) not in self._counts))
            if missing:
                counted = await client.count_tokens(model, missing)
                assert len(counted) == len(missing), "count_tokens must answer each text"
                for text, tokens in zip(missing, counted, strict=True):
                    self._counts[(model, text)] = tokens
            result = []
            for text in texts:
                self._counts.move_to_end((model, text))
                result.append(self._counts[(model, text)])
            while len(self._counts) > self.capacity:
                self._counts.popitem(last=False)
            return result

        return count


async def _fit_tail(text: str, budget: int, count: CountTokens) -> tuple[str, int]:
    """The longest end of ``text`` (one long line) within ``budget`` tokens."""
    keep = min(len(text), budget * MAX_BYTES_PER_TOKEN)
    while keep > 0:
        tail = text[-keep:]
        (tokens,) = await count([tail])
        if tokens <= budget:
            return tail, tokens
        keep = keep * budget // (tokens + 1)
    return "", 0


async def take_nearest(
    pieces: Iterable[str], budget: int, count: CountTokens
) -> tuple[list[str], int, bool]:
    """Pieces in order (nearest the cursor first) while they fit in ``budget`` tokens.
    Returns the pieces taken, their tokens, and whether every piece was taken."""
    taken: list[str] = []
    used = 0
    source = iter(pieces)
    pending: str | None = next(source, None)
    while pending is not None:
        batch: list[str] = []
        batch_chars = 0
        room = (budget - used) * MAX_BYTES_PER_TOKEN
        while pending is not None and (not batch or batch_chars + len(pending) <= room):
            if len(pending) > room:
                return taken, used, False  # a line longer than the whole budget can hold
            batch.append(pending)
            batch_chars += len(pending)
            pending = next(source, None)
        for piece, tokens in zip(batch, await count(batch), strict=True):
            if used + tokens > budget:
                return taken, used, False
            taken.append(piece)
            used += tokens
    return taken, used, True


def snippet_from_lines(lines: Sequence[str], around_line: int) -> str:
    """A few lines of an open document around where it was last edited."""
    start = max(0, min(around_line, len(lines)) - SNIPPET_LINES // 2)
    chosen = [strip_line_ending(line) for line in lines[start : start + SNIPPET_LINES]]
    while chosen and is_blank(chosen[-1]):
        chosen.pop()
    return "\n".join(chosen)


def _labelled(snippet: Snippet, comment: str) -> str:
    return f"{comment} {snippet.path}\n{snippet.text}\n\n"


async def build_prompt(
    cursor: CursorContext,
    model: ModelInfo,
    count: CountTokens,
    snippets: Sequence[Snippet] = (),
) -> Prompt:
    # Lines are counted one by one; joined, they can tokenize a little differently.
    margin = max(4, model.context_tokens // 32)
    budget = max(0, model.prompt_tokens - margin)

    suffix, suffix_tokens = "", 0
    if model.fill_in_the_middle and budget > 0:
        # Lazily: only the lines that fit are ever joined, however long the document.
        below = ("\n" + line for line in cursor.lines_after())
        after = itertools.chain([cursor.line_suffix], below)
        taken, suffix_tokens, _ = await take_nearest(after, int(budget * SUFFIX_SHARE), count)
        suffix = "".join(taken)

    prefix_budget = budget - suffix_tokens
    line_prefix = cursor.line_prefix
    # A line longer than any budget (minified code) is cut before it is counted: counting
    # megabytes is slow, and the daemon refuses it.
    too_long = len(line_prefix) > prefix_budget * MAX_BYTES_PER_TOKEN
    (line_tokens,) = await count([line_prefix]) if line_prefix and not too_long else (0,)
    if too_long or line_tokens > prefix_budget:
        line_prefix, line_tokens = await _fit_tail(line_prefix, prefix_budget, count)
        return Prompt(line_prefix, suffix, line_tokens + suffix_tokens, False)
    above = (line + "\n" for line in cursor.lines_before())
    taken, above_tokens, whole = await take_nearest(above, prefix_budget - line_tokens, count)
    prefix = "".join(reversed(taken)) + line_prefix
    used = line_tokens + above_tokens + suffix_tokens

    comment = line_comment(cursor.language)
    spare = budget - used
    if not whole or comment is None or spare < MIN_SNIPPET_TOKENS or not snippets:
        return Prompt(prefix, suffix, used, whole)
    labelled = [_labelled(s, comment) for s in snippets[:MAX_SNIPPETS]]
    chosen, snippet_tokens, _ = await take_nearest(labelled, spare, count)
    # Most recently edited first in priority, but nearest the document in the prompt.
    header = "".join(reversed(chosen))
    paths = tuple(s.path for s in snippets[: len(chosen)])
    return Prompt(header + prefix, suffix, used + snippet_tokens, whole, paths)
