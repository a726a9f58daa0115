"""The server's protocol surface, through a real LSP client, on the scripted engine.

The scripted engine gives exact model output, so these tests can pin what the editor sees:
ranges, the selected-item rule, the completion item for clients without inline completion,
settings, the custom requests and the accept command. The same server on the real engine is
tested end to end beside this file (test_completion_end_to_end.py and others).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tests.lsp.helpers import (
    custom_request,
    inline_completion,
    inline_params,
    insert_text,
    open_document,
    start_client,
    stop_client,
    wait_for_message,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = {
    "answers": {
        "total =": "price * count",
        "print(": 'f"{name}")',
        "def greet(name):": "return name.title()\n\ndef other():\n    pass",
        'label = "😀 中文" +': "suffix",
        "result = os.pa": "th.join(root, name)",
    },
    "extra_models": ["big"],
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def session(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fake-lsp")
    script = directory / "script.json"
    script.write_text(json.dumps(SCRIPT))
    stats = directory / "stats.json"
    command = [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script), str(stats)]
    client, result, statuses = await start_client(
        command,
        initialization_options={"debounceMs": "soon", "maxCompletion": "auto"},
        configuration={"debounceMs": 0},
    )
    await wait_for_status(statuses, "ready")
    yield client, result, statuses, stats
    await stop_client(client)


async def test_capabilities_advertise_inline_completion_and_the_accept_command(session) -> None:
    _, result, _, _ = session
    capabilities = result.capabilities
    assert capabilities.inline_completion_provider is not None
    assert capabilities.completion_provider is not None
    assert list(capabilities.execute_command_provider.commands) == ["codegend.accept"]
    assert capabilities.position_encoding == types.PositionEncodingKind.Utf16
    sync = capabilities.text_document_sync
    assert sync.change == types.TextDocumentSyncKind.Incremental


async def test_invalid_initialization_option_is_named_in_a_warning(session) -> None:
    client, _, _, _ = session
    message = await wait_for_message(client, '"debounceMs"')
    assert "soon" in message and "default" in message


async def test_inline_item_range_and_accept_command(session) -> None:
    client, _, _, _ = session
    uri = "file:///work/project/range.py"
    open_document(client, uri, "import os\ntotal = \n")
    (item,) = await inline_completion(client, uri, 1, 8)
    assert item.insert_text == "price * count"
    assert item.range == types.Range(
        start=types.Position(line=1, character=8), end=types.Position(line=1, character=8)
    )
    assert item.command.command == "codegend.accept"
    (details,) = item.command.arguments
    assert details["model"] == "fake" and details["language"] == "python"
    assert details["length"] == len("price * count")


async def test_balance_and_overlap_reach_the_editor(session) -> None:
    client, _, _, _ = session
    uri = "file:///work/project/print.py"
    open_document(client, uri, "print()\n")
    (item,) = await inline_completion(client, uri, 0, 6, invoked=False)
    assert item.insert_text == 'f"{name}"'  # the model's ")" is already in the document


async def test_block_completion_stops_at_the_dedent(session) -> None:
    client, _, _, _ = session
    uri = "file:///work/project/block.py"
    open_document(client, uri, "def greet(name):\n    \n")
    (item,) = await inline_completion(client, uri, 1, 4)
    assert item.insert_text == "return name.title()"


async def test_utf16_positions_after_emoji_and_cjk(session) -> None:
    client, _, _, _ = session
    uri = "file:///work/project/unicode.py"
    line = 'label = "😀 中文" + '
    open_document(client, uri, line + "\n")
    utf16_end = len(line.encode("utf-16-le")) // 2  # the emoji counts twice
    (item,) = await inline_completion(client, uri, 0, utf16_end)
    assert item.insert_text == "suffix"
    assert item.range.start == types.Position(line=0, character=utf16_end)
    assert await inline_completion(client, uri, 0, 10) == []  # inside the surrogate pair


async def test_selected_completion_item_starts_the_inline_completion(session) -> None:
    client, _, _, _ = session
    uri = "file:///work/project/selected.py"
    open_document(client, uri, "import os\nresult = os.p\n")
    selected = types.SelectedCompletionInfo(
        range=types.Range(
            start=types.Position(line=1, character=12), end=types.Position(line=1, character=13)
        ),
        text="pa",
    )
    result = await client.text_document_inline_completion_async(
        inline_params(uri, 1, 13, selected=selected)
    )
    (item,) = result.items
    assert item.insert_text == "path.join(root, name)"
    assert item.range == selected.range


async def test_completion_request_returns_one_multiline_item(session) -> None:
    client, _, _, _ = session
    uri = "file:///work/project/completion.py"
    open_document(client, uri, "total = \n")
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=0, character=8),
        )
    )
    (item,) = result.items
    assert item.text_edit.new_text == "price * count"
    assert item.command.command == "codegend.accept"


async def test_typing_the_suggestion_is_served_from_the_cache(session) -> None:
    client, _, _, _ = session
    uri = "file:///work/project/cache.py"
    open_document(client, uri, "total = \n")
    (first,) = await inline_completion(client, uri, 0, 8, invoked=False)
    before = (await custom_request(client, "codegend/stats"))["session"]
    insert_text(client, uri, 2, 0, 8, "pr")
    (second,) = await inline_completion(client, uri, 0, 10, invoked=False)
    after = (await custom_request(client, "codegend/stats"))["session"]
    assert first.insert_text == "price * count" and second.insert_text == "ice * count"
    assert after["answeredFromCache"] == before["answeredFromCache"] + 1
    assert after["answeredByModel"] == before["answeredByModel"]
    insert_text(client, uri, 3, 0, 0, "# edit elsewhere\n")
    assert await inline_completion(client, uri, 1, 10, invoked=False) == []  # not cached
    final = (await custom_request(client, "codegend/stats"))["session"]
    assert final["answeredFromCache"] == after["answeredFromCache"]


async def test_accept_command_counts_per_model_and_language(session) -> None:
    client, _, _, stats_file = session
    uri = "file:///work/project/accept.py"
    open_document(client, uri, "total = \n")
    (item,) = await inline_completion(client, uri, 0, 8)
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )
    stats = await custom_request(client, "codegend/stats")
    (row,) = [r for r in stats["acceptance"] if r["language"] == "python"]
    assert row["model"] == "fake" and row["accepted"] >= 1 and row["shown"] >= row["accepted"]
    assert json.loads(Path(stats_file).read_text())["acceptance"][0]["accepted"] >= 1


async def test_models_and_select_model(session) -> None:
    client, _, _, _ = session
    models = await custom_request(client, "codegend/models")
    assert [m["name"] for m in models["models"]] == ["fake", "big"]
    assert models["models"][0]["state"] == "ready"
    with pytest.raises(JsonRpcInvalidParams, match="unknown model 'nope'"):
        await custom_request(client, "codegend/selectModel", {"model": "nope"})
    assert (await custom_request(client, "codegend/selectModel", {"model": "big"})) == {
        "active": "big"
    }
    assert (await custom_request(client, "codegend/models"))["active"] == "big"
    await custom_request(client, "codegend/selectModel", {"model": None})


async def test_configuration_change_disables_and_reenables(session) -> None:
    client, _, statuses, _ = session
    uri = "file:///work/project/config.py"
    open_document(client, uri, "total = \n")
    client.set_configuration({"debounceMs": 0, "enable": False}, section="codegend")
    seen = len(statuses)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await wait_for_status(statuses, "disabled", timeout=10, after=seen)
    assert await inline_completion(client, uri, 0, 8) == []
    client.set_configuration({"debounceMs": 0, "disabledLanguages": ["python"]}, section="codegend")
    seen = len(statuses)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await wait_for_status(statuses, "ready", timeout=10, after=seen)
    assert await inline_completion(client, uri, 0, 8) == []
    client.set_configuration({"debounceMs": 0}, section="codegend")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    # The server pulls the new settings with a request of its own: retry until it has them.
    for _ in range(100):
        if items := await inline_completion(client, uri, 0, 8):
            break
        await asyncio.sleep(0.05)
    assert [item.insert_text for item in items] == ["price * count"]


@pytest.mark.parametrize(
    ("offered", "negotiated", "units"),
    [
        (("utf-8", "utf-16"), "utf-8", lambda text: len(text.encode())),
        (("utf-32",), "utf-32", len),
        (("latin-1",), "utf-16", lambda text: len(text.encode("utf-16-le")) // 2),
    ],
)
async def test_position_encodings_offered_by_the_client(
    tmp_path, offered, negotiated, units
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    command = [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script)]
    client, result, statuses = await start_client(
        command, encodings=offered, initialization_options={"debounceMs": 0}
    )
    try:
        assert result.capabilities.position_encoding == negotiated
        await wait_for_status(statuses, "ready")
        uri = "file:///work/project/encoding.py"
        line = 'label = "😀 中文" + '
        open_document(client, uri, f"# 😀\n{line}\n")
        (item,) = await inline_completion(client, uri, 1, units(line))
        assert item.insert_text == "suffix"  # the engine saw the prefix end right there
        assert item.range.start.character == units(line)
        # Typing after the emoji on line 0 moves nothing on line 1, in any encoding.
        insert_text(client, uri, 2, 0, units("# 😀"), "!")
        (again,) = await inline_completion(client, uri, 1, units(line))
        assert again.insert_text == "suffix"
    finally:
        await stop_client(client)


async def test_the_server_exits_when_the_editor_process_is_gone(tmp_path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    editor = await asyncio.create_subprocess_exec("sleep", "1")
    command = [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script)]
    client, _, _ = await start_client(command, process_id=editor.pid)
    try:
        await editor.wait()
        server = client._server
        assert server is not None
        assert await asyncio.wait_for(server.wait(), 30) == 0
    finally:
        await client.stop()


async def test_a_model_chosen_in_initialization_options_is_the_one_the_status_names(
    tmp_path,
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    command = [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script)]
    client, _, statuses = await start_client(command, initialization_options={"model": "big"})
    try:
        ready = await wait_for_status(statuses, "ready")
        assert ready["model"] == "big"  # not the first configured model, "fake"
        assert (await custom_request(client, "codegend/models"))["active"] == "big"
    finally:
        await stop_client(client)
