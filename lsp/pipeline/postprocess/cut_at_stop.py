"""Cut the completion where its mode's stop rule says it ends.

The stream is cancelled when the rule fires, but the chunk that crossed the line may carry
text beyond it; this cuts that text, and is the only stop rule when a result came whole.
(Stop strings a request carries are the engine's: it never sends text past one.)
"""

from __future__ import annotations

import dataclasses

from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext


def cut_at_stop(item: Candidate, context: PostprocessContext) -> Candidate | None:
    cut = context.stop_rule.cut_index(item.text)
    return item if cut is None else dataclasses.replace(item, text=item.text[:cut])
