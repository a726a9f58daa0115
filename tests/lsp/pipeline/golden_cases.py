"""Reads the golden post-processing fixtures in ``golden/``.

A fixture is a few ``key: value`` headers (``rule`` — the post-processor the case pins;
optional ``language``, default python; optional ``mode``, otherwise chosen by the completion
mode stage; optional ``invoked: true`` for an explicit request; optional ``expect: unchanged``
for a case that pins that the rule leaves correct text alone, as a regression guard) and
three sections: ``=== document`` with the cursor marked by ``█``, ``=== model`` (the raw
model output) and ``=== expected`` (the text that would be shown, or ``<dropped>``). ``⇥``
stands for a tab. A section's text is its lines joined by newlines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden"
DROPPED = "<dropped>"
TAB_MARK = "⇥"


@dataclass(frozen=True)
class GoldenCase:
    name: str
    rule: str
    language: str
    mode: str | None
    invoked: bool  # an explicit request (an automatic one otherwise)
    unchanged: bool  # the rule must leave the model's text as it is
    document: str
    model_output: str
    expected: str | None


def parse_case(path: Path) -> GoldenCase:
    headers: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("=== "):
            current = sections.setdefault(line[4:].strip(), [])
        elif current is None:
            if line.strip():
                key, _, value = line.partition(":")
                headers[key.strip()] = value.strip()
        else:
            current.append(line.replace(TAB_MARK, "\t"))
    if sections.get("expected") and sections["expected"][-1] == "":
        sections["expected"].pop()  # the file's final newline
    missing = {"document", "model", "expected"} - set(sections)
    assert not missing, f"{path.name}: missing sections {sorted(missing)}"
    expected = "\n".join(sections["expected"])
    return GoldenCase(
        name=path.stem,
        rule=headers["rule"],
        language=headers.get("language", "python"),
        mode=headers.get("mode"),
        invoked=headers.get("invoked") == "true",
        unchanged=headers.get("expect") == "unchanged",
        document="\n".join(sections["document"]),
        model_output="\n".join(sections["model"]),
        expected=None if expected == DROPPED else expected,
    )


def load_cases() -> list[GoldenCase]:
    return [parse_case(path) for path in sorted(GOLDEN_DIR.glob("*.txt"))]
