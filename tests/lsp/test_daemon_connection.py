"""The daemon connection recovers from a failed start: a config fixed after the editor's
server started is picked up without restarting it. Through the connection on a scripted
opener, and end to end through ``codegend lsp --embedded`` with a broken YAML file fixed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from codegend.lsp import daemon_connection
from codegend.lsp.daemon_connection import DaemonConnection, EngineStatus
from tests.lsp.conftest import SHORT_BUDGET, lsp_command, server_env
from tests.lsp.fake_client import ScriptedClient
from tests.lsp.helpers import start_client, stop_client, wait_for_status


async def _until(check, timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


@pytest.mark.asyncio
async def test_a_failed_open_is_retried_quietly_until_it_works(monkeypatch) -> None:
    monkeypatch.setattr(daemon_connection, "OPEN_RETRY_SECONDS", 0.01)
    published: list[EngineStatus] = []
    attempts = 0

    async def opener():
        nonlocal attempts
        attempts += 1
        if attempts < 4:
            raise OSError("config.yaml:3: models: expected a list")
        return ScriptedClient()

    connection = DaemonConnection(opener, published.append)
    connection.start()
    await connection.wait_opened()  # the first attempt: failed, said once
    assert [s.state for s in published] == ["loading", "failed"]
    await _until(lambda: published[-1].state == "ready")
    assert attempts == 4
    # Three failures with the same reason made one "failed" status, not three.
    assert [s.state for s in published] == ["loading", "failed", "loading", "ready"]
    await connection.aclose()


@pytest.mark.asyncio(loop_scope="function")
async def test_lsp_started_on_a_broken_config_completes_once_it_is_fixed(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "codegend.yaml"
    good = (f"models:\n  - name: tiny\n    source: {tiny_model_dir}\n    backend: torch\n"
            f"    max_new_tokens: {SHORT_BUDGET}\nroutes:\n  - {{model: tiny}}\n")
    config.write_text(good.replace("routes:", "routes: [unclosed"))
    client, _, statuses = await start_client(lsp_command(config), env=server_env(tmp_path),
                                             initialization_options={"debounceMs": 0})
    try:
        failed = await wait_for_status(statuses, "failed", timeout=60)
        assert str(config) in failed["message"]
        broken = config.with_suffix(".tmp")
        broken.write_text(good)
        os.replace(broken, config)  # saved the way editors save
        await wait_for_status(statuses, "ready", timeout=120)
    finally:
        await stop_client(client)



def test_a_rejected_config_names_its_file_once() -> None:
    from codegend.daemon.client_api import describe_rejected_config

    path = "/home/me/.config/codegend/config.yaml"
    assert describe_rejected_config(path, f"{path}:3: models: expected a list") == (
        f"{path}:3: models: expected a list")
    assert describe_rejected_config(path, "unreadable") == f"{path}: unreadable"
