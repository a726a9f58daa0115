"""What a user would have kept of what was shown, and the figures summed over a replay.

A shown suggestion counts as accepted only when the next characters typed equal it in full:
its first line with content for a multi-line one (the whole of it counts when all of it was
typed). "Typed equal" is judged on the document, not the keystrokes: accepting the ghost text
must leave the document the typist reached by typing, so a suggestion that re-types a closer
the editor had auto-closed (``path):`` before ``)``) is not accepted even though the
keystrokes match. Word-by-word partial acceptance (the longest run of whole words the user
typed next) is reported apart. Each suggestion counts once, where it was first shown: the
cache's answers while the user types along it are the same ghost text.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from bench.replay.typist import Script
from codegend.lsp.pipeline.postprocess.drop_syntax_breaking import parses
from codegend.lsp.pipeline.stop_rules import content_end

WORD_END = re.compile(r"\s*(?:\w+|[^\w\s]+)")


@dataclass(frozen=True)
class Shown:
    keystroke: int  # shown in the state after this keystroke
    text: str
    latency_ms: float
    source: str  # model | cache


@dataclass(frozen=True)
class Verdict:
    accepted: bool  # the first line with content was typed next, exactly
    accepted_chars: int  # that line's characters, or all of them when all were typed
    partial_chars: int  # whole words typed next, when not accepted
    breaks_parse: bool | None  # None: not judged (not Python, or it did not parse before)


def typed_along(script: Script, k: int, piece: str) -> bool:
    """Whether typing ``piece`` after keystroke ``k`` is what the typist did next, leaving
    the same document as inserting it would."""
    start = k + 1  # characters typed after keystroke k
    end = start + len(piece)
    if not piece or end > len(script.typed) or script.typed[start:end] != piece:
        return False
    pending_before = script.keystrokes[k].pending if k >= 0 else ""
    return script.keystrokes[end - 1].pending == pending_before


def judge(script: Script, shown: Shown, parsed: dict[int, bool]) -> Verdict:
    """The verdict on one suggestion; ``parsed`` caches whether each state's document parses."""
    text, k = shown.text, shown.keystroke
    unit = text[: content_end(text)]
    accepted_chars = 0
    if typed_along(script, k, text):
        accepted_chars = len(text)
    elif typed_along(script, k, unit):
        accepted_chars = len(unit)
    partial = 0
    if not accepted_chars:
        ends = [m.end() for m in WORD_END.finditer(text)]
        partial = max((e for e in ends if typed_along(script, k, text[:e])), default=0)
    breaks = None
    if script.stretch.language == "python":
        document = script.document(k)
        if k not in parsed:
            parsed[k] = parses(document)
        if parsed[k]:
            cursor = script.cursor(k)
            breaks = not parses(document[:cursor] + text + document[cursor:])
    return Verdict(accepted_chars > 0, accepted_chars, partial, breaks)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


@dataclass(frozen=True)
class Figures:
    typed_chars: int
    shown: int
    accepted: int
    accepted_share: float | None  # of shown suggestions, accepted in full
    accepted_chars_per_typed: float
    partial: int  # shown suggestions of which only some whole words were typed next
    partial_chars_per_typed: float
    ghost_chars_per_typed: float  # characters of ghost text shown per character typed
    accepted_chars_per_shown_char: float | None
    latency_ms_p50: float | None  # request to ghost text, suggestions first shown
    latency_ms_p95: float | None
    breaking: int  # shown suggestions that would make a document that parsed stop parsing
    judged_for_parsing: int  # shown Python suggestions in a document that parsed

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(typed_chars: int, judged: Iterable[tuple[Shown, Verdict]]) -> Figures:
    pairs = list(judged)
    shown = len(pairs)
    accepted = [v for _, v in pairs if v.accepted]
    accepted_chars = sum(v.accepted_chars for v in accepted)
    ghost = sum(len(s.text) for s, _ in pairs)
    latencies = [s.latency_ms for s, _ in pairs]
    parse_judged = [v for _, v in pairs if v.breaks_parse is not None]
    typed = max(1, typed_chars)

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 4) if b else None

    return Figures(
        typed_chars=typed_chars,
        shown=shown,
        accepted=len(accepted),
        accepted_share=ratio(len(accepted), shown),
        accepted_chars_per_typed=round(accepted_chars / typed, 4),
        partial=sum(1 for _, v in pairs if v.partial_chars),
        partial_chars_per_typed=round(sum(v.partial_chars for _, v in pairs) / typed, 4),
        ghost_chars_per_typed=round(ghost / typed, 4),
        accepted_chars_per_shown_char=ratio(accepted_chars, ghost),
        latency_ms_p50=round(statistics.median(latencies), 1) if latencies else None,
        latency_ms_p95=percentile(latencies, 0.95),
        breaking=sum(1 for v in parse_judged if v.breaks_parse),
        judged_for_parsing=len(parse_judged),
    )
