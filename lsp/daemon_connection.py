"""The language server's link to the daemon core, and the status the editor shows for it.

The client is opened in the background after ``initialized`` (loading a model can take a
while and the editor must not wait for it); until it is ready, completions answer empty.
Every change of state is published once: loading, ready, or failed with the reason. A
failure never stops the server: the next request tries again and a success says ready; an
engine that could not start at all (a broken config file) is opened again every few seconds
until it starts, so fixing the file is enough.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal

from codegend.daemon.client_api import CompletionClient, DaemonRestarting, ModelStatus

logger = logging.getLogger(__name__)

StatusState = Literal["loading", "ready", "failed", "disabled"]
Opener = Callable[[], Awaitable[CompletionClient]]
POLL_SECONDS = 0.25  # how often a loading model is asked whether it is ready yet
CONFIG_POLL_SECONDS = 2.0  # how often the daemon is asked whether a config edit was rejected
OPEN_RETRY_SECONDS = 2.0  # how often an engine that could not start (a broken config) is retried


@dataclass(frozen=True)
class EngineStatus:
    state: StatusState
    model: str | None = None
    message: str = ""
    # The languages the daemon's routes serve, so that an editor can say "off for rust"
    # before anyone types; None: every language (a fallback route), or not known yet.
    languages: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, str | list[str] | None]:
        return {"state": self.state, "model": self.model, "message": self.message,
                "languages": None if self.languages is None else list(self.languages)}


def served_languages(models: list[ModelStatus]) -> tuple[str, ...] | None:
    """The languages some model is routed for, as the LSP ids editors send (routes match
    them case-insensitively); None when a fallback route serves them all (or the models name
    none, as a test's fake may)."""
    found: list[str] = []
    for model in models:
        if "*" in model.languages:
            return None
        found.extend(language.lower() for language in model.languages
                     if language.lower() not in found)
    return tuple(found) or None


def describe_error(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


class DaemonConnection:
    def __init__(
        self,
        opener: Opener,
        publish: Callable[[EngineStatus], None],
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._opener = opener
        self._publish = publish
        self._warn = warn  # shows the editor a problem that does not stop completions
        self._config_watch: asyncio.Task | None = None
        self._reported_config_error = ""
        self.client: CompletionClient | None = None
        self.status = EngineStatus("loading", message="starting the completion engine")
        self._settled = asyncio.Event()  # set while the status is anything but "loading"
        self._opening: asyncio.Task | None = None
        self._retrying: asyncio.Task | None = None  # a failed open, tried again
        self._refreshing: asyncio.Task | None = None
        self.preferred_model: str | None = None  # the model the status is about, if chosen
        self._languages: tuple[str, ...] | None = None  # as the daemon's models last said

    def _set(self, status: EngineStatus) -> None:
        status = replace(status, languages=self._languages)
        if status.state == "loading":
            self._settled.clear()
        else:
            self._settled.set()
        if status != self.status:
            self.status = status
            self._publish(status)

    @property
    def started(self) -> bool:
        return self._opening is not None

    def start(self, opener: Opener | None = None) -> None:
        """Open (or, with a new ``opener``, reopen) the client in the background."""
        if opener is not None:
            self._opener = opener
        for task in (self._opening, self._retrying):
            if task is not None:
                task.cancel()
        self._opening = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        old, self.client = self.client, None
        if old is not None:
            await _close_quietly(old)
        self.status = EngineStatus("disabled")  # so that "loading" is always published
        self._set(EngineStatus("loading", message="starting the completion engine"))
        try:
            client = await self._opener()
        except Exception as err:
            logger.exception("could not start the completion engine")
            self._set(EngineStatus("failed", message=describe_error(err)))
            retry = self._retry_open(describe_error(err))
            self._retrying = asyncio.get_running_loop().create_task(retry)
            return
        await self._opened(client)

    async def _opened(self, client: CompletionClient) -> None:
        self.client = client
        if self._config_watch is None or self._config_watch.done():
            self._config_watch = asyncio.get_running_loop().create_task(self._watch_config())
        await self.refresh()

    async def _retry_open(self, reported: str) -> None:
        """Open again every ``OPEN_RETRY_SECONDS`` until it works: what failed is almost
        always the config file (the opener reads it), and a user who fixes it expects
        completions back without restarting the editor's server. Quiet: the status stays
        "failed" with the reason, which changes only when the reason does."""
        while True:
            await asyncio.sleep(OPEN_RETRY_SECONDS)
            try:
                client = await self._opener()
            except Exception as err:
                if describe_error(err) != reported:
                    reported = describe_error(err)
                    logger.warning("the completion engine still cannot start: %s", reported)
                    self._set(EngineStatus("failed", message=reported))
                continue
            logger.info("the completion engine started after all")
            self._set(EngineStatus("loading", message="starting the completion engine"))
            await self._opened(client)
            return

    async def _watch_config(self) -> None:
        """Tell the editor, once per distinct error, when an edit of the YAML config was
        rejected (the daemon keeps serving the previous one), and refresh the models' states
        when the configuration changes."""
        while True:
            await asyncio.sleep(CONFIG_POLL_SECONDS)
            client = self.client
            if client is None:
                continue
            try:
                error = await client.config_error()
            except Exception:  # a lost daemon is reported by the next completion request
                continue
            if error and error != self._reported_config_error:
                self._warn("codegend: the edited configuration was rejected, the previous one "
                           f"keeps serving: {error}")
            elif not error and self._reported_config_error:
                self.refresh_in_background()  # a fixed config may have swapped models
            self._reported_config_error = error

    async def wait_until_settled(self) -> None:
        """Until the engine is no longer loading (ready, failed or disabled). Unbounded: the
        caller bounds it; cancelling the caller ends the wait."""
        if self.status.state != "loading":
            return
        if self.client is not None:
            self.refresh_in_background()  # someone must ask the daemon how loading goes
        await self._settled.wait()

    async def wait_opened(self) -> None:
        if self._opening is not None:
            await asyncio.shield(self._opening)

    def refresh_in_background(self) -> None:
        """Re-read the models' states without making the caller wait for a loading model."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self.refresh())

    async def refresh(self) -> list[ModelStatus]:
        """Ask the daemon for its models until none is loading; publish what they say."""
        while self.client is not None:
            try:
                models = await self.client.models()
            except Exception as err:
                self.report_failure(err)
                if isinstance(err, DaemonRestarting):  # it is coming back: ask again
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                return []
            self._languages = served_languages(models)
            primary = _primary(models, self.preferred_model)
            if primary is None:
                self._set(EngineStatus("failed", message="the configuration names no model"))
            elif primary.state == "failed":
                reason = primary.reason or "it failed to load"
                self._set(EngineStatus("failed", primary.name, f"{primary.name}: {reason}"))
            elif primary.state == "loading":
                self._set(EngineStatus("loading", primary.name, primary.reason or "loading"))
                await asyncio.sleep(POLL_SECONDS)
                continue
            else:
                self._set(EngineStatus("ready", primary.name))
            return models
        return []

    def report_failure(self, err: BaseException, model: str | None = None) -> None:
        if isinstance(err, DaemonRestarting):  # passing: the status says so, no pop-up
            self._set(EngineStatus("loading", model or self.status.model, describe_error(err)))
            return
        self._set(EngineStatus("failed", model, describe_error(err)))

    def report_success(self, model: str) -> None:
        if self.status.state != "ready" or self.status.model != model:
            self._set(EngineStatus("ready", model))

    async def aclose(self) -> None:
        for task in (self._opening, self._retrying, self._refreshing, self._config_watch):
            if task is not None:
                task.cancel()
        client, self.client = self.client, None
        if client is not None:
            await _close_quietly(client)


def _primary(models: list[ModelStatus], preferred: str | None) -> ModelStatus | None:
    """The model a status bar should speak of: the chosen one, else the first configured."""
    chosen = next((m for m in models if m.name == preferred), None)
    return chosen or (models[0] if models else None)


async def _close_quietly(client: CompletionClient) -> None:
    try:
        await client.aclose()
    except Exception:
        logger.exception("closing the completion client failed")
