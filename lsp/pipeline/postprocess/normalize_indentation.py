"""Rewrite the completion's indentation into the document's style: tabs or spaces.

A model trained mostly on space-indented code answers with spaces in a tab-indented file
(and the other way round); mixing the two breaks Python and annoys everyone else. Only the
leading whitespace of lines that start at column 0 of the document is touched: the first
line continues the cursor line, so it is left alone unless the cursor line is blank so far.
"""

from __future__ import annotations

import dataclasses
from math import gcd

from codegend.lsp.pipeline.indentation import (
    DEFAULT_TAB_SIZE,
    IndentStyle,
    indent_width,
    is_blank,
    leading_whitespace,
)
from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext


def _space_unit(lines: list[str]) -> int:
    """The completion's own indentation step, if it indents with spaces."""
    step = 0
    for line in lines:
        width = len(leading_whitespace(line).replace("\t", ""))
        step = gcd(step, width)
    return step if step in (2, 3, 4, 8) else DEFAULT_TAB_SIZE


def _reindent(line: str, style: IndentStyle, unit: int) -> str:
    whitespace = leading_whitespace(line)
    if style.use_tabs and " " in whitespace:
        width = indent_width(whitespace, unit)
        whitespace = "\t" * (width // unit) + " " * (width % unit)
    elif not style.use_tabs and "\t" in whitespace:
        whitespace = " " * indent_width(whitespace, style.width)
    return whitespace + line.lstrip(" \t")


def normalize_indentation(item: Candidate, context: PostprocessContext) -> Candidate | None:
    style = context.indent_style
    if style is None:
        return item
    lines = item.text.split("\n")
    first = 0 if is_blank(context.line_prefix) else 1
    touched = [i for i in range(first, len(lines)) if not is_blank(lines[i])]
    unit = _space_unit([lines[i] for i in touched])
    for i in touched:
        lines[i] = _reindent(lines[i], style, unit)
    return dataclasses.replace(item, text="\n".join(lines))
