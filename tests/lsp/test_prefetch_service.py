"""Prefetch after accept, in the service: the suggestion after Tab comes from the cache."""

from __future__ import annotations

import asyncio

import pytest

from codegend.lsp.pipeline.completion_cache import Insertion
from codegend.lsp.settings import Settings
from tests.lsp.fake_client import ScriptedClient
from tests.lsp.test_service import QUICK, URI, _cursor, _service

pytestmark = pytest.mark.asyncio
ANSWERS = {"total =": "price * count", "total = price * count": "  # the sum"}


async def _shown(client: ScriptedClient, settings: Settings = QUICK):
    service, _ = await _service(client)
    shown = await service.complete(_cursor("total = █"), invoked=False, settings=settings)
    assert shown is not None and shown.text == "price * count"
    return service


async def test_tab_brings_the_prefetched_suggestion_from_the_cache() -> None:
    client = ScriptedClient(answers=ANSWERS)
    service = await _shown(client)
    await service.prefetch.wait(URI)
    (prefetch,) = client.prefetches
    assert prefetch.background and prefetch.prefix == "total = price * count"
    assert service.counters.prefetched == 1
    # Tab: the editor inserts the whole suggestion, then asks at its end.
    service.document_changed(URI, Insertion(0, 8, "price * count"), 0)
    after = await service.complete(_cursor("total = price * count█"), invoked=False,
                                   settings=QUICK)
    assert after is not None and after.text == "  # the sum" and after.source == "cache"
    assert len(client.requests) == 1  # only the first suggestion went to the model
    assert service.counters.answered_from_prefetch == 1


async def test_a_follow_up_on_screen_gets_its_own_follow_up() -> None:
    answers = {**ANSWERS, "total = price * count  # the sum": " of all"}
    client = ScriptedClient(answers=answers)
    service = await _shown(client)
    await service.prefetch.wait(URI)
    service.document_changed(URI, Insertion(0, 8, "price * count"), 0)
    await service.complete(_cursor("total = price * count█"), invoked=False, settings=QUICK)
    await service.prefetch.wait(URI)
    assert [r.prefix for r in client.prefetches] == [
        "total = price * count", "total = price * count  # the sum"]
    service.document_changed(URI, Insertion(0, 21, "  # the sum"), 0)
    third = await service.complete(_cursor("total = price * count  # the sum█"),
                                   invoked=False, settings=QUICK)
    assert third is not None and third.source == "cache" and third.text == " of all"
    assert len(client.requests) == 1 and service.counters.answered_from_prefetch == 2


async def test_typing_the_suggestion_to_its_end_works_like_tab() -> None:
    client = ScriptedClient(answers=ANSWERS)
    service = await _shown(client)
    await service.prefetch.wait(URI)
    for column, character in enumerate("price * count", start=8):
        service.document_changed(URI, Insertion(0, column, character), 0)
    after = await service.complete(_cursor("total = price * count█"), invoked=False,
                                   settings=QUICK)
    assert after is not None and after.source == "cache" and after.text == "  # the sum"


async def test_tab_before_the_prefetch_is_done_waits_for_it() -> None:
    client = ScriptedClient(answers=ANSWERS, chunk_delay_s=0.05)  # about 0.4 s an answer
    service, _ = await _service(client)
    await service.complete(_cursor("total = █"), invoked=False, settings=QUICK)
    assert URI in service.prefetch  # still running when the user presses Tab
    service.document_changed(URI, Insertion(0, 8, "price * count"), 0)
    after = await service.complete(_cursor("total = price * count█"), invoked=False,
                                   settings=QUICK)
    assert after is not None and after.source == "cache" and after.text == "  # the sum"
    assert len(client.requests) == 1


async def test_a_different_edit_cancels_the_prefetch_and_its_answer_is_never_shown() -> None:
    client = ScriptedClient(answers=ANSWERS, chunk_delay_s=0.05)
    service, _ = await _service(client)
    await service.complete(_cursor("total = █"), invoked=False, settings=QUICK)
    assert URI in service.prefetch
    service.document_changed(URI, Insertion(0, 8, "x"), 0)  # not the suggestion
    assert URI not in service.prefetch
    await asyncio.sleep(0.6)  # long enough for the prefetch to have finished
    assert service.counters.prefetched == 0
    assert service.cache.lookup(URI, 0, 21) is None


async def test_an_interrupted_prefetch_is_discarded() -> None:
    """The daemon preempts background requests; a cut-off answer must not be cached."""
    client = ScriptedClient(answers=ANSWERS)
    original = client._chunks

    async def preempted(request, stream):
        async for chunk in original(request, stream):
            yield chunk
        if request.background:
            stream.finish_reason = "cancelled"

    client._chunks = preempted
    service = await _shown(client)
    await service.prefetch.wait(URI)
    assert client.prefetches and service.counters.prefetched == 0
    service.document_changed(URI, Insertion(0, 8, "price * count"), 0)
    after = await service.complete(_cursor("total = price * count█"), invoked=False,
                                   settings=QUICK)
    assert after is not None and after.source == "model"


async def test_the_setting_turns_it_off() -> None:
    client = ScriptedClient(answers=ANSWERS)
    service = await _shown(client, Settings(debounce_ms=0, prefetch=False))
    assert URI not in service.prefetch and client.prefetches == []
