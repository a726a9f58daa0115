"""Background requests (the language server's prefetch): last in line, first to give way."""

from __future__ import annotations

import pytest
import pytest_asyncio

from codegend.daemon.metrics import DaemonMetrics
from codegend.daemon.scheduler import ModelScheduler, QueueFull
from tests.daemon.fakes import ScriptedGenerator
from tests.daemon.test_scheduler import PARAMS, collect, started

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def held():
    """A scheduler (queue of 3) whose generator holds each token until told to go on."""
    generator = ScriptedGenerator()
    generator.pause()
    scheduler = ModelScheduler("m", generator, max_queue=3, metrics=DaemonMetrics())
    yield generator, scheduler, scheduler.metrics
    generator.resume()
    await scheduler.close(grace_s=5.0)


async def test_background_requests_wait_behind_every_other_request(held):
    generator, scheduler, _ = held
    first = scheduler.submit("first", PARAMS)
    await started(generator)
    prefetch = scheduler.submit("prefetch", PARAMS, document_key="a", background=True)
    automatic = scheduler.submit("automatic", PARAMS, document_key="b")
    generator.resume()
    for job in (first, automatic, prefetch):
        assert await collect(scheduler, job) == "abc"
    assert generator.prompts == ["first", "automatic", "prefetch"]


async def test_any_other_request_preempts_a_running_background_request(held):
    generator, scheduler, metrics = held
    prefetch = scheduler.submit("prefetch", PARAMS, document_key="a", background=True)
    await started(generator)
    other = scheduler.submit("other document", PARAMS, document_key="b")
    generator.resume()
    assert await collect(scheduler, other) == "abc"
    await collect(scheduler, prefetch)
    assert prefetch.stats.finish_reason == "cancelled" and generator.cancelled == ["prefetch"]


async def test_a_background_request_never_supersedes_another_kind(held):
    generator, scheduler, _ = held
    real = scheduler.submit("real", PARAMS, document_key="a")
    await started(generator)
    queued_real = scheduler.submit("queued real", PARAMS, document_key="b")
    older = scheduler.submit("older prefetch", PARAMS, document_key="b", background=True)
    newer = scheduler.submit("newer prefetch", PARAMS, document_key="b", background=True)
    generator.resume()
    assert await collect(scheduler, older) == ""  # a newer background one replaced it
    assert older.stats.finish_reason == "cancelled"
    for job in (real, queued_real, newer):
        assert await collect(scheduler, job) == "abc"
    assert generator.cancelled == []
    # A request of the document that is not in the background supersedes its prefetch.
    generator.pause()
    prefetch = scheduler.submit("prefetch", PARAMS, document_key="c", background=True)
    await started(generator)
    typed = scheduler.submit("typed", PARAMS, document_key="c")
    generator.resume()
    assert await collect(scheduler, typed) == "abc"
    await collect(scheduler, prefetch)
    assert prefetch.superseded and prefetch.stats.finish_reason == "cancelled"


async def test_a_full_queue_makes_room_by_dropping_a_background_request(held):
    generator, scheduler, _ = held
    scheduler.submit("running", PARAMS)
    await started(generator)
    waiting = [scheduler.submit(f"w{i}", PARAMS, document_key=f"w{i}") for i in range(2)]
    prefetch = scheduler.submit("prefetch", PARAMS, document_key="p", background=True)
    assert scheduler.queue_depth == scheduler.max_queue
    late = scheduler.submit("late", PARAMS, document_key="late")  # not "busy"
    assert prefetch.state == "finished" and prefetch.stats.finish_reason == "cancelled"
    with pytest.raises(QueueFull):  # background requests never push others out
        scheduler.submit("another prefetch", PARAMS, document_key="q", background=True)
    generator.resume()
    for job in (*waiting, late):
        assert await collect(scheduler, job) == "abc"
