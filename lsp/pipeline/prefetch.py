"""Prefetch after accept: the suggestion that would follow the one on screen, computed early.

While a suggestion is shown the user reads it; the engine is idle. Its acceptance is the
likeliest next edit, and after it the editor asks again at the suggestion's end. So the
service runs that request now, as a background request (the daemon serves it only when no
other request waits and stops it for any that comes), and the completion cache keeps the
answer as the shown suggestion's follow-up: Tab then brings the next ghost text from the
cache instead of from the model. The prefetch also leaves the document's KV cache holding
the accepted text, so even a request it could not answer starts warm.

This module holds the pieces without state of their own: the document as it would be after
the acceptance, and the bookkeeping of one background task per document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from codegend.lsp.pipeline.cursor import CursorContext

logger = logging.getLogger(__name__)


def cursor_after(cursor: CursorContext, text: str) -> CursorContext:
    """The context as if ``text`` were inserted at the cursor and the cursor stood after it
    (what accepting a suggestion does)."""
    lines = list(cursor.lines)
    current = cursor.current_line
    ending = lines[cursor.line][len(current) :] if cursor.line < len(lines) else ""
    joined = current[: cursor.column] + text + current[cursor.column :] + ending
    lines[cursor.line : cursor.line + 1] = joined.splitlines(True)
    if "\n" in text:
        line, column = cursor.line + text.count("\n"), len(text) - text.rfind("\n") - 1
    else:
        line, column = cursor.line, cursor.column + len(text)
    return CursorContext(tuple(lines), line, column, cursor.language, cursor.uri, cursor.path)


class PrefetchTasks:
    """At most one background prefetch per document; a newer one replaces the older."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task] = {}
        self._targets: dict[str, tuple[int, int]] = {}  # uri -> where its answer goes

    def start(self, uri: str, target: tuple[int, int], work: Coroutine[Any, Any, None]) -> None:
        """Run ``work``, the prefetch of the suggestion at ``target`` (line, column)."""
        self.cancel(uri)
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[uri], self._targets[uri] = task, target
        task.add_done_callback(lambda done, uri=uri: self._finished(uri, done))

    def aims_at(self, uri: str, line: int, column: int) -> bool:
        """Whether a prefetch still running for ``uri`` computes the suggestion there."""
        return uri in self._tasks and self._targets.get(uri) == (line, column)

    def cancel(self, uri: str) -> None:
        self._targets.pop(uri, None)
        task = self._tasks.pop(uri, None)
        if task is not None:
            task.cancel()  # closing its stream cancels the daemon's background job

    def cancel_all(self) -> None:
        for uri in list(self._tasks):
            self.cancel(uri)

    async def wait(self, uri: str, timeout_s: float | None = None) -> None:
        """Until the document's prefetch (if any) has ended, or ``timeout_s`` passed; the
        prefetch itself goes on when the waiter is cancelled or gives up."""
        task = self._tasks.get(uri)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout_s)

    def __contains__(self, uri: str) -> bool:
        return uri in self._tasks

    def _finished(self, uri: str, task: asyncio.Task) -> None:
        if self._tasks.get(uri) is task:
            del self._tasks[uri]
            self._targets.pop(uri, None)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("prefetch for %s failed: %r", uri, task.exception())
