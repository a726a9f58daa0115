"""The completion cache: typing what was just suggested needs no model.

After a suggestion is shown at a position, each edit that inserts exactly the next
characters of that suggestion at the cursor moves the entry along; a request at the new
position gets the rest from here. Any other edit to the document drops its entry, so an
edit elsewhere can never resurrect a suggestion written for other surroundings.

Edits are followed as the client reports them (didChange), so the check costs nothing per
keystroke however large the document is.

An entry may carry a follow-up (``then``): the suggestion computed in the background for
the position where this one ends (``prefetch``). Accepting the suggestion (Tab inserts all
of it at once) or typing it to the end makes the follow-up the entry, so the next ghost text
comes from here too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedSuggestion:
    line: int  # where the remaining text goes (code points)
    column: int
    remaining: str  # what is still to be typed of the suggestion
    model: str
    shown_id: str  # the suggestion as first shown, for acceptance statistics
    then: CachedSuggestion | None = None  # the suggestion once all of ``remaining`` is in
    prefetched: bool = False  # computed in the background before anyone asked for it


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
        # A suggestion typed or accepted to its end before its follow-up was ready: the
        # follow-up may still take its place, until the document changes again.
        self._finished: dict[str, tuple[str, int, int]] = {}  # uri -> (shown_id, line, col)

    def store(self, uri: str, suggestion: CachedSuggestion) -> None:
        if suggestion.remaining:
            self._entries[uri] = suggestion
        elif suggestion.then is not None:
            self.store(uri, suggestion.then)
        else:
            self._entries.pop(uri, None)

    def attach(self, uri: str, shown_id: str, follow_up: CachedSuggestion) -> bool:
        """Give the suggestion ``shown_id`` (wherever typing has moved it) its follow-up, or
        make the follow-up the entry when the suggestion was accepted since and nothing else
        changed; False when neither holds (the follow-up is stale)."""
        entry = self._entries.get(uri)
        if entry is not None and entry.shown_id == shown_id:
            self._entries[uri] = dataclasses.replace(entry, then=follow_up)
            return True
        if self._finished.get(uri) == (shown_id, follow_up.line, follow_up.column):
            del self._finished[uri]
            self.store(uri, follow_up)
            return True
        return False

    def holds(self, uri: str, shown_id: str) -> bool:
        """Whether the document's entry is still the suggestion ``shown_id``."""
        entry = self._entries.get(uri)
        return entry is not None and entry.shown_id == shown_id

    def lookup(self, uri: str, line: int, column: int) -> CachedSuggestion | None:
        entry = self._entries.get(uri)
        if entry is None or (entry.line, entry.column) != (line, column):
            return None
        return entry

    def document_changed(self, uri: str, insertion: Insertion | None) -> bool:
        """Follow one didChange: ``insertion`` when it was a pure insertion, else None.
        Returns whether the change typed along the document's suggestion."""
        self._finished.pop(uri, None)
        entry = self._entries.get(uri)
        if entry is None:
            return False
        typed_along = (
            insertion is not None
            and (insertion.line, insertion.column) == (entry.line, entry.column)
            and insertion.text
            and entry.remaining.startswith(insertion.text)
        )
        if not typed_along:
            del self._entries[uri]
            return False
        line, column = _advance(entry.line, entry.column, insertion.text)
        remaining = entry.remaining[len(insertion.text) :]
        if not remaining and entry.then is None:
            self._finished[uri] = (entry.shown_id, line, column)
        self.store(uri, dataclasses.replace(entry, line=line, column=column, remaining=remaining))
        return True

    def forget(self, uri: str) -> None:
        self._entries.pop(uri, None)
        self._finished.pop(uri, None)

    def __len__(self) -> int:
        return len(self._entries)
