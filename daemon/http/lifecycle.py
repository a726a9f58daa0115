"""Running the daemon process: listen, announce, serve, and shut down gracefully.

Order at start: bind the socket (so a busy port fails at once, before any model loads), start
loading models and watching the config, serve, then write the runtime file once the server
answers. On SIGTERM or SIGINT, or once no client has asked anything for
``server.idle_exit_s`` (``idle``): stop accepting, let in-flight requests finish within
``server.shutdown_timeout_s`` (then cancel them), release the models and remove the runtime
file. Uvicorn's own signal capture is replaced because it re-raises the signal after shutdown,
which would kill the process before the models are released.

Connections: uvicorn's h11 protocol with a header deadline and a connection cap
(``connections``), uvicorn's keep-alive timeout, and the request guards (``guards``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from codegend.daemon.config import DaemonConfig, ServerConfig
from codegend.daemon.core import build_core
from codegend.daemon.hot_swap import ConfigWatcher
from codegend.daemon.http.connections import ConnectionGuard, GuardedH11Protocol
from codegend.daemon.http.idle import IdleWatch
from codegend.daemon.http.native_api import build_app
from codegend.daemon.registry import Loader
from codegend.daemon.runtime_file import RuntimeInfo, remove_runtime_info, write_runtime_info
from codegend.engine.errors import CodegendError

log = logging.getLogger(__name__)
MAX_HEADER_BYTES = 16 * 1024  # request line and headers (h11's default, made explicit)
ACCEPT_BACKLOG = 128


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield  # run_daemon installs handlers that only ask the server to stop


@dataclass
class DaemonHandle:
    """What ``on_ready`` receives: the daemon's address and a thread-safe way to stop it."""

    url: str
    _server: _Server

    def request_stop(self) -> None:
        """Stop accepting and finish in-flight requests (a second call stops waiting)."""
        if self._server.should_exit:
            self._server.force_exit = True
        self._server.should_exit = True  # uvicorn's main loop polls this flag


def connection_limits(server: ServerConfig) -> dict[str, Any]:
    """uvicorn's own limits, and the h11 protocol with the ones it lacks (``connections``)."""
    guard = ConnectionGuard(server.max_connections, server.header_timeout_s)
    return {
        "http": functools.partial(GuardedH11Protocol, guard=guard),
        "timeout_keep_alive": server.keep_alive_s,
        # uvicorn answers 503 beyond this many requests in progress; stalled connections
        # never get that far (the guard sheds them first), so this bounds real work only.
        "limit_concurrency": server.max_connections + 1,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        # asyncio accepts up to this many connections per wake-up before any of them can be
        # shed, and logs every failed accept with a traceback: uvicorn's 2048 overran the
        # usual 1,024 open files in one burst. The kernel queues the rest.
        "backlog": ACCEPT_BACKLOG,
    }


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it every streamed chunk waits ~40 ms for Nagle.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise CodegendError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    sock.listen(ACCEPT_BACKLOG)
    sock.setblocking(False)
    return sock


async def run_daemon(
    config: DaemonConfig,
    *,
    token: str | None,
    watch: bool = True,
    write_runtime: bool = True,
    load: Loader | None = None,
    on_ready: Callable[[DaemonHandle], None] | None = None,
) -> None:
    """Serve ``config`` until asked to stop (signal or ``DaemonHandle.request_stop``)."""
    server_config = config.server
    sock = bind_socket(server_config.host, server_config.port)
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    core = build_core(config, load)
    core.start()
    watcher = ConfigWatcher(core, config.path) if watch and config.path else None
    if watcher is not None:
        watcher.start()
    app = build_app(core, token, port)
    idle = IdleWatch(server_config.idle_exit_s) if server_config.idle_exit_s > 0 else None
    server = _Server(uvicorn.Config(
        idle.wrap(app) if idle else app, log_config=None, access_log=False, lifespan="off",
        timeout_graceful_shutdown=max(1, round(server_config.shutdown_timeout_s)),
        **connection_limits(server_config),
    ))
    handle = DaemonHandle(url, server)
    removers = _install_signal_handlers(handle)
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    leaving = None  # the idle watch, once serving
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if server.started:
            if write_runtime:
                write_runtime_info(RuntimeInfo(url, os.getpid(), str(config.path)
                                               if config.path else None, time.time()))
            log.info("serving on %s (pid %d)", url, os.getpid())
            if on_ready is not None:
                on_ready(handle)
            if idle is not None:
                leaving = asyncio.get_running_loop().create_task(idle.run(handle.request_stop))
        await serving
    finally:
        if leaving is not None:
            leaving.cancel()
        for remove in removers:
            remove()
        log.info("shutting down: releasing models")
        if watcher is not None:
            await watcher.stop()
        await core.close(server_config.shutdown_timeout_s)
        if write_runtime:
            remove_runtime_info(os.getpid())
        sock.close()
        log.info("stopped")


def _install_signal_handlers(handle: DaemonHandle) -> list[Callable[[], None]]:
    if threading.current_thread() is not threading.main_thread():
        return []  # a daemon run inside a test thread is stopped through its handle
    loop = asyncio.get_running_loop()
    removers = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        def on_signal(sig=sig) -> None:
            log.info("received %s: finishing in-flight requests", signal.Signals(sig).name)
            handle.request_stop()

        loop.add_signal_handler(sig, on_signal)
        removers.append(lambda sig=sig: loop.remove_signal_handler(sig))
    return removers
