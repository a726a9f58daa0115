"""Connection limits uvicorn does not have: a deadline for request headers, and a cap on open
connections that sheds the ones stuck before their headers rather than the newcomers.

uvicorn (with h11, the protocol installed here) times out only idle keep-alive connections,
and only until their first byte: a client that opens a connection and never finishes its
request line and headers holds it forever. 1,100 of those exhaust the usual 1,024 open
files, after which every accept fails (asyncio logged each failure: 61 MB in 30 s) and
``/v1/health`` cannot connect. Its ``limit_concurrency`` answers 503 only once a request's
headers have arrived, and counts the stalled connections, so it cannot help against this.

:class:`GuardedH11Protocol` is uvicorn's own h11 protocol with two additions:

- from the connection (or the end of the previous response) to the end of the request's
  headers it has ``header_timeout_s``; a client still sending headers then is disconnected;
- beyond ``max_connections`` open connections, a new one evicts the connection that has been
  waiting longest for its headers (a legitimate client sends them in milliseconds, so under
  a flood the evicted ones are the flood's), or is itself closed when every open connection
  is busy with a request.

The request body has its own deadline in ``guards.BodyLimit``; keep-alive idling is
uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


@dataclass
class ConnectionGuard:
    """Shared by every connection of one server (passed to each protocol instance)."""

    max_connections: int
    header_timeout_s: float
    # Connections waiting for request headers, oldest first (dicts keep insertion order).
    waiting: dict[GuardedH11Protocol, None] = field(default_factory=dict)
    evicted: int = 0
    timed_out: int = 0

    def note(self, what: str) -> None:
        """Log evictions and timeouts sparsely: a flood must not become a log flood."""
        count = self.evicted + self.timed_out
        if count in (1, 10, 100, 1000) or count % 10_000 == 0:
            log.warning("closed %d connections stuck before their headers (%d evicted at the "
                        "cap of %d, %d timed out); last: %s", count, self.evicted,
                        self.max_connections, self.timed_out, what)


class GuardedH11Protocol(H11Protocol):
    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self._header_deadline: asyncio.TimerHandle | None = None

    # Waiting for headers -----------------------------------------------------------------
    def _await_headers(self) -> None:
        self._stop_waiting()
        self.guard.waiting[self] = None
        self._header_deadline = self.loop.call_later(self.guard.header_timeout_s,
                                                     self._headers_too_slow)

    def _stop_waiting(self) -> None:
        self.guard.waiting.pop(self, None)
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self in self.guard.waiting:
            self.guard.timed_out += 1
            self.guard.note("header timeout")
            self._drop()

    def _drop(self) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.abort()  # no answer: it has not asked anything yet

    # uvicorn's protocol hooks ------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()
        if len(self.connections) > self.guard.max_connections:
            victim = next((c for c in self.guard.waiting if c is not self), None)
            if victim is None:
                self._drop()  # every other connection is serving a request: refuse this one
            else:
                self.guard.evicted += 1
                self.guard.note("connection cap")
                victim._drop()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_waiting()  # the request's headers are in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_headers()  # keep-alive: the next request's headers have a deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)
