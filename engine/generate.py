"""The generation loop: prefix reuse, sampling, stop rules, streaming and cancellation.

It drives any :class:`~codegend.engine.stepper.CausalStepper` (ONNX Runtime, plain torch, the
tensor-parallel group), so every backend reuses the KV cache, samples, stops and cancels the
same way. Named stages follow gpt-fast: ``_prefill`` feeds what the cache lacks, ``_decode``
feeds the last chosen token.

Speculative decoding (prompt lookup, ``prompt_lookup.py``): where the stepper can verify
drafts, each pass also feeds the tokens a lookup guesses will follow, takes the logits of
every fed position, keeps the drafted tokens the sampler agrees with (``Sampler.verify``)
plus the one it chooses after them, and truncates the KV cache past what it kept. Greedy
output is the same as one token per pass; only the number of passes changes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from codegend.engine.kv_sequences import KVSequences, SavedSequence
from codegend.engine.placement import Placement
from codegend.engine.prompt_fit import fit_prompt
from codegend.engine.prompt_lookup import Drafter, LookupConfig, PromptLookup
from codegend.engine.sampling import Sampler, top_logprobs
from codegend.engine.stepper import CausalStepper, DraftVerifier, draft_verifier
from codegend.engine.stop_strings import StopMatcher
from codegend.engine.token_healing import TokenHealer
from codegend.engine.tokenizer import Tokenizer
from codegend.engine.types import (
    CancelToken,
    FimTemplate,
    GeneratedToken,
    Generation,
    GenerationStats,
    PromptParts,
    SamplingParams,
    prompt_budget,
)

SOURCE_CACHE = 8  # draft sources kept tokenized: a suffix and snippets, a few documents


def common_prefix_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


class StepperGenerator:
    """A :class:`~codegend.engine.types.TextGenerator` over one stepper and its tokenizer.

    It remembers which tokens the stepper's KV cache holds, so the next prompt only feeds
    what differs from the previous one (typing a character re-runs one or two tokens).
    """

    def __init__(
        self,
        name: str,
        stepper: CausalStepper,
        tokenizer: Tokenizer,
        context_tokens: int,
        kv_sequences: int = 4,
        placement: Placement | None = None,
        details: dict | None = None,
        lookup: LookupConfig | None = LookupConfig(),  # noqa: B008 (frozen, shared safely)
    ) -> None:
        assert context_tokens <= stepper.max_positions, "context exceeds the model's positions"
        self.name = name
        self.stepper = stepper
        self.tokenizer = tokenizer
        self.context_tokens = context_tokens
        self._cached_ids: list[int] = []  # exactly the tokens whose KV the stepper holds
        self._live_key: str | None = None  # the document whose sequence is live
        self._saved = KVSequences(max(0, kv_sequences - 1))
        self._healer = TokenHealer(tokenizer)
        self.placement = placement  # how the loader chose to run it (backend, device, reason)
        # The loader sets it from the tokenizer's control tokens (``fim.fim_template_for``).
        self.fim_template: FimTemplate | None = None
        self.details = details or {}  # the artifact manifest (ONNX) or group facts (torch-tp)
        self.lookup = lookup  # prompt-lookup drafting; None: one token per forward pass
        self._sources: OrderedDict[str, list[int]] = OrderedDict()  # draft source ids by text
        self._newlines: np.ndarray | None = None  # tokens holding "\n", decoded on first use

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def generate(
        self,
        prompt: str | PromptParts,
        params: SamplingParams,
        cancel: CancelToken | None = None,
        sequence_key: str | None = None,
    ) -> Generation:
        """``sequence_key`` (e.g. the document) picks which saved KV sequence to continue."""
        stats = GenerationStats()
        tokens = self._run(prompt, params, cancel or CancelToken(), stats, sequence_key)
        return Generation(tokens=tokens, stats=stats)

    def generate_ids(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        cancel: CancelToken | None = None,
        stats: GenerationStats | None = None,
        drafter: Drafter | None = None,
    ) -> list[int]:
        """Token ids only (no detokenizing or stop strings): for tests and benchmarks.
        ``drafter`` replaces the prompt lookup (tests script drafts with it)."""
        stats = stats if stats is not None else GenerationStats()
        run = self._run_ids(prompt_ids, params, cancel, stats, drafter=drafter)
        return [t.token_id for t in run]

    @property
    def stop_token_ids(self) -> frozenset[int]:
        """Tokens that end a generation: eos, and the stop tokens of the model's FIM template
        (a control token is never text to show)."""
        tokens = self.fim_template.stop_tokens if self.fim_template else ()
        ids = {self.tokenizer.added_token_id(token) for token in tokens}
        ids.add(self.tokenizer.eos_token_id)
        return frozenset(i for i in ids if i is not None)

    @property
    def failure(self) -> str | None:
        """Why the backend cannot serve right now (shown in health); None when healthy."""
        return self.stepper.failure

    def close(self) -> None:
        self._cached_ids = []
        self._saved.clear()
        self.stepper.close()

    # -- stages ---------------------------------------------------------------------------

    def _run(
        self,
        prompt: str | PromptParts,
        params: SamplingParams,
        cancel: CancelToken,
        stats: GenerationStats,
        sequence_key: str | None = None,
    ) -> Iterator[GeneratedToken]:
        self._switch_sequence(sequence_key)
        stops = params.stop + (("\n",) if params.stop_at_newline else ())
        matcher = StopMatcher(stops)
        generated: list[int] = []
        emitted = ""
        parts = PromptParts(prompt) if isinstance(prompt, str) else prompt
        budget = prompt_budget(self.context_tokens, params.max_new_tokens)
        fitted = fit_prompt(parts, self.tokenizer, budget, self.fim_template)
        prompt_ids = fitted.ids
        heal = params.token_healing and fitted.prefix_last  # only a prompt's end can be healed
        healing = self._healer.heal(prompt_ids) if heal else None
        if healing is not None:
            prompt_ids = healing.prompt_ids
        allowed_first = healing.allowed_first if healing else None
        # The healed token's text is already in the document: generated text starts after it.
        skip = len(healing.removed_text) if healing else 0
        sources = self._draft_sources(parts)
        run = self._run_ids(prompt_ids, params, cancel, stats, allowed_first, sources=sources)
        for token in run:
            generated.append(token.token_id)
            text = self.tokenizer.decode(generated)[skip:]
            if text.endswith("\ufffd"):
                # An incomplete UTF-8 sequence: wait for the token that finishes it.
                yield GeneratedToken(token.token_id, "", token.logprob, token.top)
                continue
            released = matcher.push(text[len(emitted):])
            emitted = text
            yield GeneratedToken(token.token_id, released, token.logprob, token.top)
            if matcher.stopped_on is not None:
                stats.finish_reason = "newline" if matcher.stopped_on == "\n" else "stop"
                return
        tail = matcher.flush()
        if tail:
            yield GeneratedToken(None, tail, 0.0)  # held back for a stop that never came

    def _run_ids(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        cancel: CancelToken | None,
        stats: GenerationStats,
        allowed_first: np.ndarray | None = None,
        drafter: Drafter | None = None,
        sources: list[list[int]] | None = None,
    ) -> Iterator[GeneratedToken]:
        """Tokens after ``prompt_ids``. ``drafter``: where drafts come from; None: a prompt
        lookup over the prompt and ``sources`` when the generator has one configured."""
        cancel = cancel or CancelToken()
        budget = prompt_budget(self.context_tokens, params.max_new_tokens)
        prompt_ids = prompt_ids[-budget:] if prompt_ids else [self.tokenizer.bos_token_id]
        stats.prompt_tokens = len(prompt_ids)
        sampler = Sampler(params)
        started = time.perf_counter()
        if params.max_new_tokens == 0:
            stats.finish_reason = "length"
            return
        if cancel.cancelled:
            stats.finish_reason = "cancelled"
            return
        verifier = draft_verifier(self.stepper)
        if verifier is None:
            drafter = None
        elif drafter is None and self.lookup is not None:
            ends = self._newline_tokens() if params.stop_at_newline else None
            drafter = PromptLookup(self.lookup, sources or (), ends,
                                   self._cached_continuation(prompt_ids))
        if drafter is not None:
            drafter.extend(prompt_ids)
        rows, draft = self._prefill(prompt_ids, stats, drafter, params)
        if allowed_first is not None:
            constrained = np.full_like(rows[0], -np.inf)
            constrained[allowed_first] = rows[0][allowed_first]
            rows[0] = constrained
        stats.time_to_first_token_s = time.perf_counter() - started
        decode_started = time.perf_counter()
        try:
            yield from self._decode(rows, draft, sampler, params, cancel, stats, drafter)
        finally:
            stats.decode_s = time.perf_counter() - decode_started

    def _draft_sources(self, parts: PromptParts) -> list[list[int]]:
        """What prompt lookup searches besides the prompt: the text after the cursor (a model
        without a fill-in-the-middle template never sees it otherwise) and the other
        documents' snippets. (The document above what the prompt keeps was tried on the
        typing replay: its drafts were accepted too rarely to pay for their verification.)"""
        if self.lookup is None or draft_verifier(self.stepper) is None:
            return []
        limit = self.lookup.source_chars
        texts = [parts.suffix[:limit], *(c[:limit] for c in parts.context)]
        return [self._source_ids(t) for t in texts if t]

    def _cached_continuation(self, prompt_ids: list[int]) -> list[int]:
        """What the KV cache holds past its common prefix with ``prompt_ids`` (the previous
        prompt's tail and generation for this document), from a few tokens before it so
        the prompt's last tokens can match there."""
        common = common_prefix_length(self._cached_ids, prompt_ids)
        if common >= len(self._cached_ids):
            return []
        assert self.lookup is not None
        return self._cached_ids[max(0, common - self.lookup.max_ngram) :]

    def _newline_tokens(self) -> np.ndarray:
        """A flag per token id: its text holds a newline (a line's completion ends there)."""
        if self._newlines is None:
            flags = np.zeros(self.stepper.vocab_size, dtype=bool)
            for token_id in range(min(self.tokenizer.vocab_size, self.stepper.vocab_size)):
                flags[token_id] = "\n" in self.tokenizer.decode([token_id])
            self._newlines = flags
        return self._newlines

    def _source_ids(self, text: str) -> list[int]:
        """Token ids of a draft source. Typing changes the prompt, rarely the suffix or the
        snippets: the last few sources are kept rather than encoded again per keystroke."""
        ids = self._sources.pop(text, None)
        if ids is None:
            ids = self.tokenizer.encode(text)
        self._sources[text] = ids
        while len(self._sources) > SOURCE_CACHE:
            self._sources.popitem(last=False)
        return ids

    def _switch_sequence(self, key: str | None) -> None:
        """Park the live KV sequence under its key and bring back ``key``'s, if saved.

        A key with nothing saved continues from the live sequence: documents often share
        their first lines, and the common-prefix rule keeps only what matches.
        """
        if key == self._live_key:
            return
        snapshot = self.stepper.snapshot()
        if snapshot is not None:
            saved = self._saved.take(key)  # before parking the live one: it frees a place
            self._saved.save(self._live_key, SavedSequence(tuple(self._cached_ids), snapshot))
            if saved is not None:
                self.stepper.restore(saved.snapshot)
                self._cached_ids = list(saved.token_ids)
        self._live_key = key

    def _prefill(
        self,
        prompt_ids: list[int],
        stats: GenerationStats,
        drafter: Drafter | None,
        params: SamplingParams,
    ) -> tuple[np.ndarray, list[int]]:
        """Feed what the cache lacks of the prompt, plus a draft of what follows it.
        Returns the logits rows ``[1 + len(draft), vocab]`` and the draft."""
        if self.stepper.failure is not None:
            # A tensor-parallel group whose rank died: replace it rather than fail forever.
            self.stepper.restart()
            self._cached_ids = []
            self._saved.clear()
        # At least one token must be fed to get logits for the next position.
        reuse = min(common_prefix_length(self._cached_ids, prompt_ids), len(prompt_ids) - 1)
        self.stepper.truncate(reuse)
        self._cached_ids = self._cached_ids[:reuse]
        stats.reused_prefix_tokens = reuse
        room = self.context_tokens - len(prompt_ids)
        draft = self._draft(drafter, min(params.max_new_tokens, room))
        rows = self._feed(prompt_ids[reuse:], draft, stats)
        self._cached_ids = list(prompt_ids) + draft
        return rows, draft

    def _top(self, logits: np.ndarray, params: SamplingParams) -> tuple[tuple[str, float], ...]:
        """The likeliest tokens at a position, as text, when the request asks for them."""
        return tuple((self.tokenizer.decode([token]), logprob)
                     for token, logprob in top_logprobs(logits, params.top_logprobs))

    def _draft(self, drafter: Drafter | None, limit: int) -> list[int]:
        return drafter.draft(limit) if drafter is not None and limit > 0 else []

    def _feed(self, token_ids: list[int], draft: list[int], stats: GenerationStats) -> np.ndarray:
        """One forward pass over ``token_ids + draft``: the logits of the last of
        ``token_ids`` and of every draft position, ``[1 + len(draft), vocab]``."""
        stats.forward_passes += 1
        if not draft:
            return self.stepper.feed(token_ids)[None]
        stats.draft_tokens += len(draft)
        verifier: DraftVerifier = self.stepper  # type: ignore[assignment]  # checked by caller
        return verifier.feed_tail(token_ids + draft, 1 + len(draft))

    def _accept(
        self, rows: np.ndarray, draft: list[int], sampler: Sampler, stats: GenerationStats
    ) -> list[tuple[int, float]]:
        """The tokens a pass yields: the drafted ones the sampler agrees with, then its own
        choice after them. Drops the KV of the draft positions it did not keep."""
        chosen: list[tuple[int, float]] = []
        for row, drafted in zip(rows, draft, strict=False):
            chosen.append(sampler.verify(row, drafted))
            if chosen[-1][0] != drafted:
                break
        else:
            chosen.append(sampler.choose(rows[len(draft)]))
        accepted = len(chosen) - 1
        stats.accepted_draft_tokens += accepted
        if accepted < len(draft):
            keep = len(self._cached_ids) - (len(draft) - accepted)
            self.stepper.truncate(keep)
            del self._cached_ids[keep:]
        return chosen

    def _decode(
        self,
        rows: np.ndarray,
        draft: list[int],
        sampler: Sampler,
        params: SamplingParams,
        cancel: CancelToken,
        stats: GenerationStats,
        drafter: Drafter | None,
    ) -> Iterator[GeneratedToken]:
        stop_ids = self.stop_token_ids
        while True:
            chosen = self._accept(rows, draft, sampler, stats)
            # Every chosen token but the last is in the KV cache already. The checks after
            # each token are the ones one-token decoding makes, so results match it exactly.
            for index, (token, logprob) in enumerate(chosen):
                if token in stop_ids:
                    stats.finish_reason = "eos"
                    return
                stats.generated_tokens += 1
                yield GeneratedToken(token, "", logprob, self._top(rows[index], params))
                if stats.generated_tokens >= params.max_new_tokens:
                    stats.finish_reason = "length"
                    return
                last = index == len(chosen) - 1
                if last and len(self._cached_ids) + 1 > self.context_tokens:
                    stats.finish_reason = "length"  # no room to feed it
                    return
                if cancel.cancelled:
                    stats.finish_reason = "cancelled"
                    return
            if drafter is not None:
                drafter.extend([token for token, _ in chosen])
            room = self.context_tokens - len(self._cached_ids) - 1
            draft = self._draft(drafter, min(params.max_new_tokens - stats.generated_tokens,
                                             room))
            rows = self._feed([chosen[-1][0]], draft, stats)
            self._cached_ids.append(chosen[-1][0])
            self._cached_ids.extend(draft)
