"""Held-out code for quality measurements and calibration: text the models were not trained on.

The default is the list a built-in model's training script writes beside it
(``heldout_files.txt``). Each line is a path, looked up in order in the model's directory
(code shipped with the model), the standard library, then every site-packages directory: the
default models hold out whole packages (see their MODEL_CARD.md), and some of those, such as
click, h11 and httpx, are installed with codegend itself. Without a list, or when none of its
files is found, a fixed handful of standard library modules is used. A user can point at a
directory of their own code instead.
"""

from __future__ import annotations

import site
import sys
import sysconfig
from pathlib import Path

from codegend.engine.errors import CodegendError

HELDOUT_LIST = "heldout_files.txt"  # written beside a built-in model by its training script
# Used without a list: standard library modules that models trained on the standard library
# held out when it was split by file; every CPython >= 3.11 ships them.
FALLBACK_STDLIB_FILES = ("string.py", "filecmp.py", "gzip.py", "traceback.py", "compileall.py",
                         "trace.py", "wave.py")


def _search_roots(model_dir: Path | None) -> list[Path]:
    roots = [model_dir] if model_dir else []
    roots.append(Path(sysconfig.get_paths()["stdlib"]))
    packages = [Path(p) for p in (*site.getsitepackages(), sysconfig.get_paths()["purelib"],
                                  *sys.path) if p and "site-packages" in p]
    for root in packages:
        if root not in roots:
            roots.append(root)
    return roots


def default_heldout_files(model_dir: Path | None = None) -> list[Path]:
    """The model's held-out files that exist on this machine, in the list's order."""
    listed = model_dir / HELDOUT_LIST if model_dir else None
    names: list[str] = []
    if listed and listed.is_file():
        names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
    roots = _search_roots(model_dir)
    found = []
    for name in names:
        path = next((root / name for root in roots if (root / name).is_file()), None)
        if path is not None:
            found.append(path)
    if found:
        return found
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [stdlib / name for name in FALLBACK_STDLIB_FILES if (stdlib / name).is_file()]


def code_files(directory: Path, suffixes: tuple[str, ...] = (".py",)) -> list[Path]:
    if not directory.is_dir():
        raise CodegendError(f"{directory}: not a directory of code")
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in suffixes)
    if not files:
        raise CodegendError(f"{directory}: no {'/'.join(suffixes)} files found")
    return files


def token_sequences(files: list[Path], encode, length: int, count: int) -> list[list[int]]:
    """Up to ``count`` windows of ``length`` tokens, taken in order from ``files``."""
    sequences: list[list[int]] = []
    for path in files:
        try:
            ids = encode(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        for start in range(0, len(ids) - length + 1, length):
            sequences.append(ids[start:start + length])
            if len(sequences) == count:
                return sequences
    if not sequences:
        raise CodegendError(f"no held-out file has {length} tokens of readable code")
    return sequences
