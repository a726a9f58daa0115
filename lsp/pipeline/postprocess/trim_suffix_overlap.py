"""Trim the end of a completion that overlaps what follows the cursor.

In a single line, ``print("█")`` completed with ``hi")`` must insert ``hi``: the editor
already holds ``")``. In a block, trailing lines equal to the document's next lines go.
"""

from __future__ import annotations

import dataclasses

from codegend.lsp.pipeline.indentation import is_blank
from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext


def _trim_line_overlap(text: str, rest_of_line: str) -> str:
    """Remove the longest start of ``rest_of_line`` that ``text`` ends with."""
    rest = rest_of_line.strip()
    body = text.rstrip()
    for length in range(min(len(rest), len(body)), 0, -1):
        if body.endswith(rest[:length]):
            return body[:-length]
    return text


def _trim_line_overlaps(text: str, following: list[str]) -> str:
    """Remove the completion's last lines that equal the document's next code lines."""
    lines = text.rstrip().split("\n")
    wanted = [line.strip() for line in following if not is_blank(line)]
    for count in range(min(len(lines) - 1, len(wanted)), 0, -1):
        if [line.strip() for line in lines[-count:]] == wanted[:count]:
            return "\n".join(lines[:-count]).rstrip()
    return text


def trim_suffix_overlap(item: Candidate, context: PostprocessContext) -> Candidate | None:
    text = item.text
    if context.mode == "line" or "\n" not in text.rstrip():
        if context.line_suffix.strip():
            text = _trim_line_overlap(text, context.line_suffix)
    else:
        following = context.suffix().split("\n")[1:]  # the lines after the cursor's line
        text = _trim_line_overlaps(text, following)
    return dataclasses.replace(item, text=text)
