"""A daemon that dies and comes back: the status says "loading" (restarting) once, never
"failed", no pop-up; a request waiting for the engine to settle is answered once it is back."""

from __future__ import annotations

import asyncio

import pytest

from codegend.daemon.client_api import DaemonRestarting, ModelStatus
from codegend.lsp.daemon_connection import DaemonConnection, EngineStatus

pytestmark = pytest.mark.asyncio


class ComingBack:
    """models() fails as a restarting daemon does ``failures`` times, then answers ready."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def models(self) -> list[ModelStatus]:
        if self.failures:
            self.failures -= 1
            await asyncio.sleep(0.01)
            raise DaemonRestarting("the daemon stopped answering; starting it again")
        return [ModelStatus("default", "ready")]

    async def aclose(self) -> None:
        pass


async def test_a_restarting_daemon_is_loading_then_ready_and_waiters_wake(monkeypatch) -> None:
    monkeypatch.setattr("codegend.lsp.daemon_connection.POLL_SECONDS", 0.01)
    published: list[EngineStatus] = []
    connection = DaemonConnection(lambda: None, published.append)  # type: ignore[arg-type]
    connection.client = ComingBack(failures=5)  # type: ignore[assignment]
    connection.report_success("default")
    connection.report_failure(DaemonRestarting("the daemon stopped answering; "
                                               "starting it again"), "default")
    assert connection.status.state == "loading"
    # What an explicit request does while loading: wait (bounded by its caller).
    await asyncio.wait_for(connection.wait_until_settled(), 10)
    states = [status.state for status in published]
    assert states == ["ready", "loading", "ready"]
    assert "failed" not in states
