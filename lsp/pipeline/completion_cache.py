"""The completion cache: typing what was just suggested needs no model.

After a suggestion is shown at a position, each edit that inserts exactly the next
characters of that suggestion at the cursor moves the entry along; a request at the new
position gets the rest from here. Any other edit to the document drops its entry, so an
edit elsewhere can never resurrect a suggestion written for other surroundings.

Edits are followed as the client reports them (didChange), so the check costs nothing per
keystroke however large the document is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CachedSuggestion:
    line: int  # where the remaining text goes (code points)
    column: int
    remaining: str  # what is still to be typed of the suggestion
    model: str
    shown_id: str  # the suggestion as first shown, for acceptance statistics


@dataclass(frozen=True)
class Insertion:
    """A document change that inserted ``text`` at (line, column) and replaced nothing."""

    line: int
    column: int
    text: str


def _advance(line: int, column: int, text: str) -> tuple[int, int]:
    if "\n" not in text:
        return line, column + len(text)
    return line + text.count("\n"), len(text) - text.rfind("\n") - 1


class CompletionCache:
    def __init__(self) -> None:
        self._entries: dict[str, CachedSuggestion] = {}

    def store(self, uri: str, suggestion: CachedSuggestion) -> None:
        if suggestion.remaining:
            self._entries[uri] = suggestion
        else:
            self._entries.pop(uri, None)

    def lookup(self, uri: str, line: int, column: int) -> CachedSuggestion | None:
        entry = self._entries.get(uri)
        if entry is None or (entry.line, entry.column) != (line, column):
            return None
        return entry

    def document_changed(self, uri: str, insertion: Insertion | None) -> None:
        """Follow one didChange: ``insertion`` when it was a pure insertion, else None."""
        entry = self._entries.get(uri)
        if entry is None:
            return
        typed_along = (
            insertion is not None
            and (insertion.line, insertion.column) == (entry.line, entry.column)
            and insertion.text
            and entry.remaining.startswith(insertion.text)
        )
        if not typed_along:
            del self._entries[uri]
            return
        line, column = _advance(entry.line, entry.column, insertion.text)
        self.store(
            uri,
            CachedSuggestion(
                line, column, entry.remaining[len(insertion.text) :], entry.model, entry.shown_id
            ),
        )

    def forget(self, uri: str) -> None:
        self._entries.pop(uri, None)

    def __len__(self) -> int:
        return len(self._entries)
