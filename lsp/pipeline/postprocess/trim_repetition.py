"""Cut a completion where it starts looping: keep one copy of a run repeated three times.

Small models decoding greedily fall into cycles (``self.tk.call(self.tk.call(self.tk.call(``
or the same import line over and over). Ghost text that loops is worse than a short one, so
the text is cut after the first copy of the first run of at least four characters that
repeats back to back three or more times. Runs with fewer than two letters are left alone:
indentation, ``# -----`` rulers and lists of numbers are legitimate repetition.

Whole lines are judged apart: a line with no letter or digit (a bare ``#``, a lone ``}``)
repeated three times in a row is a loop too. Such lines are too short for the rule above,
but three identical ones back to back never carry meaning: a run of empty comment lines
is the typical way a small model stalls in a comment block.
"""

from __future__ import annotations

import dataclasses

from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext

MIN_UNIT = 4  # shorter cycles ("0, 0, 0") are common in real code
MAX_UNIT = 80  # a repeated line longer than this is rare enough to let through
REPEATS = 3


def first_loop(text: str) -> tuple[int, int] | None:
    """(start, unit length) of the earliest run repeated REPEATS times in a row."""
    for start in range(len(text)):
        longest = min(MAX_UNIT, (len(text) - start) // REPEATS)
        for unit in range(MIN_UNIT, longest + 1):
            piece = text[start:start + unit]
            if text[start:start + unit * REPEATS] == piece * REPEATS and \
                    sum(ch.isalpha() for ch in piece) >= 2:
                return start, unit
    return None


def first_line_loop(text: str, line_prefix: str = "") -> int | None:
    """Where the first copy of a wordless line repeated REPEATS times ends, or None.

    ``line_prefix`` is what the cursor line holds before the completion: the first line of
    the completion is compared as the document would show it, indentation included.
    """
    lines = text.split("\n")
    shown = [line_prefix + lines[0], *lines[1:]]
    end = len(lines[0])  # where line i of ``text`` ends, as an index into it
    for i in range(len(lines) - REPEATS + 1):
        line = shown[i]
        wordless = line.strip() and not any(ch.isalnum() for ch in line)
        if wordless and all(shown[i + k] == line for k in range(1, REPEATS)):
            return end
        end += len(lines[i + 1]) + 1
    return None


def trim_repetition(item: Candidate, context: PostprocessContext) -> Candidate | None:
    cuts = []
    loop = first_loop(item.text)
    if loop is not None:
        cuts.append(loop[0] + loop[1])
    line_loop = first_line_loop(item.text, context.line_prefix)
    if line_loop is not None:
        cuts.append(line_loop)
    if not cuts:
        return item
    return dataclasses.replace(item, text=item.text[: min(cuts)])
