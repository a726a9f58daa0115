"""From pygls' workspace to the pipeline: cursors, edits and snippets of open documents.

Only documents the client opened are completed: a request for any other URI answers empty
(pygls would otherwise read the file from disk behind the editor's back), and so does one
in a document too large to complete, or on a line too long to (``workspace``'s limits).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from codegend.lsp.pipeline.completion_cache import Insertion
from codegend.lsp.pipeline.cursor import CursorContext, client_units_before, locate_cursor
from codegend.lsp.pipeline.prompt import MAX_SNIPPETS, Snippet, snippet_from_lines
from codegend.lsp.positions import PositionEncoding, encoding_named
from codegend.lsp.service import DocumentActivity
from codegend.lsp.workspace import line_too_long, open_document


def cursor_at(
    workspace: Workspace, uri: str, position: types.Position
) -> CursorContext | None:
    """The cursor at ``position`` (client units) in an open document; None when the document
    is not open or the position is not in it."""
    document = open_document(workspace, uri)
    if document is None or line_too_long(workspace, document, position.line):
        return None
    lines = document.lines
    column = locate_cursor(lines, position.line, position.character, _encoding(workspace))
    if column is None:
        return None
    return CursorContext(
        lines, position.line, column, document.language_id or "", uri, document.path
    )


def client_position(workspace: Workspace, cursor: CursorContext) -> types.Position:
    """The cursor as a position in the client's units (the request's, once clamped)."""
    units = client_units_before(cursor.lines, cursor.line, cursor.column, _encoding(workspace))
    return types.Position(line=cursor.line, character=units)


def selected_columns(
    workspace: Workspace, cursor: CursorContext, selected: types.SelectedCompletionInfo
) -> tuple[int, int] | None:
    """The code-point columns of the editor's selected completion item's range, when it is a
    range on the cursor line that ends at the cursor (the only shape that makes sense)."""
    start, end = selected.range.start, selected.range.end
    if start.line != cursor.line or end.line != cursor.line or "\n" in selected.text:
        return None
    encoding = _encoding(workspace)
    start_column = locate_cursor(cursor.lines, start.line, start.character, encoding)
    end_column = locate_cursor(cursor.lines, end.line, end.character, encoding)
    if start_column is None or end_column is None or not start_column <= end_column:
        return None
    return (start_column, end_column) if end_column == cursor.column else None


def insertion_of(
    workspace: Workspace, uri: str, changes: Sequence[types.TextDocumentContentChangeEvent]
) -> tuple[Insertion | None, int]:
    """What one didChange did, for the completion cache: a pure insertion at a point (the
    only edit that can extend a shown suggestion), else None; and the line it touched."""
    document = open_document(workspace, uri)
    if len(changes) != 1 or document is None:
        return None, 0
    change = changes[0]
    if not isinstance(change, types.TextDocumentContentChangePartial):
        return None, 0  # the whole text replaced
    start, end = change.range.start, change.range.end
    if (start.line, start.character) != (end.line, end.character):
        return None, start.line
    # The text before the insertion point on its line is unchanged by the insertion, so
    # the point converts correctly against the updated document.
    column = locate_cursor(document.lines, start.line, start.character, _encoding(workspace))
    if column is None:
        return None, start.line
    return Insertion(start.line, column, change.text), start.line


def snippets_for(
    workspace: Workspace, cursor: CursorContext, activity: DocumentActivity
) -> list[Snippet]:
    """Short excerpts of other open documents in the cursor's language, most recently
    edited first, each around its last edit."""
    others = [
        uri
        for uri, document in workspace.text_documents.items()
        if uri != cursor.uri and document.language_id == cursor.language
    ]
    snippets = []
    for uri, line in activity.most_recent_first(others)[:MAX_SNIPPETS]:
        document = open_document(workspace, uri)
        if document is None:
            continue
        text = snippet_from_lines(document.lines, line)
        if text.strip() and "\x00" not in text:
            snippets.append(Snippet(_label_path(workspace, document), text))
    return snippets


def _label_path(workspace: Workspace, document: TextDocument) -> str:
    path = document.path or document.uri
    root = workspace.root_path
    if root and os.path.isabs(path) and path.startswith(root.rstrip(os.sep) + os.sep):
        return os.path.relpath(path, root)
    return path


def _encoding(workspace: Workspace) -> PositionEncoding:
    return getattr(workspace.position_codec, "fast", None) or encoding_named(
        workspace.position_encoding)
