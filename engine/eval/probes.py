"""Completions at sampled places in held-out code: what the user would actually be shown.

A probe is a place in a real file where a line of code begins (comment and docstring lines
are prose, not code, and are skipped): the prompt is the code before it (and the line's
indentation, as an editor would have typed it), the expected text is the rest of that line.
Each graph greedily completes every probe; we then compare the completions with fp32's
(exact match of the generated tokens) and with the real code (next-line exact match and
edit similarity).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

MIN_EXPECTED_CHARS = 4  # lines shorter than this ("pass", ")") say little about a model
MIN_PROMPT_CHARS = 64  # enough context before the probe to predict from
COMMENT_STARTS = ("#", '"""', "'''", "//", "/*", "*")  # prose, not code: not probed


@dataclass(frozen=True)
class Probe:
    path: Path
    line: int  # 0-based index of the line to predict
    prompt: str  # everything before the line plus its indentation
    expected: str  # the line's code after the indentation


def sample_probes(files: list[Path], count: int, seed: int = 0) -> list[Probe]:
    """``count`` probes at non-trivial line starts, drawn reproducibly from ``files``."""
    candidates: list[Probe] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        lines = text.split("\n")
        offset = 0
        for index, line in enumerate(lines):
            code = line.lstrip(" \t")
            indent = line[: len(line) - len(code)]
            if offset >= MIN_PROMPT_CHARS and len(code.strip()) >= MIN_EXPECTED_CHARS \
                    and not code.startswith(COMMENT_STARTS):
                candidates.append(Probe(path, index, text[:offset] + indent, code.rstrip()))
            offset += len(line) + 1
    rng = random.Random(seed)
    return rng.sample(candidates, min(count, len(candidates)))


def first_line(text: str) -> str:
    return text.split("\n", 1)[0].rstrip()


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), one row of the table at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def edit_similarity(predicted: str, expected: str) -> float:
    """1 - normalised edit distance: 1.0 for identical strings, 0.0 for nothing in common."""
    longest = max(len(predicted), len(expected))
    if longest == 0:
        return 1.0
    return 1.0 - levenshtein(predicted, expected) / longest


@dataclass(frozen=True)
class ProbeScores:
    probes: int
    greedy_exact_match: float  # share of probes whose generated tokens equal fp32's exactly
    next_line_exact_match: float  # share whose first completed line equals the real line
    next_line_edit_similarity: float  # mean edit similarity of that line to the real one


def score_probes(probes: list[Probe], completions: list[list[int]],
                 reference: list[list[int]], decode) -> ProbeScores:
    """``completions[i]``/``reference[i]``: generated token ids at ``probes[i]`` for the
    candidate graph and for fp32; ``decode`` turns ids into text."""
    assert probes and len(probes) == len(completions) == len(reference)
    exact = same_line = 0
    similarity = 0.0
    for probe, ids, reference_ids in zip(probes, completions, reference, strict=True):
        exact += ids == reference_ids
        line = first_line(decode(ids))
        same_line += line == probe.expected
        similarity += edit_similarity(line, probe.expected)
    n = len(probes)
    return ProbeScores(n, exact / n, same_line / n, similarity / n)
