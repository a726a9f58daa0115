"""Prefetch after accept, end to end: `codegend lsp --embedded`, a real LSP client (pytest-lsp),
the real engine on a tiny model. After a suggestion is shown the server computes the one
that follows its acceptance as a background request; Tab then gets it from the cache, and
it is the very suggestion the model gives for that document state."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.lsp.helpers import custom_request, inline_completion, insert_text, open_document
from tests.lsp.test_completion_end_to_end import UNPARSED, session_counters, utf16_length

pytestmark = pytest.mark.asyncio(loop_scope="module")
# The tiny random model writes gibberish, and what an editor inserts ends at its first control
# character: these documents are ones whose suggestion and follow-up both have text before one
# (greedy and seeded, so they stay so until the tiny model or the prompt layout changes).


async def prefetched_at_least(client, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (await session_counters(client))["prefetched"] < count:
        assert time.monotonic() < deadline, str(await session_counters(client))
        await asyncio.sleep(0.05)


async def test_tab_brings_the_next_suggestion_from_the_prefetch(lsp) -> None:
    uri = "file:///work/project/prefetch.txt"
    text = "idea: "
    open_document(lsp, uri, text + "\n", language=UNPARSED)
    start = await session_counters(lsp)
    (shown,) = await inline_completion(lsp, uri, 0, len(text), invoked=False)
    await prefetched_at_least(lsp, start["prefetched"] + 1)  # the user reads the suggestion
    insert_text(lsp, uri, 2, 0, utf16_length(text), shown.insert_text)  # Tab
    text += shown.insert_text
    before = await session_counters(lsp)
    (follow,) = await inline_completion(lsp, uri, 0, utf16_length(text), invoked=False)
    after = await session_counters(lsp)
    assert after["answeredFromPrefetch"] == before["answeredFromPrefetch"] + 1
    assert after["answeredByModel"] == before["answeredByModel"]  # no model run for it
    assert after["prefetchTokens"] > start["prefetchTokens"]
    # What Tab brought is what the model answers for that text asked the usual way.
    fresh = "file:///work/project/fresh.txt"
    open_document(lsp, fresh, text + "\n", language=UNPARSED)
    (direct,) = await inline_completion(lsp, fresh, 0, utf16_length(text), invoked=False)
    assert direct.insert_text == follow.insert_text
    stats = await custom_request(lsp, "codegend/stats")
    assert stats["session"]["answeredFromPrefetch"] >= 1


async def test_tab_right_after_the_suggestion_waits_for_its_prefetch(lsp) -> None:
    uri = "file:///work/project/quick.txt"
    text = "items: "
    open_document(lsp, uri, text + "\n", language=UNPARSED)
    (shown,) = await inline_completion(lsp, uri, 0, len(text), invoked=False)
    before = await session_counters(lsp)
    insert_text(lsp, uri, 2, 0, len(text), shown.insert_text)  # at once, no reading time
    column = len(text) + utf16_length(shown.insert_text)
    (follow,) = await inline_completion(lsp, uri, 0, column, invoked=False)
    after = await session_counters(lsp)
    assert follow.insert_text
    assert after["answeredFromPrefetch"] == before["answeredFromPrefetch"] + 1
    assert after["answeredByModel"] == before["answeredByModel"]
