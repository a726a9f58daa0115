"""The completion service: all mutable state of the language server, in one object.

Built once per server (see ``server.build_server``) and passed to every handler through the
server. It owns the daemon connection, the completion cache, the requests in flight, the
token-count cache, document activity (for snippets) and the statistics, and runs one
completion: cache → should we complete → debounce → pipeline. After a model answer it starts
the prefetch of the suggestion that would follow its acceptance (``pipeline/prefetch``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from codegend.daemon.client_api import NoRoute
from codegend.lsp.completion_items import without_control_characters
from codegend.lsp.daemon_connection import DaemonConnection
from codegend.lsp.inflight import InflightRequests, debounce
from codegend.lsp.pipeline.completion_cache import CachedSuggestion, CompletionCache, Insertion
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.model_facts import ModelFacts
from codegend.lsp.pipeline.prefetch import PrefetchTasks, cursor_after
from codegend.lsp.pipeline.prompt import Snippet
from codegend.lsp.pipeline.run import run_pipeline
from codegend.lsp.pipeline.trigger import should_complete
from codegend.lsp.settings import Settings
from codegend.lsp.stats import AcceptanceStats, SessionCounters

logger = logging.getLogger(__name__)
# How long an explicit request waits for a loading model (a first start may build the
# model's artifact); the user sees "loading" in the status meanwhile and can cancel.
LOADING_WAIT_S = 120.0
# How long a request waits for the prefetch of its own position. Its own request would mostly
# queue where the prefetch does; the bound is for a background job that requests of other
# documents keep pushing back.
PREFETCH_JOIN_S = 3.0


@dataclass(frozen=True)
class Suggestion:
    text: str  # to insert at the cursor
    model: str
    language: str
    source: Literal["model", "cache"]
    shown_id: str  # identifies the suggestion as first shown (for acceptance counts)


class DocumentActivity:
    """Which open documents were edited most recently, and where."""

    def __init__(self) -> None:
        self._clock = itertools.count()
        self._last_edit: dict[str, tuple[int, int]] = {}  # uri -> (sequence, line)

    def touched(self, uri: str, line: int) -> None:
        self._last_edit[uri] = (next(self._clock), line)

    def forget(self, uri: str) -> None:
        self._last_edit.pop(uri, None)

    def most_recent_first(self, uris: Sequence[str]) -> list[tuple[str, int]]:
        """``uris`` as (uri, line of last edit), most recently edited first."""
        known = [(self._last_edit.get(u, (-1, 0)), u) for u in uris]
        known.sort(key=lambda item: item[0][0], reverse=True)
        return [(uri, edit[1]) for edit, uri in known]


class CompletionService:
    def __init__(self, connection: DaemonConnection, stats: AcceptanceStats) -> None:
        self.connection = connection
        self.stats = stats
        self.counters = SessionCounters()
        self.cache = CompletionCache()
        self.inflight = InflightRequests()
        self.facts = ModelFacts()  # what the daemon's answers said of its models
        self.activity = DocumentActivity()
        self.prefetch = PrefetchTasks()
        self._prefetch_shown: dict[str, str] = {}  # uri -> prefetched suggestion last shown
        self._unrouted_languages: set[str] = set()  # logged once each
        self.selected_model: str | None = None  # chosen through codegend/selectModel
        self.last_model: str | None = None  # the model that answered last

    def model_override(self, settings: Settings) -> str | None:
        return self.selected_model or settings.model

    def active_model(self, settings: Settings) -> str | None:
        return self.model_override(settings) or self.last_model or self.connection.status.model

    def select_model(self, model: str | None) -> None:
        self.selected_model = model
        self.connection.preferred_model = model
        self.cache = CompletionCache()  # suggestions of the previous model are not its answers

    def settings_model_changed(self, model: str | None) -> None:
        if self.selected_model is None:
            self.connection.preferred_model = model
            self.cache = CompletionCache()
            if self.connection.client is not None:
                self.connection.refresh_in_background()

    # Documents -------------------------------------------------------------------------
    def document_opened(self, uri: str) -> None:
        self.activity.touched(uri, 0)

    def document_changed(self, uri: str, insertion: Insertion | None, line: int) -> None:
        if not self.cache.document_changed(uri, insertion):
            self.prefetch.cancel(uri)  # the suggestion it follows is gone
        self.activity.touched(uri, line)

    def document_closed(self, uri: str) -> None:
        self.prefetch.cancel(uri)
        self.cache.forget(uri)
        self.activity.forget(uri)

    # Completion ------------------------------------------------------------------------
    async def complete(
        self,
        cursor: CursorContext,
        *,
        invoked: bool,
        settings: Settings,
        snippets: Callable[[], Sequence[Snippet]] = tuple,
        cacheable: bool = True,
    ) -> Suggestion | None:
        """The suggestion at ``cursor``, or None. Raises CancelledError when a newer request
        for the document or the client cancelled this one (``inflight`` tells which)."""
        self.counters.requests += 1
        if not settings.language_enabled(cursor.language):
            self.counters.disabled += 1
            return None
        with self.inflight.track(cursor.uri):
            try:
                return await self._complete(cursor, invoked, settings, snippets, cacheable)
            except asyncio.CancelledError:
                self.counters.cancelled += 1
                raise

    async def _complete(
        self,
        cursor: CursorContext,
        invoked: bool,
        settings: Settings,
        snippets: Callable[[], Sequence[Snippet]],
        cacheable: bool,
    ) -> Suggestion | None:
        language = cursor.language
        if cacheable and self.prefetch.aims_at(cursor.uri, cursor.line, cursor.column):
            # Tab came before the prefetch was done: its answer is near, but a background
            # job can wait behind other documents' requests, so not for long.
            await self.prefetch.wait(cursor.uri, PREFETCH_JOIN_S)
        if cacheable and (hit := self.cache.lookup(cursor.uri, cursor.line, cursor.column)):
            self.counters.answered_from_cache += 1
            if hit.prefetched and self._prefetch_shown.get(cursor.uri) != hit.shown_id:
                # A follow-up on screen for the first time: prefetch what follows it too.
                self._prefetch_shown[cursor.uri] = hit.shown_id
                self.counters.answered_from_prefetch += 1
                self.stats.record_shown(hit.model, language)
                self._start_prefetch(cursor, hit, settings, snippets)
            return Suggestion(hit.remaining, hit.model, language, "cache", hit.shown_id)
        decision = should_complete(cursor, invoked)
        if not decision.complete:
            self.counters.skipped_by_trigger += 1
            return None
        if not invoked:
            await debounce(settings.debounce_ms)
        if not await self._engine_settled(invoked):
            self.counters.unavailable += 1
            return None
        client = self.connection.client
        if client is None:
            self.counters.unavailable += 1
            return None
        try:
            result = await run_pipeline(
                cursor,
                client,
                invoked=invoked,
                max_completion=settings.max_completion,
                facts=self.facts,
                snippets=snippets(),
                model_override=self.model_override(settings),
                counters=self.counters,
            )
        except NoRoute as err:  # the config's choice, not a failure: the status says so
            if language not in self._unrouted_languages:
                self._unrouted_languages.add(language)
                logger.info("%s", err)
            self.counters.unrouted += 1
            return None
        except Exception as err:  # the engine's problem must never become the editor's
            logger.exception("completion failed")
            self.connection.report_failure(err, self.model_override(settings))
            self.counters.unavailable += 1
            return None
        self.connection.report_success(result.model)
        self.last_model = result.model
        # What an editor can insert ends at a control character: cache and prefetch from
        # exactly that, or typing it (or Tab) would leave the cache off by the rest.
        text = without_control_characters(result.text) if result.text else None
        if not text:
            if result.gate is not None and not result.gate.show:
                self.counters.hidden_unsure += 1
            else:
                self.counters.empty += 1
            return None
        self.counters.answered_by_model += 1
        shown_id = uuid.uuid4().hex[:12]
        if cacheable:
            entry = CachedSuggestion(cursor.line, cursor.column, text, result.model, shown_id)
            self.cache.store(cursor.uri, entry)
            self._start_prefetch(cursor, entry, settings, snippets)
        self.stats.record_shown(result.model, language)
        return Suggestion(text, result.model, language, "model", shown_id)

    def _start_prefetch(
        self,
        cursor: CursorContext,
        shown: CachedSuggestion,
        settings: Settings,
        snippets: Callable[[], Sequence[Snippet]],
    ) -> None:
        """While ``shown`` is on screen at ``cursor``, compute what follows its acceptance."""
        if settings.prefetch and shown.then is None:
            after = cursor_after(cursor, shown.remaining)
            self.prefetch.start(cursor.uri, (after.line, after.column),
                                self._prefetch(after, shown.shown_id, settings, snippets))

    async def _prefetch(
        self,
        after: CursorContext,
        shown_id: str,
        settings: Settings,
        snippets: Callable[[], Sequence[Snippet]],
    ) -> None:
        """Compute, in the background, what the editor will ask for at ``after`` (the
        document once the suggestion ``shown_id`` is accepted), and keep it as that
        suggestion's follow-up."""
        client = self.connection.client
        if client is None or not should_complete(after, invoked=False).complete:
            return
        try:
            result = await run_pipeline(
                after,
                client,
                invoked=False,  # what the editor sends after Tab: an automatic request
                max_completion=settings.max_completion,
                facts=self.facts,
                snippets=snippets(),
                model_override=self.model_override(settings),
                background=True,  # its tokens are counted apart, as prefetch_tokens
            )
        except Exception as err:  # a prefetch is a guess: its failure is nobody's problem
            logger.debug("prefetch failed: %r", err)
            return
        self.counters.prefetch_tokens += result.generated_tokens
        text = without_control_characters(result.text) if result.text else ""
        if result.interrupted or not text:
            return
        follow_up = CachedSuggestion(after.line, after.column, text, result.model,
                                     uuid.uuid4().hex[:12], prefetched=True)
        if self.cache.attach(after.uri, shown_id, follow_up):
            self.counters.prefetched += 1

    async def _engine_settled(self, invoked: bool) -> bool:
        """Whether to go on to the engine. While it loads, an automatic request answers
        nothing at once (the next keystroke asks again), and an explicit one — the user
        pressed the key — waits for it, bounded, instead of answering empty."""
        if self.connection.status.state != "loading":
            return True
        if not invoked:
            if self.connection.client is not None:
                self.connection.refresh_in_background()  # it says "ready" once loaded
            return False
        try:
            async with asyncio.timeout(LOADING_WAIT_S):
                await self.connection.wait_until_settled()
        except TimeoutError:
            return False
        return True

    def accepted(self, model: str, language: str, characters: int) -> None:
        self.stats.record_accepted(model, language, characters)

    async def aclose(self) -> None:
        self.prefetch.cancel_all()
        self.inflight.cancel_all()
        self.stats.save()
        await self.connection.aclose()
