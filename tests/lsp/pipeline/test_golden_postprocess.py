"""Golden files pin the post-processing rules: model output in, shown text out."""

from __future__ import annotations

from collections import Counter

import pytest

from codegend.lsp.pipeline.completion_mode import choose_mode
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.indentation import detect_indent_style
from codegend.lsp.pipeline.postprocess import (
    POSTPROCESSORS,
    Candidate,
    PostprocessContext,
    postprocess,
)
from tests.lsp.pipeline.golden_cases import GoldenCase, load_cases

CASES = load_cases()


def _run(case: GoldenCase, skip: tuple[str, ...] = ()) -> str | None:
    cursor = CursorContext.from_marked_text(case.document, language=case.language)
    mode = case.mode or choose_mode(cursor, "auto")
    style = detect_indent_style(cursor.lines)
    context = PostprocessContext.for_cursor(cursor, mode, style, case.invoked)
    result = postprocess(Candidate(case.model_output), context, skip=skip)
    return None if result is None else result.text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case(case: GoldenCase) -> None:
    assert _run(case) == case.expected


CHANGING = [c for c in CASES if not c.unchanged]
UNCHANGED = [c for c in CASES if c.unchanged]


@pytest.mark.parametrize("case", CHANGING, ids=[c.name for c in CHANGING])
def test_golden_case_needs_its_rule(case: GoldenCase) -> None:
    """Without the rule the case names, the result differs: each case really pins it."""
    assert _run(case, skip=(case.rule,)) != case.expected


@pytest.mark.parametrize("case", UNCHANGED, ids=[c.name for c in UNCHANGED])
def test_golden_case_rule_leaves_correct_text_alone(case: GoldenCase) -> None:
    """A regression case: the rule it names sees the text and must not change it."""
    cursor = CursorContext.from_marked_text(case.document, language=case.language)
    mode = case.mode or choose_mode(cursor, "auto")
    context = PostprocessContext.for_cursor(cursor, mode, detect_indent_style(cursor.lines),
                                            case.invoked)
    rule = dict(POSTPROCESSORS)[case.rule]
    assert rule(Candidate(case.model_output), context) == Candidate(case.model_output)


def test_every_rule_is_pinned_by_golden_cases() -> None:
    counts = Counter(case.rule for case in CASES)
    assert len(CASES) >= 25
    for name, _ in POSTPROCESSORS:
        assert counts[name] >= 3, f"only {counts[name]} golden cases pin {name}"
    assert set(counts) <= {name for name, _ in POSTPROCESSORS}
