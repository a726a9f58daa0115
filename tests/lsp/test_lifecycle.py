"""shutdown and exit in every state: answered at once, the process gone at once, status 0
after shutdown and 1 without (as LSP says), never an abort; requests after shutdown refused.

"While loading" is a real load: `codegend lsp --embedded` on the tiny model with the ONNX
backend and an empty artifact cache, so it is exporting (torch, ONNX in native threads)
when the client leaves. The other states use the scripted engine (quick). Bounds on time
are generous for shared CI; bench/bench_hardening.py measures them.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import server_env
from tests.lsp.raw_client import RawLspClient

pytestmark = pytest.mark.asyncio

BOUND_S = 10.0


@pytest.fixture
def onnx_config(tiny_model_dir: Path, tmp_path: Path) -> Path:
    config = tmp_path / "onnx.yaml"
    config.write_text(f"models:\n  - name: tiny\n    source: {tiny_model_dir}\n"
                      "    backend: onnx\n    device: cpu\nroutes:\n  - {model: tiny}\n")
    return config


async def scripted_server(tmp_path: Path) -> RawLspClient:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"answers": {"x =": "1"}}))
    return await RawLspClient.start(
        [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script)],
        stderr_path=tmp_path / "stderr")


async def loading_server(config: Path, tmp_path: Path) -> RawLspClient:
    client = await RawLspClient.start(
        [sys.executable, "-m", "codegend", "lsp", "--embedded", "--config", str(config)],
        env=server_env(tmp_path), stderr_path=tmp_path / "stderr")
    await client.initialize()
    await client.wait_for_status("loading", timeout=60)
    return client


def assert_clean_exit(client: RawLspClient, status: int | None, expected: int) -> None:
    stderr = client.stderr_text()
    assert status == expected, stderr[-2000:]
    assert status != -signal.SIGABRT and "FATAL" not in stderr
    assert "Traceback" not in stderr, stderr[-2000:]


async def shutdown_then_exit(client: RawLspClient) -> None:
    answer = await client.request("shutdown", None, BOUND_S)
    assert answer.get("result", "missing") is None, answer
    after = await client.request("codegend/stats", {}, BOUND_S)
    assert after["error"]["code"] == -32600  # InvalidRequest: shutting down
    await client.notify("exit")
    assert_clean_exit(client, await client.wait_exit(BOUND_S), 0)


async def test_before_initialize(tmp_path: Path) -> None:
    client = await scripted_server(tmp_path)
    try:
        # LSP: before initialize, every request (shutdown too) gets ServerNotInitialized,
        # notifications are dropped, and exit exits (1: there was no accepted shutdown).
        for method in ("codegend/stats", "shutdown"):
            refused = await client.request(method, None, BOUND_S)
            assert refused["error"]["code"] == -32002, refused
        await client.notify("textDocument/didOpen", {"textDocument": {
            "uri": "file:///a.py", "languageId": "python", "version": 1, "text": "x"}})
        await client.notify("exit")
        assert_clean_exit(client, await client.wait_exit(BOUND_S), 1)
    finally:
        await client.kill()


async def test_ready(tmp_path: Path) -> None:
    client = await scripted_server(tmp_path)
    try:
        await client.initialize()
        await client.wait_for_status("ready", BOUND_S)
        again = await client.request("initialize", {"capabilities": {}}, BOUND_S)
        assert again["error"]["code"] == -32600
        await shutdown_then_exit(client)
    finally:
        await client.kill()


async def test_the_editor_closing_our_input_ends_the_process(tmp_path: Path) -> None:
    client = await scripted_server(tmp_path)
    try:
        await client.initialize()
        assert client.process.stdin is not None
        client.process.stdin.close()
        assert_clean_exit(client, await client.wait_exit(BOUND_S), 1)  # no shutdown came
    finally:
        await client.kill()


async def test_shutdown_and_exit_while_the_model_loads(onnx_config: Path, tmp_path: Path) -> None:
    client = await loading_server(onnx_config, tmp_path)
    try:
        assert client.statuses()[-1]["state"] == "loading"
        await shutdown_then_exit(client)
    finally:
        await client.kill()


async def test_exit_without_shutdown_while_the_model_loads(onnx_config: Path,
                                                          tmp_path: Path) -> None:
    client = await loading_server(onnx_config, tmp_path)
    try:
        await client.notify("exit")
        assert_clean_exit(client, await client.wait_exit(BOUND_S), 1)
    finally:
        await client.kill()
