"""A scripted CompletionClient for pipeline and server tests that need exact model output.

The "model" answers from a script keyed by the last non-blank line of the prompt, streams
its answer in small chunks (optionally slowly) and records what it was asked, what it
finished and what was cancelled, so tests can see the pipeline's effect on the engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from codegend.daemon.client_api import (
    CompletionChunk,
    CompletionRequest,
    CompletionResult,
    CompletionStream,
    ModelInfo,
    ModelStatus,
    NoRoute,
)


@dataclass
class ScriptedClient:
    answers: dict[str, str] = field(default_factory=dict)  # last non-blank prompt line -> text
    default_answer: str = ""
    name: str = "fake"
    context_tokens: int = 256
    max_new_tokens: int = 16
    fill_in_the_middle: bool = False
    config_generation: int = 0
    min_confidence: float | None = None  # the model's YAML (None: the calibrated default)
    chunk_chars: int = 2  # characters per streamed chunk ("token")
    chunk_delay_s: float = 0.0
    failure: str | None = None  # model_info raises this (a model that failed to load)
    loading_s: float = 0.0  # the model "loads" this long after the client is made
    extra_models: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("*",)  # what the routes give the model; others: NoRoute
    requests: list[CompletionRequest] = field(default_factory=list)
    # Background requests (the service's prefetch after a shown suggestion) are kept apart,
    # and the counters below count only the others.
    prefetches: list[CompletionRequest] = field(default_factory=list)
    finished: int = 0
    cancelled: int = 0
    chunks_sent: int = 0
    created_at: float = field(default_factory=time.monotonic)

    def loading_left(self) -> float:
        return max(0.0, self.created_at + self.loading_s - time.monotonic())

    def answer_for(self, prefix: str) -> str:
        lines = [line.strip() for line in prefix.split("\n") if line.strip()]
        return self.answers.get(lines[-1] if lines else "", self.default_answer)

    async def model_info(
        self, language: str, path: str | None = None, model: str | None = None
    ) -> ModelInfo:
        if self.failure:
            raise RuntimeError(self.failure)
        if "*" not in self.languages and language not in self.languages:
            raise NoRoute(f"no model serves {language}: route it to a model")
        return ModelInfo(
            model or self.name, self.context_tokens, self.max_new_tokens,
            "starcoder-spm" if self.fill_in_the_middle else None, self.config_generation,
            self.min_confidence,
        )

    def stream(self, request: CompletionRequest) -> CompletionStream:
        return CompletionStream(lambda stream: self._chunks(request, stream))

    async def _chunks(
        self, request: CompletionRequest, stream: CompletionStream
    ) -> AsyncIterator[CompletionChunk]:
        (self.prefetches if request.background else self.requests).append(request)
        await asyncio.sleep(self.loading_left())  # like the daemon: requests wait for loading
        # Like the daemon: a model that failed to load refuses; an answer says its model.
        stream.model = await self.model_info(request.language, request.path, request.model)
        text = self.answer_for(request.prefix)
        done = False
        counted = not request.background
        try:
            for start in range(0, len(text), self.chunk_chars):
                if self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                self.chunks_sent += counted
                yield CompletionChunk(text[start : start + self.chunk_chars], -0.1)
            done = True
            self.finished += counted
            stream.finish_reason = "stop"
        finally:
            if not done:
                self.cancelled += counted

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        text = "".join([c.text async for c in self.stream(request)])
        return CompletionResult(text, self.name, "stop")

    async def models(self) -> list[ModelStatus]:
        state = "failed" if self.failure else "loading" if self.loading_left() else "ready"
        first = ModelStatus(self.name, state, self.failure or "", languages=self.languages)
        return [first] + [ModelStatus(n, "ready") for n in self.extra_models]

    async def aclose(self) -> None:
        pass
