"""Held-out code for quality measurements: text the models were not trained on.

The default is the list a built-in model's training script writes beside it
(``heldout_files.txt``, paths relative to the standard library); without one, a fixed
handful of standard library modules that the embedded model's split rule holds out (see
engine/models/tiny-py/MODEL_CARD.md: a hash of the path, 5% of files). A user can point at a
directory of their own code instead.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from codegend.engine.errors import CodegendError

HELDOUT_LIST = "heldout_files.txt"  # written beside a built-in model by its training script
# Held out when tiny-py was trained (its split hashes "python3.11/<name>"); every CPython
# >= 3.11 ships them.
FALLBACK_STDLIB_FILES = ("string.py", "filecmp.py", "gzip.py", "traceback.py", "compileall.py",
                         "trace.py", "wave.py")


def default_heldout_files(model_dir: Path | None = None) -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    listed = model_dir / HELDOUT_LIST if model_dir else None
    if listed and listed.is_file():
        names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
    else:
        names = list(FALLBACK_STDLIB_FILES)
    return [stdlib / name for name in names if (stdlib / name).is_file()]


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
