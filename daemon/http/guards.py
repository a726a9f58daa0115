"""What every request passes before any route sees it, cheapest and most telling first:
the Host (and Origin) check, the bearer token, then the body's size and deadline.

They are plain ASGI middleware (no BaseHTTPMiddleware: it would buffer streamed responses),
run in that order from the outside in. A refusal made before the body was read says
``Connection: close``, so a client still sending that body cannot keep the connection.

Host: a web page whose name its owner points at 127.0.0.1 (DNS rebinding) reaches a
loopback daemon with its own name in ``Host``. Only loopback names with the daemon's port
(and the configured ``server.allowed_hosts``) are answered. Starlette's
TrustedHostMiddleware ignores the port and answers in plain text, so it is not used.
Origin: browsers send it with every cross-site request, editors' HTTP clients do not, and
the daemon serves no page of its own: a request with an Origin from anywhere else than the
allowed hosts is refused. There are no CORS headers, so no page can read an answer.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codegend.daemon.http.support import error_response

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_CLOSE = {"Connection": "close"}


def allowed_host_values(host: str, port: int, loopback: bool,
                        configured: Iterable[str]) -> frozenset[str] | None:
    """The Host header values to accept (lower case); None accepts any."""
    configured = tuple(value.lower() for value in configured)
    if "*" in configured or (not loopback and not configured):
        return None
    values = set(configured)
    if loopback:
        names = set(LOOPBACK_NAMES) | ({f"[{host}]" if ":" in host else host} - {"[::]"})
        values |= {f"{name}:{port}" for name in names}
        if port == 80:
            values |= names
    return frozenset(values)


class HostGuard:
    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.allowed is not None:
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1").strip().lower()
            if host not in self.allowed:
                shown = host.encode("ascii", "backslashreplace").decode()[:100]
                await error_response(421, f"Host {shown!r} is not this daemon's address; "
                                     "a name or tunnel port of your own goes in "
                                     "server.allowed_hosts", "invalid_request_error",
                                     _CLOSE)(scope, receive, send)
                return
            origin = headers.get(b"origin")
            if origin is not None and _origin_host(origin) not in self.allowed:
                await error_response(403, "requests from web pages are refused",
                                     "invalid_request_error", _CLOSE)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _origin_host(origin: bytes) -> str:
    try:
        return urlsplit(origin.decode("latin-1").strip()).netloc.lower()
    except ValueError:
        return ""


class BearerAuth:
    """Every request must carry ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(given, self.expected):
                response = error_response(401, "missing or wrong bearer token",
                                          "authentication_error",
                                          {"WWW-Authenticate": "Bearer", **_CLOSE})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Reject request bodies over ``max_bytes`` with 413, whether or not they declare a length,
    and bodies not complete within ``timeout_s`` with 408.

    The body is read (up to the limit) before the app sees it, then replayed; later
    ``receive`` calls go to the server, so disconnects are still noticed.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    if len(body) > self.max_bytes:
                        await self._too_large(scope, receive, send)
                        return
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            response = error_response(408, f"the request body did not arrive within "
                                      f"server.body_timeout_s ({self.timeout_s:g} s)",
                                      "invalid_request_error", _CLOSE)
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"request body exceeds server.max_body_bytes "
                                       f"({self.max_bytes} bytes)", "invalid_request_error",
                                  _CLOSE)
        await response(scope, receive, send)
