"""What the language server knows of the models that answer, without asking for it.

Every completion's answer says which model answered and its facts (context, budget,
fill-in-the-middle template) together with the daemon's configuration generation, so the
server learns them for free and never spends a request per keystroke on them. They are kept
per (chosen model, language, path) — routes may go by file — and all are forgotten as soon as
an answer reports a newer generation: a configuration change is pushed with the next answer.
"""

from __future__ import annotations

from collections import OrderedDict

from codegend.daemon.client_api import ModelInfo

FactsKey = tuple[str | None, str, str | None]  # (model override, language, path)


class ModelFacts:
    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._facts: OrderedDict[FactsKey, ModelInfo] = OrderedDict()
        self.generation: int | None = None  # the newest configuration generation seen

    def lookup(self, override: str | None, language: str, path: str | None) -> ModelInfo | None:
        return self._facts.get((override, language, path))

    def learn(
        self, override: str | None, language: str, path: str | None, info: ModelInfo
    ) -> None:
        # Any other generation means a change (a restarted daemon counts from 0 again).
        if info.config_generation != self.generation:
            self._facts.clear()
            self.generation = info.config_generation
        key = (override, language, path)
        self._facts[key] = info
        self._facts.move_to_end(key)
        while len(self._facts) > self.capacity:
            self._facts.popitem(last=False)

    def forget(self) -> None:
        """Drop everything (another daemon, or a model chosen by the user)."""
        self._facts.clear()
        self.generation = None
