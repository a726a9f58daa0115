"""Cut the completion where its mode's stop rule or a stop string says it ends.

The stream is cancelled when the rule fires, but the chunk that crossed the line may carry
text beyond it; this cuts that text, and is the only stop rule when a result came whole.
"""

from __future__ import annotations

import dataclasses

from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext


def cut_at_stop(item: Candidate, context: PostprocessContext) -> Candidate | None:
    text = item.text
    cut = context.stop_rule.cut_index(text)
    if cut is not None:
        text = text[:cut]
    for stop in context.stop:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return dataclasses.replace(item, text=text)
