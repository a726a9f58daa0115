"""Positions as the client counts them, and lines as LSP splits them, at C speed.

An LSP position is (line, character) where ``character`` counts code units of the encoding
negotiated at ``initialize`` (UTF-16 unless the client offered UTF-8 or UTF-32), and a line
ends at ``\\n``, ``\\r\\n`` or ``\\r`` only. pygls converts positions with a Python loop over
every character of the line (seconds on one 5 MB minified line, on the event loop), and
splits lines with ``str.splitlines``, which also breaks at form feeds, ``\\x1c``-``\\x1e``,
``\\x85`` and ``\\u2028``/``\\u2029`` (so a Python file with a form feed has other line numbers
than the editor's). Here both are done by the codecs and the regex engine: work
proportional to the text up to the position, in C.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

# Characters str.splitlines breaks at that LSP does not; their absence allows the fast path.
_NOT_LSP_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_LSP_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` as LSP counts them, line endings kept."""
    if _NOT_LSP_BREAKS.search(text) is None:
        return text.splitlines(True)
    return _LSP_LINE.findall(text)


def line_ending_length(line: str) -> int:
    if line.endswith("\r\n"):
        return 2
    return 1 if line.endswith(("\n", "\r")) else 0


def replace_lone_surrogates(text: str) -> str:
    """U+FFFD for each lone surrogate (JSON allows them, no encoding does). The replacement
    has the same length in code points, UTF-16 units and UTF-8 bytes (as surrogatepass
    counts them), so positions the client computed stay valid."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


@dataclass(frozen=True)
class PositionEncoding:
    """One of LSP's three position encodings."""

    name: str  # "utf-16", "utf-8" or "utf-32"

    @property
    def _codec(self) -> str:
        return {"utf-16": "utf-16-le", "utf-8": "utf-8"}.get(self.name, "")

    @property
    def _unit_bytes(self) -> int:
        return 2 if self.name == "utf-16" else 1

    def units(self, text: str) -> int:
        """Code units of ``text`` in this encoding (lone surrogates count as one UTF-16 unit
        and three UTF-8 bytes, as the client's JavaScript strings have them)."""
        if not self._codec or text.isascii():  # isascii is O(1) on CPython's str
            return len(text)
        return len(text.encode(self._codec, "surrogatepass")) // self._unit_bytes

    def column(self, text: str, units: int) -> int | None:
        """The code-point column ``units`` code units into ``text`` (one line, without its
        ending): the end of the line beyond it, None when it splits a character."""
        if units < 0:
            return None
        if not self._codec or text.isascii():
            return min(units, len(text))
        # A code point is at least one unit, so the first ``units`` code points cover it.
        data = text[:units].encode(self._codec, "surrogatepass")
        cut = units * self._unit_bytes
        if cut >= len(data):  # the whole line is that short, or all of it is one unit each
            return min(units, len(text))
        if self._splits_character(data, cut):
            return None
        return len(data[:cut].decode(self._codec, "surrogatepass"))

    def _splits_character(self, data: bytes, cut: int) -> bool:
        if self._unit_bytes == 1:
            return data[cut] & 0xC0 == 0x80  # a UTF-8 continuation byte follows the cut
        high = int.from_bytes(data[cut - 2 : cut], "little")
        low = int.from_bytes(data[cut : cut + 2], "little")
        return 0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF


UTF16 = PositionEncoding("utf-16")
UTF8 = PositionEncoding("utf-8")
UTF32 = PositionEncoding("utf-32")


def encoding_named(name: object) -> PositionEncoding:
    """The encoding pygls negotiated (an enum member or its value); UTF-16 by default."""
    value = getattr(name, "value", name)
    return {"utf-8": UTF8, "utf-32": UTF32}.get(str(value), UTF16)


class FastPositionCodec(PositionCodec):
    """pygls' position codec with its per-character loops replaced by :class:`PositionEncoding`
    (what pygls and handlers call through ``workspace.position_codec``)."""

    def __init__(self, encoding: types.PositionEncodingKind | str | None) -> None:
        super().__init__(encoding or types.PositionEncodingKind.Utf16)
        self.fast = encoding_named(self.encoding)

    def client_num_units(self, string: str) -> int:
        return self.fast.units(string)

    def position_from_client_units(
        self, lines: Sequence[str], position: types.Position
    ) -> ServerTextPosition:
        """Clamped, never raising: a line beyond the document is its end, a character
        beyond the line is the line's end, one inside a character is that character."""
        if not lines:
            return ServerTextPosition(0, 0)
        if position.line >= len(lines):
            last = lines[-1]
            return ServerTextPosition(len(lines) - 1, len(last) - line_ending_length(last))
        line = max(0, position.line)
        text = lines[line]
        text = text[: len(text) - line_ending_length(text)]
        character = max(0, position.character)
        column = self.fast.column(text, character)
        while column is None:  # inside a character: the start of that character
            character -= 1
            column = self.fast.column(text, character)
        return ServerTextPosition(line, column)

    def position_to_client_units(
        self, lines: Sequence[str], position: ServerTextPosition | types.Position
    ) -> types.Position:
        if not 0 <= position.line < len(lines):
            return types.Position(line=len(lines), character=0)
        units = self.fast.units(lines[position.line][: position.character])
        return types.Position(line=position.line, character=units)
