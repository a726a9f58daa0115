"""OpenAI-compatible ``POST /v1/completions``, ``GET /v1/models`` and ``GET /v1/models/{id}``.

Editor plugins written for OpenAI's (legacy) completions API — Continue, llm-vscode, twinny
and friends — and the ``openai`` client library itself can point at codegend unchanged:
errors arrive in OpenAI's shape and statuses (400 for an invalid request, 404 for an unknown
model, ``context_length_exceeded`` for a prompt over the model's context), ``logprobs=N``
gives ``top_logprobs``, ``stream_options.include_usage`` streams the usage chunk. Fields
codegend has no use for are accepted and ignored, so plugins are never refused over them;
fields it cannot honour (``n`` > 1, ``echo``) are refused clearly. Every field, and what
codegend does with it, is listed in ``OPENAI.md`` beside this file.

Differences from OpenAI, on purpose: ``temperature`` defaults to 0 (greedy, so the same
context gives the same completion), ``max_tokens`` defaults to the model's configured
``max_new_tokens``, ``model`` may be omitted (the fallback route, else the first model), and
``truncate: true`` (a codegend extension) keeps the end of a prompt that is too long instead
of answering 400.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from codegend.daemon.client_api import CompletionChunk, CompletionRequest
from codegend.daemon.core import (
    DaemonCore,
    InvalidRequest,
    RunningCompletion,
    SuffixNotSupported,
    UnknownModel,
)
from codegend.daemon.http.support import (
    Text,
    error_payload,
    error_response,
    error_responses,
    stream_events,
    until_disconnect,
)
from codegend.engine.types import prompt_budget


class ContextLengthExceeded(InvalidRequest):
    """The prompt and the completion asked for do not fit in the model's context."""

    code = "context_length_exceeded"
    param = "prompt"


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False  # one more chunk before [DONE], with the usage


class OpenAICompletionBody(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: Text | None = None
    prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=1)] = ""
    # The text after the insertion point: a model with a fill-in-the-middle template writes
    # what goes between; any other model answers 400 (it cannot honour it).
    suffix: Text | None = None
    max_tokens: int | None = Field(default=None, ge=0)  # None: the model's max_new_tokens
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: Text | Annotated[list[Text], Field(max_length=16)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    echo: Literal[False] = False
    logprobs: int | None = Field(default=None, ge=0, le=5)
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    truncate: bool = False  # codegend: keep the prompt's end instead of context_length_exceeded
    # Accepted and ignored (OPENAI.md says why); declared so their types are still checked.
    best_of: int | None = Field(default=None, ge=1)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    user: str | None = None

    @property
    def prompt_text(self) -> str:
        return self.prompt[0] if isinstance(self.prompt, list) else self.prompt

    def request(self) -> CompletionRequest:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if any(not s for s in stop):
            raise InvalidRequest("stop strings must not be empty")
        if self.stream_options is not None and not self.stream:
            error = InvalidRequest("stream_options is only allowed when stream is true")
            error.param = "stream_options"  # type: ignore[attr-defined]
            raise error
        return CompletionRequest(
            prefix=self.prompt_text, suffix=self.suffix or "", model=self.model or None,
            mode="block", max_new_tokens=self.max_tokens,
            stop=tuple(stop), temperature=self.temperature or 0.0,
            top_p=1.0 if self.top_p is None else self.top_p, seed=self.seed, invoked=True,
            top_logprobs=self.logprobs or 0,
        )


def build_openai_router(core: DaemonCore) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/completions", responses=error_responses(400, 404, 413, 429, 503),
                 summary="OpenAI-compatible text completion (stream: server-sent events)")
    async def completions(body: OpenAICompletionBody, request: Request) -> Response:
        completion_id = f"cmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        completion = body.request()
        if not body.truncate:
            await until_disconnect(request, _check_context(core, body, completion))
        try:
            running = await until_disconnect(
                request, core.start_completion(completion, suffix_required=True))
        except SuffixNotSupported as err:
            return error_response(400, str(err), "invalid_request_error", param="suffix")
        if not body.stream:
            result = await until_disconnect(request, running.finish())
            choice = {"text": result.text, "index": 0, "finish_reason": _finish_reason(
                result.finish_reason), "logprobs": _logprobs(running.pieces(), body.logprobs)
                if body.logprobs is not None else None}
            return JSONResponse({"id": completion_id, "object": "text_completion",
                                 "created": created, "model": result.model,
                                 "choices": [choice], "usage": _usage(running)})

        include_usage = body.stream_options is not None and body.stream_options.include_usage
        offset = [0]  # where the next chunk's text starts in the completion

        def encode(chunk: CompletionChunk | None, running: RunningCompletion, error) -> bytes:
            if error is not None:
                return _sse(error_payload(error)) + b"data: [DONE]\n\n"
            if chunk is not None:
                text, reason = chunk.text, None
                logprobs = _logprobs([chunk], body.logprobs, offset[0])
                offset[0] += len(chunk.text)
            else:
                text, reason = "", _finish_reason(running.result().finish_reason)
                logprobs = None
            choice = {"text": text, "index": 0, "finish_reason": reason,
                      "logprobs": logprobs if body.logprobs is not None else None}
            event = {"id": completion_id, "object": "text_completion", "created": created,
                     "model": running.model, "choices": [choice]}
            if include_usage:
                event["usage"] = None  # as OpenAI: null on every chunk but the last
            out = _sse(event)
            if chunk is None:
                if include_usage:
                    out += _sse({**event, "choices": [], "usage": _usage(running)})
                out += b"data: [DONE]\n\n"
            return out

        return await stream_events(request, running, encode, "text/event-stream")

    @router.get("/v1/models", summary="Every configured model (OpenAI list format, plus state)")
    async def models() -> dict:
        return {"object": "list", "data": [_model(core, s) for s in core.statuses()]}

    @router.get("/v1/models/{model_id}", responses=error_responses(404),
                summary="One configured model (OpenAI format, plus state)")
    async def model(model_id: str) -> Response:
        status = next((s for s in core.statuses() if s.name == model_id), None)
        if status is None:
            names = ", ".join(s.name for s in core.statuses())
            return error_response(404, f"the model {model_id!r} does not exist (models: "
                                  f"{names})", "invalid_request_error", param="model",
                                  code="model_not_found")
        return JSONResponse(_model(core, status))

    return router


async def _check_context(core: DaemonCore, body: OpenAICompletionBody,
                         completion: CompletionRequest) -> None:
    """OpenAI's rule: the prompt's tokens and ``max_tokens`` must fit in the model's context
    (the engine would otherwise keep only the prompt's end, silently)."""
    try:
        info = await core.model_info(completion.language, completion.path, completion.model)
    except UnknownModel as err:
        err.param = "model"  # type: ignore[attr-defined]
        raise
    texts = [completion.prefix] + ([completion.suffix] if info.fill_in_the_middle else [])
    prompt_tokens = sum(await core.count_tokens(info.name, texts))
    wanted = info.max_new_tokens if body.max_tokens is None else body.max_tokens
    if prompt_tokens > prompt_budget(info.context_tokens, wanted):
        raise ContextLengthExceeded(
            f"model {info.name!r} has a context of {info.context_tokens} tokens, but "
            f"{prompt_tokens + wanted} were asked for ({prompt_tokens} in the prompt, "
            f"{wanted} for the completion). Shorten the prompt or max_tokens, or send "
            "\"truncate\": true to keep the end of the prompt.")


def _model(core: DaemonCore, status) -> dict:
    return {"id": status.name, "object": "model", "created": int(core.started_at),
            "owned_by": "codegend", "state": status.state, "reason": status.reason,
            "backend": status.backend, "languages": list(status.languages)}


def _usage(running: RunningCompletion) -> dict:
    result = running.result()
    return {"prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.generated_tokens,
            "total_tokens": result.prompt_tokens + result.generated_tokens}


def _sse(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def _finish_reason(reason: str) -> str:
    """OpenAI knows only "stop" and "length"; newline, eos, stop strings are all "stop"."""
    return "length" if reason == "length" else "stop"


def _logprobs(pieces: list[CompletionChunk], top: int | None, start: int = 0) -> dict:
    """OpenAI's legacy logprobs object. A piece is the text of one token, or of several when
    a character spans tokens; ``top_logprobs`` holds the ``top`` likeliest tokens at its
    position and, as OpenAI's, the chosen one (so up to ``top`` + 1 entries)."""
    offsets, at = [], start
    for piece in pieces:
        offsets.append(at)
        at += len(piece.text)
    return {"tokens": [p.text for p in pieces], "token_logprobs": [p.logprob for p in pieces],
            "top_logprobs": [_top(p, top or 0) for p in pieces], "text_offset": offsets}


def _top(piece: CompletionChunk, n: int) -> dict[str, float]:
    likeliest: dict[str, float] = {}
    for text, logprob in piece.top[:n]:
        if math.isfinite(logprob):  # two token ids may decode to the same text: keep the best
            likeliest[text] = max(logprob, likeliest.get(text, -math.inf))
    likeliest.setdefault(piece.text, piece.logprob)
    return likeliest
