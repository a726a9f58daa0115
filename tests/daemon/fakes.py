"""A scripted TextGenerator for scheduler and registry unit tests (timing under test control).

End-to-end tests use the real engine on tiny models; this fake exists only where a test must
hold a generation at a known point (to queue others behind it) without sleeping.
"""

from __future__ import annotations

import math
import threading

from codegend.engine.types import (
    CancelToken,
    GeneratedToken,
    Generation,
    GenerationStats,
    PromptParts,
    SamplingParams,
)

WAIT_S = 10.0  # a gate nobody opens fails the test instead of hanging it


class ScriptedGenerator:
    """Answers every prompt with ``tokens``; each token waits for a permit (see ``pause``)."""

    context_tokens = 128
    fim_template = None
    placement = None

    def __init__(self, tokens: tuple[str, ...] = ("a", "b", "c"), name: str = "fake") -> None:
        self.name = name
        self.tokens = tokens
        self._gate = threading.Condition()
        self._permits = math.inf
        self.started = threading.Semaphore(0)  # released as each generation starts
        self.prompts: list[str] = []  # in the order they were generated
        self.cancelled: list[str] = []
        self.closed = False
        self.fail_on: str | None = None  # a prompt that raises inside the engine thread

    def generate(self, prompt: str | PromptParts, params: SamplingParams,
                 cancel: CancelToken | None = None, sequence_key: str | None = None,
                 ) -> Generation:
        # The daemon sends prompt parts; what tests script and check is the prefix.
        prompt = prompt if isinstance(prompt, str) else prompt.prefix
        cancel = cancel or CancelToken()
        stats = GenerationStats(prompt_tokens=len(prompt))
        self.prompts.append(prompt)
        self.started.release()
        if prompt == self.fail_on:
            raise ValueError(f"scripted failure for {prompt!r}")

        def run():
            for i, text in enumerate(self.tokens[: params.max_new_tokens]):
                with self._gate:
                    assert self._gate.wait_for(lambda: self._permits > 0, WAIT_S), \
                        "the test never let the generation go on"
                    self._permits -= 1
                if cancel.cancelled:
                    stats.finish_reason = "cancelled"
                    self.cancelled.append(prompt)
                    return
                stats.generated_tokens += 1
                yield GeneratedToken(i, text, -0.25)
            stats.finish_reason = "length"

        return Generation(run(), stats)

    def pause(self) -> None:
        """From now on each token waits for ``allow``."""
        with self._gate:
            self._permits = 0

    def allow(self, tokens: int) -> None:
        with self._gate:
            self._permits += tokens
            self._gate.notify_all()

    def resume(self) -> None:
        with self._gate:
            self._permits = math.inf
            self._gate.notify_all()

    def count_tokens(self, text: str) -> int:
        return len(text)

    def close(self) -> None:
        self.closed = True
