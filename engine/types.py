"""The generation interface every backend (ONNX, plain torch, tensor-parallel torch) speaks.

Callers (the daemon's registry and scheduler, the CLI, benchmarks) depend only on these
types, so a backend can be swapped without touching them: :class:`TextGenerator` says
everything the daemon reads from a loaded model, and a streamed :class:`GeneratedToken`
says whether it is a model token or text released without one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from codegend.engine.fim import FimTemplate

if TYPE_CHECKING:  # placement imports the model spec and the host probes; types stay light
    from codegend.engine.placement import Placement

MIN_SAMPLING_TEMPERATURE = 1e-4


def prompt_budget(context_tokens: int, max_new_tokens: int) -> int:
    """How many prompt tokens a model takes while leaving room for ``max_new_tokens``.

    The one definition: the generation loop keeps the last this-many tokens of a longer
    prompt, and the daemon tells clients the same number so they can choose what to send.
    """
    return max(1, context_tokens - max_new_tokens)


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 64  # hard budget of generated tokens
    temperature: float = 0.0  # 0 (or below MIN_SAMPLING_TEMPERATURE) means greedy
    top_p: float = 1.0  # nucleus mass kept when sampling
    seed: int | None = None  # fixes the sampling stream; None draws a fresh seed
    stop: tuple[str, ...] = ()  # generation ends before the first of these strings
    stop_at_newline: bool = False  # single-line mode: end at the first newline
    # Back up a prompt's last token when longer tokens extend it (see token_healing.py):
    # right for a cursor after a space or inside a word; off for raw continuation.
    token_healing: bool = False
    top_logprobs: int = 0  # the likeliest tokens reported at each position (OpenAI logprobs=N)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise ValueError("max_new_tokens must be >= 0")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")

    @property
    def greedy(self) -> bool:
        # Below this a temperature is greedy in all but name, and scaling logits by its
        # inverse overflows to inf (NaN probabilities).
        return self.temperature < MIN_SAMPLING_TEMPERATURE


@dataclass(frozen=True)
class GeneratedToken:
    """One streamed piece: a model token, or (``token_id`` None) text released without one.

    Text that could begin a stop string is held back; when the generation ends without the
    stop, that text comes out on its own, after the last token.
    """

    token_id: int | None  # None: text only, no model token (nothing to count or time)
    text: str  # the text this piece adds (may be "" for a partial UTF-8 sequence)
    logprob: float  # log-probability of the chosen token under the (unscaled) model; 0 for text
    # The likeliest tokens at this position as (text, logprob), best first, when the sampling
    # parameters ask for ``top_logprobs``; empty otherwise.
    top: tuple[tuple[str, float], ...] = ()

    @property
    def text_only(self) -> bool:
        return self.token_id is None


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    reused_prefix_tokens: int = 0  # prompt tokens whose KV came from the previous request
    generated_tokens: int = 0
    finish_reason: str = ""  # "stop" | "length" | "newline" | "cancelled" | "eos"
    time_to_first_token_s: float = 0.0
    decode_s: float = 0.0
    # Speculative decoding: every model run counts (the prefill too); a pass that verifies
    # a draft yields its accepted tokens plus one, so generated / passes exceeds 1.
    forward_passes: int = 0
    draft_tokens: int = 0  # drafted tokens fed for verification
    accepted_draft_tokens: int = 0  # of those, the ones the model agreed with


class CancelToken:
    """Cooperative cancellation: the generation loop checks it between decode steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class Generation:
    """One running generation: iterate it for tokens; ``stats`` is complete once it ends."""

    tokens: Iterator[GeneratedToken]
    stats: GenerationStats = field(default_factory=GenerationStats)

    def __iter__(self) -> Iterator[GeneratedToken]:
        return self.tokens

    def text(self) -> str:
        return "".join(t.text for t in self.tokens)


@dataclass(frozen=True)
class PromptParts:
    """What a completion is asked from, before the model's budget and template apply.

    The engine cuts it to the model's prompt budget with the model's tokenizer and lays it
    out in the model's fill-in-the-middle template (``prompt_fit``): callers send text, not
    token counts.
    """

    prefix: str  # the text before the cursor (its end is kept first)
    suffix: str = ""  # the text after the cursor; only a model with a FIM template sees it
    # Other context (labelled snippets of other open documents), most important first; put
    # before the prefix only when the whole prefix fits and budget remains.
    context: tuple[str, ...] = ()
    # The prefix begins at the start of its document: a prompt holding all of it starts with
    # the document separator, as every file did in training (short files complete far better).
    document_start: bool = False


class TextGenerator(Protocol):
    """A loaded model that completes text. Not thread-safe: one generation at a time."""

    name: str
    context_tokens: int  # the most prompt + generated tokens the model accepts
    placement: Placement | None  # how the loader chose to run it; None when built by hand
    fim_template: FimTemplate | None  # None: the model continues a prefix only

    @property
    def failure(self) -> str | None:
        """Why the model cannot serve right now (e.g. a tensor-parallel rank died; the next
        generation restarts it); None while it is healthy."""
        ...

    def generate(
        self,
        prompt: str | PromptParts,  # a string is a prefix alone
        params: SamplingParams,
        cancel: CancelToken | None = None,
        sequence_key: str | None = None,  # e.g. the document: whose KV cache to continue
    ) -> Generation: ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...
