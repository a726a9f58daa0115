"""A plain (non-editable) install carries every module and the embedded model.

Editable installs find subpackages through the package-dir mapping whatever pyproject lists;
a wheel holds only what is declared. This builds the wheel and compares it with the tree.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"daemon": "codegend/daemon", "engine": "codegend/engine", "lsp": "codegend/lsp"}


def _expected_files() -> set[str]:
    expected = set()
    for folder, package in MAPPING.items():
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT / folder)
            if relative.parts[0] == "package_root" or "__pycache__" in relative.parts:
                continue
            expected.add(f"{package}/{relative.as_posix()}")
    for model in ("tiny-py", "tiny-web"):  # the built-in models, with their samples
        for path in (ROOT / "engine/models" / model).rglob("*"):
            if path.is_file():
                relative = path.relative_to(ROOT / "engine").as_posix()
                expected.add(f"codegend/engine/{relative}")
    expected |= {"codegend/__init__.py", "codegend/__main__.py"}
    return expected


def test_the_wheel_carries_every_module_and_both_builtin_models(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, timeout=300, capture_output=True,
    )
    (wheel,) = tmp_path.glob("codegend-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_expected_files() - names)
    assert missing == []
    assert not any(name.startswith(("engine/", "lsp/", "daemon/")) for name in names)
