"""What every HTTP endpoint shares: error statuses, disconnects, validated text, and
streaming (the guards every request passes first are in ``guards``).

Bad input is always a 4xx with a one-line message in OpenAI's error shape,
``{"error": {"message", "type", "param", "code"}}`` (``code`` a short string such as
``model_not_found`` or null, ``param`` the request field at fault or null), and invalid
requests are 400 as OpenAI's, so OpenAI clients raise the error type their users expect
(``BadRequestError``, ``NotFoundError``, ``RateLimitError``...). Error bodies are
ASCII-escaped JSON: a message may quote client text, and a lone surrogate in that text must
not turn a 400 into an encoding failure.
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

from codegend.daemon.client_api import CompletionChunk, NoRoute
from codegend.daemon.core import InvalidRequest, RunningCompletion, UnknownModel
from codegend.daemon.registry import ModelUnavailable
from codegend.daemon.scheduler import QueueFull, SchedulerClosed
from codegend.engine.errors import CodegendError


def _utf8(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (legal in JSON escapes) is not text: 400
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return text


Text = Annotated[str, AfterValidator(_utf8)]  # a request string that is valid Unicode text


class AsciiJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class ClientGone(Exception):
    """The client disconnected while its request waited; nobody is left to answer."""


def error_response(status: int, message: str, kind: str, headers: dict | None = None, *,
                   code: str | None = None, param: str | None = None) -> AsciiJSONResponse:
    error = {"message": message, "type": kind, "param": param, "code": code}
    return AsciiJSONResponse({"error": error}, status, headers=headers)


def status_of(err: BaseException) -> tuple[int, str, str | None]:
    """The HTTP status, OpenAI error type and code for a failure raised while serving a
    request. An exception may name its own ``code`` (and ``param``) as attributes."""
    if isinstance(err, QueueFull):
        return 429, "rate_limit_error", "rate_limit_exceeded"
    if isinstance(err, NoRoute):
        return 404, "invalid_request_error", NoRoute.code
    if isinstance(err, UnknownModel):
        return 404, "invalid_request_error", "model_not_found"
    if isinstance(err, ModelUnavailable | SchedulerClosed):
        return 503, "server_error", "model_unavailable"
    if isinstance(err, InvalidRequest | CodegendError):
        return 400, "invalid_request_error", getattr(err, "code", None)
    return 500, "server_error", None


def response_for(err: BaseException) -> JSONResponse:
    status, kind, code = status_of(err)
    headers = {"Retry-After": str(err.retry_after_s)} if isinstance(err, QueueFull) else None
    message = "internal error (see the daemon log)" if status == 500 else str(err)
    return error_response(status, message, kind, headers, code=code,
                          param=getattr(err, "param", None))


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
    kind = "invalid_request_error" if err.status_code < 500 else "server_error"
    return error_response(err.status_code, str(err.detail), kind, dict(err.headers or {}))


async def validation_error_handler(_request: Request, err: Exception) -> JSONResponse:
    """A body that does not validate: 400, each field at fault named once, in words."""
    assert isinstance(err, RequestValidationError)
    problems: dict[str, str] = {}
    for item in err.errors():
        where, problem = _readable(item)
        problems.setdefault(where, problem)  # a union's later branches say less
        if len(problems) == 5:
            break
    first = next(iter(problems), "")
    message = "; ".join(problems.values()) or "invalid request"
    return error_response(400, message, "invalid_request_error",
                          param=first if first and first != "body" else None)


def _readable(item: dict) -> tuple[str, str]:
    """(the field at fault, a sentence naming it) for one pydantic error: without the
    validators' internal names (``function-after[_utf8(), str]``) that pydantic puts in the
    location of a field with several accepted shapes."""
    parts = [str(p) for p in item.get("loc", ()) if p != "body"]
    path = ".".join(p for p in parts if "[" not in p and "(" not in p)
    kind, message = item.get("type", ""), str(item.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if kind == "json_invalid":
        return "body", f"the body is not valid JSON ({item.get('ctx', {}).get('error', '')})"
    if not path:
        return "body", f"the body: {message[:1].lower()}{message[1:]}"
    if kind == "extra_forbidden":
        return path, f"unknown field {path!r}"
    if kind == "missing":
        return path, f"{path!r} is required"
    return path, f"invalid {path!r}: {message[:1].lower()}{message[1:]}"


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
    400: "invalid request: a field out of range, of the wrong type or unknown, a prompt over "
         "the model's context (code context_length_exceeded), a body that is not JSON",
    401: "missing or wrong bearer token",
    403: "a request from a web page (an Origin header of another site)",
    404: "no such model, or no route for the language",
    408: "the request body did not arrive within server.body_timeout_s",
    413: "request body too large",
    421: "the Host header is not this daemon's address (server.allowed_hosts)",
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
