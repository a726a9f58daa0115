"""The cursor in a document: the text around it, as every pipeline stage reads it.

Positions come from the client in its negotiated encoding (UTF-16 code units unless it
offered UTF-8 or UTF-32); :func:`locate_cursor` checks them against the line and converts
them to code points, refusing positions that land inside a character (half of a surrogate
pair) or beyond the document instead of guessing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from codegend.lsp.positions import PositionEncoding

CURSOR_MARK = "█"  # marks the cursor in test fixtures and golden files


def strip_line_ending(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


@dataclass(frozen=True)
class CursorContext:
    lines: Sequence[str]  # the document's lines as pygls splits them (endings kept)
    line: int  # zero-based line of the cursor; == len(lines) only on a final empty line
    column: int  # code points into that line
    language: str = ""  # LSP language id
    uri: str = ""
    path: str | None = None

    @classmethod
    def from_marked_text(cls, text: str, language: str = "python", **kwargs) -> CursorContext:
        """A context from text with the cursor marked by ``█`` (tests and golden files)."""
        assert text.count(CURSOR_MARK) == 1, "mark the cursor exactly once"
        before, after = text.split(CURSOR_MARK)
        lines = (before + after).splitlines(True)
        line = before.count("\n")
        column = len(before) - (before.rfind("\n") + 1)
        return cls(tuple(lines), line, column, language, **kwargs)

    def line_text(self, index: int) -> str:
        """Line ``index`` without its line ending; "" past the end."""
        if 0 <= index < len(self.lines):
            return strip_line_ending(self.lines[index])
        return ""

    @property
    def current_line(self) -> str:
        return self.line_text(self.line)

    @property
    def line_prefix(self) -> str:
        return self.current_line[: self.column]

    @property
    def line_suffix(self) -> str:
        return self.current_line[self.column :]

    def lines_before(self) -> Iterator[str]:
        """Whole lines above the cursor line, nearest first, without line endings."""
        for index in range(min(self.line, len(self.lines)) - 1, -1, -1):
            yield strip_line_ending(self.lines[index])

    def lines_after(self) -> Iterator[str]:
        """Whole lines below the cursor line, nearest first, without line endings."""
        for index in range(self.line + 1, len(self.lines)):
            yield strip_line_ending(self.lines[index])

    def prefix(self, max_lines: int | None = None) -> str:
        """Text before the cursor (line endings as "\\n"), at most ``max_lines`` whole lines
        above the cursor line."""
        above = list(itertools.islice(self.lines_before(), max_lines))
        return "".join(t + "\n" for t in reversed(above)) + self.line_prefix

    def suffix(self, max_lines: int | None = None) -> str:
        """Text after the cursor (line endings as "\\n"), at most ``max_lines`` whole lines
        below the cursor line."""
        below = list(itertools.islice(self.lines_after(), max_lines))
        return self.line_suffix + "".join("\n" + t for t in below)

    def with_line_replaced(self, start_column: int, end_column: int, text: str) -> CursorContext:
        """The context as if ``text`` replaced the cursor line's columns [start, end) and the
        cursor stood right after it (used for the editor's selected completion item)."""
        assert "\n" not in text
        current = self.current_line
        ending = self.lines[self.line][len(current) :] if self.line < len(self.lines) else ""
        new_line = current[:start_column] + text + current[end_column:] + ending
        lines = list(self.lines)
        if self.line < len(lines):
            lines[self.line] = new_line
        else:
            lines.append(new_line)
        return CursorContext(
            tuple(lines), self.line, start_column + len(text), self.language, self.uri, self.path
        )


def locate_cursor(
    lines: Sequence[str], line: int, character: int, encoding: PositionEncoding
) -> int | None:
    """The code-point column of (``line``, ``character``), where ``character`` counts the
    client's code units. None when the position is beyond the document or inside one
    character. A character beyond the end of the line means the end of the line, as the LSP
    specification says. Converted by the codecs in C (:mod:`codegend.lsp.positions`): a
    5 MB line costs milliseconds, not the seconds of a loop over its characters."""
    if line < 0 or character < 0:
        return None
    if line >= len(lines):
        # Only the empty line after a final line ending (or of an empty document) exists.
        ends_open = not lines or lines[-1] != strip_line_ending(lines[-1])
        return 0 if line == len(lines) and ends_open and character == 0 else None
    return encoding.column(strip_line_ending(lines[line]), character)


def client_units_before(
    lines: Sequence[str], line: int, column: int, encoding: PositionEncoding
) -> int:
    """The client's code-unit offset of code-point ``column`` on ``line``."""
    if line >= len(lines):
        return 0
    return encoding.units(strip_line_ending(lines[line])[:column])
