"""The language server process: serving a stream, shutting down, exiting.

LSP asks for ``shutdown`` to be answered and ``exit`` to end the process (status 0 after a
``shutdown``, 1 without), in any state. Closing the engine may take long (a model load in a
native thread cannot be interrupted; in-process, closing waits for it), so neither waits
for it: ``shutdown`` stops completions, starts the close and answers within
``SHUTDOWN_WAIT_S``; ``exit`` (or the end of the input) gives the close ``EXIT_WAIT_S`` more,
then ends the process with ``os._exit``. An interpreter that finalizes normally while a
loader thread is inside torch or ONNX Runtime aborts (SIGABRT, "FATAL: exception not
rethrown"), and nothing is left that the operating system does not release.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

from pygls.io_ import StdoutWriter

from codegend.lsp.framing import STREAM_LIMIT, open_binary_stream, pump

logger = logging.getLogger(__name__)

# Closing takes milliseconds (requests are cancelled first, a load in progress is abandoned);
# these bound it when something (a stuck client, a saturated machine) holds it up.
SHUTDOWN_WAIT_S = 0.2  # shutdown answers after at most this long, closed or not
EXIT_WAIT_S = 0.3  # exit (or the end of the input) waits at most this much longer


class Lifecycle:
    def __init__(self, protocol: Any, close: Callable[[], Awaitable[None]]) -> None:
        self._protocol = protocol  # the CodegendProtocol: its receive() and writer
        self._close = close
        self._closing: asyncio.Future | None = None
        self.shutting_down = False  # from the shutdown request on, requests are refused

    @property
    def shut_down(self) -> bool:
        return bool(self._protocol._shutdown)

    async def shutdown(self) -> None:
        """Stop completing and start closing the engine; return within SHUTDOWN_WAIT_S."""
        self.shutting_down = True
        await self._wait_closed(SHUTDOWN_WAIT_S)

    async def _wait_closed(self, wait_s: float) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_quietly())
        await asyncio.wait({self._closing}, timeout=wait_s)

    async def _close_quietly(self) -> None:
        try:
            await self._close()
        except Exception as err:  # exiting anyway
            logger.warning("closing the completion engine failed: %s", err)

    def exit(self, status: int) -> None:
        """End the process with ``status`` after at most EXIT_WAIT_S of closing."""
        asyncio.get_running_loop().create_task(self._exit(status))

    async def _exit(self, status: int) -> None:
        try:
            await self._wait_closed(EXIT_WAIT_S)
        finally:
            end_process(status)

    # Transports --------------------------------------------------------------------------
    def serve_stdio(self, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self._protocol.set_writer(StdoutWriter(stdout))

        async def main() -> None:
            try:
                await pump(await open_binary_stream(stdin), self._protocol.receive)
            except Exception as err:  # a bug: still end as LSP says, not by a traceback
                logger.error("reading the client's messages failed: %s", err)
            await self._exit(0 if self.shut_down else 1)  # the editor closed our input

        asyncio.run(main())

    def serve_tcp(self, host: str, port: int) -> None:
        """One client on ``host:port`` (for debugging); its disconnection ends the process."""

        async def main() -> None:
            done = asyncio.Event()

            async def connection(reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:
                if self._protocol.writer is not None:
                    writer.close()  # the server has its client already
                    return
                self._protocol.set_writer(writer)
                try:
                    await pump(reader, self._protocol.receive)
                except Exception as err:
                    logger.error("reading the client's messages failed: %s", err)
                done.set()

            server = await asyncio.start_server(connection, host, port, limit=STREAM_LIMIT)
            async with server:
                await done.wait()
            await self._exit(0 if self.shut_down else 1)

        asyncio.run(main())


def end_process(status: int) -> None:
    """Flush what was written and end at once, without finalizing the interpreter."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(status)
