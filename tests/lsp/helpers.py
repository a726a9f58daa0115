"""Driving ``codegend lsp`` from tests through pytest-lsp's real LSP client.

pytest-lsp has no client profile with inline completion, so the capabilities are built here
by hand: inline completion, incremental sync, workspace configuration and the position
encodings the test wants to offer.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import Future
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

STATUS = "codegend/status"


def _encoding(name: str) -> types.PositionEncodingKind | str:
    known = {kind.value: kind for kind in types.PositionEncodingKind}
    return known.get(name, name)  # a client may offer encodings the server does not know


def client_capabilities(
    encodings: tuple[str, ...] = ("utf-16",), configuration: bool = True, snippets: bool = False
) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[_encoding(e) for e in encodings]
        ),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(dynamic_registration=False),
            inline_completion=types.InlineCompletionClientCapabilities(
                dynamic_registration=False
            ),
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(snippet_support=snippets)
            ),
        ),
        workspace=types.WorkspaceClientCapabilities(
            configuration=configuration,
            did_change_configuration=types.DidChangeConfigurationClientCapabilities(
                dynamic_registration=False
            ),
        ),
        window=types.WindowClientCapabilities(
            show_message=types.ShowMessageRequestClientCapabilities()
        ),
    )


async def start_client(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    encodings: tuple[str, ...] = ("utf-16",),
    initialization_options: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    process_id: int | None = None,
    snippets: bool = False,
) -> tuple[LanguageClient, types.InitializeResult, list[dict[str, Any]]]:
    """Start the server, record its codegend/status notifications, and initialize it."""
    config = ClientServerConfig(server_command=command, server_env={**os.environ, **(env or {})})
    client = await config.start()
    assert isinstance(client, LanguageClient)
    statuses: list[dict[str, Any]] = []

    def record_status(params: Any) -> None:
        statuses.append(plain(params))

    client.feature(STATUS)(record_status)
    if configuration is not None:
        client.set_configuration(configuration, section="codegend")
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(encodings, configuration is not None, snippets),
            initialization_options=initialization_options,
            root_uri="file:///work/project",
            process_id=process_id,
        )
    )
    return client, result, statuses


async def stop_client(client: LanguageClient) -> None:
    await asyncio.wait_for(client.shutdown_session(), 30)
    await client.stop()


async def wait_for_status(
    statuses: list[dict[str, Any]], state: str, timeout: float = 60.0, after: int = 0
) -> dict[str, Any]:
    """The first codegend/status in ``state`` among those received after the first ``after``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for status in statuses[after:]:
            if status.get("state") == state:
                return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"no codegend/status {state!r} within {timeout}s: {statuses}")


async def wait_for_message(client: LanguageClient, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in client.messages:
            if needle in message.message:
                return message.message
        await asyncio.sleep(0.05)
    shown = [m.message for m in client.messages]
    raise AssertionError(f"no window/showMessage containing {needle!r}: {shown}")


def open_document(
    client: LanguageClient, uri: str, text: str, language: str = "python", version: int = 1
) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=version, text=text
            )
        )
    )


def insert_text(
    client: LanguageClient, uri: str, version: int, line: int, character: int, text: str
) -> None:
    """One incremental change inserting ``text`` at (line, character), as an editor types."""
    at = types.Position(line=line, character=character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=at, end=at), text=text
                )
            ],
        )
    )


def inline_params(
    uri: str,
    line: int,
    character: int,
    invoked: bool = True,
    selected: types.SelectedCompletionInfo | None = None,
) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else (
        types.InlineCompletionTriggerKind.Automatic
    )
    return types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=kind, selected_completion_info=selected),
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
    )


async def inline_completion(
    client: LanguageClient, uri: str, line: int, character: int, invoked: bool = True
) -> list[types.InlineCompletionItem]:
    result = await asyncio.wait_for(
        client.text_document_inline_completion_async(
            inline_params(uri, line, character, invoked)
        ),
        60,
    )
    if result is None:
        return []
    return list(result.items if isinstance(result, types.InlineCompletionList) else result)


def plain(value: Any) -> Any:
    """JSON the test client received, back from pygls' namedtuples to dicts and lists."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


async def custom_request(client: LanguageClient, method: str, params: Any = None) -> Any:
    answer = client.protocol.send_request_async(method, {} if params is None else params)
    return plain(await asyncio.wait_for(answer, 30))


async def raw_request(client: LanguageClient, request_id: str, method: str, params: Any) -> Any:
    """Send a request exactly as given (malformed params included), bypassing the client's
    types; returns the result or raises the JSON-RPC error the server answered."""
    answer: Future[Any] = Future()
    client.protocol._request_futures[request_id] = answer
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    data = body.encode()
    writer = client.protocol.writer
    assert writer is not None
    writer.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return plain(await asyncio.wait_for(asyncio.wrap_future(answer), 30))


def stats_session(stats: dict[str, Any]) -> dict[str, int]:
    return stats["session"]
