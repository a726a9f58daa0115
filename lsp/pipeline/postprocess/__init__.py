"""Stage 5: post-processing, small pure functions applied in a fixed order.

Each takes the candidate and its context and returns the candidate (perhaps changed) or
None to drop it. The order matters: cut first (at the stop, then where the text starts to
loop) so that later rules see only what would be shown; compare with the suffix before
balancing; drop empty results after every rule that can shorten the text; and judge last,
on exactly the text that would be shown, whether accepting it would break code that parses.
"""

from __future__ import annotations

from collections.abc import Collection

from codegend.lsp.pipeline.postprocess.balance_brackets import balance_brackets
from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext, Postprocessor
from codegend.lsp.pipeline.postprocess.cut_at_stop import cut_at_stop
from codegend.lsp.pipeline.postprocess.drop_empty import drop_empty
from codegend.lsp.pipeline.postprocess.drop_suffix_repeat import drop_suffix_repeat
from codegend.lsp.pipeline.postprocess.drop_syntax_breaking import drop_syntax_breaking
from codegend.lsp.pipeline.postprocess.normalize_indentation import normalize_indentation
from codegend.lsp.pipeline.postprocess.skip_blank_lines import skip_blank_lines
from codegend.lsp.pipeline.postprocess.trim_repetition import trim_repetition
from codegend.lsp.pipeline.postprocess.trim_suffix_overlap import trim_suffix_overlap

POSTPROCESSORS: tuple[tuple[str, Postprocessor], ...] = (
    ("cut_at_stop", cut_at_stop),
    ("skip_blank_lines", skip_blank_lines),
    ("trim_repetition", trim_repetition),
    ("drop_suffix_repeat", drop_suffix_repeat),
    ("trim_suffix_overlap", trim_suffix_overlap),
    ("balance_brackets", balance_brackets),
    ("normalize_indentation", normalize_indentation),
    ("drop_empty", drop_empty),
    ("drop_syntax_breaking", drop_syntax_breaking),
)


def postprocess(
    item: Candidate, context: PostprocessContext, skip: Collection[str] = ()
) -> Candidate | None:
    """Run every post-processor in order (except those named in ``skip``, for tests that
    show what one rule changes); None as soon as one drops the candidate."""
    current: Candidate | None = item
    for name, rule in POSTPROCESSORS:
        if name in skip:
            continue
        current = rule(current, context)
        if current is None:
            return None
    return current


__all__ = ["POSTPROCESSORS", "Candidate", "PostprocessContext", "postprocess"]
