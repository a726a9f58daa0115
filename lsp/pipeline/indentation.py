"""Indentation: how deep a line is, and whether a document indents with tabs or spaces.

Block completions end where the code dedents, and post-processing rewrites the model's
indentation into the document's own style; both measure indentation the same way here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_TAB_SIZE = 4


@dataclass(frozen=True)
class IndentStyle:
    use_tabs: bool = False
    width: int = DEFAULT_TAB_SIZE  # spaces per level (and per tab when measuring)


def leading_whitespace(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_width(line: str, tab_size: int = DEFAULT_TAB_SIZE) -> int:
    """Columns of leading whitespace, a tab advancing to the next tab stop."""
    width = 0
    for ch in leading_whitespace(line):
        width = (width // tab_size + 1) * tab_size if ch == "\t" else width + 1
    return width


def is_blank(line: str) -> bool:
    return not line.strip()


def detect_indent_style(lines: Iterable[str], sample: int = 400) -> IndentStyle | None:
    """The document's indentation from up to ``sample`` indented lines; None when nothing
    is indented yet (then the completion's own style is kept)."""
    tabbed = spaced = 0
    steps: Counter[int] = Counter()
    previous = 0
    for line in lines:
        if is_blank(line):
            continue
        if line.startswith("\t"):
            tabbed += 1
        elif line.startswith(" "):
            spaced += 1
        if not line.startswith("\t"):
            width = len(leading_whitespace(line))
            if width > previous:
                steps[width - previous] += 1
            previous = width
        if tabbed + spaced >= sample:
            break
    if tabbed == spaced == 0:
        return None
    if tabbed > spaced:
        return IndentStyle(use_tabs=True)
    width = next((step for step, _ in steps.most_common() if step in (2, 3, 4, 8)), 4)
    return IndentStyle(use_tabs=False, width=width)
