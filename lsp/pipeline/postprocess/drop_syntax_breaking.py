"""Drop a completion that would make code that parses stop parsing.

Python only, with the standard library's parser: the top-level statement around the cursor
(from the nearest line above that starts at column 0 to the next such line below, so a whole
``def`` or ``class`` with its decorators' target and any ``else``/``except`` arms) is parsed
as it is and with the completion inserted. If it parsed before and does not after, the
completion is dropped: accepting it would break the file. When it did not parse before (the
user is mid-statement) nothing is claimed and the completion passes. An explicitly requested
completion that ends by opening a block (``if line:``) is judged with a body under it: the
user asked for a line there and writes the body next, so the header alone is not breakage.

JavaScript and TypeScript are not checked: no well-kept parser is importable here without a
Node.js process per completion, which costs more than the completion itself.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Sequence

from codegend.lsp.pipeline.cursor import CursorContext, strip_line_ending
from codegend.lsp.pipeline.indentation import is_blank
from codegend.lsp.pipeline.languages import strip_line_comment
from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext

# Lines at column 0 that still belong to the statement above them: its other arms, its
# closing brackets, and comments (commented-out code sits at column 0 inside bodies).
CONTINUATION = re.compile(r"(else|elif|except|finally)\b|[)\]}#]")
MAX_BLOCK_LINES = 3000  # a longer top-level statement is not worth parsing per keystroke


def parses(source: str) -> bool:
    """Whether ``source`` is valid Python for this interpreter's parser (syntax only: no
    compile-time checks such as ``return`` outside a function)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes warn; they still parse
            ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _starts_statement(line: str) -> bool:
    """A line at column 0 that begins a top-level statement of its own."""
    return not is_blank(line) and line[0] not in " \t" and not CONTINUATION.match(line)


def statement_span(lines: Sequence[str], line: int) -> tuple[int, int]:
    """[start, end) of the top-level statement holding line number ``line``."""
    start = min(line, len(lines))
    while start > 0 and not _starts_statement(strip_line_ending(lines[start])
                                              if start < len(lines) else ""):
        start -= 1
    end = line + 1
    while end < len(lines) and not _starts_statement(strip_line_ending(lines[end])):
        end += 1
    return start, end


def with_placeholder_body(line: str) -> str:
    """``line`` and, when it opens a block, a ``pass`` one level deeper under it."""
    if not strip_line_comment(line, "python").rstrip().endswith(":"):
        return line
    indent = line[: len(line) - len(line.lstrip())]
    deeper = indent + ("\t" if "\t" in indent else "    ")
    return f"{line}\n{deeper}pass"


def breaks_parsing(cursor: CursorContext, completion: str, *, body_follows: bool = False) -> bool:
    """True when the statement around ``cursor`` parses without ``completion`` and does not
    with it inserted at the cursor (``body_follows``: with a body under a block it opens)."""
    start, end = statement_span(cursor.lines, cursor.line)
    if end - start > MAX_BLOCK_LINES:
        return False
    before = [strip_line_ending(cursor.lines[i]) for i in range(start, min(end, len(cursor.lines)))]
    head = before[: cursor.line - start]
    tail = before[cursor.line - start + 1 :]
    original = "\n".join(head + [cursor.current_line] + tail) + "\n"
    if not parses(original):
        return False
    edited = cursor.line_prefix + completion + cursor.line_suffix
    if body_follows:
        edited = with_placeholder_body(edited)
    return not parses("\n".join(head + [edited] + tail) + "\n")


def drop_syntax_breaking(item: Candidate, context: PostprocessContext) -> Candidate | None:
    if context.cursor.language != "python":
        return item
    breaks = breaks_parsing(context.cursor, item.text, body_follows=context.invoked)
    return None if breaks else item
