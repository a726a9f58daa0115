"""The training corpus of one model: licensed packages, deduplicated, split by package.

- `python`: the standard library plus every installed distribution whose license is on the
  permissive allowlist (run after `pip install -e '.[dev,bench]'`).
- `web`: JavaScript, TypeScript and Vue sources of the npm packages under
  `extension/node_modules` (run after `npm ci` in extension/).

Held-out packages are named in HELD_OUT (application-style libraries of a size typical of a
user's project); the evaluation uses only them. The manifest (JSON) records, per package:
version, license and the verdict's reason, split, files kept and left out by reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .dedup import deduplicate
from .sources import Package, SourceFile, npm_packages, python_distributions, stdlib_package

# Packages the model never sees in training. Chosen once, before any training, as
# mid-sized libraries written by different teams, not vendored anywhere else here.
HELD_OUT = {
    "python": ("click", "rich", "httpx", "werkzeug", "jinja2", "pyparsing", "attrs", "h11"),
    "web": ("commander", "js-yaml", "markdown-it", "semver", "cheerio", "cockatiel"),
}
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NODE_MODULES = REPO_ROOT / "extension" / "node_modules"


@dataclass(frozen=True)
class CorpusSplit:
    train: tuple[SourceFile, ...]
    held_out: tuple[SourceFile, ...]


def collect_packages(language: str, node_modules: Path = DEFAULT_NODE_MODULES,
                     distributions: list[str] | None = None,
                     extra_python_roots: tuple[Path, ...] = (),
                     include_stdlib: bool = True) -> list[Package]:
    """Every candidate package of the language family, license verdicts included."""
    if language == "python":
        packages = [stdlib_package()] if include_stdlib else []
        packages += python_distributions(distributions)
        for root in extra_python_roots:
            packages.append(directory_package(root))
        return packages
    if language == "web":
        if not node_modules.is_dir():
            raise SystemExit(f"{node_modules} not found: run `npm ci` in extension/ first")
        return npm_packages(node_modules)
    raise SystemExit(f"unknown language family {language!r} (python or web)")


def directory_package(root: Path) -> Package:
    """A local directory of Python source, declared permissive by whoever passes it (tests,
    or a user adding their own code); its name is the directory's."""
    from .licenses import LicenseVerdict
    from .sources import read_file

    if not root.is_dir():
        raise SystemExit(f"source directory not found: {root}")
    package = Package(root.name, "local", LicenseVerdict(True, "declared", "--extra-source"))
    for path in sorted(root.rglob("*.py")):
        read_file(path, path.relative_to(root), package, web=False)
    return package


def split_corpus(packages: list[Package], held_out_names: tuple[str, ...]
                 ) -> tuple[CorpusSplit, dict[str, int]]:
    """Deduplicate (held-out packages first, so their copies leave training) and split."""
    held = {name.lower() for name in held_out_names}
    ordered = sorted(packages, key=lambda p: (p.name.lower() not in held, p.name.lower()))
    files = [f for p in ordered if p.verdict.allowed for f in p.files]
    kept, dropped = deduplicate(files)
    train = tuple(f for f in kept if f.package.lower() not in held)
    held_out = tuple(f for f in kept if f.package.lower() in held)
    if not train or not held_out:
        raise SystemExit(f"the split left an empty side ({len(train)} train, {len(held_out)} "
                         f"held-out files); check the held-out package names")
    return CorpusSplit(train, held_out), dropped


def write_manifest(path: Path, language: str, packages: list[Package], split: CorpusSplit,
                   dropped: dict[str, int], token_counts: dict[str, int]) -> dict:
    """The corpus manifest: per package its license, split, files and tokens kept."""
    kept_files = Counter(f.package for f in (*split.train, *split.held_out))
    held = {f.package for f in split.held_out}
    rows = []
    for package in sorted(packages, key=lambda p: p.name.lower()):
        rows.append({
            "package": package.name,
            "version": package.version,
            "license": package.verdict.license,
            "used": package.verdict.allowed,
            "reason": package.verdict.reason,
            "split": "held-out" if package.name in held else "train",
            "files_kept": kept_files.get(package.name, 0),
            "files_skipped": dict(package.skipped),
            "tokens": token_counts.get(package.name, 0),
        })
    manifest = {
        "language": language,
        "packages_used": sum(r["used"] for r in rows),
        "packages_refused": [f"{r['package']} ({r['license']})" for r in rows if not r["used"]],
        "train_files": len(split.train),
        "held_out_files": len(split.held_out),
        "train_tokens": sum(t for p, t in token_counts.items() if p not in held),
        "held_out_tokens": sum(t for p, t in token_counts.items() if p in held),
        "duplicates_dropped": dropped,
        "packages": rows,
    }
    path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
