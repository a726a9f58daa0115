"""A :class:`CompletionClient` that calls a daemon core in the same process (``--embedded``).

It goes through exactly the registry, routing and scheduler code the HTTP daemon uses; only
the transport is missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from codegend.daemon.client_api import (
    CompletionChunk,
    CompletionRequest,
    CompletionResult,
    CompletionStream,
    ModelInfo,
    ModelStatus,
    describe_rejected_config,
)
from codegend.daemon.core import DaemonCore
from codegend.daemon.hot_swap import ConfigWatcher


class EmbeddedClient:
    def __init__(self, core: DaemonCore, watcher: ConfigWatcher | None = None) -> None:
        self.core = core
        self._watcher = watcher

    async def model_info(
        self, language: str, path: str | None = None, model: str | None = None
    ) -> ModelInfo:
        return await self.core.model_info(language, path, model)

    def stream(self, request: CompletionRequest) -> CompletionStream:
        return CompletionStream(lambda stream: self._chunks(request, stream))

    async def _chunks(
        self, request: CompletionRequest, stream: CompletionStream
    ) -> AsyncIterator[CompletionChunk]:
        running = await self.core.start_completion(request)
        stream.model = running.info
        try:
            async for chunk in running.chunks():
                yield chunk
            stream.finish_reason = running.result().finish_reason
        finally:
            running.cancel()  # closed early or cancelled: stop the generation

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        return await self.core.complete(request)

    async def models(self) -> list[ModelStatus]:
        return self.core.statuses()

    async def config_error(self) -> str:
        rejected = self.core.rejected
        return "" if rejected is None else describe_rejected_config(rejected.path,
                                                                    rejected.error)

    async def aclose(self) -> None:
        if self._watcher is not None:
            await self._watcher.stop()
        await self.core.close(self.core.config.server.shutdown_timeout_s)
