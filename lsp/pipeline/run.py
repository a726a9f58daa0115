"""One completion through the named stages, on whatever engine the client reaches.

mode → prompt → one request (stop rules cancel its stream early) → post-processing →
the confidence gate (automatic suggestions the model is unsure of are hidden). The
trigger stage, the cache and cancellation live in the service around this, because they
decide whether this runs at all.

The request is the only trip to the daemon: it carries the text around the cursor and the
daemon cuts it to the model's token budget. What the answer says of the model (its facts)
is kept in ``ModelFacts`` and shapes the next request for the same document.

Where the completion ends is decided once, by ``completion_end``: the same rule watches the
stream and cuts in post-processing. A line ends at its first newline in the engine itself
(the request's mode says so), so only a block's end, which depends on indentation the engine
does not judge, is watched while tokens stream.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from codegend.daemon.client_api import (
    CompletionChunk,
    CompletionClient,
    CompletionMode,
    CompletionRequest,
    ModelInfo,
)
from codegend.lsp.pipeline.completion_mode import choose_mode
from codegend.lsp.pipeline.confidence_gate import (
    Confidence,
    GateDecision,
    LogprobTrace,
    judge,
    min_confidence,
)
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.indentation import detect_indent_style
from codegend.lsp.pipeline.model_facts import ModelFacts
from codegend.lsp.pipeline.postprocess import Candidate, PostprocessContext, postprocess
from codegend.lsp.pipeline.prompt import Snippet, build_prompt
from codegend.lsp.pipeline.stop_rules import StreamingStop, completion_end
from codegend.lsp.settings import MaxCompletion
from codegend.lsp.stats import SessionCounters

logger = logging.getLogger(__name__)
_UNKNOWN = ModelInfo("", 0, 0)  # a stream that ended before saying which model answered
INDENT_SAMPLE_LINES = 200  # lines either side of the cursor that decide tabs vs spaces


@dataclass(frozen=True)
class PipelineResult:
    text: str | None  # None: nothing worth showing
    model: str
    mode: CompletionMode
    generated_tokens: int  # engine tokens streamed for this completion
    stopped_early: bool  # a stop rule fired and the stream was cancelled
    gate: GateDecision | None = None  # None: nothing reached the gate (no text)
    confidence: Confidence | None = None  # the log-probabilities the gate judged
    # The daemon stopped the generation before its end (a background request preempted):
    # ``text`` is a cut-off answer, never to be shown or cached.
    interrupted: bool = False


@contextlib.asynccontextmanager
async def _closing(
    stream: AsyncIterator[CompletionChunk],
) -> AsyncIterator[AsyncIterator[CompletionChunk]]:
    try:
        yield stream
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _indent_style(cursor: CursorContext):
    start = max(0, cursor.line - INDENT_SAMPLE_LINES)
    return detect_indent_style(cursor.lines[start : cursor.line + INDENT_SAMPLE_LINES])


async def run_pipeline(
    cursor: CursorContext,
    client: CompletionClient,
    *,
    invoked: bool,
    max_completion: MaxCompletion,
    facts: ModelFacts,
    snippets: Sequence[Snippet] = (),
    model_override: str | None = None,
    counters: SessionCounters | None = None,
    background: bool = False,
) -> PipelineResult:
    """``background``: a prefetch, which the daemon runs only when idle (see scheduler)."""
    mode, rule = completion_end(choose_mode(cursor, max_completion), cursor.line_prefix,
                                cursor.line_suffix, invoked)
    known = facts.lookup(model_override, cursor.language, cursor.path)
    prompt = build_prompt(cursor, known, snippets)
    request = CompletionRequest(
        prefix=prompt.prefix,
        suffix=prompt.suffix,
        context=prompt.context,
        language=cursor.language,
        path=cursor.path,
        document_key=cursor.uri or None,
        mode=mode,
        invoked=invoked,
        model=model_override,
        token_healing=True,  # the cursor often sits after a space or inside a word
        background=background,
        document_start=prompt.whole_prefix,
    )
    watcher = StreamingStop(rule, watch=mode == "block")
    tokens = 0
    trace = LogprobTrace()
    # Leaving the block closes the stream, which cancels the generation in the engine: a
    # fired stop rule, a superseding request and $/cancelRequest all end up here.
    async with _closing(client.stream(request)) as stream:
        async for chunk in stream:
            tokens += chunk.tokens
            if counters is not None:  # counted as they come: cancelled work costs too
                counters.generated_tokens += chunk.tokens
            trace.feed(chunk)
            if watcher.feed(chunk.text):
                break
    answered = getattr(stream, "model", None)  # the model's facts, sent with its answer
    if answered is not None:
        facts.learn(model_override, cursor.language, cursor.path, answered)
    model = model_override or (answered or known or _UNKNOWN).name
    context = PostprocessContext(cursor, mode, rule, _indent_style(cursor), invoked)
    item = postprocess(Candidate(watcher.text), context)
    text, gate, confidence = item.text if item else None, None, None
    if text is not None:
        info = answered or known
        confidence = Confidence.of(trace, text)
        gate = judge(text, confidence, min_confidence(info), invoked=invoked, rule=rule)
        text = text if gate.show else None
    logger.debug(
        "%s completion, %d prefix characters, %d generated%s: %r",
        mode, len(prompt.prefix), tokens, " (stopped early)" if watcher.fired else "",
        watcher.text,
    )
    interrupted = getattr(stream, "finish_reason", None) == "cancelled"
    return PipelineResult(text, model, mode, tokens, watcher.fired, gate, confidence,
                          interrupted)
