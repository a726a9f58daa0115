"""`codegend lsp --embedded` end to end: a real LSP client, the real engine, a tiny model."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from tests.lsp.conftest import LONG_BUDGET, SHORT_BUDGET
from tests.lsp.helpers import (
    custom_request,
    inline_completion,
    inline_params,
    insert_text,
    open_document,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


# The tiny random model answers gibberish, which in Python code that parses the pipeline
# drops (it would break the file); tests of caching and scheduling use plain text there.
UNPARSED = "plaintext"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def session_counters(client) -> dict[str, int]:
    return (await custom_request(client, "codegend/stats"))["session"]


async def test_capabilities_and_ready_status(lsp) -> None:
    capabilities = lsp.initialize_result.capabilities
    assert capabilities.inline_completion_provider is not None
    assert capabilities.completion_provider is not None
    assert list(capabilities.execute_command_provider.commands) == ["codegend.accept"]
    assert capabilities.position_encoding == types.PositionEncodingKind.Utf16
    ready = [s for s in lsp.statuses if s["state"] == "ready"]
    assert ready and ready[0]["model"] == "tiny"
    models = await custom_request(lsp, "codegend/models")
    assert {m["name"]: m["state"] for m in models["models"]}["tiny"] == "ready"


async def test_inline_completion_at_the_cursor(lsp) -> None:
    uri = "file:///work/project/first.py"
    open_document(lsp, uri, "import os\n\ntotal = \n")
    before = await session_counters(lsp)
    (item,) = await inline_completion(lsp, uri, 2, 8)
    cursor = types.Position(line=2, character=8)
    assert item.range == types.Range(start=cursor, end=cursor)
    assert item.insert_text.strip() and "\n" not in item.insert_text  # one line
    assert item.command.arguments[0]["model"] == "tiny"
    after = await session_counters(lsp)
    assert after["answeredByModel"] == before["answeredByModel"] + 1
    assert 0 < after["generatedTokens"] - before["generatedTokens"] <= SHORT_BUDGET
    # The same engine answers textDocument/completion, with one multi-line-capable item.
    listing = await lsp.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=cursor,
        )
    )
    (completion,) = listing.items
    assert completion.text_edit.range.end == cursor


async def test_typing_the_suggestion_is_answered_from_the_cache(lsp) -> None:
    uri = "file:///work/project/cache.py"
    open_document(lsp, uri, "def area(r):\n    return \n", language=UNPARSED)
    (shown,) = await inline_completion(lsp, uri, 1, 11, invoked=False)
    text = shown.insert_text
    before = await session_counters(lsp)
    insert_text(lsp, uri, 2, 1, 11, text[0])
    (rest,) = await inline_completion(lsp, uri, 1, 11 + utf16_length(text[0]), invoked=False)
    after = await session_counters(lsp)
    assert rest.insert_text == text[1:]
    assert after["answeredFromCache"] == before["answeredFromCache"] + 1
    assert after["generatedTokens"] == before["generatedTokens"]  # the engine did not run
    insert_text(lsp, uri, 3, 0, 0, "import math\n")  # an edit elsewhere
    await inline_completion(lsp, uri, 2, 11 + utf16_length(text[0]), invoked=False)
    final = await session_counters(lsp)
    assert final["answeredFromCache"] == after["answeredFromCache"]
    assert final["answeredByModel"] == after["answeredByModel"] + 1


async def test_utf16_positions_after_emoji_and_cjk(lsp) -> None:
    uri = "file:///work/project/unicode.py"
    line = 'label = "😀 中文 🎉" + '
    open_document(lsp, uri, f"{line}\nnext = 1\n")
    end = utf16_length(line)
    assert end == len(line) + 2  # two astral characters, two code units each
    (item,) = await inline_completion(lsp, uri, 0, end)
    assert item.range.start == types.Position(line=0, character=end)
    # Typing the suggestion's first character at that UTF-16 position is recognised as
    # typing the suggestion: the cursor and the edit were both mapped to the same place.
    first = item.insert_text[0]
    insert_text(lsp, uri, 2, 0, end, first)
    (rest,) = await inline_completion(lsp, uri, 0, end + utf16_length(first))
    assert rest.insert_text == item.insert_text[1:]
    emoji_at = line.index("😀")
    assert await inline_completion(lsp, uri, 0, emoji_at + 1) == []  # inside the pair


async def generation_started(client, before: dict[str, int], timeout: float = 120) -> None:
    """Wait until the engine has streamed tokens for the request in flight."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await session_counters(client))["generatedTokens"] == before["generatedTokens"]:
        assert asyncio.get_running_loop().time() < deadline, "the generation never started"
        await asyncio.sleep(0.02)


async def test_cancel_request_stops_a_running_generation(lsp) -> None:
    uri = "file:///work/project/cancel.py"
    open_document(lsp, uri, "def long():\n    \n")
    await custom_request(lsp, "codegend/selectModel", {"model": "long"})
    try:
        before = await session_counters(lsp)
        request = asyncio.ensure_future(
            lsp.protocol.send_request_async(
                types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 1, 4), msg_id="cancel-me"
            )
        )
        await generation_started(lsp, before)
        lsp.cancel_request(types.CancelParams(id="cancel-me"))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(request, 30)
        after = await session_counters(lsp)
        await asyncio.sleep(0.2)
        assert (await session_counters(lsp))["generatedTokens"] == after["generatedTokens"]
        assert after["cancelled"] == before["cancelled"] + 1
        assert after["generatedTokens"] - before["generatedTokens"] < LONG_BUDGET
    finally:
        await custom_request(lsp, "codegend/selectModel", {"model": None})


async def test_a_new_request_supersedes_the_one_in_flight(lsp) -> None:
    uri = "file:///work/project/supersede.py"
    open_document(lsp, uri, "def long():\n    \n", language=UNPARSED)
    await custom_request(lsp, "codegend/selectModel", {"model": "long"})
    before = await session_counters(lsp)
    first = asyncio.ensure_future(inline_completion(lsp, uri, 1, 4))
    await generation_started(lsp, before)
    await custom_request(lsp, "codegend/selectModel", {"model": None})  # the next: short
    insert_text(lsp, uri, 2, 1, 4, "r")
    second = asyncio.ensure_future(inline_completion(lsp, uri, 1, 5))
    assert await asyncio.wait_for(first, 30) == []  # superseded: answered empty at once
    (item,) = await asyncio.wait_for(second, 120)
    assert item.insert_text and item.command.arguments[0]["model"] == "tiny"
    after = await session_counters(lsp)
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["answeredByModel"] == before["answeredByModel"] + 1
    assert after["generatedTokens"] - before["generatedTokens"] < LONG_BUDGET


async def test_automatic_triggers_follow_the_rules_and_are_debounced(lsp) -> None:
    uri = "file:///work/project/rules.py"
    open_document(lsp, uri, "value = compute(x) + 1\nname = \n", language=UNPARSED)
    before = await session_counters(lsp)
    assert await inline_completion(lsp, uri, 0, 10, invoked=False) == []  # inside "compute"
    assert await inline_completion(lsp, uri, 0, 8, invoked=False) == []  # code follows
    after = await session_counters(lsp)
    assert after["skippedByTrigger"] == before["skippedByTrigger"] + 2
    assert after["generatedTokens"] == before["generatedTokens"]
    (item,) = await inline_completion(lsp, uri, 0, 10, invoked=True)  # explicit: always
    assert item.insert_text
    # With a debounce, a burst of automatic requests costs one generation.
    lsp.set_configuration({"debounceMs": 400}, section="codegend")
    lsp.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.5)
    before = await session_counters(lsp)
    burst = [asyncio.ensure_future(inline_completion(lsp, uri, 1, 7, invoked=False))
             for _ in range(3)]
    results = await asyncio.gather(*burst)
    assert [len(r) for r in results] == [0, 0, 1]
    after = await session_counters(lsp)
    assert after["answeredByModel"] == before["answeredByModel"] + 1
    lsp.set_configuration({"debounceMs": 0}, section="codegend")
    lsp.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)


async def test_accept_command_counts_acceptance(lsp) -> None:
    uri = "file:///work/project/accept.py"
    open_document(lsp, uri, "x = \n")
    (item,) = await inline_completion(lsp, uri, 0, 4)
    await lsp.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )
    stats = await custom_request(lsp, "codegend/stats")
    row = next(r for r in stats["acceptance"] if (r["model"], r["language"]) == ("tiny", "python"))
    assert row["accepted"] >= 1 and row["acceptedCharacters"] >= len(item.insert_text)
