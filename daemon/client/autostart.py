"""Finding the local daemon, starting one when none answers, restarting it when it dies.

Several ``codegend lsp`` processes (one per editor window) may start at the same moment: a
file lock around "check, spawn, wait until it answers" makes exactly one of them start the
daemon and the others find it. The daemon is its own session (``start_new_session``), so it
outlives the editor window that started it and keeps serving the others.

:class:`AutoStartClient` is what ``codegend lsp`` holds. When the daemon stops answering, the
failing request raises :class:`DaemonUnavailable` at once (the editor shows an empty
completion and a status message) and a restart begins in the background; requests during the
restart wait at most ``RESTART_WAIT_S`` and then fail the same way, never hang. Only the very
first connection waits for a daemon to start, as the editor expects while "loading".
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
from filelock import FileLock, Timeout

from codegend.daemon.client.http_client import HttpClient
from codegend.daemon.client_api import (
    CompletionChunk,
    CompletionRequest,
    CompletionResult,
    CompletionStream,
    DaemonRestarting,
    DaemonUnavailable,
    ModelInfo,
    ModelStatus,
)
from codegend.daemon.config import DaemonConfig, is_loopback_host
from codegend.daemon.runtime_file import LOCK_FILE, LOG_FILE, read_runtime_info, runtime_dir

log = logging.getLogger(__name__)
T = TypeVar("T")

START_TIMEOUT_S = 60.0  # import, bind and first answer; models keep loading after that
RESTART_WAIT_S = 1.0  # after a loss, requests wait this long for the restart, then answer empty
RETRY_AFTER_FAILURE_S = 5.0  # a daemon that failed to start is not respawned on every keystroke
RESTARTING = "the daemon stopped answering; starting it again"  # one text: one status change


def daemon_answers(url: str, token: str | None, pid: int | None = None) -> bool:
    """True if a codegend daemon answers at ``url`` (and is process ``pid``, when given)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{url}/v1/health", headers=headers, timeout=2.0, trust_env=False)
        return response.status_code == 200 and (pid is None or response.json().get("pid") == pid)
    except (httpx.HTTPError, ValueError):
        return False


def ensure_daemon(config: DaemonConfig, token: str | None) -> str:
    """The URL of a daemon that answers, starting one if needed (blocking)."""
    found = _find_daemon(config, token)
    if found:
        return found
    directory = runtime_dir()
    try:
        with FileLock(str(directory / LOCK_FILE), timeout=START_TIMEOUT_S):
            found = _find_daemon(config, token)  # another process may have started it
            return found or _start_daemon(config, token, directory)
    except Timeout as err:
        raise DaemonUnavailable(f"another process has been starting the daemon for "
                                f"{START_TIMEOUT_S:.0f}s; see {directory / LOG_FILE}") from err


def _find_daemon(config: DaemonConfig, token: str | None) -> str | None:
    info = read_runtime_info()
    if info is not None and daemon_answers(info.url, token, info.pid):
        return info.url
    server = config.server
    host = _connect_host(server.host)
    if server.port != 0:
        url = f"http://[{host}]:{server.port}" if ":" in host else f"http://{host}:{server.port}"
        if daemon_answers(url, token):
            return url
    if not is_loopback_host(host):
        raise DaemonUnavailable(f"the daemon at {server.host}:{server.port} does not answer "
                                "(a daemon on another host is never started from here)")
    return None


def _connect_host(host: str) -> str:
    """Where a client on this machine reaches a daemon listening on ``host``: a daemon bound
    to every interface (0.0.0.0, ::) is this machine's own, reached through loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _start_daemon(config: DaemonConfig, token: str | None, directory: Path) -> str:
    log_path = directory / LOG_FILE
    # The daemon logs to the file itself (rotated, so weeks of running stay bounded); what it
    # prints before that (a config error) still lands there through stdout and stderr.
    command = [sys.executable, "-m", "codegend", "serve", "--log-file", str(log_path)]
    if config.path is not None:
        command += ["--config", str(config.path)]
    log.info("starting the daemon: %s (log: %s)", " ".join(command), log_path)
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=os.environ.copy())
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DaemonUnavailable(f"the daemon exited at start (code {process.returncode}): "
                                    f"{_last_line(log_path)}")
        info = read_runtime_info(directory)
        if info is not None and info.pid == process.pid and daemon_answers(info.url, token):
            return info.url
        time.sleep(0.1)
    process.terminate()
    raise DaemonUnavailable(f"the daemon did not answer within {START_TIMEOUT_S:.0f}s; "
                            f"see {log_path}")


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


class AutoStartClient:
    """A CompletionClient over HTTP that (re)starts the local daemon when none answers."""

    def __init__(self, config: DaemonConfig, token: str | None) -> None:
        self.config = config
        self.token = token
        self._client: HttpClient | None = None
        self._connecting: asyncio.Task | None = None
        self._ever_connected = False  # the first connection may wait for the daemon to start
        self._failed_at = 0.0

    def connect_in_background(self) -> None:
        if self._client is not None:
            return
        previous = self._connecting
        if previous is not None and not previous.done():
            return
        if (previous is not None and not previous.cancelled() and previous.exception()
                and time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S):
            return  # keep answering with the recent failure until the pause is over
        self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def model_info(
        self, language: str, path: str | None = None, model: str | None = None
    ) -> ModelInfo:
        return await self._call(lambda c: c.model_info(language, path, model))

    def stream(self, request: CompletionRequest) -> CompletionStream:
        return CompletionStream(lambda stream: self._chunks(request, stream))

    async def _chunks(
        self, request: CompletionRequest, stream: CompletionStream
    ) -> AsyncIterator[CompletionChunk]:
        client = await self._connected()
        inner = client.stream(request)
        try:
            async for chunk in inner:
                stream.model = inner.model
                yield chunk
            stream.model = inner.model
        except DaemonUnavailable as err:
            self._lost(client)
            raise DaemonRestarting(RESTARTING) from err
        finally:
            await inner.aclose()  # closed early: end the HTTP exchange (and the generation)

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        return await self._call(lambda c: c.complete(request))

    async def models(self) -> list[ModelStatus]:
        return await self._call(lambda c: c.models())

    async def config_error(self) -> str:
        return await self._call(lambda c: c.config_error())

    async def aclose(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _call(self, fn: Callable[[HttpClient], Awaitable[T]]) -> T:
        client = await self._connected()
        try:
            return await fn(client)
        except DaemonUnavailable as err:
            self._lost(client)
            raise DaemonRestarting(RESTARTING) from err

    async def _connected(self) -> HttpClient:
        if self._client is not None:
            return self._client
        self.connect_in_background()
        assert self._connecting is not None
        wait_s = RESTART_WAIT_S if self._ever_connected else START_TIMEOUT_S + 5.0
        try:
            await asyncio.wait_for(asyncio.shield(self._connecting), wait_s)
        except TimeoutError as err:
            if self._ever_connected:
                raise DaemonRestarting(RESTARTING) from err
            raise DaemonUnavailable("the daemon did not start in time") from err
        if self._client is None:
            self._connecting.result()  # raises why connecting failed
            raise DaemonUnavailable("the daemon could not be reached")
        return self._client

    async def _connect(self) -> None:
        try:
            url = await asyncio.to_thread(ensure_daemon, self.config, self.token)
        except Exception:
            self._failed_at = time.monotonic()
            raise
        self._client = HttpClient(url, self.token)
        self._ever_connected = True
        log.info("connected to the daemon at %s", url)

    def _lost(self, client: HttpClient) -> None:
        """The daemon stopped answering: forget it and start looking (or restarting) now."""
        if self._client is client:
            self._client = None
            asyncio.get_running_loop().create_task(client.aclose())
            log.warning("the daemon at %s stopped answering; restarting it", client.base_url)
            self.connect_in_background()
