"""The text of ``textDocument/completion`` items: what each kind of client gets inserted."""

from __future__ import annotations

import pytest
from lsprotocol import types

from codegend.lsp.completion_items import (
    InsertionStyle,
    escape_snippet,
    insertion_style,
    item_text,
    kept_lines,
    without_control_characters,
)

PLAIN = InsertionStyle(snippets=False, as_is=False)
SNIPPETS = InsertionStyle(snippets=True, as_is=False)
AS_IS = InsertionStyle(snippets=True, as_is=True)


def unescape(snippet: str) -> str:
    """What a snippet without placeholders expands to (the LSP grammar's escapes)."""
    out, chars = [], iter(snippet)
    for ch in chars:
        out.append(next(chars) if ch == "\\" else ch)
    return "".join(out)


def test_a_client_without_snippets_gets_only_the_first_line():
    text = item_text("re", "turn None\n    pass", PLAIN, "    ")
    assert text is not None
    assert (text.new_text, text.label, text.inserted) == ("return None", "return None",
                                                          "turn None")
    assert not text.snippet


def test_a_suggestion_that_starts_on_the_next_line_is_nothing_to_a_plain_client():
    assert item_text("", "\n    return 1", PLAIN, "") is None


def test_a_snippet_client_gets_the_whole_text_escaped_and_relative_to_the_cursor_line():
    suggestion = 'x = f"${a}"\n    if x:\n        return "\\\\"'
    text = item_text("", suggestion, SNIPPETS, "    ")
    assert text is not None and text.snippet
    assert text.label == 'x = f"${a}"'
    assert unescape(text.new_text) == 'x = f"${a}"\nif x:\n    return "\\\\"'
    assert "\\$" in text.new_text and "\\}" in text.new_text
    assert text.inserted == suggestion  # what ends up in the document, for the statistics


def test_a_block_that_starts_on_the_next_line_has_an_empty_label():
    # Neovim inserts the label before it expands the snippet (and, without
    # vim.lsp.completion.enable, instead of it): an empty label never puts text on the line.
    text = item_text("", "\n    return 1", SNIPPETS, "")
    assert text is not None and (text.label, text.new_text) == ("", "\n    return 1")


def test_single_line_text_is_a_snippet_too_so_neovim_inserts_all_of_it():
    text = item_text("ret", "urn None", SNIPPETS, "    ")
    assert text is not None and text.snippet
    assert (text.new_text, text.label, text.inserted) == ("return None", "return None",
                                                          "urn None")


def test_as_is_clients_get_the_text_unchanged():
    suggestion = "a = 1\n    b = 2\nc = 3"
    text = item_text("", suggestion, AS_IS, "    ")
    assert text is not None and text.as_is
    assert unescape(text.new_text) == suggestion


@pytest.mark.parametrize(("text", "kept"), [
    ("a\n    b\n    c", 3),
    ("a\n    b\nc", 2),  # the block ended: a shallower line is not offered
    ("a\n    b\n\n    c", 4),
    ("a\n    b\n\n", 2),  # trailing blank lines dropped
    ("a", 1),
])
def test_lines_a_reindenting_client_can_take(text, kept):
    assert kept_lines("    ", text) == kept


@pytest.mark.parametrize(("raw", "clean"), [
    ("a\x00b", "a"),
    ("a\x1b[31mb", "a"),
    ("tab\tand\nnewline", "tab\tand\nnewline"),
    ("crlf\r\nline", "crlf\nline"),
    ("lone\rcarriage", "lone"),
    ("c1\x85x", "c1"),
    ("delete\x7f", "delete"),
    ("ünïcödé → ok", "ünïcödé → ok"),
])
def test_control_characters_never_reach_the_client(raw, clean):
    assert without_control_characters(raw) == clean
    item = item_text("", raw, SNIPPETS, "")
    assert item is not None and unescape(item.new_text) == clean


def test_escape_snippet_round_trips():
    text = "a $1 ${2:x} } \\ $"
    assert unescape(escape_snippet(text)) == text


def test_insertion_style_from_client_capabilities():
    def caps(item: types.ClientCompletionItemOptions | None) -> types.ClientCapabilities:
        return types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
            completion=types.CompletionClientCapabilities(completion_item=item)))

    assert insertion_style(None) == PLAIN
    assert insertion_style(types.ClientCapabilities()) == PLAIN
    assert insertion_style(caps(None)) == PLAIN
    snippets = types.ClientCompletionItemOptions(snippet_support=True)
    assert insertion_style(caps(snippets)) == SNIPPETS
    modes = [types.InsertTextMode.AsIs, types.InsertTextMode.AdjustIndentation]
    as_is = types.ClientCompletionItemOptions(
        snippet_support=True,
        insert_text_mode_support=types.ClientCompletionItemInsertTextModeOptions(value_set=modes))
    assert insertion_style(caps(as_is)) == AS_IS
