"""The language server: settings, command-line options and the one service, built in one place.

``build_server`` is the only place a server is made: the object that holds all state, with
the standard handlers (``handlers``) and codegend's own requests (``codegend_methods``)
registered on it. How the process serves, shuts down and exits is ``lifecycle``'s; reading
the stream is ``framing``'s; turning bytes into messages is ``jsonrpc``'s.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from lsprotocol import types
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer
from pygls.workspace import Workspace

from codegend import __version__
from codegend.daemon.client_api import CompletionClient
from codegend.lsp.daemon_connection import DaemonConnection, EngineStatus
from codegend.lsp.jsonrpc import CodegendProtocol, plain_json_converter
from codegend.lsp.lifecycle import Lifecycle
from codegend.lsp.parent_watch import exit_when_gone
from codegend.lsp.service import CompletionService
from codegend.lsp.settings import ServerOptions, Settings, settings_from_json
from codegend.lsp.stats import AcceptanceStats
from codegend.lsp.workspace import CodegendWorkspace

logger = logging.getLogger(__name__)

ClientOpener = Callable[[str | None], Awaitable[CompletionClient]]


class CodegendLanguageServer(LanguageServer):
    def __init__(self, options: ServerOptions, open_client: ClientOpener) -> None:
        super().__init__(
            "codegend",
            __version__,
            protocol_cls=CodegendProtocol,
            converter_factory=plain_json_converter,
        )
        self.options = options
        self.open_client = open_client
        self.initial_settings = Settings()  # from initializationOptions
        self.settings = Settings()  # initial settings with workspace/configuration on top
        self._shown_problems: set[str] = set()  # setting warnings the user has already seen
        stats = AcceptanceStats(Path(options.stats_path) if options.stats_path else None)
        connection = DaemonConnection(
            self._opener(), self.publish_status,
            lambda message: self.show(types.MessageType.Warning, message),
        )
        self.service = CompletionService(connection, stats)
        self.lifecycle = Lifecycle(self.protocol, self.service.aclose)
        self._popped_up: set[str] = set()  # errors shown once already
        self._parent_watch: asyncio.Task | None = None

    def watch_parent(self, pid: int) -> None:
        """Exit (after closing the engine) once the editor process ``pid`` is gone."""
        watch = exit_when_gone(pid, self.service.aclose)
        self._parent_watch = asyncio.get_running_loop().create_task(watch)

    def config_path(self) -> str | None:
        return self.options.config_path or self.settings.config_path

    def _opener(self) -> Callable[[], Awaitable[CompletionClient]]:
        config_path = self.config_path()
        return lambda: self.open_client(config_path)

    def publish_status(self, status: EngineStatus) -> None:
        if not self.settings.enable and status.state != "disabled":
            return  # the status bar says "disabled" until completions are switched back on
        self.protocol.notify("codegend/status", status.as_json())
        if status.state == "failed":
            self.show_error_once(f"codegend: {status.message}")

    def show(self, kind: types.MessageType, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def show_error_once(self, message: str) -> None:
        """An error pop-up, at most once per distinct text: a problem that comes back (a
        daemon failing again, a client repeating a bad request) is in the status bar and the
        log, not in another pop-up."""
        if message not in self._popped_up and len(self._popped_up) < 1000:
            self._popped_up.add(message)
            self.show(types.MessageType.Error, message)

    def report_server_error(self, error: Exception, source: type) -> None:
        """pygls' hook for errors outside a request's answer: one line in the log (pygls
        logged the request's own errors already), one pop-up per distinct error."""
        if source is FeatureRequestError:
            return  # answered to the client as an error, and logged by pygls
        logger.error("%s", str(error).splitlines()[0] if str(error) else type(error).__name__)
        self.show_error_once(f"codegend: internal error: {error}")

    # Process -----------------------------------------------------------------------------
    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        self.lifecycle.serve_stdio(stdin or sys.stdin.buffer, stdout or sys.stdout.buffer)

    def start_tcp(self, host: str, port: int) -> None:
        self.lifecycle.serve_tcp(host, port)

    def adopt_workspace(self, workspace: Workspace) -> CodegendWorkspace:
        """Our workspace in place of the one pygls' initialize made (same root, folders,
        encoding): see ``workspace`` for what it does better."""
        return CodegendWorkspace(
            workspace.root_uri, self._text_document_sync_kind,
            list(workspace.folders.values()), workspace.position_encoding,
            notice=self._quiet_notice)

    def _quiet_notice(self, message: str) -> None:
        # The output channel, not a pop-up (stderr is often that same channel: debug only).
        logger.debug("%s", message)
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Info,
                                                       message=f"codegend: {message}"))

    def apply_settings(self, raw: object, *, initial: bool = False) -> None:
        """Settings from the client: problems are shown, defaults used in their place."""
        base = Settings() if initial else self.initial_settings
        settings, problems = settings_from_json(raw, base)
        # The same values arrive as initializationOptions and again as the configuration
        # the server pulls: each problem is shown once, and again only after it was fixed.
        messages = [str(problem) for problem in problems]
        for message in messages:
            if message not in self._shown_problems:
                self.show(types.MessageType.Warning, message)
        self._shown_problems = set(messages)
        previous, self.settings = self.settings, settings
        if initial:
            self.initial_settings = settings
            # The status bar speaks of the chosen model from the first status on.
            self.service.connection.preferred_model = settings.model
            return
        if settings.model != previous.model:
            self.service.settings_model_changed(settings.model)
        if settings.enable != previous.enable:
            status = self.service.connection.status
            self.publish_status(status if settings.enable else EngineStatus("disabled"))
        connection = self.service.connection
        moved = settings.config_path != previous.config_path and not self.options.config_path
        if moved and connection.started:
            connection.start(self._opener())  # a different daemon config: reopen


def build_server(
    options: ServerOptions, open_client: ClientOpener | None = None
) -> CodegendLanguageServer:
    """The server with every handler registered; ``open_client`` defaults to the daemon's
    (in-process with ``options.embedded``, else the shared daemon, started if needed)."""
    # Imported here: both name this module's server type in their handlers' annotations.
    from codegend.lsp import codegend_methods, handlers

    server = CodegendLanguageServer(options, open_client or _daemon_opener(options))
    handlers.register(server)
    codegend_methods.register(server)
    return server


def _daemon_opener(options: ServerOptions) -> ClientOpener:
    async def open_daemon_client(config_path: str | None) -> CompletionClient:
        from codegend.daemon.client.connect import open_client

        return await open_client(Path(config_path) if config_path else None, options.embedded)

    return open_daemon_client
