"""Balance brackets and quotes of the completed line against what follows the cursor.

The line as it would read after insertion (prefix + completion + rest of the line) is
scanned for unclosed openers and unmatched closers. If that is worse than the line without
the completion, the smallest fix that makes it no worse is applied: drop closers at its end
that the rest of the line already provides, close what the completion opened (single-line
mode only, where the line ends with it), or cut the completion where it closes a bracket
the rest of the line closes too (``range(`` + ``path):`` before an auto-closed ``)``).

The scan starts with what the lines above left open, so a line inside a docstring or an
argument list that spans lines is judged as such: the triple quote that ends a docstring is a
closer there, not an opener to be closed again.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.indentation import indent_width, is_blank
from codegend.lsp.pipeline.languages import line_comment
from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext

PAIRS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = frozenset(PAIRS.values())
# Languages where a single quote is not (only) a string delimiter: lifetimes, primes, atoms.
NO_SINGLE_QUOTE_STRINGS = frozenset(
    {"rust", "haskell", "ocaml", "fsharp", "elm", "lisp", "clojure", "scheme", "verilog"}
)
# How far up the scan of what is still open may start: far enough for a long docstring or
# call, bounded because it runs on every completion.
CONTEXT_LINES = 300


@dataclass(frozen=True)
class Scan:
    stack: tuple[str, ...]  # open brackets and quotes, innermost last
    unmatched: int  # closers with nothing to close
    lowest: int  # the shallowest stack depth reached (what the scanned text closed)
    first_below: int | None = None  # where the text first closed an item open at its start

    @property
    def imbalance(self) -> int:
        return len(self.stack) + self.unmatched


def _quotes(language: str) -> tuple[str, ...]:
    quotes = ['"', "`"]
    if language not in NO_SINGLE_QUOTE_STRINGS:
        quotes.append("'")
    if language == "python":
        quotes[:0] = ['"""', "'''"]
    return tuple(quotes)


def _token_pattern(comment: str | None, quotes: tuple[str, ...]) -> str:
    """What the scan stops at; everything between is skipped at C speed. The comment marker
    comes first (vim's ``"`` is a comment before it is a quote), triple quotes before single."""
    parts = [r"\\[\s\S]"]
    if comment:
        parts.append(re.escape(comment))
    parts += [re.escape(q) for q in quotes]
    parts += [r"[()\[\]{}]", r"\n"]
    return "|".join(parts)


def scan(text: str, language: str, stack: tuple[str, ...] = ()) -> Scan:
    quotes = _quotes(language)
    comment = line_comment(language)
    open_items = list(stack)
    depth_at_start = len(stack)
    unmatched = 0
    lowest = len(open_items)
    first_below: int | None = None
    in_comment = False
    for match in re.finditer(_token_pattern(comment, quotes), text):
        token = match.group()
        top = open_items[-1] if open_items else None
        if in_comment:
            in_comment = token != "\n"
            continue
        if top in quotes:
            # Inside "..." a triple quote token closes the string and opens and closes "".
            if token == top or (len(top) == 1 and token == top * 3):
                open_items.pop()
            elif token == "\n" and len(top) == 1 and top != "`":
                open_items.pop()  # a one-line string cannot continue past its line
        elif token[0] == "\\" or token == "\n":
            continue  # an escape or line continuation outside a string closes nothing
        elif token == comment:
            in_comment = True
        elif token in quotes:
            open_items.append(token)
        elif token in PAIRS:
            open_items.append(token)
        elif open_items and PAIRS.get(open_items[-1]) == token:
            open_items.pop()
        else:
            unmatched += 1
        if len(open_items) < depth_at_start and first_below is None:
            first_below = match.start()
        lowest = min(lowest, len(open_items))
    return Scan(tuple(open_items), unmatched, lowest, first_below)


def open_before_line(cursor: CursorContext) -> tuple[str, ...]:
    """What the lines above the cursor line leave open (brackets, multi-line strings).

    The scan starts at the nearest line above that begins at column 0 (a top-level statement,
    most likely outside any string), at most CONTEXT_LINES up. Closers that close nothing
    there (the start guessed wrong) are ignored: only what stays open matters.
    """
    above = []
    for line in cursor.lines_before():
        above.append(line)
        if len(above) >= CONTEXT_LINES or (not is_blank(line) and indent_width(line) == 0
                                            and line.lstrip()[0] not in CLOSERS):
            break
    text = "".join(line + "\n" for line in reversed(above))
    return scan(text, cursor.language).stack if text else ()


def _closing(item: str) -> str:
    return PAIRS.get(item, item)


def _candidates(
    text: str, context: PostprocessContext, language: str, inherited: tuple[str, ...]
) -> list[str]:
    """Fixes to try, smallest first: strip trailing closers, close what was opened, or cut
    where the completion closes what was open before it."""
    body = text.rstrip()
    fixes = []
    stripped = body
    while stripped and (stripped[-1] in CLOSERS or stripped[-1] in "\"'`"):
        stripped = stripped[:-1]
        fixes.append(stripped)
    before = scan(context.line_prefix, language, inherited)
    after = scan(text, language, before.stack)
    if context.mode == "line":
        opened = after.stack[after.lowest :]
        if opened:
            fixes.insert(0, body + "".join(_closing(item) for item in reversed(opened)))
    if after.first_below is not None and after.first_below > 0:
        fixes.append(text[: after.first_below].rstrip())
    return fixes


def balance_brackets(item: Candidate, context: PostprocessContext) -> Candidate | None:
    language = context.cursor.language
    prefix, suffix = context.line_prefix, context.line_suffix
    inherited = open_before_line(context.cursor)

    def imbalance(completion: str) -> int:
        return scan(prefix + completion + suffix, language, inherited).imbalance

    baseline = imbalance("")
    current = imbalance(item.text)
    if current <= baseline:
        return item
    best_text, best = item.text, current
    for fix in _candidates(item.text, context, language, inherited):
        score = imbalance(fix)
        if score < best:
            best_text, best = fix, score
        if best <= baseline:
            break
    return dataclasses.replace(item, text=best_text)
