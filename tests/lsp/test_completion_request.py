"""``textDocument/completion`` through a real LSP client, on the scripted engine: the items
a client with snippets and one without get, the trigger kinds, and the accept command's
count. The same server driven by real Neovim binaries is in test_neovim.py."""

from __future__ import annotations

import json
import sys

import pytest
import pytest_asyncio
from lsprotocol import types

from tests.lsp.helpers import open_document, start_client, stop_client, wait_for_status

pytestmark = pytest.mark.asyncio(loop_scope="module")

BLOCK = "result = 0\n    for item in items:\n        result += item\n    return result"
SCRIPT = {
    "answers": {
        "def total(items):": BLOCK + "\n\nprint(total([]))",
        "value =": 'f"${name}" + "\\\\"',
        "value = compu": "ted_total",
        "noise =": "clean\x00\x00dirty",
    },
}


async def _session(tmp_path_factory, snippets: bool):
    directory = tmp_path_factory.mktemp("completion-request")
    script = directory / "script.json"
    script.write_text(json.dumps(SCRIPT))
    command = [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script)]
    client, result, statuses = await start_client(
        command, initialization_options={"debounceMs": 0}, snippets=snippets)
    await wait_for_status(statuses, "ready")
    return client, result


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def snippet_client(tmp_path_factory):
    client, result = await _session(tmp_path_factory, snippets=True)
    yield client, result
    await stop_client(client)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def plain_client(tmp_path_factory):
    client, result = await _session(tmp_path_factory, snippets=False)
    yield client, result
    await stop_client(client)


async def complete(client, uri: str, line: int, character: int,
                   kind: types.CompletionTriggerKind | None = types.CompletionTriggerKind.Invoked,
                   ) -> list[types.CompletionItem]:
    context = None if kind is None else types.CompletionContext(
        trigger_kind=kind,
        trigger_character=" " if kind == types.CompletionTriggerKind.TriggerCharacter else None)
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character), context=context))
    return list(result.items)


async def test_trigger_characters_are_declared(snippet_client) -> None:
    _, result = snippet_client
    triggers = result.capabilities.completion_provider.trigger_characters
    assert {".", "(", " "} <= set(triggers)


async def test_a_snippet_client_gets_the_whole_block_relative_to_the_cursor_line(
    snippet_client,
) -> None:
    client, _ = snippet_client
    uri = "file:///work/project/block.py"
    open_document(client, uri, "def total(items):\n    \n")
    (item,) = await complete(client, uri, 1, 4)
    assert item.insert_text_format == types.InsertTextFormat.Snippet
    assert item.text_edit.new_text == (
        "result = 0\nfor item in items:\n    result += item\nreturn result")
    assert item.label == "result = 0"
    assert item.command.arguments[0]["length"] == len(BLOCK)


async def test_snippet_specials_are_escaped(snippet_client) -> None:
    client, _ = snippet_client
    uri = "file:///work/project/escape.py"
    open_document(client, uri, "value = \n")
    (item,) = await complete(client, uri, 0, 8)
    assert item.text_edit.new_text == 'f"\\${name\\}" + "\\\\\\\\"'


async def test_a_plain_client_gets_only_the_first_line(plain_client) -> None:
    client, _ = plain_client
    uri = "file:///work/project/plain.py"
    open_document(client, uri, "def total(items):\n    \n")
    (item,) = await complete(client, uri, 1, 4)
    assert item.insert_text_format == types.InsertTextFormat.PlainText
    assert item.text_edit.new_text == "result = 0"
    assert item.command.arguments[0]["length"] == len("result = 0")


async def test_no_control_character_reaches_the_client(plain_client) -> None:
    client, _ = plain_client
    uri = "file:///work/project/noise.py"
    open_document(client, uri, "noise = \n")
    (item,) = await complete(client, uri, 0, 8)
    assert item.text_edit.new_text == "clean"


async def test_inside_a_word_only_an_explicit_request_answers(plain_client) -> None:
    client, _ = plain_client
    uri = "file:///work/project/word.py"
    open_document(client, uri, "value = compute\n")
    automatic = types.CompletionTriggerKind.TriggerForIncompleteCompletions
    assert await complete(client, uri, 0, 13, kind=automatic) == []
    for explicit in (types.CompletionTriggerKind.Invoked, None):  # None: Neovim 0.7's omnifunc
        (item,) = await complete(client, uri, 0, 13, kind=explicit)
        assert item.text_edit.new_text == "computed_total"
        assert item.text_edit.range == types.Range(
            start=types.Position(line=0, character=8), end=types.Position(line=0, character=13))
