"""Stage 6: stay silent when the model is unsure.

Every streamed chunk carries the summed log-probability of its tokens. A suggestion's
confidence is read from the tokens of its first line with content (the part a user judges
first, and the part the replay counts as accepted): ``SCORE`` names which summary of their
log-probabilities is used, turned into a probability in [0, 1]. It was chosen by measurement
on the typing replay of held-out code (``bench/calibrate_confidence.py``, which compares
every summary in ``SCORES``; bench/results/confidence_calibration.png): the sum, i.e. the
probability the model gives that line exactly as written. At equal shares of suggestions
accepted it keeps the most accepted characters: it falls with each unsure token, where the
mean forgives one wild guess among sure ones and the minimum ignores how many tokens hedge.

An automatic suggestion below the model's ``min_confidence`` (its YAML, reported with every
answer) is hidden; an explicit (Invoked) request still shows its best suggestion. A
multi-line argument list after an open parenthesis (``AfterParenStop``) must also be
confident as a whole, where small models otherwise invent code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from codegend.daemon.client_api import CompletionChunk, ModelInfo
from codegend.lsp.pipeline.stop_rules import AfterParenStop, StopRule, content_end

LogprobSummary = Callable[[Sequence[float]], float]

# Summaries of per-token log-probabilities, each a log-probability itself.
SCORES: dict[str, LogprobSummary] = {
    "mean": lambda values: sum(values) / len(values),  # geometric mean of token probabilities
    "min": min,  # the least likely token
    "sum": sum,  # the probability of the whole line, exactly as written
    "first": lambda values: values[0],  # the first token alone
}
SCORE = "sum"  # chosen on the replay: see bench/calibrate_confidence.py and its figures
# The threshold of a model whose YAML sets no ``min_confidence``: calibrated on the replay
# for each built-in model on its own languages (bench/results/confidence_calibration_py.*
# and _web.*): the most accepted characters per typed character with >= 30% of shown
# suggestions accepted. tiny-web: sum >= 0.15 (33.0% accepted); tiny-py (as trained
# further in session 5): sum >= 0.10 is best by 2% (0.141 vs 0.138 accepted characters per
# typed character) with fewer accepted (34.1% vs 38.8%) and more ghost text, so both keep
# one score and one threshold (bench/REPLAY.md has the figures).
DEFAULT_MIN_CONFIDENCE = 0.15


def min_confidence(model: ModelInfo | None) -> float:
    """The threshold the model's configuration asks for, or the calibrated default."""
    if model is None or model.min_confidence is None:
        return DEFAULT_MIN_CONFIDENCE
    return model.min_confidence


class LogprobTrace:
    """The streamed chunks' per-token log-probabilities, by where they sit in the text."""

    def __init__(self) -> None:
        self._starts: list[int] = []  # offset of each token's chunk in the raw text
        self._logprobs: list[float] = []  # one per token
        self._length = 0

    def feed(self, chunk: CompletionChunk) -> None:
        tokens = max(1, chunk.tokens)  # a chunk always holds at least one token's text
        self._starts.extend([self._length] * tokens)
        self._logprobs.extend([chunk.logprob / tokens] * tokens)
        self._length += len(chunk.text)

    def before(self, end: int) -> tuple[float, ...]:
        """Log-probabilities of the tokens that start before offset ``end`` (at least the
        first, when any): the tokens that wrote the raw text up to there."""
        chosen = [lp for start, lp in zip(self._starts, self._logprobs, strict=True)
                  if start < end]
        return tuple(chosen or self._logprobs[:1])


@dataclass(frozen=True)
class Confidence:
    first_line: tuple[float, ...]  # per-token log-probabilities of the first line with content
    whole: tuple[float, ...]  # ... of everything shown

    @classmethod
    def of(cls, trace: LogprobTrace, shown: str) -> Confidence:
        """The confidence of ``shown`` (the post-processed text): post-processing cuts and
        balances the raw text but keeps its start, so offsets into ``shown`` are taken as
        offsets into the raw text."""
        return cls(trace.before(content_end(shown)), trace.before(len(shown)))

    def score(self, summary: str = SCORE, whole: bool = False) -> float:
        """A probability in [0, 1]; 0 when there are no tokens to judge."""
        values = self.whole if whole else self.first_line
        return math.exp(SCORES[summary](values)) if values else 0.0


@dataclass(frozen=True)
class GateDecision:
    show: bool
    confidence: float  # the suggestion's score (SCORE over its first line)
    reason: str  # for logs and statistics


def judge(
    text: str,
    confidence: Confidence,
    min_confidence: float,
    *,
    invoked: bool,
    rule: StopRule,
) -> GateDecision:
    """Whether to show ``text``: always when explicitly asked, otherwise only when the model
    is confident in its first line (and, for an argument list after ``(``, in all of it)."""
    score = confidence.score()
    if invoked:
        return GateDecision(True, score, "invoked")
    if score < min_confidence:
        return GateDecision(False, score, "unsure")
    if isinstance(rule, AfterParenStop) and "\n" in text:
        if confidence.score(whole=True) < min_confidence:
            return GateDecision(False, score, "unsure of the argument list")
    return GateDecision(True, score, "confident")
