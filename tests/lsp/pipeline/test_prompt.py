"""The prompt stage: a character window of whole lines, the suffix (short for models without FIM),
snippets when the whole prefix is sent. (The token budget is the daemon's: see
tests/engine/test_prompt_fit.py.)"""

from __future__ import annotations

from codegend.daemon.client_api import ModelInfo
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.model_facts import ModelFacts
from codegend.lsp.pipeline.prompt import (
    DEFAULT_PROMPT_TOKENS,
    DRAFT_SUFFIX_CHARS,
    MAX_CHARS_PER_TOKEN,
    Snippet,
    build_prompt,
)

DOCUMENT = "".join(f"line_{i:03d} = {i}\n" for i in range(200)) + "value = █\nafter = 1\n"


def _cursor(text: str = DOCUMENT, language: str = "python") -> CursorContext:
    return CursorContext.from_marked_text(text, language=language, uri="file:///w/main.py")


def _model(context_tokens: int, fim: bool = False) -> ModelInfo:
    return ModelInfo("m", context_tokens, 16, "starcoder-spm" if fim else None)


def test_prefix_keeps_the_nearest_whole_lines_within_the_window() -> None:
    prompt = build_prompt(_cursor(), _model(128))
    assert prompt.prefix.endswith("line_199 = 199\nvalue = ")
    assert prompt.prefix.startswith("line_")  # cut at a line boundary
    assert len(prompt.prefix) <= (128 - 16) * MAX_CHARS_PER_TOKEN
    assert not prompt.whole_prefix and prompt.context == ()


def test_a_small_document_goes_whole() -> None:
    whole = build_prompt(_cursor(), _model(4096))
    assert whole.whole_prefix and whole.prefix == DOCUMENT.split("█")[0]


def test_the_suffix_goes_to_fim_models_and_while_the_model_is_unknown() -> None:
    fim = build_prompt(_cursor(), _model(4096, fim=True))
    assert fim.suffix == "\nafter = 1"
    # A model without FIM gets a short suffix: the daemon drafts from it (prompt lookup).
    assert build_prompt(_cursor(), _model(4096)).suffix == "\nafter = 1"
    long = CursorContext.from_marked_text("x = 1█\n" + "y = 2\n" * 1000, "python")
    assert len(build_prompt(long, _model(4096)).suffix) <= DRAFT_SUFFIX_CHARS
    assert len(build_prompt(long, _model(4096, fim=True)).suffix) > DRAFT_SUFFIX_CHARS
    unknown = build_prompt(_cursor(), None)
    assert unknown.suffix == "\nafter = 1"
    assert len(unknown.prefix) <= DEFAULT_PROMPT_TOKENS * MAX_CHARS_PER_TOKEN


def test_snippets_only_with_the_whole_prefix_labelled_most_recent_first() -> None:
    snippets = [Snippet("pkg/recent.py", "def recent():\n    pass"), Snippet("old.py", "OLD = 1")]
    prompt = build_prompt(_cursor("import os\nx = █\n"), _model(4096), snippets)
    assert prompt.snippet_paths == ("pkg/recent.py", "old.py")
    assert prompt.context == ("# pkg/recent.py\ndef recent():\n    pass\n\n",
                              "# old.py\nOLD = 1\n\n")
    assert prompt.prefix == "import os\nx = "
    cut = build_prompt(_cursor(), _model(128), snippets)
    assert cut.context == () and cut.snippet_paths == ()
    unknown_language = build_prompt(_cursor("x = █", "unknown-lang"), _model(4096), snippets)
    assert unknown_language.context == ()


def test_a_huge_line_is_cut_from_the_left() -> None:
    huge = "x = [" + ", ".join(str(i) for i in range(20_000)) + "█"
    prompt = build_prompt(_cursor(huge), _model(128))
    assert huge.split("█")[0].endswith(prompt.prefix)
    assert len(prompt.prefix) == (128 - 16) * MAX_CHARS_PER_TOKEN


def test_model_facts_are_learned_per_document_and_dropped_on_a_new_generation() -> None:
    facts = ModelFacts()
    assert facts.lookup(None, "python", "/a.py") is None
    facts.learn(None, "python", "/a.py", ModelInfo("m", 512, 16, None, config_generation=0))
    facts.learn(None, "rust", "/b.rs", ModelInfo("r", 512, 16, None, config_generation=0))
    assert facts.lookup(None, "python", "/a.py").name == "m"
    assert facts.lookup("other", "python", "/a.py") is None  # a chosen model is its own key
    facts.learn(None, "python", "/a.py", ModelInfo("m2", 512, 16, None, config_generation=1))
    assert facts.lookup(None, "python", "/a.py").name == "m2"
    assert facts.lookup(None, "rust", "/b.rs") is None  # learned under the old configuration
