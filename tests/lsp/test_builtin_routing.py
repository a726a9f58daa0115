"""Without a config file, `codegend lsp --embedded` routes each language to its built-in
model: Python to tiny-py, TypeScript to tiny-web, and Rust to none — an empty answer, no
failure, and a status that lists the languages it serves. The real built-in models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.lsp.helpers import (
    custom_request,
    inline_completion,
    open_document,
    start_client,
    stop_client,
    wait_for_status,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(600)]
WEB_LANGUAGES = ["javascript", "javascriptreact", "typescript", "typescriptreact", "vue"]


async def test_each_language_goes_to_its_builtin_model_and_others_to_none(tmp_path: Path):
    command = [sys.executable, "-m", "codegend", "lsp", "--embedded"]
    env = {"XDG_CONFIG_HOME": str(tmp_path / "no-config"), "XDG_STATE_HOME": str(tmp_path)}
    client, _, statuses = await start_client(command, env=env,
                                             initialization_options={"debounceMs": 0})
    try:
        ready = await wait_for_status(statuses, "ready", timeout=540)
        assert ready["languages"] == ["python", *WEB_LANGUAGES]
        answered = {}
        for name, language, text, line, column in (
            ("app.ts", "typescript", "export function add(a: number, b: number) {\n  return ",
             1, 9),
            ("app.py", "python", "def add(a, b):\n    return ", 1, 11),
        ):
            uri = f"file:///work/project/{name}"
            open_document(client, uri, text + "\n", language=language)
            items = await inline_completion(client, uri, line, column)
            assert items, f"no suggestion for {name}"
            answered[language] = items[0].command.arguments[0]["model"]
        assert answered == {"typescript": "tiny-web", "python": "tiny-py"}
        rust = "file:///work/project/main.rs"
        open_document(client, rust, "fn main() {\n    let x = \n}\n", language="rust")
        assert await inline_completion(client, rust, 1, 12) == []
        counters = (await custom_request(client, "codegend/stats"))["session"]
        assert counters["unrouted"] == 1 and counters["unavailable"] == 0
        assert all(status["state"] != "failed" for status in statuses)
    finally:
        await stop_client(client)
