"""Drop a completion with nothing left to show, and trailing whitespace from the rest."""

from __future__ import annotations

import dataclasses

from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext


def drop_empty(item: Candidate, context: PostprocessContext) -> Candidate | None:
    text = item.text.rstrip()
    if not text.strip():
        return None
    return dataclasses.replace(item, text=text)
