"""How completions fare: acceptance per model and language, and what this session did.

Acceptance counts stay on this machine: in memory, and in a small JSON file in the user's
state directory when the command line names one, so they survive restarts. Nothing is sent
anywhere; the editor reads them through the ``codegend/stats`` request.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class Acceptance:
    shown: int = 0  # suggestions the model produced and the editor received
    accepted: int = 0
    accepted_characters: int = 0


@dataclass
class SessionCounters:
    """What happened to the completion requests of this process (for status and the bench)."""

    requests: int = 0
    answered_by_model: int = 0
    answered_from_cache: int = 0
    skipped_by_trigger: int = 0  # automatic triggers the rules said no to
    disabled: int = 0  # the setting or the language turned completion off
    unavailable: int = 0  # the engine was not ready or failed
    unrouted: int = 0  # no model serves the document's language (the config routes none)
    cancelled: int = 0  # superseded by a newer request or cancelled by the client
    empty: int = 0  # the model ran but post-processing left nothing
    hidden_unsure: int = 0  # the model answered but the confidence gate hid it
    generated_tokens: int = 0  # engine tokens streamed for this session's completions
    prefetched: int = 0  # follow-up suggestions computed in the background and kept
    prefetch_tokens: int = 0  # engine tokens those background requests streamed
    answered_from_prefetch: int = 0  # of the cache's answers, follow-ups first shown

    def as_json(self) -> dict[str, int]:
        return {_camel(k): v for k, v in dataclasses.asdict(self).items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class AcceptanceStats:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._counts: dict[tuple[str, str], Acceptance] = {}
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))["acceptance"]
            for row in rows:
                self._counts[(str(row["model"]), str(row["language"]))] = Acceptance(
                    int(row["shown"]), int(row["accepted"]), int(row["acceptedCharacters"])
                )
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as err:
            logger.warning("ignoring unreadable completion statistics in %s: %s", path, err)

    def _entry(self, model: str, language: str) -> Acceptance:
        return self._counts.setdefault((model, language), Acceptance())

    def record_shown(self, model: str, language: str) -> None:
        self._entry(model, language).shown += 1

    def record_accepted(self, model: str, language: str, characters: int) -> None:
        entry = self._entry(model, language)
        entry.accepted += 1
        entry.accepted_characters += max(0, characters)
        self.save()

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "model": model,
                "language": language,
                "shown": a.shown,
                "accepted": a.accepted,
                "acceptedCharacters": a.accepted_characters,
            }
            for (model, language), a in sorted(self._counts.items())
        ]

    def save(self) -> None:
        """Write the counts atomically (a crash never leaves half a file)."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", dir=self.path.parent, prefix=".stats-", delete=False, encoding="utf-8"
            ) as handle:
                json.dump({"acceptance": self.as_json()}, handle)
            os.replace(handle.name, self.path)
        except OSError as err:
            logger.warning("could not save completion statistics to %s: %s", self.path, err)
