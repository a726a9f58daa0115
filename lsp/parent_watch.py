"""Exit when the editor that started us is gone.

LSP's ``initialize`` names the client's process id, and the specification asks a server to
exit when that process dies. An editor killed hard may leave our stdin open (another child
holding the pipe, a wrapper script), and an orphaned server would keep a model in memory
and, worse, keep generating: so it checks every few seconds and exits on its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)
CHECK_SECONDS = 3.0


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


async def exit_when_gone(
    pid: int, cleanup: Callable[[], Awaitable[None]], interval: float = CHECK_SECONDS
) -> None:
    while process_alive(pid):
        await asyncio.sleep(interval)
    logger.warning("the editor (process %d) is gone: exiting", pid)
    try:
        await asyncio.wait_for(cleanup(), 10)
    finally:
        os._exit(0)  # stdin may never close; nothing else would end the process
