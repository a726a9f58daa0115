"""At most one completion per document is worth computing: the newest.

A new request for a document cancels the one in flight for it. The cancelled handler sees
``CancelledError`` wherever it waits (the debounce, the engine stream) and answers empty at
once; a request cancelled by the client's ``$/cancelRequest`` gets the JSON-RPC
"request cancelled" error instead. Either way the engine stream is closed, which stops the
generation within one decode step.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator


class InflightRequests:
    def __init__(self) -> None:
        self._current: dict[str, asyncio.Task] = {}
        self._superseded: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()

    @contextlib.contextmanager
    def track(self, key: str) -> Iterator[None]:
        """Run the current task as the newest request for ``key``, superseding the previous."""
        task = asyncio.current_task()
        assert task is not None, "track() runs inside a request handler task"
        previous = self._current.get(key)
        if previous is not None and previous is not task and not previous.done():
            self._superseded.add(previous)
            previous.cancel()
        self._current[key] = task
        try:
            yield
        finally:
            if self._current.get(key) is task:
                del self._current[key]

    def was_superseded(self, task: asyncio.Task | None = None) -> bool:
        task = task or asyncio.current_task()
        return task is not None and task in self._superseded

    def cancel_all(self) -> None:
        for task in list(self._current.values()):
            task.cancel()


async def debounce(milliseconds: int) -> None:
    """Wait for the next keystroke: a newer request supersedes this one during the wait."""
    if milliseconds > 0:
        await asyncio.sleep(milliseconds / 1000)
