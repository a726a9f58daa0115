"""The completion service around the pipeline: cache, cancellation, debounce, failures."""

from __future__ import annotations

import asyncio

import pytest

from codegend.lsp.daemon_connection import DaemonConnection, EngineStatus
from codegend.lsp.pipeline.completion_cache import Insertion
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.service import CompletionService
from codegend.lsp.settings import Settings
from codegend.lsp.stats import AcceptanceStats
from tests.lsp.fake_client import ScriptedClient

pytestmark = pytest.mark.asyncio
URI = "file:///w/a.py"
QUICK = Settings(debounce_ms=0)


async def _service(client: ScriptedClient) -> tuple[CompletionService, list[EngineStatus]]:
    published: list[EngineStatus] = []

    async def opener():
        return client

    connection = DaemonConnection(opener, published.append)
    connection.start()
    await connection.wait_opened()
    return CompletionService(connection, AcceptanceStats()), published


def _cursor(text: str) -> CursorContext:
    return CursorContext.from_marked_text(text, uri=URI)


async def test_typing_the_suggestion_is_answered_from_the_cache() -> None:
    client = ScriptedClient(answers={"total =": "price * count"})
    service, _ = await _service(client)
    first = await service.complete(_cursor("total = █"), invoked=False, settings=QUICK)
    assert first is not None and first.text == "price * count" and first.source == "model"
    # The editor inserts "pr" at the cursor, then asks again one character later.
    service.document_changed(URI, Insertion(0, 8, "p"), 0)
    service.document_changed(URI, Insertion(0, 9, "r"), 0)
    second = await service.complete(_cursor("total = pr█"), invoked=False, settings=QUICK)
    assert second is not None and second.text == "ice * count" and second.source == "cache"
    assert len(client.requests) == 1
    assert service.counters.answered_from_cache == 1


async def test_an_edit_elsewhere_invalidates_the_cache() -> None:
    client = ScriptedClient(answers={"total =": "price * count"})
    service, _ = await _service(client)
    await service.complete(_cursor("total = █"), invoked=False, settings=QUICK)
    service.document_changed(URI, Insertion(5, 0, "import os\n"), 5)
    again = await service.complete(_cursor("total = █"), invoked=False, settings=QUICK)
    assert again is not None and again.source == "model"
    assert len(client.requests) == 2
    service.document_changed(URI, Insertion(0, 8, "q"), 0)  # not what was suggested
    assert service.cache.lookup(URI, 0, 9) is None


async def test_a_block_stop_cancels_the_stream_early() -> None:
    body = "return a + b\n\ndef other():\n" + "    pass\n" * 50
    client = ScriptedClient(answers={"def add(a, b):": body}, chunk_chars=3)
    service, _ = await _service(client)
    result = await service.complete(
        _cursor("def add(a, b):\n    █"), invoked=True, settings=QUICK
    )
    assert result is not None and result.text == "return a + b"
    assert client.cancelled == 1 and client.finished == 0
    assert client.chunks_sent < len(body) // 3 // 4
    assert client.requests[0].mode == "block"


async def test_a_new_request_supersedes_the_one_in_flight() -> None:
    client = ScriptedClient(default_answer="x" * 40, chunk_delay_s=0.05)
    service, _ = await _service(client)
    slow = asyncio.ensure_future(
        service.complete(_cursor("a = █"), invoked=True, settings=QUICK)
    )
    await asyncio.sleep(0.12)
    fast = asyncio.ensure_future(
        service.complete(_cursor("a = 1█"), invoked=True, settings=QUICK)
    )
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert service.inflight.was_superseded(slow)
    fast.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fast
    assert client.cancelled == 2 and service.counters.cancelled == 2


async def test_automatic_requests_wait_for_the_debounce_invoked_do_not() -> None:
    client = ScriptedClient(default_answer="1")
    service, _ = await _service(client)
    slow_typing = Settings(debounce_ms=300)
    first = asyncio.ensure_future(
        service.complete(_cursor("a = █"), invoked=False, settings=slow_typing)
    )
    await asyncio.sleep(0.05)
    assert client.requests == []  # still waiting for the next keystroke
    second = asyncio.ensure_future(
        service.complete(_cursor("a = █"), invoked=True, settings=slow_typing)
    )
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await asyncio.wait_for(second, 0.2)) is not None
    assert len(client.requests) == 1 and client.requests[0].invoked


async def test_trigger_rules_and_disabled_languages_skip_the_engine() -> None:
    client = ScriptedClient(default_answer="1")
    service, _ = await _service(client)
    assert await service.complete(_cursor("a = b█c"), invoked=False, settings=QUICK) is None
    off = Settings(debounce_ms=0, disabled_languages=frozenset({"python"}))
    assert await service.complete(_cursor("a = █"), invoked=True, settings=off) is None
    assert client.requests == []
    assert service.counters.skipped_by_trigger == 1 and service.counters.disabled == 1


async def test_a_failed_model_answers_empty_and_reports_why() -> None:
    client = ScriptedClient(default_answer="1", failure="weights not found in /models/x")
    service, published = await _service(client)
    assert published[-1].state == "failed" and "weights not found" in published[-1].message
    assert await service.complete(_cursor("a = █"), invoked=True, settings=QUICK) is None
    assert service.counters.unavailable == 1
    client.failure = None
    assert await service.complete(_cursor("a = █"), invoked=True, settings=QUICK) is not None
    assert published[-1] == EngineStatus("ready", "fake")


async def test_an_engine_that_cannot_start_is_reported() -> None:
    published: list[EngineStatus] = []

    async def broken_opener():
        raise OSError("config.yaml: no such file")

    connection = DaemonConnection(broken_opener, published.append)
    connection.start()
    await connection.wait_opened()
    assert [s.state for s in published] == ["loading", "failed"]
    assert published[-1].message == "config.yaml: no such file"
    service = CompletionService(connection, AcceptanceStats())
    assert await service.complete(_cursor("a = █"), invoked=True, settings=QUICK) is None


async def test_acceptance_counts_persist(tmp_path) -> None:
    stats = AcceptanceStats(tmp_path / "stats.json")
    stats.record_shown("m", "python")
    stats.record_accepted("m", "python", 12)
    again = AcceptanceStats(tmp_path / "stats.json")
    assert again.as_json() == [
        {"model": "m", "language": "python", "shown": 1, "accepted": 1, "acceptedCharacters": 12}
    ]


@pytest.mark.parametrize("fim", [False, True])
async def test_one_request_per_completion_with_the_suffix(fim) -> None:
    client = ScriptedClient(answers={"total =": "price"}, fill_in_the_middle=fim)
    service, _ = await _service(client)
    for text in ("total = █\nprint(total)\n", "total = █\nprint(total)\n# more\n"):
        await service.complete(_cursor(text), invoked=True, settings=QUICK, cacheable=False)
    first, second = client.requests  # one request per completion
    assert first.suffix == "\nprint(total)"  # before any answer: the model is not known yet
    # The first answer said which model answered: a model with FIM fills in front of the
    # suffix, the others get a short one, which the daemon drafts tokens from.
    assert second.suffix == "\nprint(total)\n# more"


async def _loading_service(
    client: ScriptedClient,
) -> tuple[CompletionService, list[EngineStatus]]:
    """A service whose engine is still loading (the connection opens in the background)."""
    published: list[EngineStatus] = []

    async def opener():
        return client

    connection = DaemonConnection(opener, published.append)
    connection.start()
    await asyncio.sleep(0.05)  # opened, and polling the loading model
    return CompletionService(connection, AcceptanceStats()), published


async def test_while_loading_explicit_requests_wait_and_automatic_ones_answer_nothing() -> None:
    client = ScriptedClient(answers={"total =": "price"}, loading_s=1.0)
    service, published = await _loading_service(client)
    assert service.connection.status.state == "loading"
    automatic = await service.complete(_cursor("total = █"), invoked=False, settings=QUICK)
    assert automatic is None and client.requests == []  # nothing queued behind the load
    explicit = await service.complete(_cursor("total = █"), invoked=True, settings=QUICK)
    assert explicit is not None and explicit.text == "price"
    assert [s.state for s in published][-1] == "ready"
    assert "loading" in [s.state for s in published]


async def test_an_explicit_request_waiting_for_the_model_can_be_cancelled() -> None:
    client = ScriptedClient(answers={"total =": "price"}, loading_s=30)
    service, _ = await _loading_service(client)
    waiting = asyncio.ensure_future(
        service.complete(_cursor("total = █"), invoked=True, settings=QUICK))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert client.requests == []
    await service.aclose()


async def test_a_suggestion_the_model_is_unsure_of_is_hidden_unless_asked_for() -> None:
    # Each scripted chunk has probability exp(-0.1) ~ 0.905: below a 0.95 threshold.
    client = ScriptedClient(answers={"total =": "price * count"}, min_confidence=0.95)
    service, _ = await _service(client)
    hidden = await service.complete(_cursor("total = █"), invoked=False, settings=QUICK)
    assert hidden is None and service.counters.hidden_unsure == 1
    assert service.counters.empty == 0
    shown = await service.complete(_cursor("total = █"), invoked=True, settings=QUICK)
    assert shown is not None and shown.text == "price * count"


async def test_a_language_no_model_serves_is_quiet_and_the_status_lists_the_served_ones() -> None:
    client = ScriptedClient(answers={"fn main() {": "println!()", "total =": "price"},
                            languages=("python", "Vue"))  # routes match ignoring case
    service, published = await _service(client)
    await service.connection.refresh()
    rust = CursorContext.from_marked_text("fn main() {█", uri="file:///w/main.rs",
                                          language="rust")
    for invoked in (False, True):
        assert await service.complete(rust, invoked=invoked, settings=QUICK) is None
    assert service.counters.unrouted == 2 and service.counters.unavailable == 0
    assert published[-1].state == "ready" and published[-1].languages == ("python", "vue")
    assert published[-1].as_json()["languages"] == ["python", "vue"]
    python = await service.complete(_cursor("total = █"), invoked=False, settings=QUICK)
    assert python is not None and published[-1].state == "ready"
