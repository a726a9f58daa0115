"""Closing the registry abandons a load in progress instead of waiting for it to finish."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from codegend.daemon.metrics import DaemonMetrics
from codegend.daemon.registry import ModelRegistry
from codegend.engine.model_spec import ModelSpec
from tests.daemon.fakes import ScriptedGenerator


@pytest.mark.asyncio
async def test_close_does_not_wait_for_a_load_in_progress() -> None:
    release = threading.Event()

    def slow_load(spec: ModelSpec) -> ScriptedGenerator:
        release.wait(30)  # a load stuck in native code, as far as asyncio can tell
        return ScriptedGenerator()

    registry = ModelRegistry(slow_load, DaemonMetrics(), max_queue=4)
    entry = registry.acquire(ModelSpec(name="slow", source="builtin:tiny-py"),
                             retry_failed=False)
    await asyncio.sleep(0.2)
    assert entry.state == "loading"
    started = time.monotonic()
    await registry.close(grace_s=5.0)
    try:
        assert time.monotonic() - started < 3.0  # the load would take 30 s
    finally:
        release.set()
