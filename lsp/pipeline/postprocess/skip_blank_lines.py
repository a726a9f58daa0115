"""Drop the blank lines an explicit request on a blank line got before its line of code.

The line is inserted where the user asked, on the cursor's blank line; its indentation is
counted from column 0, so the whitespace already before the cursor is taken off it.
"""

from __future__ import annotations

import dataclasses

from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext
from codegend.lsp.pipeline.stop_rules import FirstContentLine, content_end


def skip_blank_lines(item: Candidate, context: PostprocessContext) -> Candidate | None:
    if not isinstance(context.stop_rule, FirstContentLine):
        return item
    end = content_end(item.text)
    start = item.text.rfind("\n", 0, end) + 1
    if start == 0:  # the answer's first line has content: nothing to skip
        return item
    line, indent = item.text[start:end], context.line_prefix
    line = line[len(indent):] if line.startswith(indent) else line.lstrip()
    return dataclasses.replace(item, text=line + item.text[end:])
