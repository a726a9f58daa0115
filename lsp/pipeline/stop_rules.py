"""Where a completion ends, for its mode: the first newline of a single line, or the first
line that dedents below the block it started in (after an open parenthesis, the first line
unless it is empty); and for an explicit request on a blank line, the first line with
content. The one place the language server decides it.

A block's rule runs while tokens stream in, so the generation is cancelled as soon as it
fires instead of running to its token budget; post-processing (``cut_at_stop``) cuts with
the same rule what arrived in the chunk that crossed the line, and cuts a result that came
whole. A line's end needs no watching: the request's mode makes the engine stop there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from codegend.daemon.client_api import CompletionMode
from codegend.lsp.pipeline.indentation import DEFAULT_TAB_SIZE, indent_width, is_blank


class StopRule(Protocol):
    def cut_index(self, text: str) -> int | None:
        """Where ``text`` (the completion so far) must end, or None to keep going."""
        ...


@dataclass(frozen=True)
class LineStop:
    """Single-line mode: nothing past the first newline."""

    def cut_index(self, text: str) -> int | None:
        index = text.find("\n")
        return index if index >= 0 else None


def content_end(text: str) -> int:
    """Where the first line with content ends in ``text`` (blank lines before it included)."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            return len(text)
        if not is_blank(text[start:end]):
            return end
        start = end + 1


@dataclass(frozen=True)
class FirstContentLine:
    """An explicit request on a blank line: one line, the first with content. The model
    often writes more blank lines first (a blank line is a likely next line), where a line's
    newline stop would answer nothing; the user asked for code on this line, so those blank
    lines are skipped (``skip_blank_lines`` drops them) and the line after them is the answer.
    """

    def cut_index(self, text: str) -> int | None:
        end = content_end(text)
        return end if end < len(text) else None


@dataclass(frozen=True)
class BlockStop:
    """Multi-line mode: the block ends at the first line indented less than its first line.

    ``line_prefix`` is the cursor line before the cursor. When it holds code (the cursor
    ends a block opener), the block starts on the next line; otherwise it starts on the
    cursor line itself, whose indentation the prefix already carries. A block that starts at
    column 0 cannot dedent, so it ends at its first blank line instead.
    """

    line_prefix: str
    tab_size: int = DEFAULT_TAB_SIZE

    def cut_index(self, text: str) -> int | None:
        opener_line = not is_blank(self.line_prefix)
        block_indent: int | None = None
        start = -len(self.line_prefix)  # where each line starts, as an index into ``text``
        lines = (self.line_prefix + text).split("\n")
        for number, line in enumerate(lines):
            complete = number < len(lines) - 1  # the last line may still grow
            if number == 0 and opener_line:
                pass
            elif block_indent is None:
                if not is_blank(line):
                    block_indent = indent_width(line, self.tab_size)
            elif is_blank(line):
                if block_indent == 0 and complete:
                    return max(start - 1, 0)
            elif indent_width(line, self.tab_size) < block_indent:
                return max(start - 1, 0)  # cut before the newline that led to this line
            start += len(line) + 1
        return None


@dataclass(frozen=True)
class AfterParenStop:
    """Multi-line mode right after an open parenthesis ending the line: an argument list
    that goes on on the cursor line is one line (whatever the model writes after it is not
    part of the call; there small models invent functions). Only an argument list that
    starts on the next line continues as a block, and is shown only where the model is
    confident in it (``confidence``)."""

    block: BlockStop

    def cut_index(self, text: str) -> int | None:
        newline = text.find("\n")
        if newline < 0:
            return None
        if not is_blank(text[:newline]):
            return newline
        return self.block.cut_index(text)


def ends_with_open_paren(line_prefix: str) -> bool:
    return line_prefix.rstrip().endswith("(")


def explicit_on_blank_line(mode: CompletionMode, line_prefix: str, line_suffix: str,
                           invoked: bool) -> bool:
    """Whether :class:`FirstContentLine` replaces a line's newline stop."""
    return invoked and mode == "line" and is_blank(line_prefix) and is_blank(line_suffix)


def completion_end(mode: CompletionMode, line_prefix: str, line_suffix: str,
                   invoked: bool) -> tuple[CompletionMode, StopRule]:
    """The mode to ask the engine for and the rule that ends the completion. An explicit
    request on a blank line asks for a block (the engine must not end the answer at a blank
    line the model writes first) and keeps its first line with content."""
    if explicit_on_blank_line(mode, line_prefix, line_suffix, invoked):
        return "block", FirstContentLine()
    return mode, stop_rule_for(mode, line_prefix)


def stop_rule_for(mode: CompletionMode, line_prefix: str) -> StopRule:
    if mode == "line":
        return LineStop()
    block = BlockStop(line_prefix)
    return AfterParenStop(block) if ends_with_open_paren(line_prefix) else block


class StreamingStop:
    """Collects streamed chunks and says when the rule fires, to cancel the stream.

    ``watch=False`` only collects: for a rule the engine already applies (a line's newline).
    """

    def __init__(self, rule: StopRule, watch: bool = True) -> None:
        self.rule = rule
        self.watch = watch
        self.text = ""
        self.fired = False

    def feed(self, chunk: str) -> bool:
        """Add a chunk; True once the rule has fired (the caller stops consuming)."""
        self.text += chunk
        if self.watch and not self.fired and self.rule.cut_index(self.text) is not None:
            self.fired = True
        return self.fired
