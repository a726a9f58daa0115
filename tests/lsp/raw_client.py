"""A JSON-RPC peer for ``codegend lsp`` that writes exactly the bytes it is told to.

pytest-lsp's client only sends well-formed messages; robustness tests and the hardening
bench need to send broken ones (wrong headers, absurd lengths, garbage, invalid JSON) and
still read every answer. This client frames its reads the way the LSP base protocol says,
answers the server's own requests (configuration, progress) so the server never waits on
it, and records notifications, answers and their arrival times.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHOW_MESSAGE = "window/showMessage"
LOG_MESSAGE = "window/logMessage"
STATUS = "codegend/status"


def frame(message: Any) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


@dataclass
class RawLspClient:
    process: asyncio.subprocess.Process
    stderr_path: Path
    answers: dict[Any, dict] = field(default_factory=dict)  # id -> the response message
    answered_at: dict[Any, float] = field(default_factory=dict)  # id -> time.monotonic()
    notifications: list[dict] = field(default_factory=list)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _waiters: dict[Any, asyncio.Future] = field(default_factory=dict)
    _reader: asyncio.Task | None = None

    @classmethod
    async def start(
        cls, command: list[str], *, env: dict[str, str] | None = None, stderr_path: Path
    ) -> RawLspClient:
        stderr = stderr_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=stderr, env={**os.environ, **(env or {})}, limit=2**20,
        )
        stderr.close()
        client = cls(process, stderr_path)
        client._reader = asyncio.get_running_loop().create_task(client._read())
        return client

    # Writing -----------------------------------------------------------------------------
    async def send_bytes(self, data: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await stdin.drain()

    async def send(self, message: Any) -> None:
        await self.send_bytes(frame(message))

    async def notify(self, method: str, params: Any = None) -> None:
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)

    async def request(self, method: str, params: Any = None, timeout: float = 30.0) -> dict:
        """The whole response message (``result`` or ``error``) for a well-formed request."""
        request_id = next(self.ids)
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        waiter = self.expect(request_id)
        await self.send(message)
        return await asyncio.wait_for(waiter, timeout)

    def expect(self, request_id: Any) -> asyncio.Future:
        """A future for the answer to ``request_id`` (sent by the caller, in any shape)."""
        if request_id in self.answers:
            future = asyncio.get_running_loop().create_future()
            future.set_result(self.answers[request_id])
            return future
        return self._waiters.setdefault(
            request_id, asyncio.get_running_loop().create_future())

    # Reading -----------------------------------------------------------------------------
    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                length = None
                while True:
                    line = await stdout.readuntil(b"\r\n")
                    if line == b"\r\n":
                        break
                    name, _, value = line.decode("ascii", "replace").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    continue
                self._dispatch(json.loads(await stdout.readexactly(length)))

    def _dispatch(self, message: dict) -> None:
        if "method" in message and "id" in message:  # the server asks the client
            asyncio.get_running_loop().create_task(self._answer_server(message))
        elif "method" in message:
            message["_at"] = time.monotonic()
            self.notifications.append(message)
        else:
            key = message.get("id")
            self.answers[key] = message
            self.answered_at[key] = time.monotonic()
            waiter = self._waiters.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    async def _answer_server(self, message: dict) -> None:
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [None for _ in message.get("params", {}).get("items", [])]
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    # Session -----------------------------------------------------------------------------
    async def initialize(self, initialization_options: Any = None, timeout: float = 60.0) -> dict:
        params = {
            "processId": None,
            "rootUri": "file:///work/project",
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "textDocument": {"inlineCompletion": {}},
                "window": {"showMessage": {}},
            },
            "initializationOptions": initialization_options,
        }
        answer = await self.request("initialize", params, timeout)
        await self.notify("initialized", {})
        return answer

    def popups(self) -> list[str]:
        return [n["params"]["message"] for n in self.notifications if n["method"] == SHOW_MESSAGE]

    def statuses(self) -> list[dict]:
        return [n["params"] for n in self.notifications if n["method"] == STATUS]

    async def wait_for_status(self, state: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for status in self.statuses():
                if status.get("state") == state:
                    return status
            await asyncio.sleep(0.02)
        raise AssertionError(f"no codegend/status {state!r} within {timeout}s: {self.statuses()}")

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit status, or None if the process is still running after ``timeout``."""
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            return None

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()
