"""`codegend lsp` without --embedded: the same server on the machine's shared daemon.

The server starts the daemon (its own session, so it outlives the editor window) and talks
to it over loopback HTTP; completions, the cache and cancellation work the same way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import server_env
from tests.lsp.helpers import (
    custom_request,
    inline_completion,
    insert_text,
    open_document,
    start_client,
    stop_client,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def stop_daemon(runtime: Path) -> None:
    from codegend.daemon.runtime_file import read_runtime_info

    info = read_runtime_info(runtime)
    if info is None:
        return
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(200):
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    os.kill(info.pid, signal.SIGKILL)


async def test_completion_through_the_shared_daemon(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "codegend.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {free_port()}}}\n"
        f"models:\n  - name: tiny\n    source: {tiny_model_dir}\n    backend: torch\n"
        "    max_new_tokens: 16\n"
        "routes:\n  - {model: tiny}\n"
    )
    runtime = tmp_path / "runtime"
    env = {**server_env(tmp_path), "CODEGEND_RUNTIME_DIR": str(runtime)}
    command = [sys.executable, "-m", "codegend", "lsp", "--config", str(config)]
    client, _, statuses = await start_client(
        command, env=env, initialization_options={"debounceMs": 0}
    )
    try:
        await wait_for_status(statuses, "ready", timeout=120)
        uri = "file:///work/project/shared.py"
        open_document(client, uri, "total = \n")
        (item,) = await inline_completion(client, uri, 0, 8)
        assert item.insert_text and item.command.arguments[0]["model"] == "tiny"
        first = item.insert_text[0]
        insert_text(client, uri, 2, 0, 8, first)
        (rest,) = await inline_completion(client, uri, 0, 8 + len(first.encode("utf-16-le")) // 2)
        assert rest.insert_text == item.insert_text[1:]
        stats = (await custom_request(client, "codegend/stats"))["session"]
        assert stats["answeredFromCache"] == 1 and stats["answeredByModel"] == 1
    finally:
        await stop_client(client)
        await stop_daemon(runtime)
