"""The daemon core: the one object that holds all mutable service state.

It owns the active config, the model registry (and through it each model's scheduler), the
metrics and the record of a rejected config. The HTTP API and the in-process client both call
it; neither keeps state of its own. ``build_core`` is the one place it is built.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from codegend import __version__
from codegend.daemon.client_api import (
    CompletionChunk,
    CompletionRequest,
    CompletionResult,
    ModelInfo,
    ModelStatus,
)
from codegend.daemon.config import DaemonConfig
from codegend.daemon.metrics import DaemonMetrics
from codegend.daemon.registry import LoadedModel, Loader, ModelRegistry, ModelUnavailable
from codegend.daemon.routing import languages_of, pick_model
from codegend.daemon.scheduler import Job, ModelScheduler, SchedulerClosed
from codegend.engine.errors import CodegendError
from codegend.engine.model_spec import ModelSpec
from codegend.engine.types import PromptParts, SamplingParams, TextGenerator

log = logging.getLogger(__name__)

MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 200
MAX_CONTEXT_PIECES = 16
UNLOAD_GRACE_S = 30.0  # how long an old model may finish accepted requests after a swap


class InvalidRequest(CodegendError):
    """The request breaks a documented bound (prompt size, max tokens, stop strings...)."""


class UnknownModel(CodegendError):
    """The request names a model the active config does not define."""


class SuffixNotSupported(InvalidRequest):
    """A client that requires the suffix to be used (OpenAI ``suffix``) asked a model
    without a fill-in-the-middle template."""


@dataclass(frozen=True)
class RejectedConfig:
    path: str
    error: str
    at: float  # time.time() of the rejection


def engine_loader(spec: ModelSpec) -> TextGenerator:
    """The real loader: the engine's ``load_generator`` for this model entry."""
    from codegend.engine.loader import load_generator

    return load_generator(spec)


class RunningCompletion:
    """One accepted completion: iterate ``chunks()``, then read ``result()``; ``info`` is
    the answering model's facts, which clients cache."""

    def __init__(self, info: ModelInfo, scheduler: ModelScheduler, job: Job) -> None:
        self.info = info
        self.model = info.name
        self._scheduler = scheduler
        self._job = job
        self._pieces: list[CompletionChunk] = []
        self._logprobs: list[float] = []  # one per generated token

    async def chunks(self) -> AsyncIterator[CompletionChunk]:
        # Tokens that end mid-character add their logprob and count to the next chunk.
        pending_logprob, pending_tokens = 0.0, 0
        pending_top: tuple[tuple[str, float], ...] = ()  # the chunk's first token's
        async for token in self._scheduler.tokens(self._job):
            if not token.text_only:
                self._logprobs.append(token.logprob)
                pending_logprob += token.logprob
                pending_tokens += 1
                pending_top = pending_top or token.top
            if token.text:
                chunk = CompletionChunk(token.text, pending_logprob, pending_tokens, pending_top)
                self._pieces.append(chunk)
                yield chunk
                pending_logprob, pending_tokens, pending_top = 0.0, 0, ()

    async def finish(self) -> CompletionResult:
        """Consume the rest of the generation and return the whole result."""
        try:
            async for _ in self.chunks():
                pass
        finally:
            self.cancel()
        return self.result()

    def pieces(self) -> list[CompletionChunk]:
        """The chunks produced so far, each with the summed logprob of its tokens."""
        return list(self._pieces)

    def cancel(self) -> None:
        self._scheduler.cancel(self._job)

    def result(self) -> CompletionResult:
        stats = self._job.stats
        return CompletionResult(
            text="".join(p.text for p in self._pieces), model=self.model,
            finish_reason=stats.finish_reason or "stop", prompt_tokens=stats.prompt_tokens,
            reused_prefix_tokens=stats.reused_prefix_tokens,
            generated_tokens=stats.generated_tokens, logprobs=tuple(self._logprobs),
        )


class DaemonCore:
    def __init__(self, config: DaemonConfig, load: Loader, metrics: DaemonMetrics) -> None:
        self.metrics = metrics
        self.registry = ModelRegistry(load, metrics, config.server.max_queue)
        self._active = config
        self._pending: DaemonConfig | None = None
        self._rejected: RejectedConfig | None = None
        self._swap_lock = asyncio.Lock()
        self._closing = False
        self.started_at = time.time()
        # Counts applied configurations: clients cache model facts per generation.
        self.config_generation = 0

    @property
    def config(self) -> DaemonConfig:
        return self._active

    @property
    def rejected(self) -> RejectedConfig | None:
        return self._rejected

    def start(self) -> None:
        """Begin loading every routed model in the background."""
        for model in self._active.routed_models:
            self.registry.acquire(model, retry_failed=False)

    # -- config changes -------------------------------------------------------------------

    async def apply_config(self, new: DaemonConfig) -> bool:
        """Load and warm ``new``'s models while the old ones serve, then switch atomically.

        On failure the old config keeps serving and the error is recorded for /v1/health.
        """
        async with self._swap_lock:
            if new.server != self._active.server:
                log.warning("config: server settings change only on restart; keeping %s:%d",
                            self._active.server.host, self._active.server.port)
                new = DaemonConfig(self._active.server, new.models, new.routes, new.path)
            self._pending = new
            try:
                wanted = [self.registry.acquire(m, retry_failed=True) for m in new.routed_models]
                await asyncio.gather(*(entry.ready.wait() for entry in wanted))
            finally:
                self._pending = None
            failed = [e for e in wanted if e.state != "ready"]
            if failed:
                reason = "; ".join(f"model {e.config.name!r}: {e.reason or e.state}"
                                   for e in failed)
                self.reject(str(new.path or "<config>"), reason)
                serving = set(self._active.routed_models)
                for entry in wanted:  # loaded only for the rejected config
                    if entry.config not in serving:
                        self.registry.unload_later(entry.config, UNLOAD_GRACE_S)
                return False
            self._active, self._rejected = new, None
            self.config_generation += 1
            self.metrics.config_reloads.labels("applied").inc()
            log.info("config: switched to %s (%s)", new.path or "<config>",
                     ", ".join(m.name for m in new.models))
            self._unload_unrouted(new)
            return True

    def reject(self, path: str, error: str) -> None:
        self._rejected = RejectedConfig(path, error, time.time())
        self.metrics.config_reloads.labels("rejected").inc()
        log.error("config: %s rejected, still serving the previous config: %s", path, error)

    def _unload_unrouted(self, keep: DaemonConfig) -> None:
        routed = set(keep.routed_models)
        for entry in self.registry.entries():
            if entry.config not in routed:
                self.registry.unload_later(entry.config, UNLOAD_GRACE_S)

    # -- requests -------------------------------------------------------------------------

    async def start_completion(
        self, request: CompletionRequest, *, suffix_required: bool = False
    ) -> RunningCompletion:
        """Accept a request: route it, wait for its model, queue it. Raises before accepting.

        The model is resolved once; the engine cuts the prompt to that model's budget with
        its tokenizer and applies its fill-in-the-middle template. ``suffix_required``: a
        suffix the model cannot use is an error instead of being left out.
        """
        params = self._sampling_params(request)
        for attempt in range(2):
            config = self._active
            model = self._resolve(config, request.model, request.language, request.path)
            scheduler = await self._scheduler_of(model)
            if request.max_new_tokens is None:
                params = _with_budget(params, model.max_new_tokens)
            info = self._info(model, scheduler.generator)
            if suffix_required and request.suffix and not info.fill_in_the_middle:
                raise SuffixNotSupported(
                    f"model {model.name!r} has no fill-in-the-middle template, so it cannot "
                    "complete with a suffix")
            try:
                job = scheduler.submit(_prompt(request), params,
                                       invoked=request.invoked,
                                       document_key=request.document_key,
                                       background=request.background)
            except SchedulerClosed:
                if attempt or self._closing:  # a swap unloaded it just now: retry on the new
                    raise
                continue
            return RunningCompletion(info, scheduler, job)
        raise AssertionError("unreachable")

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        running = await self.start_completion(request)
        return await running.finish()

    async def model_info(
        self, language: str, path: str | None = None, model: str | None = None
    ) -> ModelInfo:
        config = self._resolve(self._active, model, language, path)
        scheduler = await self._scheduler_of(config)
        return self._info(config, scheduler.generator)

    def _info(self, model: ModelSpec, generator: TextGenerator) -> ModelInfo:
        template = generator.fim_template
        return ModelInfo(
            name=model.name, context_tokens=int(generator.context_tokens),
            max_new_tokens=model.max_new_tokens,
            fim_template=template.name if template is not None else None,
            config_generation=self.config_generation,
            min_confidence=model.min_confidence,
        )

    async def count_tokens(self, model: str, texts: list[str]) -> list[int]:
        if sum(len(t) for t in texts) > self._active.server.max_prompt_chars * 4:
            raise InvalidRequest("texts are too long to count")
        scheduler = await self._scheduler_of(self._resolve(self._active, model, "", None))
        # Tokenizing is pure and read-only, so it need not wait for a running generation.
        return await asyncio.to_thread(
            lambda: [scheduler.generator.count_tokens(t) for t in texts])

    def statuses(self) -> list[ModelStatus]:
        config = self._active
        result = []
        for model in config.models:
            entry = self.registry.get(model)
            result.append(ModelStatus(
                name=model.name, state=entry.state if entry else "unloaded",
                reason=_reason(entry) if entry else "loads on first request",
                backend=entry.backend if entry else "",
                languages=languages_of(config, model.name),
            ))
        return result

    def health(self) -> dict:
        statuses = self.statuses()
        routed = {m.name for m in self._active.routed_models}
        states = {s.state for s in statuses if s.name in routed}
        overall = ("degraded" if "failed" in states or self._rejected else
                   "loading" if "loading" in states else "ok")
        return {
            "status": overall, "version": __version__, "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started_at, 3),
            "config": _describe_config(self._active),
            "pending_config": _describe_config(self._pending) if self._pending else None,
            "rejected_config": None if self._rejected is None else {
                "path": self._rejected.path, "error": self._rejected.error,
                "at": self._rejected.at},
            "models": [
                {"name": s.name, "state": s.state, "reason": s.reason, "backend": s.backend,
                 "languages": list(s.languages)} for s in statuses],
            "loaded": [  # what holds memory now, including models a pending swap brings in
                {"name": e.config.name, "source": e.config.source, "state": e.state}
                for e in self.registry.entries()],
        }

    async def close(self, grace_s: float = 5.0) -> None:
        self._closing = True
        await self.registry.close(grace_s)

    # -- helpers --------------------------------------------------------------------------

    def _resolve(
        self, config: DaemonConfig, name: str | None, language: str, path: str | None
    ) -> ModelSpec:
        name = name or pick_model(config, language, path)
        model = config.model(name)
        if model is None:
            raise UnknownModel(f"no model named {name!r} "
                               f"(models: {', '.join(m.name for m in config.models)})")
        return model

    async def _scheduler_of(self, model: ModelSpec) -> ModelScheduler:
        if self._closing:
            raise ModelUnavailable("the daemon is shutting down")
        entry = self.registry.acquire(model, retry_failed=False)
        return await entry.wait_ready()

    def _sampling_params(self, request: CompletionRequest) -> SamplingParams:
        server = self._active.server
        context_chars = sum(len(piece) for piece in request.context)
        if len(request.prefix) + len(request.suffix) + context_chars > server.max_prompt_chars:
            raise InvalidRequest(f"prompt is longer than server.max_prompt_chars "
                                 f"({server.max_prompt_chars} characters)")
        if len(request.context) > MAX_CONTEXT_PIECES:
            raise InvalidRequest(f"at most {MAX_CONTEXT_PIECES} context pieces")
        if request.max_new_tokens is not None and not (
                0 <= request.max_new_tokens <= server.max_tokens_limit):
            raise InvalidRequest(f"max tokens must be between 0 and server.max_tokens_limit "
                                 f"({server.max_tokens_limit})")
        if len(request.stop) > MAX_STOP_STRINGS or any(
                not s or len(s) > MAX_STOP_CHARS for s in request.stop):
            raise InvalidRequest(f"at most {MAX_STOP_STRINGS} stop strings of 1 to "
                                 f"{MAX_STOP_CHARS} characters")
        if request.seed is not None and not 0 <= request.seed < 2**63:
            raise InvalidRequest("seed must be between 0 and 2**63 - 1")
        try:
            return SamplingParams(
                max_new_tokens=request.max_new_tokens or 0,
                temperature=request.temperature,
                top_p=request.top_p, seed=request.seed, stop=tuple(request.stop),
                stop_at_newline=request.mode == "line", token_healing=request.token_healing,
                top_logprobs=request.top_logprobs)
        except ValueError as err:
            raise InvalidRequest(str(err)) from err


def _prompt(request: CompletionRequest) -> PromptParts:
    """What the engine fits to the model's budget. The suffix goes to every model: one with
    a fill-in-the-middle template sees it in its prompt, and prompt lookup drafts from it
    either way (``fit_prompt`` leaves it out of a prefix-only prompt)."""
    return PromptParts(request.prefix, request.suffix, request.context, request.document_start)


def _reason(entry: LoadedModel) -> str:
    """Why a model is in its state; a ready model whose backend failed says so (the next
    generation restarts it)."""
    generator = entry.generator
    failure = generator.failure if generator is not None else None
    return f"{failure}; restarts on the next request" if failure else entry.reason


def _with_budget(params: SamplingParams, max_new_tokens: int) -> SamplingParams:
    return replace(params, max_new_tokens=max_new_tokens)


def _describe_config(config: DaemonConfig) -> dict:
    return {
        "path": str(config.path) if config.path else None,
        "models": [{"name": m.name, "source": m.source, "backend": m.backend,
                    "device": m.device, "quantization": m.quantization} for m in config.models],
        "routes": [{"model": r.model, "languages": list(r.languages), "files": list(r.files)}
                   for r in config.routes],
    }


def build_core(config: DaemonConfig, load: Loader | None = None) -> DaemonCore:
    """The one place a core is built; call inside the running event loop."""
    return DaemonCore(config, load or engine_loader, DaemonMetrics())
