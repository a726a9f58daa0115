"""Balance brackets and quotes of the completed line against what follows the cursor.

The line as it would read after insertion (prefix + completion + rest of the line) is
scanned for unclosed openers and unmatched closers. If that is worse than the line without
the completion, the smallest fix that makes it no worse is applied: close what the
completion opened (single-line mode only, where the line ends with it), or drop closers at
its end that the rest of the line already provides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from codegend.lsp.pipeline.languages import line_comment
from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext

PAIRS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = frozenset(PAIRS.values())
# Languages where a single quote is not (only) a string delimiter: lifetimes, primes, atoms.
NO_SINGLE_QUOTE_STRINGS = frozenset(
    {"rust", "haskell", "ocaml", "fsharp", "elm", "lisp", "clojure", "scheme", "verilog"}
)


@dataclass(frozen=True)
class Scan:
    stack: tuple[str, ...]  # open brackets and quotes, innermost last
    unmatched: int  # closers with nothing to close
    lowest: int  # the shallowest stack depth reached (what the scanned text closed)

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


def scan(text: str, language: str, stack: tuple[str, ...] = ()) -> Scan:
    quotes = _quotes(language)
    comment = line_comment(language)
    open_items = list(stack)
    unmatched = 0
    lowest = len(open_items)
    i = 0
    while i < len(text):
        top = open_items[-1] if open_items else None
        ch = text[i]
        if top in quotes:
            if ch == "\\":
                i += 2
                continue
            if text.startswith(top, i):
                open_items.pop()
                i += len(top)
            else:
                if ch == "\n" and len(top) == 1 and top != "`":
                    open_items.pop()  # a one-line string cannot continue past its line
                i += 1
            lowest = min(lowest, len(open_items))
            continue
        if comment and text.startswith(comment, i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        quote = next((q for q in quotes if text.startswith(q, i)), None)
        if quote is not None:
            open_items.append(quote)
            i += len(quote)
            continue
        if ch in PAIRS:
            open_items.append(ch)
        elif ch in CLOSERS:
            if open_items and PAIRS.get(open_items[-1]) == ch:
                open_items.pop()
                lowest = min(lowest, len(open_items))
            else:
                unmatched += 1
        i += 1
    return Scan(tuple(open_items), unmatched, lowest)


def _closing(item: str) -> str:
    return PAIRS.get(item, item)


def _candidates(text: str, context: PostprocessContext, language: str) -> list[str]:
    """Fixes to try, smallest first: strip trailing closers, or close what was opened."""
    body = text.rstrip()
    fixes = []
    stripped = body
    while stripped and (stripped[-1] in CLOSERS or stripped[-1] in "\"'`"):
        stripped = stripped[:-1]
        fixes.append(stripped)
    if context.mode == "line":
        before = scan(context.line_prefix, language)
        after = scan(text, language, before.stack)
        opened = after.stack[after.lowest :]
        if opened:
            fixes.insert(0, body + "".join(_closing(item) for item in reversed(opened)))
    return fixes


def balance_brackets(item: Candidate, context: PostprocessContext) -> Candidate | None:
    language = context.cursor.language
    prefix, suffix = context.line_prefix, context.line_suffix

    def imbalance(completion: str) -> int:
        return scan(prefix + completion + suffix, language).imbalance

    baseline = imbalance("")
    current = imbalance(item.text)
    if current <= baseline:
        return item
    best_text, best = item.text, current
    for fix in _candidates(item.text, context, language):
        score = imbalance(fix)
        if score < best:
            best_text, best = fix, score
        if best <= baseline:
            break
    return dataclasses.replace(item, text=best_text)
