"""The one small interface between the language server and the daemon core.

``codegend lsp`` only ever talks to a :class:`CompletionClient`. The same LSP code runs
with the daemon core in its own process (``--embedded``) or shared over loopback HTTP;
only the client object differs. Everything here is plain data so it crosses HTTP as JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from codegend.engine.errors import CodegendError
from codegend.engine.types import prompt_budget

CompletionMode = Literal["line", "block"]
ModelState = Literal["loading", "ready", "failed", "unloaded"]


@dataclass(frozen=True)
class CompletionRequest:
    # The daemon cuts these to the model's token budget (whole lines nearest the cursor) with
    # the model's tokenizer; a caller bounds them only by characters.
    prefix: str  # text before the cursor
    suffix: str = ""  # text after the cursor (used by models with a fill-in-the-middle template)
    language: str = ""  # LSP language id; picks the model through the routes
    path: str | None = None  # file path, for glob routes
    document_key: str | None = None  # a newer request with the same key supersedes this one
    mode: CompletionMode = "line"  # line: stop at the first newline; block: multi-line
    invoked: bool = False  # explicit (Invoked) requests are served before automatic ones
    max_new_tokens: int | None = None  # None: the model's configured budget
    stop: tuple[str, ...] = ()
    model: str | None = None  # name a model explicitly instead of routing by language
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    # Editors want it (the cursor may sit after a space or inside a word); OpenAI-style
    # clients expect the raw continuation of their prompt, so it is off unless asked for.
    token_healing: bool = False
    # Other context (labelled snippets of other open documents), most important first: put
    # before the prefix when the whole prefix fits in the model's budget and room remains.
    context: tuple[str, ...] = ()
    top_logprobs: int = 0  # the likeliest tokens reported per position (OpenAI logprobs=N)
    # A prefetch (the suggestion that would follow accepting the one shown): served only
    # when no other request waits, and preempted by any that comes.
    background: bool = False
    document_start: bool = False  # the prefix begins at the start of the document


@dataclass(frozen=True)
class CompletionChunk:
    text: str
    logprob: float  # summed over the tokens of this chunk
    tokens: int = 1  # engine tokens in this chunk (several when a character spans tokens)
    # The likeliest tokens at this chunk's first position as (text, logprob), when the
    # request asked for ``top_logprobs``.
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class CompletionResult:
    text: str
    model: str
    finish_reason: str  # stop | length | newline | eos | cancelled
    prompt_tokens: int = 0
    reused_prefix_tokens: int = 0
    generated_tokens: int = 0
    logprobs: tuple[float, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    """What the editor side needs to know of the model that answers (every completion says
    it, so a client caches it without asking and sees a configuration change at once)."""

    name: str
    context_tokens: int  # prompt + completion must fit in this many tokens
    max_new_tokens: int
    fim_template: str | None = None  # the fill-in-the-middle template; None: prefix only
    config_generation: int = 0  # counts the daemon's applied configurations
    # Automatic suggestions scored below this are hidden (the model's YAML); None: the
    # language server's calibrated default.
    min_confidence: float | None = None

    @property
    def fill_in_the_middle(self) -> bool:
        """The model uses the suffix (it has a fill-in-the-middle template)."""
        return self.fim_template is not None

    @property
    def prompt_tokens(self) -> int:
        """The prompt budget: the daemon keeps at most this many prompt tokens."""
        return prompt_budget(self.context_tokens, self.max_new_tokens)


class CompletionStream:
    """The chunks of one completion, as an async iterator, plus ``model``: the facts of the
    model that answers, known once the daemon said which (at the latest with the first
    chunk or the end). Closing it (or cancelling its consumer) cancels the generation."""

    def __init__(
        self, produce: Callable[[CompletionStream], AsyncIterator[CompletionChunk]]
    ) -> None:
        """``produce(stream)``: the chunk iterator; it sets ``stream.model`` when it learns
        which model answers."""
        self.model: ModelInfo | None = None
        # How the generation ended ("cancelled": e.g. a background request preempted), once
        # the daemon said so; None while it runs or when the consumer closed it first.
        self.finish_reason: str | None = None
        self._chunks = produce(self)

    def __aiter__(self) -> CompletionStream:
        return self

    async def __anext__(self) -> CompletionChunk:
        return await anext(self._chunks)

    async def aclose(self) -> None:
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()


@dataclass(frozen=True)
class ModelStatus:
    name: str
    state: ModelState
    reason: str = ""  # why it failed, or what it is loading
    backend: str = ""  # onnx | torch | torch-tp, with the reason it was chosen in ``reason``
    languages: tuple[str, ...] = field(default_factory=tuple)


def describe_rejected_config(path: str, error: str) -> str:
    """One line for a rejected config edit: the error names the file itself (file, line,
    key), so the path is added only when it does not."""
    return error if path in error else f"{path}: {error}"


class NoRoute(CodegendError):
    """No route of the config serves the document's language (or file): not a failure, the
    user's choice (the built-in config routes only the languages its models know). Every
    client raises this same error, so the language server tells it apart in one place."""

    code = "no_route"  # its error code over HTTP, which the HTTP client turns back into it


class DaemonUnavailable(Exception):
    """The daemon could not be reached (or restarted); the caller answers empty and says why."""


class DaemonRestarting(DaemonUnavailable):
    """The daemon stopped answering and is being started (or reached) again: a passing state
    the editor shows as such, not a failure to pop up."""


class CompletionClient(Protocol):
    async def model_info(
        self, language: str, path: str | None = None, model: str | None = None
    ) -> ModelInfo:
        """The model that would serve this language (routing applied), or ``model`` itself
        when one is named."""
        ...

    def stream(self, request: CompletionRequest) -> CompletionStream:
        """Chunks as the model produces them: one request to the daemon per completion.
        Cancelling the consuming task (or closing the stream) cancels the generation: it
        stops within one decode step."""
        ...

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """The whole completion; cancelling the awaiting task cancels the generation."""
        ...

    async def models(self) -> list[ModelStatus]:
        """Every configured model and its state."""
        ...

    async def config_error(self) -> str:
        """Why the daemon rejected the latest change to its config file ("" when it did not).

        The previous config keeps serving; an editor shows this once as a status message.
        """
        ...

    async def aclose(self) -> None: ...
