"""Drop a completion that only repeats what already follows the cursor.

Models love to re-type the closing bracket or the next line they can see; showing that as a
suggestion would only duplicate code. Whitespace is ignored in the comparison, but a match
that ends inside a word (``foo`` before ``foobar``) is not a repeat.
"""

from __future__ import annotations

from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext
from codegend.lsp.pipeline.trigger import is_identifier_char


def _squash(text: str) -> str:
    return " ".join(text.split())


def drop_suffix_repeat(item: Candidate, context: PostprocessContext) -> Candidate | None:
    completion = _squash(item.text)
    if not completion:
        return item
    following = _squash(context.suffix())
    if not following.startswith(completion):
        return item
    rest = following[len(completion) :]
    if rest and is_identifier_char(rest[0]) and is_identifier_char(completion[-1]):
        return item
    return None
