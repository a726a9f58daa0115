"""The prompt stage: token budget, line boundaries, fill-in-the-middle, snippets."""

from __future__ import annotations

import pytest

from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.prompt import Snippet, TokenCountCache, build_prompt
from tests.lsp.fake_client import ScriptedClient

pytestmark = pytest.mark.asyncio

DOCUMENT = "".join(f"line_{i:03d} = {i}\n" for i in range(200)) + "value = █\nafter = 1\n"


def _cursor(text: str = DOCUMENT, language: str = "python") -> CursorContext:
    return CursorContext.from_marked_text(text, language=language, uri="file:///w/main.py")


async def _prompt(client: ScriptedClient, cursor: CursorContext, snippets=()):
    info = await client.model_info(cursor.language)
    counter = TokenCountCache().counter(client, info.name)
    return await build_prompt(cursor, info, counter, snippets)


async def test_prefix_keeps_the_nearest_whole_lines_within_the_budget() -> None:
    client = ScriptedClient(context_tokens=128, max_new_tokens=16)
    prompt = await _prompt(client, _cursor())
    assert prompt.prefix.endswith("line_199 = 199\nvalue = ")
    assert prompt.prefix.startswith("line_")  # cut at a line boundary
    assert not prompt.whole_prefix and prompt.suffix == ""
    counted = sum((len(line.encode()) + 2) // 3 for line in prompt.prefix.splitlines(True))
    assert counted <= 128 - 16
    assert prompt.tokens == counted


async def test_bigger_context_takes_more_lines_and_the_whole_small_document() -> None:
    small = await _prompt(ScriptedClient(context_tokens=128), _cursor())
    large = await _prompt(ScriptedClient(context_tokens=512), _cursor())
    assert len(large.prefix) > len(small.prefix)
    whole = await _prompt(ScriptedClient(context_tokens=4096), _cursor())
    assert whole.whole_prefix and whole.prefix == DOCUMENT.split("█")[0]


async def test_fill_in_the_middle_sends_the_nearest_suffix_lines() -> None:
    client = ScriptedClient(context_tokens=4096, fill_in_the_middle=True)
    prompt = await _prompt(client, _cursor())
    assert prompt.suffix == "\nafter = 1"
    plain = await _prompt(ScriptedClient(context_tokens=4096), _cursor())
    assert plain.suffix == ""


async def test_snippets_only_when_budget_remains_labelled_most_recent_nearest() -> None:
    snippets = [Snippet("pkg/recent.py", "def recent():\n    pass"), Snippet("old.py", "OLD = 1")]
    cursor = _cursor("import os\nx = █\n")
    prompt = await _prompt(ScriptedClient(context_tokens=4096), cursor, snippets)
    assert prompt.snippet_paths == ("pkg/recent.py", "old.py")
    assert prompt.prefix == (
        "# old.py\nOLD = 1\n\n# pkg/recent.py\ndef recent():\n    pass\n\nimport os\nx = "
    )
    tight = await _prompt(ScriptedClient(context_tokens=128), _cursor(), snippets)
    assert tight.snippet_paths == () and "recent" not in tight.prefix
    unknown_language = await _prompt(
        ScriptedClient(context_tokens=4096), _cursor("x = █", "unknown-lang"), snippets
    )
    assert unknown_language.snippet_paths == ()


async def test_a_huge_line_is_cut_from_the_left_and_counting_is_cached() -> None:
    client = ScriptedClient(context_tokens=128, max_new_tokens=16)
    huge = "x = [" + ", ".join(str(i) for i in range(20_000)) + "█"
    prompt = await _prompt(client, _cursor(huge))
    assert huge.split("█")[0].endswith(prompt.prefix) and 0 < len(prompt.prefix) < 400
    cache = TokenCountCache()
    counter = cache.counter(client, "fake")
    await counter(["a", "b"])
    before = len(client.counted_texts)
    assert await counter(["b", "a", "c"]) == [1, 1, 1]
    assert client.counted_texts[before:] == ["c"]
