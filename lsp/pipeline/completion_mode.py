"""Stage 2: how much to complete, one line or a block.

A single line when the rest of the line holds code or the cursor sits mid-line. Multi-line
(up to the end of the block, by indentation) on an empty line after a block opener or in an
empty body, and right after an opener at the end of its line, where a single line would be
nothing at all. The ``maxCompletion`` setting caps or widens this.
"""

from __future__ import annotations

from codegend.daemon.client_api import CompletionMode
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.indentation import indent_width, is_blank
from codegend.lsp.pipeline.languages import strip_line_comment
from codegend.lsp.settings import MaxCompletion

BLOCK_OPENERS = (":", "{", "(", "[", "=>")


def opens_block(line: str, language: str) -> bool:
    code = strip_line_comment(line, language).rstrip()
    return code.endswith(BLOCK_OPENERS)


def _has_code(line: str, language: str) -> bool:
    return not is_blank(strip_line_comment(line, language))


def after_block_opener(cursor: CursorContext) -> bool:
    """On a blank line whose nearest non-blank line above opens a block."""
    above = next((line for line in cursor.lines_before() if not is_blank(line)), None)
    return above is not None and opens_block(above, cursor.language)


def in_empty_body(cursor: CursorContext) -> bool:
    """On a blank line inside a block that holds only comments so far: the nearest line of
    code above opens the block, and the next line of code below (if any) is no deeper than
    that opener, so it closes the block or belongs to the enclosing one."""
    language = cursor.language
    above = next((line for line in cursor.lines_before() if _has_code(line, language)), None)
    if above is None or not opens_block(above, language):
        return False
    below = next((line for line in cursor.lines_after() if _has_code(line, language)), None)
    return below is None or indent_width(below) <= indent_width(above)


def choose_mode(cursor: CursorContext, max_completion: MaxCompletion) -> CompletionMode:
    rest_is_empty = is_blank(cursor.line_suffix)
    if max_completion == "line" or not rest_is_empty:
        return "line"
    if max_completion == "block":
        return "block"
    if is_blank(cursor.line_prefix):
        return "block" if after_block_opener(cursor) or in_empty_body(cursor) else "line"
    return "block" if opens_block(cursor.line_prefix, cursor.language) else "line"
