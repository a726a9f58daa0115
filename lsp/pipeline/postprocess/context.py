"""What every post-processor receives: the candidate text and the context it will land in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from codegend.daemon.client_api import CompletionMode
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.indentation import IndentStyle
from codegend.lsp.pipeline.stop_rules import StopRule, completion_end

SUFFIX_LINES = 20  # lines after the cursor the rules compare against


@dataclass(frozen=True)
class Candidate:
    text: str  # what would be inserted at the cursor


@dataclass(frozen=True)
class PostprocessContext:
    cursor: CursorContext
    mode: CompletionMode
    stop_rule: StopRule  # where the completion ends (the pipeline's one choice for the mode)
    indent_style: IndentStyle | None = None  # the document's; None: not known yet
    invoked: bool = False  # the user asked explicitly (an automatic suggestion otherwise)

    @classmethod
    def for_cursor(
        cls,
        cursor: CursorContext,
        mode: CompletionMode,
        indent_style: IndentStyle | None = None,
        invoked: bool = False,
    ) -> PostprocessContext:
        """The context of a completion at ``cursor``, its stop rule chosen for ``mode``."""
        mode, rule = completion_end(mode, cursor.line_prefix, cursor.line_suffix, invoked)
        return cls(cursor, mode, rule, indent_style, invoked)

    @property
    def line_prefix(self) -> str:
        return self.cursor.line_prefix

    @property
    def line_suffix(self) -> str:
        return self.cursor.line_suffix

    def suffix(self) -> str:
        """The text after the cursor, a few lines deep."""
        return self.cursor.suffix(SUFFIX_LINES)


class Postprocessor(Protocol):
    def __call__(self, item: Candidate, context: PostprocessContext) -> Candidate | None: ...
