"""The per-model scheduler: priority, supersede, cancellation before compute, the busy bound."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from codegend.daemon.metrics import DaemonMetrics
from codegend.daemon.scheduler import ModelScheduler, QueueFull, SchedulerClosed
from codegend.engine.types import SamplingParams
from tests.daemon.fakes import ScriptedGenerator

pytestmark = pytest.mark.asyncio
PARAMS = SamplingParams(max_new_tokens=3)


async def collect(scheduler: ModelScheduler, job) -> str:
    return "".join([t.text async for t in scheduler.tokens(job)])


async def started(generator: ScriptedGenerator) -> None:
    assert await asyncio.to_thread(generator.started.acquire, True, 5.0)


def sample(metrics: DaemonMetrics, name: str, **labels) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest_asyncio.fixture
async def held():
    generator = ScriptedGenerator()
    generator.pause()
    metrics = DaemonMetrics()
    scheduler = ModelScheduler("m", generator, max_queue=3, metrics=metrics)
    yield generator, scheduler, metrics
    generator.resume()
    await scheduler.close(grace_s=5.0)


async def test_invoked_requests_run_before_automatic_ones(held):
    generator, scheduler, _ = held
    first = scheduler.submit("first", PARAMS)
    await started(generator)  # "first" holds the engine; the rest queue behind it
    auto = scheduler.submit("auto", PARAMS)
    invoked = scheduler.submit("invoked", PARAMS, invoked=True)
    generator.resume()
    results = await asyncio.gather(*(collect(scheduler, j) for j in (first, auto, invoked)))
    assert results == ["abc", "abc", "abc"]
    assert generator.prompts == ["first", "invoked", "auto"]


async def test_a_newer_request_from_the_same_document_supersedes_queued_and_running(held):
    generator, scheduler, metrics = held
    running = scheduler.submit("x-1", PARAMS, document_key="x")
    await started(generator)
    queued = scheduler.submit("y-1", PARAMS, document_key="y")
    newer_y = scheduler.submit("y-2", PARAMS, document_key="y")
    assert await collect(scheduler, queued) == ""  # dropped at once, before any compute
    assert queued.stats.finish_reason == "cancelled"
    newer_x = scheduler.submit("x-2", PARAMS, document_key="x")
    generator.resume()
    assert running.stats.finish_reason in ("", "cancelled")
    await collect(scheduler, running)
    assert running.stats.finish_reason == "cancelled"
    assert [await collect(scheduler, j) for j in (newer_y, newer_x)] == ["abc", "abc"]
    assert "y-1" not in generator.prompts
    assert generator.cancelled == ["x-1"]
    assert sample(metrics, "codegend_cancellations_total", model="m", stage="queued") == 1
    assert sample(metrics, "codegend_requests_total", model="m", outcome="superseded") == 2


async def test_a_cancelled_waiting_request_never_reaches_the_engine(held):
    generator, scheduler, metrics = held
    scheduler.submit("first", PARAMS)
    await started(generator)
    waiting = scheduler.submit("gone", PARAMS)
    consumer = asyncio.create_task(collect(scheduler, waiting))
    await asyncio.sleep(0)  # the consumer is now waiting for tokens
    consumer.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert scheduler.queue_depth == 0
    generator.resume()
    after = scheduler.submit("after", PARAMS)
    assert await collect(scheduler, after) == "abc"
    assert "gone" not in generator.prompts
    assert sample(metrics, "codegend_cancellations_total", model="m", stage="queued") == 1


async def test_closing_the_token_stream_early_stops_the_running_generation(held):
    generator, scheduler, metrics = held
    job = scheduler.submit("long", SamplingParams(max_new_tokens=3))
    tokens = scheduler.tokens(job)
    generator.allow(1)
    first = await anext(tokens)
    assert first.text == "a"
    await tokens.aclose()
    assert job.cancel.cancelled
    generator.resume()
    nxt = scheduler.submit("next", PARAMS)
    assert await collect(scheduler, nxt) == "abc"
    assert generator.cancelled == ["long"]
    assert sample(metrics, "codegend_cancellations_total", model="m", stage="running") == 1


async def test_a_full_queue_answers_busy_instead_of_growing(held):
    generator, scheduler, metrics = held
    jobs = [scheduler.submit("running", PARAMS)]
    await started(generator)
    jobs += [scheduler.submit(f"wait-{i}", PARAMS) for i in range(3)]
    with pytest.raises(QueueFull) as busy:
        scheduler.submit("one too many", PARAMS)
    assert busy.value.retry_after_s >= 1
    assert sample(metrics, "codegend_requests_total", model="m", outcome="busy") == 1
    assert sample(metrics, "codegend_queue_depth", model="m") == 3
    generator.resume()
    assert [await collect(scheduler, j) for j in jobs] == ["abc"] * 4
    assert sample(metrics, "codegend_queue_depth", model="m") == 0


async def test_an_engine_error_reaches_its_request_and_the_model_keeps_serving(held):
    generator, scheduler, metrics = held
    generator.fail_on = "bad"
    generator.resume()
    with pytest.raises(ValueError, match="scripted failure"):
        await collect(scheduler, scheduler.submit("bad", PARAMS))
    assert await collect(scheduler, scheduler.submit("good", PARAMS)) == "abc"
    assert sample(metrics, "codegend_requests_total", model="m", outcome="failed") == 1
    assert sample(metrics, "codegend_requests_total", model="m", outcome="completed") == 1
    assert sample(metrics, "codegend_generated_tokens_total", model="m") == 3


async def test_close_lets_accepted_requests_finish_then_releases_the_model():
    generator = ScriptedGenerator()
    generator.pause()
    scheduler = ModelScheduler("m", generator, max_queue=4, metrics=DaemonMetrics())
    jobs = [scheduler.submit(f"p{i}", PARAMS) for i in range(3)]
    results = [asyncio.create_task(collect(scheduler, j)) for j in jobs]
    closing = asyncio.create_task(scheduler.close(grace_s=10.0))
    await asyncio.sleep(0.05)
    with pytest.raises(SchedulerClosed):
        scheduler.submit("late", PARAMS)
    assert not generator.closed
    generator.resume()
    await closing
    assert [r.result() for r in results] == ["abc"] * 3
    assert generator.closed


async def test_close_cancels_what_does_not_finish_within_the_grace_period():
    generator = ScriptedGenerator()
    generator.pause()
    scheduler = ModelScheduler("m", generator, max_queue=4, metrics=DaemonMetrics())
    running, waiting = scheduler.submit("run", PARAMS), scheduler.submit("wait", PARAMS)
    await started(generator)
    closing = asyncio.create_task(scheduler.close(grace_s=0.1))
    await asyncio.sleep(0.3)
    generator.resume()  # the generation notices its cancel token at the next step
    await asyncio.wait_for(closing, 5.0)
    assert await collect(scheduler, waiting) == ""
    assert running.stats.finish_reason == "cancelled"
    assert generator.prompts == ["run"] and generator.closed
