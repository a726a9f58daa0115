"""The standard LSP methods codegend answers: LSP 3.18 inline completions over pygls, and
``textDocument/completion`` items for clients without them.

Handlers are flat functions named after their LSP method, taking the server first (``ls``);
they translate between LSP and the completion service and hold no state of their own. All
state lives on the server object (``server``): its settings and the one
:class:`CompletionService`. The codegend-specific requests are in ``codegend_methods``.
"""

from __future__ import annotations

import asyncio
import logging
import os

from lsprotocol import types

from codegend.lsp.completion_items import (
    TRIGGER_CHARACTERS,
    insertion_style,
    item_text,
    without_control_characters,
)
from codegend.lsp.daemon_connection import EngineStatus
from codegend.lsp.documents import (
    client_position,
    cursor_at,
    insertion_of,
    selected_columns,
    snippets_for,
)
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.trigger import is_identifier_char
from codegend.lsp.server import CodegendLanguageServer
from codegend.lsp.service import Suggestion

logger = logging.getLogger(__name__)

SETTINGS_SECTION = "codegend"
ACCEPT_COMMAND = "codegend.accept"
CONFIGURATION_TIMEOUT_S = 5.0  # a client that never answers workspace/configuration


# Lifecycle -------------------------------------------------------------------------------
def initialize(ls: CodegendLanguageServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options, initial=True)
    if params.process_id is not None and params.process_id != os.getpid():
        ls.watch_parent(params.process_id)


async def initialized(ls: CodegendLanguageServer, params: types.InitializedParams) -> None:
    await pull_configuration(ls)
    if not ls.settings.enable:
        ls.publish_status(EngineStatus("disabled"))
    ls.service.connection.start(ls._opener())


async def pull_configuration(ls: CodegendLanguageServer) -> None:
    workspace_caps = ls.client_capabilities.workspace
    if not (workspace_caps and workspace_caps.configuration):
        return
    request = types.ConfigurationParams(items=[types.ConfigurationItem(section=SETTINGS_SECTION)])
    try:
        answer = await asyncio.wait_for(
            ls.workspace_configuration_async(request), CONFIGURATION_TIMEOUT_S
        )
    except Exception as err:  # a client without an answer keeps the settings it gave
        logger.warning("workspace/configuration failed: %s", err)
        return
    if answer:
        ls.apply_settings(answer[0])


async def workspace_did_change_configuration(
    ls: CodegendLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    workspace_caps = ls.client_capabilities.workspace
    if workspace_caps and workspace_caps.configuration:
        await pull_configuration(ls)
    elif isinstance(params.settings, dict) and SETTINGS_SECTION in params.settings:
        ls.apply_settings(params.settings[SETTINGS_SECTION])


async def shutdown(ls: CodegendLanguageServer, params: None) -> None:
    await ls.lifecycle.shutdown()  # answered at once, even while a model loads


# Documents -------------------------------------------------------------------------------
def text_document_did_open(
    ls: CodegendLanguageServer, params: types.DidOpenTextDocumentParams
) -> None:
    ls.service.document_opened(params.text_document.uri)


def text_document_did_change(
    ls: CodegendLanguageServer, params: types.DidChangeTextDocumentParams
) -> None:
    uri = params.text_document.uri
    insertion, line = insertion_of(ls.workspace, uri, params.content_changes)
    ls.service.document_changed(uri, insertion, line)


def text_document_did_close(
    ls: CodegendLanguageServer, params: types.DidCloseTextDocumentParams
) -> None:
    ls.service.document_closed(params.text_document.uri)


# Completion ------------------------------------------------------------------------------
async def _suggest(
    ls: CodegendLanguageServer, cursor: CursorContext, invoked: bool, cacheable: bool
) -> Suggestion | None:
    service = ls.service
    try:
        return await service.complete(
            cursor,
            invoked=invoked,
            settings=ls.settings,
            snippets=lambda: snippets_for(ls.workspace, cursor, service.activity),
            cacheable=cacheable,
        )
    except asyncio.CancelledError:
        if service.inflight.was_superseded():
            return None  # a newer request for this document answers instead
        raise  # $/cancelRequest: pygls answers "request cancelled"


def _accept_command(suggestion: Suggestion, text: str) -> types.Command:
    details = {
        "model": suggestion.model,
        "language": suggestion.language,
        "length": len(text),
        "id": suggestion.shown_id,
        "source": suggestion.source,
    }
    return types.Command(
        title="Accept codegend completion", command=ACCEPT_COMMAND, arguments=[details]
    )


async def text_document_inline_completion(
    ls: CodegendLanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    empty = types.InlineCompletionList(items=[])
    cursor = cursor_at(ls.workspace, params.text_document.uri, params.position)
    if cursor is None:
        return empty
    position = client_position(ls.workspace, cursor)
    start, typed = position, ""
    selected = params.context.selected_completion_info
    if selected is not None and (columns := selected_columns(ls.workspace, cursor, selected)):
        # The suggest widget has an item highlighted: complete as if it were accepted, and
        # start the inline completion with its text over the same range.
        cursor = cursor.with_line_replaced(*columns, selected.text)
        start, typed = selected.range.start, selected.text
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    suggestion = await _suggest(ls, cursor, invoked, cacheable=not typed)
    inserted = without_control_characters(suggestion.text) if suggestion else ""
    if suggestion is None or not inserted:
        return empty
    item = types.InlineCompletionItem(
        insert_text=typed + inserted,
        range=types.Range(start=start, end=position),
        command=_accept_command(suggestion, inserted),
    )
    return types.InlineCompletionList(items=[item])


async def text_document_completion(
    ls: CodegendLanguageServer, params: types.CompletionParams
) -> types.CompletionList:
    """The same completion for clients without inline completion: one item that the client
    inserts whole (see ``completion_items``). An explicit request (Invoked, or a client that
    sends no context, such as Neovim 0.7's omnifunc) skips the automatic-trigger rules and
    the debounce; one asked for while typing follows them."""
    empty = types.CompletionList(is_incomplete=True, items=[])
    cursor = cursor_at(ls.workspace, params.text_document.uri, params.position)
    if cursor is None:
        return empty
    context = params.context
    invoked = context is None or context.trigger_kind == types.CompletionTriggerKind.Invoked
    suggestion = await _suggest(ls, cursor, invoked, cacheable=True)
    if suggestion is None:
        return empty
    word = _word_before(cursor.line_prefix)
    indent = cursor.line_prefix[: len(cursor.line_prefix) - len(cursor.line_prefix.lstrip())]
    text = item_text(word, suggestion.text, insertion_style(ls.client_capabilities), indent)
    if text is None:
        return empty
    end = client_position(ls.workspace, cursor)
    word_units = ls.workspace.position_codec.client_num_units(word)
    word_start = types.Position(line=end.line, character=end.character - word_units)
    item = types.CompletionItem(
        label=text.label,
        kind=types.CompletionItemKind.Snippet,
        detail=f"codegend · {suggestion.model}",
        documentation=word + text.inserted,
        filter_text=text.label,
        sort_text="0",
        insert_text_format=(
            types.InsertTextFormat.Snippet if text.snippet else types.InsertTextFormat.PlainText
        ),
        insert_text_mode=types.InsertTextMode.AsIs if text.as_is else None,
        text_edit=types.TextEdit(
            range=types.Range(start=word_start, end=end), new_text=text.new_text
        ),
        command=_accept_command(suggestion, text.inserted),
    )
    return types.CompletionList(is_incomplete=True, items=[item])


def _word_before(line_prefix: str) -> str:
    start = len(line_prefix)
    while start > 0 and is_identifier_char(line_prefix[start - 1]):
        start -= 1
    return line_prefix[start:]


def register(server: CodegendLanguageServer) -> None:
    """Register every standard LSP method this server answers."""
    features = [
        (types.INITIALIZE, initialize, None),
        (types.INITIALIZED, initialized, None),
        (types.SHUTDOWN, shutdown, None),
        (types.WORKSPACE_DID_CHANGE_CONFIGURATION, workspace_did_change_configuration, None),
        (types.TEXT_DOCUMENT_DID_OPEN, text_document_did_open, None),
        (types.TEXT_DOCUMENT_DID_CHANGE, text_document_did_change, None),
        (types.TEXT_DOCUMENT_DID_CLOSE, text_document_did_close, None),
        (
            types.TEXT_DOCUMENT_INLINE_COMPLETION,
            text_document_inline_completion,
            types.InlineCompletionOptions(),
        ),
        (
            types.TEXT_DOCUMENT_COMPLETION,
            text_document_completion,
            types.CompletionOptions(trigger_characters=list(TRIGGER_CHARACTERS)),
        ),
    ]
    for method, handler, feature_options in features:
        server.feature(method, feature_options)(handler)
