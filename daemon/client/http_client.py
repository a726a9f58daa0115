"""A :class:`CompletionClient` that talks to a running daemon over HTTP (httpx).

Transport failures (refused, reset, timed out) raise :class:`DaemonUnavailable`; refusals the
daemon answers (busy, unknown model, invalid request) raise :class:`DaemonRequestError` with
the daemon's one-line message, except a language no route serves, which raises
:class:`NoRoute` as the in-process core does. Closing a stream closes its connection, which
the daemon sees as a disconnect and cancels the generation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict

import httpx

from codegend.daemon.client_api import (
    CompletionChunk,
    CompletionRequest,
    CompletionResult,
    CompletionStream,
    DaemonUnavailable,
    ModelInfo,
    ModelStatus,
    NoRoute,
    describe_rejected_config,
)
from codegend.engine.errors import CodegendError

CONNECT_TIMEOUT_S = 2.0
# Reads may wait for a model that is still loading; the caller cancels sooner when it wants.
READ_TIMEOUT_S = 120.0


class DaemonRequestError(CodegendError):
    """The daemon answered with an error status; ``status`` is the HTTP code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpClient:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, trust_env=False,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))

    async def model_info(
        self, language: str, path: str | None = None, model: str | None = None
    ) -> ModelInfo:
        params = {"language": language, **({"path": path} if path else {}),
                  **({"model": model} if model else {})}
        data = await self._json("GET", "/v1/codegend/model_info", params=params)
        return ModelInfo(**data)

    def stream(self, request: CompletionRequest) -> CompletionStream:
        """One HTTP request per completion; the answering model's facts come with its first
        event."""
        return CompletionStream(lambda stream: self._chunks(request, stream))

    async def _chunks(
        self, request: CompletionRequest, stream: CompletionStream
    ) -> AsyncIterator[CompletionChunk]:
        body = {**asdict(request), "stop": list(request.stop), "context": list(request.context),
                "stream": True}
        try:
            async with self._http.stream("POST", "/v1/codegend/complete", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _request_error(response)
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    if "model_info" in event:
                        stream.model = ModelInfo(**event["model_info"])
                    if event["type"] == "chunk":
                        yield CompletionChunk(event["text"], float(event["logprob"]),
                                              int(event.get("tokens", 1)))
                    elif event["type"] == "error":
                        raise _refusal(int(event.get("status", 500)), event["error"])
                    else:
                        stream.finish_reason = event["result"]["finish_reason"]
                        return
        except httpx.TransportError as err:
            raise DaemonUnavailable(f"the daemon at {self.base_url} stopped answering "
                                    f"({type(err).__name__})") from err

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        body = {**asdict(request), "stop": list(request.stop), "context": list(request.context),
                "stream": False}
        data = await self._json("POST", "/v1/codegend/complete", json=body)
        data.pop("model_info", None)
        return CompletionResult(**{**data, "logprobs": tuple(data.get("logprobs", ()))})

    async def models(self) -> list[ModelStatus]:
        data = await self._json("GET", "/v1/models")
        return [ModelStatus(name=m["id"], state=m["state"], reason=m.get("reason", ""),
                            backend=m.get("backend", ""), languages=tuple(m.get("languages", ())))
                for m in data["data"]]

    async def config_error(self) -> str:
        rejected = (await self.health()).get("rejected_config")
        return "" if not rejected else describe_rejected_config(rejected["path"],
                                                                rejected["error"])

    async def health(self) -> dict:
        return await self._json("GET", "/v1/health")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise DaemonUnavailable(f"the daemon at {self.base_url} does not answer "
                                    f"({type(err).__name__})") from err
        if response.status_code != 200:
            raise _request_error(response)
        return response.json()


def _request_error(response: httpx.Response) -> CodegendError:
    try:
        error = response.json()["error"]
        error["message"]
    except (ValueError, KeyError, TypeError):
        error = {"message": response.text[:200] or response.reason_phrase}
    return _refusal(response.status_code, error)


def _refusal(status: int, error: dict) -> CodegendError:
    """The error a daemon's ``{"error": ...}`` answer stands for."""
    if error.get("code") == NoRoute.code:
        return NoRoute(error["message"])
    return DaemonRequestError(status, f"daemon: {error['message']}")
