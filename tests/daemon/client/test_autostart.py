"""Auto-start through real ``codegend lsp`` processes: one shared daemon, restarted when it dies.

Two language servers start at the same moment with no daemon running; the lock makes exactly
one of them start it and both use it. Killing the daemon then costs the editor a few empty
answers at most: the next requests restart it, and none of them hangs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types

from codegend.daemon.runtime_file import read_runtime_info
from tests.daemon.conftest import stop_process
from tests.lsp.helpers import open_document, start_client, stop_client, wait_for_status

pytestmark = pytest.mark.asyncio
ANSWER_TIMEOUT_S = 20.0  # far more than any answer needs: only a hang exceeds it


def lsp_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "codegend", "lsp", "--config", str(config)]


async def suggestion(client, n: int) -> str:
    """Ask for an inline completion in a fresh document (never answered from a cache)."""
    uri = f"file:///work/project/module_{n}.py"
    text = f"value_{n} = \n"
    open_document(client, uri, text)
    result = await asyncio.wait_for(client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=0, character=len(text) - 1))), ANSWER_TIMEOUT_S)
    items = [] if result is None else list(
        result.items if isinstance(result, types.InlineCompletionList) else result)
    return items[0].insert_text if items else ""


async def answers_until_served(client, first_n: int) -> list[str]:
    """Ask again (as a user keeps typing) until an answer comes from the model; every answer,
    empty or not, must arrive promptly."""
    answers: list[str] = []
    deadline = time.monotonic() + 90
    while not (answers and answers[-1]):
        assert time.monotonic() < deadline, f"the daemon never came back: {answers}"
        answers.append(await suggestion(client, first_n + len(answers)))
        if not answers[-1]:
            await asyncio.sleep(0.5)
    return answers


async def test_two_language_servers_share_one_daemon_that_comes_back_after_a_kill(
        config_file: Path, runtime_dir: Path, tmp_path: Path):
    env = {"CODEGEND_RUNTIME_DIR": str(runtime_dir), "XDG_STATE_HOME": str(tmp_path / "state")}
    started = await asyncio.gather(*(start_client(lsp_command(config_file), env=env)
                                     for _ in range(2)))
    clients = [client for client, _, _ in started]
    first_daemon = None
    try:
        for _, _, statuses in started:
            await wait_for_status(statuses, "ready", timeout=120)
        for i, client in enumerate(clients):
            # The parrot answers "aaaa..."; the language server token-heals the prompt's
            # trailing space, so the first piece is whichever space-led token it picks.
            assert "aaaa" in await suggestion(client, i)

        first_daemon = read_runtime_info(runtime_dir)
        assert first_daemon is not None
        log = (runtime_dir / "daemon.log").read_text()
        assert log.count("serving on") == 1, log  # exactly one daemon was started

        os.kill(first_daemon.pid, signal.SIGKILL)
        answers = await answers_until_served(clients[0], 100)
        assert "aaaa" in answers[-1]
        second_daemon = read_runtime_info(runtime_dir)
        assert second_daemon is not None and second_daemon.pid != first_daemon.pid
        # The other window learns of the loss on its next request and finds the new daemon.
        other = await answers_until_served(clients[1], 200)
        assert len(other) <= 2, other
        assert (runtime_dir / "daemon.log").read_text().count("serving on") == 2
    finally:
        await asyncio.gather(*(stop_client(c) for c in clients), return_exceptions=True)
        info = read_runtime_info(runtime_dir)
        for daemon in {d.pid for d in (first_daemon, info) if d is not None}:
            stop_process(daemon)
