"""Bad input end to end: each gets an empty result or a JSON-RPC error, promptly, and the
server keeps serving the next request. A model that cannot load leaves the server up."""

from __future__ import annotations

import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from codegend.lsp.workspace import MAX_DOCUMENT_CHARS, MAX_LINE_CHARS
from tests.lsp.conftest import lsp_command, server_env
from tests.lsp.helpers import (
    custom_request,
    inline_completion,
    open_document,
    raw_request,
    start_client,
    stop_client,
    wait_for_message,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

HEALTHY_URI = "file:///work/project/healthy.py"


async def assert_still_serving(client) -> None:
    open_document(client, HEALTHY_URI, "result = \n")
    (item,) = await inline_completion(client, HEALTHY_URI, 0, 9)
    assert item.insert_text


async def test_positions_beyond_the_document(lsp) -> None:
    uri = "file:///work/project/short.py"
    # Plain text: the tiny model's gibberish after code that parses would be dropped.
    open_document(lsp, uri, "a = 1\nb = 2\n", language="plaintext")
    assert await inline_completion(lsp, uri, 7, 0) == []
    assert await inline_completion(lsp, uri, 2, 5) == []  # the last line is empty
    (clamped,) = await inline_completion(lsp, uri, 1, 400)  # past the end of a line: its end
    assert clamped.range.start == types.Position(line=1, character=5)
    await assert_still_serving(lsp)


async def test_position_inside_a_surrogate_pair(lsp) -> None:
    uri = "file:///work/project/emoji.py"
    open_document(lsp, uri, "x = '🎉🎉'\n")
    assert await inline_completion(lsp, uri, 0, 6) == []  # between the halves of the first
    assert await inline_completion(lsp, uri, 0, 8) == []  # of the second
    await assert_still_serving(lsp)


async def test_document_never_opened(lsp) -> None:
    assert await inline_completion(lsp, "file:///work/project/never-opened.py", 0, 0) == []
    assert await inline_completion(lsp, "untitled:Untitled-1", 3, 2) == []
    await assert_still_serving(lsp)


async def test_a_document_over_the_size_limit_is_declined_quietly(lsp) -> None:
    uri = "file:///work/project/huge.py"
    line = "value_{0:07d} = compute({0}) + offset  # keep going\n"
    text = "".join(line.format(i) for i in range(10_000_000 // len(line.format(0)) + 1))
    assert len(text) > MAX_DOCUMENT_CHARS
    open_document(lsp, uri, text + "total = ")
    last = text.count("\n")
    started = time.monotonic()
    assert await inline_completion(lsp, uri, last, 8) == []
    assert await inline_completion(lsp, uri, last // 2, 7, invoked=False) == []
    await assert_still_serving(lsp)
    assert time.monotonic() - started < 10  # milliseconds when measured (bench_hardening)
    notices = [m.message for m in lsp.log_messages if "huge.py" in m.message]
    assert len(notices) == 1 and "not completed" in notices[0]
    assert not [m.message for m in lsp.messages if "huge.py" in m.message]  # no pop-up


async def test_long_lines_are_completed_up_to_the_line_limit(lsp) -> None:
    uri = "file:///work/project/minified.js"
    line = "var a=function(b){return b+1};" * (MAX_LINE_CHARS // 31)
    minified = "var z=0;" * (MAX_DOCUMENT_CHARS // 9)  # one line, under the document limit
    open_document(lsp, uri, line + "\n" + minified, language="javascript")
    (item,) = await inline_completion(lsp, uri, 0, len(line))
    assert item.range.start == types.Position(line=0, character=len(line))
    started = time.monotonic()
    assert await inline_completion(lsp, uri, 1, len(minified)) == []
    assert await inline_completion(lsp, uri, 1, 40) == []
    assert time.monotonic() - started < 10  # milliseconds when measured (bench_hardening)
    notices = [m.message for m in lsp.log_messages if "minified.js" in m.message]
    assert len(notices) == 1 and "line 2 has" in notices[0]
    assert not [m.message for m in lsp.messages if "minified.js" in m.message]
    await assert_still_serving(lsp)


async def test_binary_content_with_nul_bytes(lsp) -> None:
    uri = "file:///work/project/blob.py"
    open_document(lsp, uri, "\x00\x01\x02binary\x00data = \n\x7fELF\x00\x00")
    assert await inline_completion(lsp, uri, 0, 17) == []
    await assert_still_serving(lsp)


async def test_unknown_language_id_uses_the_fallback_route(lsp) -> None:
    uri = "file:///work/project/notes.klingon"
    open_document(lsp, uri, "Qapla' = \n", language="klingon-tlhIngan")
    (item,) = await inline_completion(lsp, uri, 0, 9)
    assert item.command.arguments[0]["language"] == "klingon-tlhIngan"
    await assert_still_serving(lsp)


async def test_malformed_params_get_invalid_params_errors(lsp) -> None:
    bad = [
        ("textDocument/inlineCompletion", {"textDocument": 5}),
        ("textDocument/inlineCompletion", {"textDocument": {"uri": HEALTHY_URI}}),
        ("textDocument/completion", {"position": {"line": "x", "character": 0}}),
        ("codegend/selectModel", {"model": 42}),
        ("codegend/selectModel", ["not", "an", "object"]),
    ]
    for number, (method, params) in enumerate(bad):
        with pytest.raises(JsonRpcInvalidParams):
            await raw_request(lsp, f"bad-{number}", method, params)
    with pytest.raises(JsonRpcInvalidParams):
        await lsp.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codegend.accept", arguments=["nonsense"])
        )
    await assert_still_serving(lsp)


async def test_a_model_that_fails_to_load(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    config = tmp_path / "broken.yaml"
    config.write_text(
        f"models:\n  - name: broken\n    source: {missing}\n    backend: torch\n"
        "routes:\n  - {model: broken}\n"
    )
    client, _, statuses = await start_client(lsp_command(config), env=server_env(tmp_path))
    try:
        failed = await wait_for_status(statuses, "failed", timeout=120)
        assert str(missing) in failed["message"]
        await wait_for_message(client, str(missing))
        uri = "file:///work/project/broken.py"
        open_document(client, uri, "x = \n")
        assert await inline_completion(client, uri, 0, 4) == []
        stats = await custom_request(client, "codegend/stats")
        assert stats["session"]["unavailable"] >= 1
        models = await custom_request(client, "codegend/models")
        assert models["models"][0]["state"] == "failed"
    finally:
        await stop_client(client)
