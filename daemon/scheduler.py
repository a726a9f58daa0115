"""One model's queue: who gets the engine next, and the bridge from its thread to asyncio.

The engine is not thread-safe and its ``generate`` is a blocking iterator, so each loaded model
gets one scheduler that owns one engine thread. Requests wait in a small bounded queue:
explicit (Invoked) requests go before automatic ones, first come first served within each.
A request is dropped before it costs compute when its client cancels it or a newer request
from the same document supersedes it; a full queue answers "busy" instead of growing.

Background requests (the language server's prefetch of the suggestion that would follow an
accepted one) come last and give way: any other request preempts a running one (it is
cancelled within one step) or takes the place of a queued one in a full queue, and they
never supersede a request that is not in the background.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from codegend.daemon.metrics import DaemonMetrics
from codegend.engine.errors import CodegendError
from codegend.engine.types import (
    CancelToken,
    GeneratedToken,
    GenerationStats,
    PromptParts,
    SamplingParams,
    TextGenerator,
)

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "finished"]


class QueueFull(CodegendError):
    """The model's queue is full; the client should retry after ``retry_after_s``."""

    def __init__(self, model: str, depth: int, retry_after_s: int = 1) -> None:
        super().__init__(f"model {model!r} is busy ({depth} requests waiting); retry shortly")
        self.retry_after_s = retry_after_s


class SchedulerClosed(CodegendError):
    """The model is being unloaded or the daemon is shutting down."""


@dataclass(eq=False)
class Job:
    """One accepted request; its tokens arrive on ``events`` from the engine thread."""

    prompt: str | PromptParts
    params: SamplingParams
    invoked: bool
    document_key: str | None
    seq: int
    submitted_at: float = field(default_factory=time.perf_counter)
    cancel: CancelToken = field(default_factory=CancelToken)
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    state: JobState = "queued"
    stats: GenerationStats = field(default_factory=GenerationStats)
    superseded: bool = False
    background: bool = False  # a prefetch: runs only when no other request waits

    @property
    def order(self) -> tuple[int, int]:
        return (0 if self.invoked else 2 if self.background else 1, self.seq)


class EngineThread:
    """A daemon thread that runs one model's blocking engine calls, strictly one at a time.

    A daemon thread (not a thread pool) so that a generation stuck in native code can never
    keep the process alive after shutdown gave up waiting for it.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[[], Any]) -> Any:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((fn, future))
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        self._calls.put(None)

    def _loop(self) -> None:
        while (call := self._calls.get()) is not None:
            fn, future = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as err:  # handed to the awaiting coroutine
                future.set_exception(err)


class ModelScheduler:
    def __init__(
        self, model: str, generator: TextGenerator, *, max_queue: int, metrics: DaemonMetrics
    ) -> None:
        self.model = model
        self.generator = generator
        self.max_queue = max_queue
        self.metrics = metrics
        self._queue: list[Job] = []
        self._running: Job | None = None
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._thread = EngineThread(f"engine-{model}")
        self._worker = asyncio.get_running_loop().create_task(self._serve())

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    def submit(
        self, prompt: str | PromptParts, params: SamplingParams, *, invoked: bool = False,
        document_key: str | None = None, background: bool = False,
    ) -> Job:
        if self._closing:
            raise SchedulerClosed(f"model {self.model!r} is being unloaded")
        if document_key is not None:
            self._supersede(document_key, background)
        if not background:
            self._preempt_background()
        if len(self._queue) >= self.max_queue:
            self.metrics.requests.labels(self.model, "busy").inc()
            raise QueueFull(self.model, len(self._queue))
        job = Job(prompt, params, invoked, document_key, next(self._seq), background=background)
        self._queue.append(job)
        self._queue_changed()
        self._idle.clear()
        self._wakeup.set()
        return job

    def cancel(self, job: Job) -> None:
        """The client is gone: drop the job if it waits, stop it within one step if it runs."""
        if job.state == "queued":
            self._drop(job, "queued")
        elif job.state == "running" and not job.cancel.cancelled:
            job.cancel.cancel()
            self.metrics.cancellations.labels(self.model, "running").inc()

    async def tokens(self, job: Job) -> AsyncIterator[GeneratedToken]:
        """The job's tokens as the engine makes them; ``job.stats`` is final once this ends.

        Leaving early (the consumer was cancelled or closed the iterator) cancels the job.
        """
        finished = False
        try:
            while True:
                kind, value = await job.events.get()
                if kind == "token":
                    yield value
                    continue
                # The engine thread is done with this job even if the worker has not yet
                # noticed; a late cancel() must not count it as cancelled.
                finished, job.state = True, "finished"
                if kind == "error":
                    raise value
                return
        finally:
            if not finished:
                self.cancel(job)

    async def close(self, grace_s: float) -> None:
        """Stop accepting; let waiting and running jobs finish for ``grace_s``, cancel the
        rest, then release the model."""
        self._closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            log.warning("model %s: cancelling %d request(s) at unload", self.model,
                        len(self._queue) + (self._running is not None))
            for job in list(self._queue):
                self._drop(job, "queued")
            if self._running is not None:
                self.cancel(self._running)
        self._wakeup.set()
        await self._worker
        try:
            await self._thread.run(self.generator.close)
        finally:
            self._thread.stop()

    # -- internals ------------------------------------------------------------------------

    def _supersede(self, document_key: str, background: bool = False) -> None:
        """Drop the document's older requests; a background one drops only background ones."""
        for job in [j for j in self._queue if j.document_key == document_key
                    and (j.background or not background)]:
            job.superseded = True
            self._drop(job, "queued")
        running = self._running
        if running is not None and running.document_key == document_key and \
                (running.background or not background):
            running.superseded = True
            self.cancel(running)

    def _preempt_background(self) -> None:
        """Make way for a request that is not in the background: stop a running background
        job, and in a full queue drop the newest waiting one."""
        running = self._running
        if running is not None and running.background:
            running.superseded = True
            self.cancel(running)
        waiting = [j for j in self._queue if j.background]
        if waiting and len(self._queue) >= self.max_queue:
            waiting[-1].superseded = True
            self._drop(waiting[-1], "queued")

    def _drop(self, job: Job, stage: str) -> None:
        self._queue.remove(job)
        self._queue_changed()
        job.state = "finished"
        job.stats.finish_reason = "cancelled"
        self.metrics.cancellations.labels(self.model, stage).inc()
        self.metrics.requests.labels(self.model, "superseded" if job.superseded else "cancelled")\
            .inc()
        job.events.put_nowait(("done", job.stats))
        if not self._queue and self._running is None:
            self._idle.set()

    def _queue_changed(self) -> None:
        self.metrics.queue_depth.labels(self.model).set(len(self._queue))

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            job = min(self._queue, key=lambda j: j.order)
            self._queue.remove(job)
            self._queue_changed()
            job.state = "running"
            self._running = job
            try:
                await self._thread.run(lambda job=job: self._generate(job, loop))
            finally:
                job.state = "finished"
                self._running = None
                if not self._queue:
                    self._idle.set()

    def _generate(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        """Runs on the engine thread: stream the job's tokens to its event queue."""

        def push(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(job.events.put_nowait, (kind, value))
            except RuntimeError:  # the event loop is gone (hard shutdown): stop generating
                job.cancel.cancel()

        try:
            generation = self.generator.generate(job.prompt, job.params, job.cancel,
                                                  job.document_key)
            job.stats = generation.stats
            last = None
            for token in generation:
                now = time.perf_counter()
                if not token.text_only:  # released text is no token: nothing to count or time
                    self.metrics.generated_tokens.labels(self.model).inc()
                    if last is None:
                        self.metrics.time_to_first_token.labels(self.model).observe(
                            now - job.submitted_at)
                    else:
                        self.metrics.token_latency.labels(self.model).observe(now - last)
                    last = now
                push("token", token)
        except Exception as err:  # handed to the request; the scheduler keeps serving
            log.exception("model %s: generation failed", self.model)
            self.metrics.requests.labels(self.model, "failed").inc()
            push("error", err)
            return
        stats = generation.stats
        self.metrics.record_prompt(self.model, stats.prompt_tokens, stats.reused_prefix_tokens)
        self.metrics.record_passes(self.model, stats.forward_passes, stats.draft_tokens,
                                   stats.accepted_draft_tokens)
        outcome = "completed"
        if stats.finish_reason == "cancelled":
            outcome = "superseded" if job.superseded else "cancelled"
        self.metrics.requests.labels(self.model, outcome).inc()  # before the client hears
        push("done", stats)
