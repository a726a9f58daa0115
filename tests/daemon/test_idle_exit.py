"""The daemon exits once no client has asked anything for ``server.idle_exit_s`` (releasing
its model and its runtime file), and an editor's client starts it again on demand."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from codegend.daemon.client.connect import open_client
from codegend.daemon.client_api import CompletionRequest, DaemonUnavailable
from codegend.daemon.runtime_file import read_runtime_info
from tests.daemon.conftest import stop_process, write_config

pytestmark = pytest.mark.asyncio
IDLE_S = 3.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with_status = Path(f"/proc/{pid}/stat")
    return not (with_status.exists() and with_status.read_text().split()[2] == "Z")


async def _complete_until_answered(client, timeout_s: float = 90.0) -> str:
    """Ask as an editor keeps asking: a request during a restart may fail fast; one soon
    after is answered by the new daemon."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = await client.complete(CompletionRequest(prefix="x = ", language="python"))
            return result.text
        except DaemonUnavailable:
            assert time.monotonic() < deadline, "the daemon never came back"
            await asyncio.sleep(0.2)


async def test_an_idle_daemon_exits_and_the_next_request_starts_it_again(
    parrots, runtime_dir: Path, tmp_path: Path
):
    config = write_config(tmp_path / "codegend.yaml", (
        f"server: {{host: 127.0.0.1, port: 0, idle_exit_s: {IDLE_S}}}\n"
        f"models:\n  - {{name: alpha, source: '{parrots['a']}', backend: onnx, device: cpu,"
        " quantization: none, max_new_tokens: 4}\n"))
    client = await open_client(config, embedded=False)  # as `codegend lsp` gets it
    daemons: list[int] = []
    try:
        assert await _complete_until_answered(client) == "aaaa"
        first = read_runtime_info(runtime_dir)
        assert first is not None
        daemons.append(first.pid)
        # Nobody asks anything now: the daemon leaves by itself, cleanly.
        deadline = time.monotonic() + IDLE_S + 30
        while _alive(first.pid):
            assert time.monotonic() < deadline, "the idle daemon did not exit"
            await asyncio.sleep(0.2)
        assert read_runtime_info(runtime_dir) is None  # its runtime file went with it
        log = (runtime_dir / "daemon.log").read_text()
        assert f"no client for {IDLE_S:g} s" in log and "stopped" in log
        # The editor's next request starts a new daemon.
        assert await _complete_until_answered(client) == "aaaa"
        second = read_runtime_info(runtime_dir)
        assert second is not None and second.pid != first.pid
        daemons.append(second.pid)
    finally:
        await client.aclose()
        for pid in daemons:
            stop_process(pid)
