"""The confidence gate on constructed log-probabilities: what it scores and what it hides."""

from __future__ import annotations

import math

import pytest

from codegend.daemon.client_api import CompletionChunk, ModelInfo
from codegend.lsp.pipeline.confidence_gate import (
    DEFAULT_MIN_CONFIDENCE,
    Confidence,
    LogprobTrace,
    judge,
    min_confidence,
)
from codegend.lsp.pipeline.stop_rules import AfterParenStop, BlockStop, LineStop, content_end


def trace_of(*chunks: tuple[str, float] | tuple[str, float, int]) -> LogprobTrace:
    trace = LogprobTrace()
    for chunk in chunks:
        trace.feed(CompletionChunk(*chunk))
    return trace


LIKELY = math.log(0.9)
UNLIKELY = math.log(0.05)


def test_the_score_reads_the_first_line_only() -> None:
    trace = trace_of(("x", LIKELY), (" + 1", LIKELY), ("\n", LIKELY), ("garbage", UNLIKELY))
    confidence = Confidence.of(trace, "x + 1\ngarbage")
    assert confidence.first_line == (LIKELY, LIKELY)  # the newline token starts at the end
    assert confidence.score("mean") == pytest.approx(0.9)
    assert confidence.score() == pytest.approx(0.81)  # the line exactly as written
    assert confidence.score(whole=True) < 0.05


def test_a_chunk_of_several_tokens_counts_each_token() -> None:
    trace = trace_of(("é", 2 * math.log(0.5), 2), ("t", math.log(0.8)))
    confidence = Confidence.of(trace, "ét")
    assert confidence.first_line == pytest.approx((math.log(0.5),) * 2 + (math.log(0.8),))
    assert confidence.score("mean") == pytest.approx((0.5 * 0.5 * 0.8) ** (1 / 3))
    assert confidence.score("min") == pytest.approx(0.5)
    assert confidence.score("sum") == pytest.approx(0.2)
    assert confidence.score("first") == pytest.approx(0.5)


def test_leading_blank_lines_belong_to_the_first_line_with_content() -> None:
    text = "\n    return x\n    y"
    assert content_end(text) == len("\n    return x")
    trace = trace_of(("\n", LIKELY), ("    return", LIKELY), (" x", UNLIKELY), ("\n", LIKELY))
    assert len(Confidence.of(trace, text).first_line) == 3


def test_text_added_by_post_processing_is_judged_by_the_tokens_it_follows() -> None:
    trace = trace_of(("path", LIKELY))
    assert Confidence.of(trace, 'path")').first_line == (LIKELY,)
    assert Confidence.of(LogprobTrace(), "x").score() == 0.0  # nothing streamed: no trust


@pytest.mark.parametrize(
    ("logprob", "invoked", "show", "reason"),
    [
        (LIKELY, False, True, "confident"),
        (UNLIKELY, False, False, "unsure"),
        (UNLIKELY, True, True, "invoked"),  # an explicit request still gets its best
    ],
)
def test_the_gate(logprob: float, invoked: bool, show: bool, reason: str) -> None:
    confidence = Confidence.of(trace_of(("value", logprob)), "value")
    decision = judge("value", confidence, 0.5, invoked=invoked, rule=LineStop())
    assert (decision.show, decision.reason) == (show, reason)
    assert decision.confidence == pytest.approx(math.exp(logprob))


def test_an_argument_list_after_a_paren_must_be_confident_as_a_whole() -> None:
    text = "\n    a,\n    b,"
    trace = trace_of(("\n", LIKELY), ("    a", LIKELY), (",", LIKELY), ("\n", UNLIKELY),
                     ("    b", UNLIKELY), (",", UNLIKELY))
    confidence = Confidence.of(trace, text)
    after_paren = AfterParenStop(BlockStop("f("))
    assert not judge(text, confidence, 0.5, invoked=False, rule=after_paren).show
    assert judge(text, confidence, 0.5, invoked=False, rule=BlockStop("f(")).show
    assert judge(text, confidence, 0.5, invoked=True, rule=after_paren).show


def test_the_threshold_comes_from_the_model_or_the_calibrated_default() -> None:
    assert min_confidence(ModelInfo("m", 512, 16, min_confidence=0.2)) == 0.2
    assert min_confidence(ModelInfo("m", 512, 16, min_confidence=0.0)) == 0.0
    assert min_confidence(ModelInfo("m", 512, 16)) == DEFAULT_MIN_CONFIDENCE
    assert min_confidence(None) == DEFAULT_MIN_CONFIDENCE
