"""While the model loads, through a real LSP client: the status says "loading", an explicit
request (the user pressed the key) waits and gets its item once the model is ready, and an
automatic one answers nothing at once instead of queueing behind the load."""

from __future__ import annotations

import json
import sys

import pytest

from tests.lsp.helpers import (
    inline_completion,
    open_document,
    start_client,
    stop_client,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio

LOADING_S = 3.0


async def test_an_explicit_request_during_loading_gets_its_item_once_ready(tmp_path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"answers": {"total =": "price * count"},
                                  "loading_s": LOADING_S}))
    command = [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script)]
    client, _, statuses = await start_client(command, configuration={"debounceMs": 0})
    try:
        uri = "file:///work/project/loading.py"
        open_document(client, uri, "total = \n")
        await wait_for_status(statuses, "loading")
        assert await inline_completion(client, uri, 0, 8, invoked=False) == []
        (item,) = await inline_completion(client, uri, 0, 8, invoked=True)
        assert item.insert_text == "price * count"
        states = [s["state"] for s in statuses]
        assert "loading" in states and states[-1] == "ready"
        assert states.index("loading") < states.index("ready")
    finally:
        await stop_client(client)
