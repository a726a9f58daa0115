"""Editing the YAML config under a running `codegend lsp --embedded`: a broken edit is shown
to the editor, the previous configuration keeps serving completions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.lsp.conftest import lsp_command, server_env
from tests.lsp.helpers import (
    inline_completion,
    open_document,
    start_client,
    stop_client,
    wait_for_message,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_a_rejected_config_edit_reaches_the_editor_and_completions_go_on(
    tiny_config: Path, tmp_path: Path
) -> None:
    config = tmp_path / "codegend.yaml"
    config.write_text(tiny_config.read_text())
    client, _, statuses = await start_client(lsp_command(config), env=server_env(tmp_path))
    try:
        await wait_for_status(statuses, "ready")
        config.write_text(config.read_text() + "routes: [unclosed\n")
        message = await wait_for_message(client, "rejected", timeout=30)
        assert "previous one keeps serving" in message
        assert re.search(r"codegend\.yaml:\d+: invalid YAML", message)  # names the line
        uri = "file:///work/project/after_edit.py"
        open_document(client, uri, "import os\n\ntotal = \n")
        (item,) = await inline_completion(client, uri, 2, 8)
        assert item.insert_text.strip()
    finally:
        await stop_client(client)
