"""Counts HTTP requests by route into the daemon's metrics (``codegend_http_requests_total``).

This is how "one request per completion" is checked from the daemon's side: a client that
asked for model facts or token counts before each completion shows up here as extra trips.
"""

from __future__ import annotations

from collections.abc import Callable

from codegend.daemon.metrics import DaemonMetrics


class RequestCounter:
    """Starlette middleware (``app.add_middleware(RequestCounter, metrics=...)``), outermost,
    so refused requests count too."""

    def __init__(self, app: Callable, metrics: DaemonMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            # The router records the route it matched in the scope: its path template is the
            # label (a request no route matched, or refused before routing, is "other"), so a
            # client's made-up paths never grow the label set.
            route = getattr(scope.get("route"), "path", None)
            self.metrics.http_requests.labels(route if isinstance(route, str) else "other") \
                .inc()
