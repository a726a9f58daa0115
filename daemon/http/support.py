"""What every HTTP endpoint shares: error statuses, disconnects, validated text, and
streaming (the guards every request passes first are in ``guards``).

Bad input is always a 4xx with a one-line message in OpenAI's error shape
(``{"error": {"message", "type", "code"}}``) so OpenAI-style plugins show it as is. Error
bodies are ASCII-escaped JSON: a message may quote client text, and a lone surrogate in that
text must not turn a 422 into an encoding failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import AfterValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from codegend.daemon.client_api import CompletionChunk
from codegend.daemon.core import InvalidRequest, RunningCompletion, UnknownModel
from codegend.daemon.registry import ModelUnavailable
from codegend.daemon.routing import NoRoute
from codegend.daemon.scheduler import QueueFull, SchedulerClosed
from codegend.engine.errors import CodegendError


def _utf8(text: str) -> str:
    text.encode("utf-8")  # a lone surrogate (legal in JSON escapes) is not text: 422
    return text


Text = Annotated[str, AfterValidator(_utf8)]  # a request string that is valid Unicode text


class AsciiJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class ClientGone(Exception):
    """The client disconnected while its request waited; nobody is left to answer."""


def error_response(status: int, message: str, kind: str, headers: dict | None = None):
    return AsciiJSONResponse(
        {"error": {"message": message, "type": kind, "code": status}}, status, headers=headers)


def status_of(err: BaseException) -> tuple[int, str]:
    """The HTTP status and OpenAI error type for a failure raised while serving a request."""
    if isinstance(err, QueueFull):
        return 429, "busy"
    if isinstance(err, UnknownModel | NoRoute):
        return 404, "model_not_found"
    if isinstance(err, ModelUnavailable | SchedulerClosed):
        return 503, "model_unavailable"
    if isinstance(err, InvalidRequest | CodegendError):
        return 422, "invalid_request_error"
    return 500, "internal_error"


def response_for(err: BaseException) -> JSONResponse:
    status, kind = status_of(err)
    headers = {"Retry-After": str(err.retry_after_s)} if isinstance(err, QueueFull) else None
    message = "internal error (see the daemon log)" if status == 500 else str(err)
    return error_response(status, message, kind, headers)


async def client_gone_handler(_request: Request, _err: Exception) -> Response:
    return Response(status_code=499)  # nobody reads it; uvicorn just closes the exchange


async def unexpected_error_handler(_request: Request, err: Exception) -> Response:
    """A bug, not bad input: a JSON 500 (the traceback is in the daemon log)."""
    return response_for(err)


async def codegend_error_handler(_request: Request, err: Exception) -> JSONResponse:
    return response_for(err)


async def http_error_handler(_request: Request, err: Exception) -> Response:
    """Starlette's own refusals (400 unreadable body, 404 path, 405 method) in the same shape."""
    assert isinstance(err, StarletteHTTPException)
    kind = "invalid_request_error" if err.status_code < 500 else "internal_error"
    return error_response(err.status_code, str(err.detail), kind, dict(err.headers or {}))


async def validation_error_handler(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    problems = []
    for item in err.errors()[:5]:
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return error_response(422, "; ".join(problems) or "invalid request", "invalid_request_error")


async def until_disconnect(request: Request, work: Awaitable) -> Any:
    """Await ``work`` unless the client disconnects first; then cancel it (its cleanup stops
    the generation) and raise :class:`ClientGone`."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watcher.cancel()
    if task.cancelled() or not task.done():
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
        raise ClientGone()
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def error_responses(*codes: int) -> dict:
    """OpenAPI entries for the error statuses an endpoint can answer."""
    return {code: {"description": _ERROR_TEXT[code]} for code in codes}


_ERROR_TEXT = {
    400: "the body is not readable text (e.g. not UTF-8)",
    401: "missing or wrong bearer token",
    403: "a request from a web page (an Origin header of another site)",
    404: "no such model, or no route for the language",
    408: "the request body did not arrive within server.body_timeout_s",
    413: "request body too large",
    421: "the Host header is not this daemon's address (server.allowed_hosts)",
    422: "invalid request",
    429: "the model's queue is full; retry after Retry-After seconds",
    503: "the model failed to load or is being unloaded",
}

Encoder = Callable[[CompletionChunk | None, RunningCompletion, BaseException | None], bytes]


async def stream_events(
    request: Request, running: RunningCompletion, encode: Encoder, media_type: str
) -> Response:
    """Stream ``running``'s chunks through ``encode``; ``encode(None, ...)`` ends the stream.

    The first chunk is awaited before answering, so a failure before any token still gets a
    proper status code instead of a 200 with an error inside.
    """
    chunks = running.chunks()
    try:
        first = await until_disconnect(request, anext(chunks, None))
    except BaseException:
        running.cancel()
        raise

    async def body() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield encode(first, running, None)
                async for chunk in chunks:
                    yield encode(chunk, running, None)
            yield encode(None, running, None)
        except Exception as err:  # headers are sent: report inside the stream and end it
            yield encode(None, running, err)
        finally:
            running.cancel()  # the client went away mid-stream: stop the generation

    return StreamingResponse(body(), media_type=media_type,
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def error_payload(err: BaseException) -> dict:
    """The ``{"error": ...}`` body ``err`` would get as a response, for use inside a stream."""
    return json.loads(response_for(err).body)
