"""Held-out real code: third-party packages nobody here wrote and the default models never saw.

Python: click, rich, httpx, werkzeug, jinja2, pyparsing, attrs and h11 as installed in the
environment (their distribution's own file list); JavaScript/TypeScript: commander, js-yaml,
markdown-it, semver, cheerio and cockatiel from ``extension/node_modules`` (their source
folders: cheerio ships TypeScript sources, cockatiel only compiled ES modules). Stretches to
type are whole lines, starting at a line that begins a statement, chosen by a seeded random
generator so a run can be repeated exactly.
"""

from __future__ import annotations

import importlib.metadata
import random
from dataclasses import dataclass
from pathlib import Path

from codegend.daemon.routing import LANGUAGE_OF_SUFFIX

ROOT = Path(__file__).resolve().parents[2]
PYTHON_PACKAGES = ("click", "rich", "httpx", "werkzeug", "jinja2", "pyparsing", "attrs", "h11")
JS_SOURCES: dict[str, tuple[str, ...]] = {  # package -> its source folders or files
    "commander": ("lib", "index.js"),
    "js-yaml": ("lib",),
    "markdown-it": ("lib",),
    "semver": ("classes", "functions", "internal", "ranges", "index.js"),
    "cheerio": ("src",),
    "cockatiel": ("dist/esm",),
}
# The files a replay types (their language ids from the routing's table).
REPLAYED_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".mts")
# Generated tables, not code anyone types.
DATA_MODULES = ("_emoji_codes", "_unicode_data", "_cell_widths", "_spinners", "_palettes")
MAX_FILE_BYTES = 150_000
MIN_FILE_LINES = 30


@dataclass(frozen=True)
class Stretch:
    """Lines [start, end) of a file: the document opens without them (an empty line in their
    place, where the cursor waits) and the typist types them back."""

    path: Path
    package: str
    language: str
    start: int
    end: int

    def parts(self) -> tuple[str, str, str]:
        """(text before, text to type, text after) such that before + typed + after is the
        file: the typed text leaves out its last line ending, which the empty line gives."""
        lines = self.path.read_text(encoding="utf-8").splitlines(True)
        typed = "".join(lines[self.start : self.end])
        assert typed.endswith("\n"), "stretches are whole lines"
        return "".join(lines[: self.start]), typed[:-1], "\n" + "".join(lines[self.end :])

    @property
    def label(self) -> str:
        return f"{self.package}:{self.path.name}:{self.start + 1}-{self.end}"


def _skipped(path: Path, base: Path) -> bool:
    parts = set(path.relative_to(base).parts)
    return (
        path.suffix not in REPLAYED_SUFFIXES
        or path.name.endswith((".d.ts", ".d.mts", ".min.js", ".test.js", ".spec.ts"))
        or bool(parts & {"tests", "test", "__tests__", "node_modules"})
        or any(name in part for part in parts for name in DATA_MODULES)
        or path.stat().st_size > MAX_FILE_BYTES
    )


def package_files(package: str) -> list[Path]:
    """The package's source files, sorted, without tests, data tables and huge files."""
    if package in JS_SOURCES:
        base = ROOT / "extension" / "node_modules" / package
        found: list[Path] = []
        for entry in JS_SOURCES[package]:
            where = base / entry
            found += [where] if where.is_file() else sorted(where.rglob("*"))
    else:
        files = importlib.metadata.files(package) or []
        found = [Path(str(f.locate())) for f in files if str(f).endswith(".py")]
        base = Path(str(importlib.metadata.distribution(package).locate_file("")))
    chosen = [p for p in found if p.is_file() and not _skipped(p, base)]
    chosen = [p for p in chosen if len(p.read_text(encoding="utf-8").splitlines())
              >= MIN_FILE_LINES]
    return sorted(chosen)


def _starts_statement(lines: list[str], index: int, language: str) -> bool:
    """A non-blank line that follows a finished line: a sound place to start typing."""
    line = lines[index]
    if not line.strip() or line.lstrip().startswith(("#", "//", "*", "/*", ")", "]", "}")):
        return False
    if index == 0:
        return True
    previous = lines[index - 1].rstrip()
    if language == "python":
        return not previous.endswith(("\\", ",", "(", "[", "{"))
    return previous == "" or previous.endswith((";", "{", "}"))


def pick_stretches(
    packages: tuple[str, ...], chars_per_package: int, seed: int, max_lines: int = 40
) -> list[Stretch]:
    """One stretch per package of about ``chars_per_package`` characters (whole lines), from
    a file and a starting line drawn at random with ``seed``."""
    rng = random.Random(seed)
    stretches = []
    for package in packages:
        files = package_files(package)
        if not files:
            raise SystemExit(f"no source files found for the held-out package {package}")
        path = rng.choice(files)
        language = LANGUAGE_OF_SUFFIX[path.suffix]
        lines = path.read_text(encoding="utf-8").splitlines(True)
        starts = [i for i in range(len(lines) // 5, len(lines) - 1)
                  if _starts_statement(lines, i, language)]
        start = rng.choice(starts) if starts else 0
        end, size = start, 0
        while end < len(lines) and size < chars_per_package and end - start < max_lines:
            size += len(lines[end])
            end += 1
        if not lines[end - 1].endswith("\n"):
            end -= 1  # the file's last line has no line ending to type
        stretches.append(Stretch(path, package, language, start, end))
    return stretches
