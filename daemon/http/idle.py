"""The daemon leaves once no client has asked anything for ``server.idle_exit_s``.

A daemon started by an editor outlives the editor (it serves every window), so without this
it would hold its models in memory for good once the last editor is gone. Every open
language server asks the daemon something at least every few seconds (it watches the
config's state through ``/v1/health``), so silence means no editor is left. The next editor
starts a daemon again on demand (``client.autostart``).

Activity is every HTTP request, counted from its start to the end of its response, so a long
streamed completion is never cut short; the daemon stops through the same graceful path as
on SIGTERM: requests finish, models are released, the runtime file is removed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Asgi = Callable[[dict, Callable, Callable], Any]


class IdleWatch:
    def __init__(self, idle_exit_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        assert idle_exit_s > 0
        self.idle_exit_s = idle_exit_s
        self._clock = clock
        self._active = 0  # requests in progress (a streamed answer counts until it ends)
        self._last = clock()  # when the last request ended (or the daemon started)

    def wrap(self, app: Asgi) -> Asgi:
        """``app`` as ASGI middleware that records every HTTP request as activity."""

        async def watched(scope: dict, receive: Callable, send: Callable) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            self._active += 1
            try:
                await app(scope, receive, send)
            finally:
                self._active -= 1
                self._last = self._clock()

        return watched

    def idle_for(self) -> float:
        """Seconds without a request in progress (0 while one is)."""
        return 0.0 if self._active else self._clock() - self._last

    async def run(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` once the daemon has been idle for ``idle_exit_s``; returns then."""
        while True:
            left = self.idle_exit_s - self.idle_for()
            if left <= 0:
                minutes = self.idle_exit_s / 60
                log.info("no client for %s: exiting to release the models (editors start "
                         "the daemon again when they need it)",
                         f"{minutes:g} min" if minutes >= 1 else f"{self.idle_exit_s:g} s")
                stop()
                return
            # Check again when the idle time could first be reached (a request meanwhile
            # moves it further), at least every few seconds of a long wait.
            await asyncio.sleep(min(max(left, 0.05), 5.0))
