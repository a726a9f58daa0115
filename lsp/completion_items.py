"""What a ``textDocument/completion`` item carries, so that every client inserts it whole.

Clients differ in how they insert an item, and several get multi-line text wrong:

- Vim's ``complete()`` (Neovim 0.7's omnifunc) inserts a completion *word*: a newline in it
  becomes a NUL byte in the buffer, which ``:w`` writes to the file. A client without snippet
  support therefore gets only the first line.
- Neovim 0.11's built-in completion inserts a plain-text ``textEdit`` only up to its first
  whitespace (``return None`` -> ``return``), but a snippet's label first and then the whole
  snippet when the item is accepted. A client with snippet support therefore always gets a
  snippet (``$``, ``}`` and ``\\`` escaped), one line or many, labelled with its first line.
- A snippet's later lines are re-indented by the client to the cursor line's indentation
  (LSP's ``adjustIndentation``, the default of Neovim, Emacs and Helix), so they are sent
  relative to it, unless the client can be told to insert them as they are (``asIs``).

Whatever the client, no control character other than tab and newline ever reaches it: the
text is cut at the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

# Control characters a code suggestion may contain; any other C0/C1 character (NUL, escape,
# form feed, a lone carriage return) is something no client should write into a file.
ALLOWED_CONTROL = frozenset("\t\n")
# Characters that make as-you-type completion worth asking for in code: member access,
# calls and literals opening, separators, assignments and the space after a keyword.
TRIGGER_CHARACTERS = (".", "(", "[", "{", ",", ":", "=", " ")
SNIPPET_SPECIALS = str.maketrans({"\\": "\\\\", "$": "\\$", "}": "\\}"})


@dataclass(frozen=True)
class InsertionStyle:
    """How the client inserts completion items, from its capabilities."""

    snippets: bool  # it expands snippets (multi-line text arrives whole)
    as_is: bool  # it honours insertTextMode asIs (no re-indentation of later lines)


@dataclass(frozen=True)
class ItemText:
    new_text: str  # the textEdit's text (escaped when ``snippet``)
    label: str  # the first line as the client shows (and, for some, first inserts) it
    inserted: str  # the part of the suggestion the client inserts, for acceptance counts
    snippet: bool
    as_is: bool


def insertion_style(capabilities: types.ClientCapabilities | None) -> InsertionStyle:
    completion = capabilities and capabilities.text_document and (
        capabilities.text_document.completion)
    item = completion.completion_item if completion else None
    if item is None:
        return InsertionStyle(snippets=False, as_is=False)
    modes = item.insert_text_mode_support.value_set if item.insert_text_mode_support else []
    return InsertionStyle(
        snippets=bool(item.snippet_support), as_is=types.InsertTextMode.AsIs in modes
    )


def without_control_characters(text: str) -> str:
    """``text`` up to its first control character other than tab and newline (``\\r\\n`` and
    a lone ``\\r`` end lines too, so they count as a newline's ``\\n`` here)."""
    text = text.replace("\r\n", "\n")
    for index, ch in enumerate(text):
        if (ch < " " or "\x7f" <= ch < "\xa0") and ch not in ALLOWED_CONTROL:
            return text[:index]
    return text


def escape_snippet(text: str) -> str:
    """Plain text as LSP snippet syntax that expands back to exactly ``text``."""
    return text.translate(SNIPPET_SPECIALS)


def kept_lines(indent: str, text: str) -> int:
    """How many lines of ``text`` a client that re-indents later lines to ``indent`` can take:
    up to (not including) the first non-blank line less indented than ``indent`` (the block
    has ended there, and the client would indent it wrongly), without trailing blank lines."""
    lines = text.split("\n")
    kept = 1
    for line in lines[1:]:
        if line.strip() and not line.startswith(indent):
            break
        kept += 1
    while kept > 1 and not lines[kept - 1].strip():
        kept -= 1
    return kept


def relative_to(indent: str, lines: list[str]) -> str:
    """``lines`` for a client that prefixes every line after the first with ``indent``."""
    later = [line[len(indent):] if line.startswith(indent) else "" for line in lines[1:]]
    return "\n".join([lines[0], *later])


def item_text(
    word: str, suggestion: str, style: InsertionStyle, line_indent: str
) -> ItemText | None:
    """The item for ``suggestion`` at a cursor after ``word`` (the identifier characters the
    item's range replaces), or None when nothing insertable is left."""
    suggestion = without_control_characters(suggestion)
    if not style.snippets:
        inserted = suggestion.split("\n", 1)[0]
        if not inserted.strip():
            return None
        text = word + inserted
        return ItemText(text, text, inserted, snippet=False, as_is=False)
    if style.as_is:
        inserted = sent = suggestion
    else:
        lines = suggestion.split("\n")[: kept_lines(line_indent, suggestion)]
        inserted, sent = "\n".join(lines), relative_to(line_indent, lines)
    if not inserted.strip():
        return None
    text = word + sent
    return ItemText(
        escape_snippet(text), text.split("\n", 1)[0], inserted, snippet=True, as_is=style.as_is
    )
