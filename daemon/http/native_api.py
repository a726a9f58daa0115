"""The daemon's HTTP API (FastAPI): the native endpoints ``codegend lsp`` uses, health, metrics.

Native completion: ``POST /v1/codegend/complete`` with the fields of ``CompletionRequest``;
``stream: true`` answers newline-delimited JSON events (or server-sent events when the client
accepts ``text/event-stream``). A request is only accepted once routing, model and queue say
yes and its first token (or its end) exists, so every refusal is a proper status code; once
streaming, a client that disconnects cancels its generation within one decode step.
The OpenAI-compatible endpoints live in ``openai_api.py``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from codegend import __version__
from codegend.daemon.client_api import CompletionRequest
from codegend.daemon.core import DaemonCore
from codegend.daemon.http.guards import BearerAuth, BodyLimit, HostGuard, allowed_host_values
from codegend.daemon.http.request_counts import RequestCounter
from codegend.daemon.http.support import (
    ClientGone,
    Encoder,
    Text,
    client_gone_handler,
    codegend_error_handler,
    error_payload,
    error_responses,
    http_error_handler,
    status_of,
    stream_events,
    unexpected_error_handler,
    until_disconnect,
    validation_error_handler,
)
from codegend.engine.errors import CodegendError

MAX_TEXTS = 64


StopList = Annotated[list[Text], Field(max_length=16)]


class NativeCompletionBody(BaseModel):
    """The fields of ``CompletionRequest`` plus ``stream``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prefix: Text
    suffix: Text = ""
    language: Text = ""
    path: Text | None = None
    document_key: Text | None = None
    mode: Literal["line", "block"] = "line"
    invoked: bool = False
    max_new_tokens: int | None = Field(default=None, ge=0)
    stop: StopList = Field(default_factory=list)
    model: Text | None = None
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    token_healing: bool = False
    context: Annotated[list[Text], Field(max_length=16)] = Field(default_factory=list)
    top_logprobs: int = Field(default=0, ge=0, le=5)
    background: bool = False
    document_start: bool = False
    stream: bool = False

    def request(self) -> CompletionRequest:
        fields = self.model_dump(exclude={"stream"})
        return CompletionRequest(**{**fields, "stop": tuple(self.stop),
                                    "context": tuple(self.context)})


class TokenizeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Text
    texts: Annotated[list[Text], Field(max_length=MAX_TEXTS)]


def build_app(core: DaemonCore, token: str | None = None, port: int | None = None) -> FastAPI:
    """The ASGI app over ``core``; with ``token`` every request needs that bearer token.
    ``port``: the port actually bound (``server.port`` may be 0), which Host must name."""
    from codegend.daemon.http.openai_api import build_openai_router

    app = FastAPI(
        title="codegend", version=__version__,
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN; stay offline
        description="Private, offline code completion. Native endpoints under /v1/codegend, "
                    "OpenAI-compatible /v1/completions and /v1/models.",
    )
    app.add_exception_handler(CodegendError, codegend_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    app.add_exception_handler(ClientGone, client_gone_handler)
    # Added innermost first: the Host check runs first, then the token, then the body.
    server = core.config.server
    app.add_middleware(BodyLimit, max_bytes=server.max_body_bytes,
                       timeout_s=server.body_timeout_s)
    if token is not None:
        app.add_middleware(BearerAuth, token=token)
    app.add_middleware(HostGuard, allowed=allowed_host_values(
        server.host, port or server.port, server.is_loopback, server.allowed_hosts))
    app.include_router(build_openai_router(core))

    @app.post("/v1/codegend/complete", responses=error_responses(400, 404, 413, 429, 503),
              summary="Complete code (native; streams NDJSON or SSE with stream: true)")
    async def complete(body: NativeCompletionBody, request: Request) -> Response:
        running = await until_disconnect(request, core.start_completion(body.request()))
        if not body.stream:
            result = await until_disconnect(request, running.finish())
            return JSONResponse({**asdict(result), "model_info": asdict(running.info)})
        sse = "text/event-stream" in request.headers.get("accept", "")
        return await stream_events(request, running, _native_event(sse),
                                   "text/event-stream" if sse else "application/x-ndjson")

    @app.post("/v1/codegend/tokenize", responses=error_responses(400, 404, 413, 503),
              summary="Count tokens of texts under a model's tokenizer")
    async def tokenize(body: TokenizeBody, request: Request) -> dict:
        counts = await until_disconnect(request, core.count_tokens(body.model, body.texts))
        return {"model": body.model, "counts": counts}

    @app.get("/v1/codegend/model_info", responses=error_responses(404, 503),
             summary="The model that serves a language (routing applied)")
    async def model_info(
        request: Request, language: str = "", path: str | None = None,
        model: Annotated[str | None, Query()] = None,
    ) -> dict:
        info = await until_disconnect(request, core.model_info(language, path, model))
        return asdict(info)

    @app.get("/v1/health", summary="Models, their states, the active and any rejected config")
    async def health() -> dict:
        return core.health()

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})
    async def metrics() -> Response:
        return Response(core.metrics.render(),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    # Outermost: every request the daemon receives is counted, refused ones too.
    app.add_middleware(RequestCounter, metrics=core.metrics)
    return app


def _native_event(sse: bool) -> Encoder:
    told = False  # the first event carries the model's facts, so clients need no other trip

    def encode(chunk, running, error) -> bytes:
        nonlocal told
        if error is not None:
            # The status the error would have had as a response (headers are sent already).
            event = {"type": "error", "status": status_of(error)[0], **error_payload(error)}
        elif chunk is not None:
            event = {"type": "chunk", "text": chunk.text, "logprob": chunk.logprob,
                     "tokens": chunk.tokens}
        else:
            event = {"type": "done", "result": asdict(running.result())}
        if not told and error is None:
            event["model_info"] = asdict(running.info)
            told = True
        line = json.dumps(event, ensure_ascii=False)
        return f"data: {line}\n\n".encode() if sse else f"{line}\n".encode()

    return encode
