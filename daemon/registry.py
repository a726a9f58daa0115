"""The loaded models: each is loading, ready or failed, and is loaded and warmed off the loop.

Models are keyed by their whole :class:`ModelSpec`, not by name: editing a model entry in
the YAML makes a *new* model that loads beside the old one, which keeps serving until the
switch. Unloading drains the model's scheduler first, so requests already accepted finish on
the model they started on.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codegend.daemon.client_api import ModelState
from codegend.daemon.metrics import DaemonMetrics
from codegend.daemon.scheduler import ModelScheduler
from codegend.engine.errors import CodegendError
from codegend.engine.model_spec import ModelSpec
from codegend.engine.types import SamplingParams, TextGenerator

log = logging.getLogger(__name__)
LOAD_TASK = "load-model:"  # name prefix of the tasks that load a model

Loader = Callable[[ModelSpec], TextGenerator]  # blocking; runs on a loader thread

WARM_PROMPT = "def main():\n    "


class ModelUnavailable(CodegendError):
    """The model failed to load (the message says why) or is being unloaded."""


@dataclass(eq=False)
class LoadedModel:
    config: ModelSpec
    state: ModelState = "loading"
    reason: str = ""  # why it failed, or how it runs once ready
    backend: str = ""
    generator: TextGenerator | None = None
    scheduler: ModelScheduler | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # set once loaded or failed

    async def wait_ready(self) -> ModelScheduler:
        await self.ready.wait()
        if self.state != "ready" or self.scheduler is None:
            raise ModelUnavailable(
                f"model {self.config.name!r} is {self.state}"
                + (f": {self.reason}" if self.reason else ""))
        return self.scheduler


async def run_in_daemon_thread(fn: Callable[[], Any], name: str) -> Any:
    """Run blocking ``fn`` on a fresh daemon thread: a model load stuck in native code must not
    keep the process alive at shutdown, which the default executor's threads would."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def target() -> None:
        try:
            result = fn()
        except BaseException as err:  # handed to the awaiting coroutine
            _settle(loop, future, None, err)
        else:
            _settle(loop, future, result, None)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def _settle(loop, future, result, error) -> None:
    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop closed while the thread ran
        pass


def warm_up(generator: TextGenerator) -> None:
    """One short generation so the first real request does not pay for lazy initialization."""
    for _ in generator.generate(WARM_PROMPT, SamplingParams(max_new_tokens=2)):
        pass


class ModelRegistry:
    def __init__(self, load: Loader, metrics: DaemonMetrics, max_queue: int) -> None:
        self._load = load
        self._metrics = metrics
        self._max_queue = max_queue
        self._models: dict[ModelSpec, LoadedModel] = {}
        self._tasks: set[asyncio.Task] = set()
        # One load at a time: loads are CPU- and memory-heavy, and transformers' lazy imports
        # are not safe when two threads trigger them at once.
        self._loading = asyncio.Lock()

    def get(self, config: ModelSpec) -> LoadedModel | None:
        return self._models.get(config)

    def entries(self) -> list[LoadedModel]:
        return list(self._models.values())

    def acquire(self, config: ModelSpec, *, retry_failed: bool) -> LoadedModel:
        """The entry for ``config``, starting to load it in the background if needed."""
        entry = self._models.get(config)
        if entry is not None and not (entry.state == "failed" and retry_failed):
            return entry
        entry = LoadedModel(config)
        self._models[config] = entry
        self._spawn(self._load_entry(entry), f"{LOAD_TASK}{config.name}")
        return entry

    def unload_later(self, config: ModelSpec, grace_s: float, *, collect: bool = True) -> None:
        """Unload in the background once the model's accepted requests are done."""
        entry = self._models.pop(config, None)
        if entry is not None:
            self._spawn(self._unload_entry(entry, grace_s, collect))

    async def close(self, grace_s: float) -> None:
        """Unload every model. A load still running is abandoned, not awaited: its thread
        cannot be interrupted, and the process is ending (shutdown must not wait seconds for
        a model it will never use)."""
        for config, entry in list(self._models.items()):
            if not entry.ready.is_set():
                del self._models[config]
        for task in self._tasks:
            if task.get_name().startswith(LOAD_TASK):
                task.cancel()
        for config in list(self._models):  # the process is ending: no need to collect
            self.unload_later(config, grace_s, collect=False)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_s + 5.0)

    def _spawn(self, coro, name: str | None = None) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load_entry(self, entry: LoadedModel) -> None:
        config = entry.config
        try:
            async with self._loading:
                generator = await self._load_and_warm(config)
        except Exception as err:  # any load failure is reported, never raised into the loop
            entry.state, entry.reason = "failed", _one_line(err)
            log.error("model %s: failed to load: %s", config.name, entry.reason)
        else:
            entry.generator = generator
            placement = generator.placement  # how the engine chose to run it
            entry.backend = placement.backend if placement else config.backend
            entry.reason = placement.reason if placement else ""
            entry.scheduler = ModelScheduler(
                config.name, generator, max_queue=self._max_queue, metrics=self._metrics)
            entry.state = "ready"
            log.info("model %s: ready%s", config.name, f" ({entry.reason})" if entry.reason else "")
        finally:
            entry.ready.set()

    async def _load_and_warm(self, config: ModelSpec) -> TextGenerator:
        log.info("model %s: loading %s", config.name, config.source)
        generator = await run_in_daemon_thread(lambda: self._load(config), f"load-{config.name}")
        try:
            await run_in_daemon_thread(lambda: warm_up(generator), f"warm-{config.name}")
        except BaseException:
            generator.close()
            raise
        return generator

    async def _unload_entry(self, entry: LoadedModel, grace_s: float, collect: bool) -> None:
        await entry.ready.wait()
        if entry.scheduler is not None:
            log.info("model %s: unloading", entry.config.name)
            try:
                await entry.scheduler.close(grace_s)
            except Exception:  # the model is dropped either way
                log.exception("model %s: error while unloading", entry.config.name)
        entry.state, entry.scheduler, entry.generator = "unloaded", None, None
        if collect:
            gc.collect()  # return the weights' memory now, not at some later collection


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
