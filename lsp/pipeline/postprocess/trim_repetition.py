"""Cut a completion where it starts looping: keep one copy of a run repeated three times.

Small models decoding greedily fall into cycles (``self.tk.call(self.tk.call(self.tk.call(``
or the same import line over and over). Ghost text that loops is worse than a short one, so
the text is cut after the first copy of the first run of at least four characters that
repeats back to back three or more times. Runs with fewer than two letters are left alone:
indentation, ``# -----`` rulers and lists of numbers are legitimate repetition.
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


def trim_repetition(item: Candidate, context: PostprocessContext) -> Candidate | None:
    loop = first_loop(item.text)
    if loop is None:
        return item
    start, unit = loop
    return dataclasses.replace(item, text=item.text[: start + unit])
