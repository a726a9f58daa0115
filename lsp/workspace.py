"""The open documents: pygls' workspace, with edits applied in proportion to what changed.

pygls' ``TextDocument`` re-splits the whole text on every ``lines`` access and applies an
incremental edit by walking every line in Python, converting its positions with a loop over
every character: a 5 MB one-line file costs seconds per keystroke, on the event loop that
also answers every other document. :class:`EditableDocument` keeps its lines as an immutable
tuple (a completion in flight keeps the lines it started with), replaces only the lines an
edit touches, and converts positions with :mod:`codegend.lsp.positions`.

:class:`CodegendWorkspace` keys documents by the URI exactly as the client sent it (pygls
unquotes it, so a document whose path has a space or a non-ASCII character was never found
again under the URI the client uses), ignores edits of documents it does not have (pygls
raised), and says once per document, quietly (the editor's log, not a pop-up), why it is not
completed: it is too large, or the cursor's line is too long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from codegend.lsp.positions import FastPositionCodec, line_ending_length, split_lines

logger = logging.getLogger(__name__)

# Above this many characters a document is not completed. Hand-written source stays far
# below it; what crosses it is generated or minified (bundles, data, lock files), where a
# suggestion is worthless and every request would move megabytes.
MAX_DOCUMENT_CHARS = 1_000_000
# Nor is a line longer than this (VS Code stops tokenizing lines there too): minified code,
# where the pipeline's per-line work (brackets, indentation) would grow with the line.
MAX_LINE_CHARS = 20_000

Notice = Callable[[str], None]  # a quiet message for the editor's log


class EditableDocument(TextDocument):
    def __init__(self, uri: str, source: str, version: int | None, language_id: str | None,
                 codec: FastPositionCodec) -> None:
        super().__init__(uri, source=source, version=version, language_id=language_id,
                         position_codec=codec)
        self._lines: tuple[str, ...] | None = None
        self.size = len(source)  # characters, kept up to date by every edit

    @property
    def source(self) -> str:
        if self._source is None:
            self._source = "".join(self._lines or ())
        return self._source

    @property
    def lines(self) -> tuple[str, ...]:
        if self._lines is None:
            self._lines = tuple(split_lines(self._source or ""))
        return self._lines

    @property
    def too_large(self) -> bool:
        return self.size > MAX_DOCUMENT_CHARS

    def apply_change(self, change: types.TextDocumentContentChangeEvent) -> None:
        if not isinstance(change, types.TextDocumentContentChangePartial):
            self._source, self._lines, self.size = change.text, None, len(change.text)
            return
        lines = self.lines
        start = self._point(lines, change.range.start)
        end = self._point(lines, change.range.end)
        start, end = min(start, end), max(start, end)
        first, last = start[0], end[0]
        head = lines[first][: start[1]] if first < len(lines) else ""
        tail = lines[last][end[1] :] if last < len(lines) else ""
        piece = head + change.text + tail
        # A bare "\r" and a "\n" that meet across the edit become one line ending.
        if first > 0 and piece.startswith("\n") and lines[first - 1].endswith("\r"):
            first -= 1
            piece = lines[first] + piece
        if last + 1 < len(lines) and piece.endswith("\r") and lines[last + 1].startswith("\n"):
            last += 1
            piece += lines[last]
        removed = sum(len(line) for line in lines[first : last + 1])
        self._lines = lines[:first] + tuple(split_lines(piece)) + lines[last + 1 :]
        self._source = None
        self.size += len(piece) - removed

    def _point(self, lines: Sequence[str], position: types.Position) -> tuple[int, int]:
        """(line, code-point column), clamped into the document; (len(lines), 0) is the end
        of a document whose last line ends with a line break (or of an empty one)."""
        if not lines or position.line >= len(lines):
            if not lines or line_ending_length(lines[-1]):
                return len(lines), 0
            return len(lines) - 1, len(lines[-1])
        point = self.position_codec.position_from_client_units(lines, position)
        return point.line, point.character


class CodegendWorkspace(Workspace):
    def __init__(self, root_uri: str | None, sync_kind: types.TextDocumentSyncKind,
                 folders: Sequence[types.WorkspaceFolder],
                 encoding: types.PositionEncodingKind | str | None,
                 notice: Notice = lambda message: None) -> None:
        super().__init__(root_uri, sync_kind, list(folders), encoding)
        self._position_codec = FastPositionCodec(encoding)
        self.notice = notice
        self._declined: set[tuple[str, str]] = set()  # (uri, why) already said

    def decline(self, uri: str, why: str, detail: str) -> None:
        """Say (once per document and reason, until it is closed) why it is not completed."""
        if (uri, why) not in self._declined:
            self._declined.add((uri, why))
            self.notice(f"{uri}: {detail}: it is not completed")

    def _check_size(self, document: EditableDocument) -> None:
        if document.too_large:
            self.decline(document.uri, "size", f"{document.size:,} characters, more than "
                                               f"{MAX_DOCUMENT_CHARS:,}")
        else:
            self._declined.discard((document.uri, "size"))  # say it again if it grows back

    def _create_text_document(self, doc_uri: str, source: str | None = None,
                              version: int | None = None,
                              language_id: str | None = None) -> EditableDocument:
        return EditableDocument(doc_uri, source or "", version, language_id,
                                self._position_codec)

    def get_text_document(self, doc_uri: str) -> TextDocument:
        # Never read a document from disk behind the editor's back: unknown is empty.
        return self._text_documents.get(doc_uri) or self._create_text_document(doc_uri)

    def put_text_document(self, text_document: types.TextDocumentItem,
                          notebook_uri: str | None = None) -> None:
        document = self._create_text_document(
            text_document.uri, text_document.text, text_document.version,
            text_document.language_id)
        self._text_documents[text_document.uri] = document
        if notebook_uri:
            self._cell_in_notebook[text_document.uri] = notebook_uri
        self._declined = {(u, why) for u, why in self._declined if u != text_document.uri}
        self._check_size(document)

    def remove_text_document(self, doc_uri: str) -> None:
        self._text_documents.pop(doc_uri, None)
        self._cell_in_notebook.pop(doc_uri, None)
        self._declined = {(u, why) for u, why in self._declined if u != doc_uri}

    def update_text_document(self, text_doc: types.VersionedTextDocumentIdentifier,
                             change: types.TextDocumentContentChangeEvent) -> None:
        document = self._text_documents.get(text_doc.uri)
        if not isinstance(document, EditableDocument):
            logger.debug("ignoring a change of %s, which is not open", text_doc.uri)
            return
        document.apply_change(change)
        document.version = text_doc.version
        self._check_size(document)


def open_document(workspace: Workspace, uri: str) -> EditableDocument | None:
    """The open document at ``uri`` if it may be completed (open, and not too large)."""
    document = workspace.text_documents.get(uri)
    if not isinstance(document, EditableDocument) or document.too_large:
        return None
    return document


def line_too_long(workspace: Workspace, document: EditableDocument, line: int) -> bool:
    """Whether ``line`` is too long to complete in (said once per document if so)."""
    lines = document.lines
    length = len(lines[line]) if 0 <= line < len(lines) else 0
    if length <= MAX_LINE_CHARS:
        return False
    if isinstance(workspace, CodegendWorkspace):
        workspace.decline(document.uri, "line", f"line {line + 1} has {length:,} characters, "
                                                f"more than {MAX_LINE_CHARS:,}")
    return True
