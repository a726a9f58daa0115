"""OpenAI-compatible ``POST /v1/completions`` and ``GET /v1/models``.

Editor plugins written for OpenAI's (legacy) completions API — Continue, llm-vscode, twinny
and friends — can point at codegend unchanged. Fields codegend has no use for (``user``,
penalties, ``best_of``) are accepted and ignored, so such plugins are never refused over them;
fields it cannot honour (``n`` > 1, ``echo``) are refused with a clear 422.

Differences from OpenAI, on purpose: ``temperature`` defaults to 0 (greedy, so the same
context gives the same completion), ``max_tokens`` defaults to the model's configured
``max_new_tokens``, and ``model`` may be omitted to use the fallback route.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from codegend.daemon.client_api import CompletionRequest
from codegend.daemon.core import (
    DaemonCore,
    InvalidRequest,
    RunningCompletion,
    SuffixNotSupported,
)
from codegend.daemon.http.support import (
    Text,
    error_payload,
    error_response,
    error_responses,
    stream_events,
    until_disconnect,
)


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
    n: int = Field(default=1, ge=1, le=1)
    echo: Literal[False] = False
    logprobs: int | None = Field(default=None, ge=0, le=5)
    seed: int | None = Field(default=None, ge=0, lt=2**63)

    def request(self) -> CompletionRequest:
        prompt = self.prompt[0] if isinstance(self.prompt, list) else self.prompt
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if any(not s for s in stop):
            raise InvalidRequest("stop strings must not be empty")
        return CompletionRequest(
            prefix=prompt, suffix=self.suffix or "", model=self.model or None, mode="block",
            max_new_tokens=self.max_tokens,
            stop=tuple(stop), temperature=self.temperature or 0.0,
            top_p=1.0 if self.top_p is None else self.top_p, seed=self.seed, invoked=True,
        )


def build_openai_router(core: DaemonCore) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/completions", responses=error_responses(400, 404, 413, 422, 429, 503),
                 summary="OpenAI-compatible text completion (stream: server-sent events)")
    async def completions(body: OpenAICompletionBody, request: Request) -> Response:
        completion_id = f"cmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        try:
            running = await until_disconnect(
                request, core.start_completion(body.request(), suffix_required=True))
        except SuffixNotSupported as err:
            return error_response(400, str(err), "invalid_request_error")
        if not body.stream:
            result = await until_disconnect(request, running.finish())
            choice = {"text": result.text, "index": 0, "finish_reason": _finish_reason(
                result.finish_reason), "logprobs": _logprobs(running) if body.logprobs
                is not None else None}
            usage = {"prompt_tokens": result.prompt_tokens,
                     "completion_tokens": result.generated_tokens,
                     "total_tokens": result.prompt_tokens + result.generated_tokens}
            return JSONResponse({"id": completion_id, "object": "text_completion",
                                 "created": created, "model": result.model,
                                 "choices": [choice], "usage": usage})

        def encode(chunk, running: RunningCompletion, error) -> bytes:
            if error is not None:
                return _sse(error_payload(error)) + b"data: [DONE]\n\n"
            if chunk is not None:
                text, reason = chunk.text, None
                logprobs = {"tokens": [chunk.text], "token_logprobs": [chunk.logprob],
                            "top_logprobs": None, "text_offset": [0]}
            else:
                text, reason = "", _finish_reason(running.result().finish_reason)
                logprobs = None
            choice = {"text": text, "index": 0, "finish_reason": reason,
                      "logprobs": logprobs if body.logprobs is not None else None}
            event = _sse({"id": completion_id, "object": "text_completion", "created": created,
                          "model": running.model, "choices": [choice]})
            return event + (b"data: [DONE]\n\n" if chunk is None else b"")

        return await stream_events(request, running, encode, "text/event-stream")

    @router.get("/v1/models", summary="Every configured model (OpenAI list format, plus state)")
    async def models() -> dict:
        created = int(core.started_at)
        return {"object": "list", "data": [
            {"id": s.name, "object": "model", "created": created, "owned_by": "codegend",
             "state": s.state, "reason": s.reason, "backend": s.backend,
             "languages": list(s.languages)} for s in core.statuses()]}

    return router


def _sse(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def _finish_reason(reason: str) -> str:
    """OpenAI knows only "stop" and "length"; newline, eos, stop strings are all "stop"."""
    return "length" if reason == "length" else "stop"


def _logprobs(running: RunningCompletion) -> dict:
    pieces = running.pieces()
    offsets, at = [], 0
    for piece in pieces:
        offsets.append(at)
        at += len(piece.text)
    return {"tokens": [p.text for p in pieces], "token_logprobs": [p.logprob for p in pieces],
            "top_logprobs": None, "text_offset": offsets}
