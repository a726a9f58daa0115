"""`codegend lsp --tcp PORT` (for debugging): the same server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from pytest_lsp.client import make_test_lsp_client

from tests.lsp.conftest import lsp_command, server_env
from tests.lsp.helpers import client_capabilities, inline_completion, open_document

pytestmark = pytest.mark.asyncio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def connect(port: int, server: asyncio.subprocess.Process) -> LanguageClient:
    for _ in range(600):
        assert server.returncode is None, "the server exited before listening"
        try:
            client = make_test_lsp_client()
            await client.start_tcp("127.0.0.1", port)
            return client
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port}")


async def test_tcp_transport_on_loopback(tiny_config: Path, tmp_path: Path) -> None:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *lsp_command(tiny_config), "--tcp", str(port),
        env={**os.environ, **server_env(tmp_path)},
    )
    try:
        client = await connect(port, server)
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(),
                initialization_options={"debounceMs": 0},
            )
        )
        uri = "file:///work/project/tcp.py"
        open_document(client, uri, "x = \n")
        items: list = []
        for _ in range(600):  # the model loads in the background after initialize
            if items := await inline_completion(client, uri, 0, 4):
                break
            await asyncio.sleep(0.1)
        assert items and items[0].insert_text
        await client.shutdown_session()
        assert await asyncio.wait_for(server.wait(), 30) == 0
        await client.stop()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
