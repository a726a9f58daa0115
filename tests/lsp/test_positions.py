"""Positions and documents at C speed (lsp/positions.py, lsp/workspace.py), against the
obvious per-character reference, on random text with every kind of character a client sends:
astral characters, lone surrogates, CRLF, bare CR and the separators LSP does not break at."""

from __future__ import annotations

import random
import time

import pytest
from lsprotocol import types

from codegend.lsp.documents import cursor_at
from codegend.lsp.pipeline.cursor import locate_cursor
from codegend.lsp.positions import (
    UTF8,
    UTF16,
    UTF32,
    FastPositionCodec,
    replace_lone_surrogates,
    split_lines,
)
from codegend.lsp.workspace import (
    MAX_DOCUMENT_CHARS,
    MAX_LINE_CHARS,
    CodegendWorkspace,
    EditableDocument,
)

# Lone surrogates as the encoder may see them (documents never keep them: the transport
# replaces them), never a high one before a low one, which would be one character.
CHARS = ["a", " ", "é", "中", "😀", "\ud800", "\udbff", "\t", "\x00"]
BREAKS = ["\n", "\r\n", "\r", "\x0c", "\x0b", "\u2028", "\x85", "\x1c"]


def reference_units(ch: str, encoding: str) -> int:
    if encoding == "utf-16":
        return 2 if ord(ch) > 0xFFFF else 1
    if encoding == "utf-8":
        return len(ch.encode("utf-8", "surrogatepass"))
    return 1


def reference_column(text: str, units: int, encoding: str) -> int | None:
    counted = 0
    for column, ch in enumerate(text):
        if counted == units:
            return column
        counted += reference_units(ch, encoding)
        if counted > units:
            return None
    return len(text)


def reference_lines(text: str) -> list[str]:
    lines, current, index = [], "", 0
    while index < len(text):
        ch = text[index]
        current += ch
        if ch == "\r" and text[index + 1 : index + 2] == "\n":
            current += "\n"
            index += 1
        if ch in "\r\n":
            lines.append(current)
            current = ""
        index += 1
    return lines + ([current] if current else [])


def random_text(rng: random.Random, length: int, breaks: bool = True) -> str:
    pool = CHARS + (BREAKS if breaks else [])
    return "".join(rng.choice(pool) for _ in range(length))


@pytest.mark.parametrize("encoding", [UTF16, UTF8, UTF32], ids=lambda e: e.name)
def test_columns_and_units_match_the_per_character_reference(encoding) -> None:
    rng = random.Random(18)
    for _ in range(300):
        text = random_text(rng, rng.randint(0, 30), breaks=False)
        assert encoding.units(text) == sum(reference_units(c, encoding.name) for c in text)
        for units in range(encoding.units(text) + 3):
            assert encoding.column(text, units) == reference_column(text, units, encoding.name)


def test_lines_split_only_where_lsp_breaks_them() -> None:
    rng = random.Random(7)
    for _ in range(300):
        text = random_text(rng, rng.randint(0, 40))
        assert split_lines(text) == reference_lines(text)
    assert split_lines("a\x0cb\u2028c\nd") == ["a\x0cb\u2028c\n", "d"]  # one line, then "d"


def test_lone_surrogates_become_replacement_characters_of_the_same_length() -> None:
    text = "x = '\ud800😀\udfff'"
    fixed = replace_lone_surrogates(text)
    assert fixed == "x = '\ufffd😀\ufffd'"
    for encoding in (UTF16, UTF8, UTF32):
        assert encoding.units(fixed) == encoding.units(text)
    fixed.encode("utf-8")  # now encodable


def test_locate_cursor_refuses_the_middle_of_a_character() -> None:
    lines = ("s = '😀中x'\n", "tail")
    assert locate_cursor(lines, 0, 6, UTF16) is None  # between the surrogate halves
    assert locate_cursor(lines, 0, 10, UTF8) is None  # inside 中
    assert locate_cursor(lines, 0, 400, UTF16) == 9  # past the end: the end


def document(text: str) -> EditableDocument:
    return EditableDocument("file:///d.py", text, 1, "python", FastPositionCodec("utf-16"))


def reference_edit(text: str, start: tuple[int, int], end: tuple[int, int], new: str) -> str:
    """The edit on the text itself: positions to offsets by the reference conversion."""
    lines = reference_lines(text)

    def offset(point: tuple[int, int]) -> int:
        line, character = point
        if line >= len(lines):
            return len(text)
        content = lines[line].rstrip("\r\n")
        column = reference_column(content, character, "utf-16")
        while column is None:
            character -= 1
            column = reference_column(content, character, "utf-16")
        return sum(len(x) for x in lines[:line]) + column

    a, b = sorted((offset(start), offset(end)))
    return text[:a] + new + text[b:]


def test_incremental_edits_match_editing_the_whole_text() -> None:
    rng = random.Random(12)
    for _ in range(60):
        text = random_text(rng, rng.randint(0, 60))
        doc = document(text)
        for _ in range(15):
            start = (rng.randint(0, 6), rng.randint(0, 12))
            end = (rng.randint(0, 6), rng.randint(0, 12))
            new = random_text(rng, rng.randint(0, 6))
            change = types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(*start), end=types.Position(*end)),
                text=new)
            text = reference_edit(text, start, end, new)
            doc.apply_change(change)
            assert doc.source == text
            assert list(doc.lines) == reference_lines(text)
            assert doc.size == len(text)


def test_a_five_megabyte_line_is_handled_at_c_speed() -> None:
    line = "var a=function(b){return b+'😀'};" * (5 * 1024 * 1024 // 34)
    doc = document(line)
    started = time.perf_counter()
    column = locate_cursor(doc.lines, 0, UTF16.units(line), UTF16)
    at = types.Position(line=0, character=UTF16.units(line))
    doc.apply_change(types.TextDocumentContentChangePartial(
        range=types.Range(start=at, end=at), text="x"))
    took = time.perf_counter() - started
    assert column == len(line) and doc.lines[0].endswith("};x")
    # Milliseconds here; the per-character loops took seconds. Generous for shared CI.
    assert took < 2.0


def test_the_workspace_keys_documents_by_the_uri_the_client_sent_and_flags_large_ones() -> None:
    notices: list[str] = []
    workspace = CodegendWorkspace(None, types.TextDocumentSyncKind.Incremental, [], "utf-16",
                                  notice=notices.append)
    uri = "file:///work/my%20project/caf%C3%A9.py"
    workspace.put_text_document(types.TextDocumentItem(uri, "python", 1, "x = 1\n"))
    assert uri in workspace.text_documents
    identifier = types.VersionedTextDocumentIdentifier(uri=uri, version=2)
    for extra in (1, 2):  # still too large the second time: no second notice
        workspace.update_text_document(identifier, types.TextDocumentContentChangeWholeDocument(
            text="y" * (MAX_DOCUMENT_CHARS + extra)))
    assert notices == [f"{uri}: {MAX_DOCUMENT_CHARS + 1:,} characters, more than "
                       f"{MAX_DOCUMENT_CHARS:,}: it is not completed"]
    unknown = types.VersionedTextDocumentIdentifier(uri="file:///never-opened.py", version=1)
    workspace.update_text_document(unknown, types.TextDocumentContentChangeWholeDocument("x"))
    assert "file:///never-opened.py" not in workspace.text_documents


def test_a_line_too_long_is_not_completed_and_said_once() -> None:
    notices: list[str] = []
    workspace = CodegendWorkspace(None, types.TextDocumentSyncKind.Incremental, [], "utf-16",
                                  notice=notices.append)
    uri = "file:///bundle.js"
    workspace.put_text_document(types.TextDocumentItem(
        uri, "javascript", 1, "short\n" + "x" * (MAX_LINE_CHARS + 1)))
    for _ in range(3):
        assert cursor_at(workspace, uri, types.Position(line=1, character=5)) is None
    assert cursor_at(workspace, uri, types.Position(line=0, character=5)) is not None
    assert notices == [f"{uri}: line 2 has {MAX_LINE_CHARS + 1:,} characters, more than "
                       f"{MAX_LINE_CHARS:,}: it is not completed"]
