"""Stage 1: should we complete here at all?

An automatic trigger fires on every keystroke, so most of them must say nothing: not in the
middle of an identifier, and not when code follows the cursor on the same line (only closing
brackets, quotes and punctuation may follow). An explicit (Invoked) trigger always completes.
Binary content is never completed, however it was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegend.lsp.pipeline.cursor import CursorContext

# What may follow the cursor on its line for an automatic completion to still make sense.
CLOSING_PUNCTUATION = frozenset(")]}>\"'`;:,. \t")
BINARY_SCAN_LINES = 100  # lines either side of the cursor checked for NUL bytes


@dataclass(frozen=True)
class TriggerDecision:
    complete: bool
    reason: str  # a short label for logs and statistics


COMPLETE = TriggerDecision(True, "ok")


def is_identifier_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def looks_binary(cursor: CursorContext) -> bool:
    """NUL bytes near the cursor: this is not text a code model should continue."""
    start = max(0, cursor.line - BINARY_SCAN_LINES)
    return any("\x00" in line for line in cursor.lines[start : cursor.line + BINARY_SCAN_LINES])


def should_complete(cursor: CursorContext, invoked: bool) -> TriggerDecision:
    if looks_binary(cursor):
        return TriggerDecision(False, "binary content")
    if invoked:
        return COMPLETE
    before, after = cursor.line_prefix, cursor.line_suffix
    if before and after and is_identifier_char(before[-1]) and is_identifier_char(after[0]):
        return TriggerDecision(False, "inside an identifier")
    if not set(after) <= CLOSING_PUNCTUATION:
        return TriggerDecision(False, "code after the cursor")
    return COMPLETE
